"""Fits that do not depend on how a run was logged: span weights, noise, start transients,
outliers (lrlaw.fitting.weighting, and their use in lrlaw.fitting.fit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mpl import DATA, MPL_TEST, MPL_TRAIN, mpl_curves
from scipy.interpolate import PchipInterpolator

from lrlaw import schedules
from lrlaw.curves import Curve
from lrlaw.fitting import fit, predict_curve
from lrlaw.fitting.metrics import curve_metrics
from lrlaw.fitting.weighting import noise_level, outliers, span_weights, start_transient
from lrlaw.io import load_curves
from lrlaw.io.cleaning import resample_counts
from lrlaw.io.readers import ReadOptions
from lrlaw.laws import MomentumLaw

TRUE = {"L0": 2.9, "A": 0.5, "alpha": 0.45, "C": 0.35}
THETA = np.array(list(TRUE.values()))


def _schedules(total: int = 12_000, warmup: int = 0) -> list[schedules.Schedule]:
    peak = 3e-4
    return [
        schedules.cosine(peak, total, final=3e-5, warmup=warmup),
        schedules.constant(peak, total=total, warmup=warmup),
        schedules.wsd(peak, total, decay_frac=0.2, final=3e-5, shape="linear", warmup=warmup),
    ]


def _curves(every: int, noise: float, seed: int = 0, transient: bool = False, **kw) -> list:
    """Momentum-law curves logged every ``every`` steps from step 1 (no warmup) with
    per-step relative noise; optionally a start transient from loss ~10."""
    rng = np.random.default_rng(seed)
    out = []
    for i, s in enumerate(_schedules(**kw)):
        lr = s.values()
        steps = np.arange(1, s.total + 1)
        clean = predict_curve(MomentumLaw(), THETA, lr, steps)
        if transient:
            clean = clean + (10.0 - clean) * np.exp(-steps / (0.002 * s.total))
        loss = clean * (1 + noise * rng.standard_normal(steps.size))
        keep = (steps - 1) % every == 0
        out.append((f"c{i}", steps[keep], loss[keep], lr))
    return out


def _binned(raw: list, max_points: int | None) -> list[Curve]:
    curves = []
    for name, steps, loss, lr in raw:
        s, v, n = resample_counts(steps, loss, max_points)
        curves.append(Curve(name, s, v, lr, counts=n))
    return curves


def test_span_weights_count_steps_and_cap_gaps() -> None:
    assert span_weights(np.arange(0, 1000, 10)).tolist() == [10.0] * 100
    w = span_weights(np.r_[0:100, 1000:1100])  # a 900-step gap counts 5 median intervals
    assert w[98:102].tolist() == [1.0, 3.0, 3.0, 1.0]
    # Resampling bins weigh what they average, also geometric bins (100 bins are too
    # few for the 5 % cap on 10k steps), which are no gaps.
    steps = np.arange(1, 10_001)
    s, _, n = resample_counts(steps, np.ones(steps.size), 100)
    w = span_weights(s)
    inner = (s > 100) & (s < s[-1])  # bins of several steps, not the cut-off last one
    assert w[inner] == pytest.approx(n[inner], rel=0.03, abs=1.0)  # bin steps are rounded


def test_noise_level_is_the_per_value_noise_for_raw_and_binned_logs() -> None:
    rng = np.random.default_rng(1)
    steps = np.arange(1, 50_001)
    y = np.log(3 + 5 / np.sqrt(steps + 100)) + 0.01 * rng.standard_normal(steps.size)
    assert noise_level(steps, y) == pytest.approx(0.01, rel=0.03)
    s, v, n = resample_counts(steps, np.exp(y), 1000)
    assert noise_level(s, np.log(v), n) == pytest.approx(0.01, rel=0.1)
    assert noise_level(steps[::1000], y[::1000]) == pytest.approx(0.01, rel=0.3)
    assert np.isnan(noise_level(steps[:4], y[:4]))


@pytest.fixture(scope="module")
def dense_fits() -> dict[str, dict[str, float]]:
    """The same three runs logged every step (binned by default), every step unbinned, and
    every 100 steps, all with 1 % per-step noise."""
    dense = _curves(1, 0.01)
    sparse = _curves(100, 0.01, seed=0)
    return {
        "binned": fit(_binned(dense, 1000)).params,
        "raw": fit(_binned(dense, None)).params,
        "sparse": fit(_binned(sparse, None)).params,
    }


@pytest.mark.slow
def test_binning_does_not_change_the_answer(dense_fits: dict[str, dict[str, float]]) -> None:
    # The bin means are weighted by the steps they span and fitted with a
    # noise-scaled Huber threshold: the binned fit is the raw fit, up to noise.
    for k in TRUE:
        assert dense_fits["binned"][k] == pytest.approx(dense_fits["raw"][k], rel=0.01), k


@pytest.mark.slow
def test_logging_density_does_not_change_the_law(dense_fits: dict[str, dict[str, float]]) -> None:
    for name in ("binned", "sparse"):
        for k, v in TRUE.items():
            assert dense_fits[name][k] == pytest.approx(v, rel=0.05), (name, k)


def test_start_transient_is_left_out_and_reported() -> None:
    curves = _binned(_curves(1, 0.005, transient=True), 1000)
    result = fit(curves)
    for k, v in TRUE.items():
        assert result.params[k] == pytest.approx(v, rel=0.05), k
    for c in result.curves:
        t = c["transient"]
        assert t["from_step"] == 1 and t["max_loss"] > 8
        # The transient decays with a time scale of 24 steps: it is over by ~step 200.
        assert 40 < t["to_step"] < 400
        assert c["window"][0] == pytest.approx(t["to_step"], abs=50)
        # Summary figures describe the curve, not the transient.
        assert c["metrics"]["worste"] < 0.05 and c["metrics"]["r2"] > 0.9
    assert "start transient of c0 left out" in result.report()
    # With a fixed window nothing is left out.
    fixed = fit(curves, min_step=1)
    assert all("transient" not in c for c in fixed.curves)


def test_no_transient_on_clean_shipped_curves() -> None:
    for size in ("25m", "100m"):
        result = fit(mpl_curves(size, MPL_TRAIN))
        assert all("transient" not in c for c in result.curves), size
    r = np.r_[np.full(5, 0.002), np.zeros(95)]
    assert start_transient(np.arange(100), r) == 0  # 0.2 % is a misfit, not a transient


def test_outliers_need_to_stand_out_from_neighbours_and_law() -> None:
    y = np.log(np.linspace(4, 3, 200))
    r = np.zeros(200)
    r[50:60] = 0.02  # a stretch the law misses: not outliers
    assert not outliers(y, r, np.full(200, 1e-4)).any()
    y[100] += 1.0
    r[100] += 1.0
    assert np.flatnonzero(outliers(y, r, np.full(200, 1e-4))).tolist() == [100]


@pytest.mark.parametrize("bad", [1e5, 9.99])  # (above 1e10 a loss is refused on reading)
def test_one_wild_loss_leaves_parameters_and_summary_intact(tmp_path, bad: float) -> None:
    clean = fit(mpl_curves("100m", MPL_TRAIN))
    frame = pd.read_csv(DATA / "mpl/100m/cosine_24000.csv")
    frame.loc[80, "loss"] = bad
    path = tmp_path / "cosine_24000.csv"
    frame.to_csv(path, index=False)
    others = [DATA / f"mpl/100m/{n}.csv" for n in MPL_TRAIN[1:]]
    curves = load_curves([path, *others], schedules_file=DATA / "schedules.txt")
    result = fit(curves)
    for k, v in clean.params.items():
        assert result.params[k] == pytest.approx(v, rel=0.02), k
    m = result.curves[0]["metrics"]
    assert m["mae"] < 0.01 and m["r2"] > 0.99 and m["worste"] < 0.02
    assert result.curves[0]["outliers"][0]["step"] == int(frame.step[80])
    assert any("far from the law" in w and "cosine_24000" in w for w in result.warnings)


def test_lr_logged_in_percent_warns(tmp_path) -> None:
    frame = pd.read_csv(DATA / "mpl/100m/cosine_24000.csv")
    frame["lr"] *= 1e5  # a peak of 30
    path = tmp_path / "cosine_24000.csv"
    frame.to_csv(path, index=False)
    (curve,) = load_curves([path], warmup=2160)
    result = fit([curve])
    assert any("implausible for a learning rate" in w for w in result.warnings)
    assert not any("implausible" in w for w in fit(mpl_curves("100m", MPL_TRAIN)).warnings)


def test_report_gives_window_and_noise() -> None:
    curves = _binned(_curves(1, 0.01), 1000)
    result = fit(curves)
    for c in result.curves:
        assert c["noise"] == pytest.approx(0.01, rel=0.1)
        assert c["law_residual"] < 0.002  # the law is exact here: nothing beyond noise
    text = result.report()
    assert "fit window and noise" in text and " 1.0" in text


def test_dense_noisy_shipped_runs_predict_like_the_clean_log(tmp_path) -> None:
    """MPL 100M training runs re-logged at every step with 1 % noise (a per-step training
    loss) predict the six held-out runs about as well as the clean logs."""
    rng = np.random.default_rng(0)
    paths = []
    for name in MPL_TRAIN:
        frame = pd.read_csv(DATA / f"mpl/100m/{name}.csv").dropna(subset=["loss"])
        f = PchipInterpolator(np.log(frame.step), np.log(frame.loss))
        steps = np.arange(frame.step.iloc[0], frame.step.iloc[-1] + 1)
        loss = np.exp(f(np.log(steps))) * (1 + 0.01 * rng.standard_normal(steps.size))
        paths.append(tmp_path / f"{name}.csv")
        pd.DataFrame({"step": steps, "loss": loss}).to_csv(paths[-1], index=False)
    test = mpl_curves("100m", MPL_TEST)

    def prede(curves: list[Curve]) -> float:
        result = fit(curves)
        errs = []
        for c in test:
            m = c.window()
            errs.append(curve_metrics(c.loss[m], result.predict(c, c.steps[m]))["prede"])
        return float(np.mean(errs))

    noisy = load_curves(paths, schedules_file=DATA / "schedules.txt", options=ReadOptions())
    assert prede(noisy) <= prede(mpl_curves("100m", MPL_TRAIN)) + 0.0003


def test_band_errors_are_about_the_law_not_the_noise_of_logged_values() -> None:
    """Out-of-sample errors of a log with 1 % noise on every value are smoothed along
    each curve: the band describes the predicted curve, not single noisy losses."""
    curves = _binned(_curves(10, 0.01), None)
    result = fit(curves, bootstrap=20)
    e = result.uncertainty.errors
    assert e.size > 1000
    assert np.std(e) < 0.004  # the raw errors spread by the noise, 1 %


def test_numpy_filters_give_scipys_bits() -> None:
    """The running median and moving mean are numpy (importing scipy.ndimage cost a fit
    0.15-0.3 s); they give scipy.ndimage's results bit for bit, edges included."""
    from scipy.ndimage import median_filter, uniform_filter1d

    from lrlaw.fitting.weighting import _running_median, moving_mean

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 10, 57, 500, 2001):
        x = 0.01 + 1e-3 * rng.standard_normal(n)
        for size in (5, 11):
            np.testing.assert_array_equal(
                _running_median(x, size), median_filter(x, size=size, mode="nearest")
            )
        for size in (3, 5, 11, 41, 101):
            if size <= n:
                np.testing.assert_array_equal(
                    moving_mean(x, size), uniform_filter1d(x, size, mode="nearest")
                )
    assert _running_median(np.zeros(0)).size == 0 and moving_mean(np.zeros(0), 5).size == 0


def test_transient_note_reads_right_for_one_point_and_for_several() -> None:
    from lrlaw.fitting.report import window_lines

    row = {"name": "r", "window": (210, 5000), "noise": 1e-3, "noise_per_point": 1e-3}
    one = {"from_step": 200, "to_step": 200, "points": 1, "max_loss": 8.898, "max_excess": 0.01}
    many = one | {"to_step": 400, "points": 12, "max_excess": 0.3}
    (note,) = [x for x in window_lines([row | {"transient": one}]) if x.startswith("note")]
    assert "step 200 (1 point, loss 8.898, 1 % off the law)" in note
    (note,) = [x for x in window_lines([row | {"transient": many}]) if x.startswith("note")]
    assert "steps 200..400 (12 points, loss up to 8.898, up to 30 % off the law)" in note


@pytest.mark.parametrize("n", [1, 2, 7, 171])
def test_edge_pad_and_running_median_are_numpys(n) -> None:
    """The fast forms in a fit's hot path (a tenth of np.pad's time; np.partition for
    the middle of each odd window) give np.pad's and np.median's values, NaN included."""
    from lrlaw.fitting.weighting import _running_median, edge_pad

    rng = np.random.default_rng(n)
    x = rng.standard_normal(n)
    for before, after in ((0, 0), (0, 5), (3, 3), (5, 0)):
        got = edge_pad(x, before, after)
        np.testing.assert_array_equal(got, np.pad(x, (before, after), mode="edge"))
    steps = np.arange(n) * 10
    np.testing.assert_array_equal(edge_pad(steps, 0, 4), np.pad(steps, (0, 4), mode="edge"))
    assert edge_pad(steps, 0, 4).dtype == steps.dtype
    for size in (5, 11):
        h = size // 2
        windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, h, mode="edge"), size)
        np.testing.assert_array_equal(_running_median(x, size), np.median(windows, axis=1))
        if n > 3:
            y = x.copy()
            y[n // 2] = np.nan
            windows = np.lib.stride_tricks.sliding_window_view(np.pad(y, h, mode="edge"), size)
            np.testing.assert_array_equal(_running_median(y, size), np.median(windows, axis=1))


def test_chunk_medians_are_the_medians_of_array_split() -> None:
    """trend_warnings' vectorised chunk medians: the values of one np.median per chunk of
    np.array_split, for chunk counts that divide the length and that do not."""
    from lrlaw.fitting.diagnostics import _chunk_medians

    rng = np.random.default_rng(0)
    for n in (20, 21, 29, 171, 499, 500, 5003):
        x = rng.standard_normal(n)
        k = min(50, n // 10)
        want = np.array([np.median(c) for c in np.array_split(x, k)])
        np.testing.assert_array_equal(_chunk_medians(x, k), want)
