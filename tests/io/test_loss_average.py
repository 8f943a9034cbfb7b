"""Logged averages (``--loss-average``): a trainer that logs the mean loss since its last
log, or a running mean, writes each value at the end of the steps it averages; the
reader places it at their centre."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import run
from mpl import DATA, MPL_TEST, MPL_TRAIN, mpl_curves
from scipy.interpolate import PchipInterpolator

from lrlaw.errors import LrlawError
from lrlaw.fitting import fit, predict_curve
from lrlaw.io import ReadOptions, load_curves
from lrlaw.io.cleaning import Series, average_centres, parse_averaging, place_averages

CONSTANT = "constant:peak=1e-3,total=5000"


def _weighted_centre(weights: np.ndarray) -> float:
    return float(np.sum(np.arange(weights.size) * weights) / np.sum(weights))


def test_centres_are_the_mean_steps_of_what_each_value_averages():
    steps = np.array([300, 600, 900, 1250])
    np.testing.assert_array_equal(
        average_centres(steps, "since-last"),
        [
            np.mean(np.arange(1, 301)),
            *(np.mean(np.arange(a + 1, b + 1)) for a, b in itertools.pairwise(steps)),
        ],
    )
    np.testing.assert_array_equal(
        average_centres(steps, "window:400"),
        [np.mean(np.arange(0, 301)), *(np.mean(np.arange(s - 399, s + 1)) for s in steps[1:])],
    )
    beta = 0.97
    for s in (0, 1, 5, 80, 3000):
        # a debiased EMA updated at every step 0..s weighs step k by beta^(s - k)
        w = beta ** (s - np.arange(s + 1.0))
        got = average_centres(np.array([s]), f"ema:{beta}")[0]
        assert got == pytest.approx(_weighted_centre(w), abs=1e-9)
    np.testing.assert_array_equal(average_centres(steps, "none"), steps)
    np.testing.assert_array_equal(average_centres(steps, "ema:0"), steps)


def test_a_log_from_step_zero_keeps_its_first_value_in_place():
    np.testing.assert_array_equal(
        average_centres(np.array([0, 10, 20]), "since-last"), [0.0, 5.5, 15.5]
    )


def test_placing_merges_values_whose_centres_round_alike():
    steps = np.arange(0, 40)
    series = Series("loss", steps, 3.0 + 0.01 * steps, steps + 2)
    placed = place_averages(series, "ema:0.9")
    assert np.all(np.diff(placed.step) > 0)
    assert placed.step.size < steps.size  # the first steps of the EMA share a centre
    assert placed.count is not None and placed.count.sum() == steps.size
    np.testing.assert_allclose(
        np.sum(placed.value * placed.count), np.sum(series.value), rtol=1e-14
    )
    # every merged group keeps the file position of its last entry
    assert placed.pos[-1] == series.pos[-1]


@pytest.mark.parametrize(
    "text", ["window:0", "window:2.5", "ema:1", "ema:-0.1", "since-last:3", "mean", "window"]
)
def test_a_bad_spec_says_what_is_expected(text):
    with pytest.raises(LrlawError, match="since-last, window:K"):
        parse_averaging(text)
    with pytest.raises(LrlawError, match="since-last, window:K"):
        ReadOptions(loss_average=text)


def _hf_state(path: Path, steps, losses, eval_steps=(), eval_losses=()) -> Path:
    history = [
        {"step": int(s), "loss": float(v), "learning_rate": 1e-3} for s, v in zip(steps, losses)
    ]
    history += [{"step": int(s), "eval_loss": float(v)} for s, v in zip(eval_steps, eval_losses)]
    path.write_text(json.dumps({"global_step": int(steps[-1]), "log_history": history}))
    return path


def test_a_hugging_face_training_loss_is_placed_at_its_centre_by_default(tmp_path):
    steps = np.arange(500, 5001, 500)
    path = _hf_state(tmp_path / "trainer_state.json", steps, 3.0 + 1.0 / np.sqrt(steps))
    (curve,) = load_curves([path], schedules=[CONSTANT])
    np.testing.assert_array_equal(curve.steps, steps - 249)
    assert "mean since the previous log" in curve.meta["summary"]
    (kept,) = load_curves([path], schedules=[CONSTANT], options=ReadOptions(loss_average="none"))
    np.testing.assert_array_equal(kept.steps, steps)
    # the evaluation loss is a value at its step: left where it is
    (tmp_path / "eval").mkdir()
    ev = _hf_state(
        tmp_path / "eval" / "trainer_state.json", steps, 0 * steps + 3, steps, 3.1 + 0 * steps
    )
    (val,) = load_curves([ev], schedules=[CONSTANT])
    np.testing.assert_array_equal(val.steps, steps)


def test_the_hugging_face_wandb_logger_is_recognised_and_plain_logs_are_not(tmp_path):
    steps = np.arange(100, 2001, 100)
    loss = 3.0 + 1.0 / np.sqrt(steps)
    hf = tmp_path / "hf.csv"
    pd.DataFrame({"train/global_step": steps, "train/loss": loss}).to_csv(hf, index=False)
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"step": steps, "loss": loss}).to_csv(plain, index=False)
    a, b = load_curves([hf, plain], schedules=[CONSTANT, CONSTANT])
    np.testing.assert_array_equal(a.steps, steps - 49)
    np.testing.assert_array_equal(b.steps, steps)
    (c,) = load_curves(
        [plain], schedules=[CONSTANT], options=ReadOptions(loss_average="window:100")
    )
    np.testing.assert_array_equal(c.steps, steps - 49)


def _interval_means(src: Path, out: Path, every: int) -> Path:
    """The shipped run as a trainer that logs the mean since its last log every ``every``
    steps writes it (per-step curve: PCHIP of log loss in log step, as bench_logging)."""
    frame = pd.read_csv(src)
    ok = frame["loss"].notna().to_numpy() & (frame["step"].to_numpy() > 0)
    s, y = frame["step"].to_numpy(float)[ok], frame["loss"].to_numpy(float)[ok]
    grid = np.arange(int(s[0]), int(s[-1]) + 1)
    true = np.exp(PchipInterpolator(np.log(s), np.log(y))(np.log(grid)))
    ends = grid[(grid % every == 0) & (grid - every + 1 >= grid[0])]
    c = np.concatenate([[0.0], np.cumsum(true)])
    at = ends - grid[0]
    means = (c[at + 1] - c[at + 1 - every]) / every
    pd.DataFrame({"step": ends, "loss": means}).to_csv(out, index=False)
    return out


def test_interval_means_fit_like_the_run_itself_once_placed(tmp_path):
    """MPL 100M's training runs logged as 1000-step means: placed at their centres, the
    momentum fit predicts the held-out runs as the shipped logs do; left at their last
    step (the bug), it misses by several times more."""
    folder = DATA / "mpl" / "100m"
    logs = [_interval_means(folder / f"{n}.csv", tmp_path / f"{n}.csv", 1000) for n in MPL_TRAIN]
    sched = DATA / "schedules.txt"
    held = mpl_curves("100m", MPL_TEST)
    ref = fit(mpl_curves("100m", MPL_TRAIN), "momentum")

    def prede(result) -> float:
        errs = []
        for c in held:
            m = c.steps >= max(c.warmup, 0.1 * c.steps[-1])
            pred = predict_curve(result.law_object, result.param_vector, c.lr, c.steps[m])
            errs.append(np.mean(np.abs(pred / c.loss[m] - 1.0)))
        return float(np.mean(errs))

    placed = fit(
        load_curves(logs, schedules_file=sched, options=ReadOptions(loss_average="since-last")),
        "momentum",
    )
    at_end = fit(
        load_curves(logs, schedules_file=sched, options=ReadOptions(loss_average="none")),
        "momentum",
    )
    e_ref, e_placed, e_end = prede(ref), prede(placed), prede(at_end)
    print(e_ref, e_placed, e_end)
    assert e_placed < e_ref + 2e-4, (e_ref, e_placed)
    assert e_end > 2.0 * e_placed, (e_end, e_placed)


def test_cli_option_reaches_the_reader(tmp_path):
    steps = np.arange(100, 3001, 100)
    log = tmp_path / "run.csv"
    pd.DataFrame({"step": steps, "loss": 3.0 + 5.0 / np.sqrt(steps)}).to_csv(log, index=False)
    out = tmp_path / "fit.json"
    res = run(
        "fit",
        str(log),
        "--schedule",
        "cosine:peak=1e-3,total=3000",
        "--bootstrap",
        "0",
        "--loss-average",
        "window:100",
        "--out",
        str(out),
    )
    assert res.exit_code == 0, res.output
    assert "mean of the last 100 steps" in res.output
    bad = run(
        "fit", str(log), "--schedule", "cosine:peak=1e-3,total=3000", "--loss-average", "window:x"
    )
    assert bad.exit_code != 0
    assert "loss average 'window:x'" in bad.output
