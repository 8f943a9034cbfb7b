"""Issue 16 item 4's selectable band schemes: the error term that grows past the
fitted horizon (``resampling="block+horizon"``,
:func:`lrlaw.fitting.uncertainty.horizon_growth`) and the held-out errors deflated by
the noise and the refits' own estimation error (``"block+deflate"``)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from mpl import MPL_TRAIN, mpl_curves

from lrlaw import schedules
from lrlaw.curves import Curve
from lrlaw.fitting import FitResult, core, fit, predict_curve
from lrlaw.fitting.uncertainty import Uncertainty, horizon_growth
from lrlaw.laws import MomentumLaw


def test_horizon_growth_recovers_the_slope_of_the_error_size() -> None:
    """|e| = (a + b x) u with u > 0 of mean 1, independent of x: the regression's
    slope is b (within sampling error), ``ref`` the mean distance."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 0.5, 4000)
    e = (0.001 + 0.004 * x) * rng.exponential(1.0, x.size) * rng.choice([-1, 1], x.size)
    g = horizon_growth(e, x, None, 1000.0)
    assert g is not None and g["horizon"] == 1000.0
    assert g["slope"] == pytest.approx(0.004, rel=0.1)
    assert g["ref"] == pytest.approx(np.mean(x))
    assert g["span"] == pytest.approx(x.max())


def test_horizon_growth_never_shrinks_and_needs_varying_distances() -> None:
    x = np.linspace(0, 0.5, 50)
    assert horizon_growth(0.003 - 0.004 * x, x)["slope"] == 0.0  # errors that fall
    assert horizon_growth(np.full(50, 0.001), np.zeros(50)) is None  # one distance
    assert horizon_growth(np.ones(2), np.array([0.0, 1.0])) is None  # too few


def _uncertainty(growth: dict[str, float] | None, errors: np.ndarray) -> Uncertainty:
    return Uncertainty(
        "block+horizon" if growth else "block",
        np.zeros((40, 1)),
        1.0,
        {},
        errors,
        "test",
        0,
        growth=growth,
    )


def test_band_covers_an_error_that_grows_with_the_horizon() -> None:
    """A synthetic law whose relative error at a distance ``x = ln(t / T)`` past the
    fitted horizon ``T`` has the size ``|e| = a u + b x`` (a spread ``u`` of mean 1 plus
    a drift that grows with the log horizon): the forward split measures it on ``x`` in
    ``[0, ln(1/0.6)]``.  On a schedule that runs to 3 T the 90 %
    band with the growth covers 80-95 % of the steps past 2 T; the band with the same
    error term at every step (``"block"``) covers under half of them."""
    rng = np.random.default_rng(1)
    a, b, horizon = 0.001, 0.004, 1000.0
    x_split = rng.uniform(0.0, np.log(1 / 0.6), 3000)
    u = rng.exponential(1.0, (2, 3000))
    e_split = (a * u[0] + b * x_split) * rng.choice([-1, 1], 3000)
    growth = horizon_growth(e_split, x_split, None, horizon)
    steps = np.arange(2001, 3001, 10).astype(float)
    x_new = np.log(steps / horizon)
    preds = np.full((40, steps.size), 3.0)
    new = _uncertainty(growth, e_split).band(preds, 0.9, steps=steps)
    old = _uncertainty(None, e_split).band(preds, 0.9, steps=steps)
    # The truth at each step: the prediction off by a draw of the true error there.
    size = a * u[1, : steps.size] + b * x_new
    truth = 3.0 * (1 + size * rng.choice([-1, 1], steps.size))
    cover_new = np.mean((new[0] <= truth) & (truth <= new[1]))
    cover_old = np.mean((old[0] <= truth) & (truth <= old[1]))
    assert 0.80 <= cover_new <= 0.95, cover_new
    assert cover_old < 0.5, cover_old


def test_growth_leaves_the_band_within_the_horizon_alone() -> None:
    """Up to ``T exp(ref)`` the band is the flat one, step for step; past it wider."""
    rng = np.random.default_rng(2)
    errors = 0.002 * rng.standard_normal(500)
    growth = {"horizon": 1000.0, "slope": 0.003, "ref": 0.2, "span": 0.5}
    steps = np.array([100.0, 1000.0, 1200.0, 1300.0, 3000.0])
    preds = 3.0 + 0.001 * rng.standard_normal((60, steps.size))
    lo_n, hi_n = _uncertainty(growth, errors).band(preds, 0.9, steps=steps)
    lo_o, hi_o = _uncertainty(None, errors).band(preds, 0.9, steps=steps)
    inside = steps <= 1000.0 * np.exp(0.2)
    np.testing.assert_array_equal(lo_n[inside], lo_o[inside])
    np.testing.assert_array_equal(hi_n[inside], hi_o[inside])
    assert np.all(hi_n[~inside] - lo_n[~inside] > hi_o[~inside] - lo_o[~inside])
    with pytest.raises(ValueError, match="steps"):
        _uncertainty(growth, errors).band(preds, 0.9, steps=steps[:3])


def _fit(curves, method: str, n_boot: int = 40) -> FitResult:
    original = core._uncertainty
    core._uncertainty = functools.partial(original, resampling=method)
    try:
        return fit(curves, bootstrap=n_boot, seed=0)
    finally:
        core._uncertainty = original


def test_block_horizon_fit_measures_growth_from_the_forward_split(tmp_path) -> None:
    """MPL 25M's three 24k-step training runs: the forward split gives a growth
    estimate; the band on the 72k-step cosine is the flat band up to the horizon and
    wider past it; the point prediction is the same; the growth survives a JSON
    round trip.  The default scheme keeps no growth."""
    curves = mpl_curves("25m", MPL_TRAIN)
    new, old = _fit(curves, "block+horizon"), _fit(curves, "block")
    assert old.uncertainty.growth is None and old.uncertainty.scheme == "block"
    g = new.uncertainty.growth
    assert g is not None and g["horizon"] == max(c.steps[-1] for c in curves)
    assert 0 < g["ref"] < g["span"] <= np.log(1 / 0.6) + 0.05 and g["slope"] >= 0
    (c,) = mpl_curves("25m", ["cosine_72000"])
    np.testing.assert_array_equal(new.predict(c), old.predict(c))
    lo_n, hi_n = new.predict_band(c.lr, c.steps)
    lo_o, hi_o = old.predict_band(c.lr, c.steps)
    within = c.steps <= g["horizon"]
    np.testing.assert_allclose(lo_n[within], lo_o[within], rtol=1e-12)
    np.testing.assert_allclose(hi_n[within], hi_o[within], rtol=1e-12)
    far = c.steps > 2 * g["horizon"]
    if g["slope"] > 0:
        assert np.all(hi_n[far] - lo_n[far] > hi_o[far] - lo_o[far])
    path = tmp_path / "fit.json"
    new.save(path)
    back = FitResult.load(path)
    assert back.uncertainty.growth == g
    np.testing.assert_allclose(back.predict_band(c.lr, c.steps), (lo_n, hi_n))


def test_noise_left_in_the_moving_mean() -> None:
    """1 % noise, 0.1 % target: a window of 101 points leaves 1 % / sqrt(101); capped at
    a fifth of a short series (21 points); a clean series is not smoothed."""
    assert core._noise_left(10_000, 0.01) == pytest.approx(0.01 / np.sqrt(101))
    assert core._noise_left(105, 0.01) == pytest.approx(0.01 / np.sqrt(21))
    assert core._noise_left(100, 1e-4) == pytest.approx(1e-4)


def test_deflated_errors_narrow_the_band_of_a_correct_law_on_a_noisy_sparse_log() -> None:
    """Three runs of the momentum law itself, 1 % noise logged every 50 steps: what is
    left of the held-out errors is noise and the held-out refits' own estimation error,
    not law error.  Deflated (``"block+deflate"``), the band on a new schedule is
    narrower than ``"block"``'s in every seed and still covers at least 90 % of its
    true curve."""
    true, total, warmup = np.array([2.9, 0.5, 0.45, 0.35]), 6000, 300

    def run(name, sched, rng):
        lr = sched.values()
        steps = np.arange(warmup, total + 1, 50)
        truth = predict_curve(MomentumLaw(), true, lr, steps)
        loss = truth * (1 + 0.01 * rng.standard_normal(steps.size))
        return Curve(name, steps, loss, lr, warmup), truth

    inside = points = 0
    for seed in range(3):
        rng = np.random.default_rng(seed)
        train = [
            run("const", schedules.constant(3e-4, total=total, warmup=warmup), rng)[0],
            run("cos", schedules.cosine(3e-4, total, final=3e-5, warmup=warmup), rng)[0],
            run(
                "wsd", schedules.wsd(3e-4, total, decay_start=4500, final=3e-5, warmup=warmup), rng
            )[0],
        ]
        sched = schedules.wsd(3e-4, total, decay_start=3000, final=0.0, warmup=warmup)
        test, truth = run("new", sched, rng)
        widths = {}
        for method in ("block", "block+deflate"):
            result = _fit(train, method, n_boot=60)
            lo, hi = result.predict_band(test.lr, test.steps)
            widths[method] = float(np.mean(hi - lo))
            if method == "block+deflate":
                inside += int(np.sum((lo <= truth) & (truth <= hi)))
                points += truth.size
        assert widths["block+deflate"] < widths["block"], widths
    assert inside / points >= 0.9, inside / points
