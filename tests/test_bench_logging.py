"""The machinery of benchmarks/bench_logging.py: degraded logs, scoring, the table.

These tests check the benchmark, not lrlaw's accuracy: the one accuracy bound
(clean-row PredE < 1 %) only catches a broken pipeline.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_logging as bl  # noqa: E402


def _log(tmp_path: Path, dataset: str, row: str, run: str) -> pd.DataFrame:
    paths = bl.make_logs(dataset, bl.ROWS[row], tmp_path / row.replace("%", "pct"))
    (path,) = [p for p in paths if p.stem == run]
    return pd.read_csv(path)


def _truth(dataset: str, run: str) -> tuple[np.ndarray, np.ndarray]:
    src = bl.DATASETS[dataset][0]
    steps, loss, _, _ = bl.read_shipped(src / f"{run}.csv")
    return bl.dense_curve(steps, loss)


def test_dense_curve_passes_through_the_logged_points():
    src = bl.DATASETS["mpl-100m"][0]
    steps, loss, _, _ = bl.read_shipped(src / "cosine_24000.csv")
    grid, true = bl.dense_curve(steps, loss)
    assert grid[0] == steps[0] and grid[-1] == steps[-1]
    assert np.all(np.diff(grid) == 1)
    np.testing.assert_allclose(true[steps - grid[0]], loss, rtol=1e-12)


@pytest.mark.parametrize("k", [1, 10, 1000])
def test_density_and_no_noise(tmp_path, k):
    df = _log(tmp_path, "mpl-100m", f"every{k}", "constant_24000")
    assert list(df.columns) == ["step", "loss"]  # the LR comes from --schedules
    assert np.all(df["step"] % k == 0)
    assert np.all(np.diff(df["step"]) == k)
    grid, true = _truth("mpl-100m", "constant_24000")
    np.testing.assert_allclose(df["loss"], true[df["step"] - grid[0]], rtol=1e-9)


@pytest.mark.parametrize("row, level", [("g1%-every1", 0.01), ("g2%-every10", 0.02)])
def test_gaussian_noise_level_measured_back(tmp_path, row, level):
    df = _log(tmp_path, "mpl-100m", row, "cosine_24000")
    grid, true = _truth("mpl-100m", "cosine_24000")
    rel = df["loss"].to_numpy() / true[df["step"] - grid[0]] - 1
    assert abs(rel.mean()) < 4 * level / np.sqrt(rel.size)
    assert rel.std() == pytest.approx(level, rel=0.06)


def test_denser_rows_of_one_noise_level_share_the_realisation(tmp_path):
    d1 = _log(tmp_path, "mpl-100m", "g1%-every1", "wsdcon_9").set_index("step")
    d10 = _log(tmp_path, "mpl-100m", "g1%-every10", "wsdcon_9").set_index("step")
    np.testing.assert_allclose(d10["loss"], d1.loc[d10.index, "loss"], rtol=1e-9)


def test_another_draw_redraws_the_noise_and_draw_0_is_the_documented_one(tmp_path, monkeypatch):
    first = _log(tmp_path / "a", "mpl-100m", "g1%-every10", "wsdcon_9")
    monkeypatch.setattr(bl, "DRAW", 1)
    other = _log(tmp_path / "b", "mpl-100m", "g1%-every10", "wsdcon_9")
    monkeypatch.setattr(bl, "DRAW", 0)
    again = _log(tmp_path / "c", "mpl-100m", "g1%-every10", "wsdcon_9")
    pd.testing.assert_frame_equal(first, again)
    assert list(other["step"]) == list(first["step"])
    assert not np.allclose(other["loss"], first["loss"], rtol=1e-6)
    grid, true = _truth("mpl-100m", "wsdcon_9")
    rel = other["loss"].to_numpy() / true[other["step"] - grid[0]] - 1
    assert rel.std() == pytest.approx(0.01, rel=0.15)


def test_t3_noise_is_heavy_tailed_with_one_percent_sd(tmp_path):
    df = _log(tmp_path, "124m", "t3-1%-every1", "stable")
    grid, true = _truth("124m", "stable")
    rel = df["loss"].to_numpy() / true[df["step"] - grid[0]] - 1
    # t3 / sqrt(3): median |x| = 0.7649 / sqrt(3), i.e. a MAD-sd of 0.65 % (a Gaussian: 1 %)
    mad_sd = 1.4826 * np.median(np.abs(rel))
    assert mad_sd == pytest.approx(0.0065, rel=0.05)
    assert rel.std() == pytest.approx(0.01, rel=0.3)
    assert np.max(np.abs(rel)) > 0.05  # tails a Gaussian of 1 % would not reach


def test_transient_starts_near_10_and_decays_into_the_curve(tmp_path):
    df = _log(tmp_path, "mpl-100m", "transient", "cosine_24000")
    grid, true = _truth("mpl-100m", "cosine_24000")
    rel = df["loss"].to_numpy() / true[df["step"] - grid[0]]
    assert df["loss"].iloc[0] == pytest.approx(10, rel=0.05)
    s = df["step"].to_numpy()
    late = s > s[0] + 0.01 * grid[-1]
    assert np.all(rel[s < s[0] + 50] > 1.5)
    assert abs(np.median(rel[late]) - 1) < 0.002


def test_gaps_resumed_and_no_warmup(tmp_path):
    base = _log(tmp_path, "124m", "g1%-every10", "stable")
    gaps = _log(tmp_path, "124m", "gaps", "stable")
    d = np.diff(gaps["step"])
    assert np.sum(d > 10) == 2 and np.all(d[d > 10] > 4000)
    res = _log(tmp_path, "124m", "resumed", "stable")
    back = np.flatnonzero(np.diff(res["step"]) < 0)
    assert back.size == 1
    later = res.drop_duplicates("step", keep="last").sort_values("step")
    np.testing.assert_array_equal(later["step"], base["step"])
    np.testing.assert_allclose(later["loss"], base["loss"])
    first = res.iloc[: back[0] + 1].set_index("step")
    seg = first.index[first.index >= res["step"].iloc[back[0] + 1]]
    assert seg.size > 100 and not np.allclose(
        first.loc[seg, "loss"], later.set_index("step").loc[seg, "loss"]
    )
    nw = _log(tmp_path, "124m", "no-warmup", "stable")
    assert nw["step"].iloc[0] == 300
    # 124M cosine has no spec: its logged LR rows are carried, the loss rows degraded
    cos = _log(tmp_path, "124m", "resumed", "cosine")
    assert (
        cos["lr"].notna().sum() == 1001 and cos["step"][cos["lr"].notna()].is_monotonic_increasing
    )


def test_hf_mean_row_is_the_trainers_mean_since_the_last_log(tmp_path):
    df = _log(tmp_path, "mpl-100m", "hf-mean500", "cosine_24000")
    assert list(df.columns) == ["train/global_step", "train/loss"]
    steps = df["train/global_step"].to_numpy()
    assert np.all(steps % 500 == 0) and np.all(np.diff(steps) == 500)
    grid, true = _truth("mpl-100m", "cosine_24000")
    # noise-free, the mean of the 500 steps ending at the logged one lies above the curve there
    # (a falling loss) and close to the curve at the centre of those steps
    at = steps - grid[0]
    mean = np.array([true[a - 499 : a + 1].mean() for a in at])
    rel = df["train/loss"].to_numpy() / mean - 1
    assert rel.std() == pytest.approx(0.01 / np.sqrt(500), rel=0.3)
    assert np.all(mean > true[at])
    # lrlaw reads it as a Hugging Face log: each value at the centre of its 500 steps
    from lrlaw.io import load_curves

    (curve,) = load_curves(
        [tmp_path / "hf-mean500" / "cosine_24000.csv"], schedules_file=bl.SCHEDULES
    )
    np.testing.assert_array_equal(curve.steps, steps - 249)


def test_scoring_on_a_known_case(tmp_path):
    y = np.linspace(4.0, 3.0, 100)
    pred = y * 1.01
    lo, hi = np.where(np.arange(100) < 30, y * 1.005, y * 0.99), y * 1.02
    s = bl.score_curve(y, pred, lo, hi)
    assert s["prede"] == pytest.approx(0.01) and s["worste"] == pytest.approx(0.01)
    assert s["final"] == pytest.approx(0.01)
    assert s["cover"] == pytest.approx(0.70)
    width = np.mean((hi - lo) / y)
    assert s["width"] == pytest.approx(width)
    m = bl.mean_scores([s, bl.score_curve(y, y * 0.98)])
    assert m["prede"] == pytest.approx(0.015)
    assert np.isnan(bl.score_curve(y, y)["cover"])
    # the scored window: after the warmup and after the first 10 % of steps
    assert bl.score_start("cosine_72000", 71920, bl.spec_warmups()) == 7192
    assert bl.score_start("wsdcon_3", 15936, bl.spec_warmups()) == 2160
    assert bl.score_start("wsd-0.2-linear", 49800, bl.spec_warmups()) == 4980


def test_score_predictions_reads_predict_output(tmp_path):
    src, _, held = bl.DATASETS["mpl-100m"]
    frames = []
    for run in held:
        steps, loss, _, _ = bl.read_shipped(src / f"{run}.csv")
        frames.append(
            pd.DataFrame(
                {
                    "run": run,
                    "step": steps,
                    "loss": loss,
                    "pred": loss * 1.002,
                    "pred_lo": loss * 0.99,
                    "pred_hi": loss * 1.01,
                }
            )
        )
    path = tmp_path / "pred.csv"
    pd.concat(frames).to_csv(path, index=False)
    got = bl.score_predictions(path, "mpl-100m")
    assert got["prede"] == pytest.approx(0.002)
    assert got["cover"] == 1.0
    assert got["width_mae"] == pytest.approx(0.02 / 0.002, rel=0.01)


@pytest.mark.slow
def test_end_to_end_small_slice(tmp_path, capsys):
    out = tmp_path / "res.json"
    rc = bl.main(
        [
            "--datasets",
            "mpl-100m",
            "--laws",
            "momentum",
            "--rows",
            "clean",
            "every100",
            "--bootstrap",
            "20",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "### momentum" in text and "| mpl-100m | clean |" in text
    assert "(a) 1 % noise" in text and "(b) denser logging" in text and "(d) coverage" in text
    import json

    cells = {c["row"]: c for c in json.loads(out.read_text())["cells"]}
    assert set(cells) == {"clean", "every100"}
    for c in cells.values():
        assert c["error"] is None
        assert c["prede"] < 0.01  # a loose bound: catches a broken pipeline only
        assert 0 <= c["cover"] <= 1
