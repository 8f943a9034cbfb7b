"""The watcher's warm refits (issue 20.5): one solve on the window the last fit kept,
the same optimum as a fit that searches for the start transient again, and no
recompilation while the log grows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lrlaw import watch
from lrlaw.curves import Curve
from lrlaw.fitting import core, fit
from lrlaw.io import load_curves, resample
from lrlaw.watch import Watcher

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "data" / "schedules.txt"


def _curve(name: str = "wsd-0.2-linear", folder: str = "schaipp-124m/canonical"):
    (c,) = load_curves([ROOT / "data" / folder / f"{name}.csv"], schedules_file=SCHEDULES)
    return c


def _feed_to(w: Watcher, steps, loss, share: float, total: int, chunk: int = 4):
    seen = w.observed()[0]
    start = int(np.searchsorted(steps, seen[-1], side="right")) if seen.size else 0
    stop = int(np.searchsorted(steps, share * total))
    p = w.prediction
    for i in range(start, stop, chunk):
        p = w.update_many(steps[i : min(i + chunk, stop)], loss[i : min(i + chunk, stop)])
    return p


def _binned(w: Watcher) -> Curve:
    """The curve the watcher's next refit fits (as :meth:`Watcher._refit` builds it)."""
    steps, loss = w._window()
    bs, bl = resample(steps, loss, w.fit_points)
    return Curve(w.name, bs, bl, w._schedule_now(), warmup=0)


def _final(result, lr) -> float:
    return float(result.predict(lr, np.array([lr.size - 1]))[0])


@pytest.mark.parametrize(
    ("law", "per_step"), [("momentum", False), pytest.param("efflr", True, marks=pytest.mark.slow)]
)
def test_a_warm_refit_on_the_kept_window_reaches_the_same_optimum(law, per_step):
    """The 124M runs start with a transient (the first binned losses lie far above the
    law: the first two bins, for the momentum law on the logged run and for the efflr law
    on the run interpolated to every step, as in ``benchmarks/bench_watch.py``),
    so each refit used to solve three times: the whole window from the last optimum, then
    the window without the first bin, then without the second.  The refit now fits the
    kept window from the last optimum (one solve) and lands where the transient search
    lands, and where a cold multi-start fit lands."""
    c = _curve()
    steps, loss = c.steps, c.loss
    if per_step:
        steps = np.arange(1, c.total_steps + 1)
        loss = np.interp(steps, c.steps, c.loss)
    w = Watcher(c.lr, law)
    p = _feed_to(w, steps, loss, 0.4, c.total_steps, chunk=100 if per_step else 4)
    assert p.fitted and p.refits >= 2
    cut = w._cut
    assert cut is not None  # the last fit left the transient out
    _feed_to(w, steps, loss, 0.45, c.total_steps, chunk=100 if per_step else 4)
    curve = _binned(w)
    searched = fit([curve], w.law, init=w._theta_data, max_steps=200)  # the former refit
    assert watch._transient_cut(searched) == cut
    warm = w._warm_fit(curve)
    assert w._cut == cut and warm.min_step == curve.steps[cut]  # the one-solve path
    cold = fit([curve], w.law)  # the full multi-start fit, transient search included
    assert warm.curves[0]["window"] == searched.curves[0]["window"] == cold.curves[0]["window"]
    lr = curve.lr
    assert _final(warm, lr) == pytest.approx(_final(searched, lr), rel=1e-5)
    assert _final(warm, lr) == pytest.approx(_final(cold, lr), rel=1e-3)
    assert warm.objective == pytest.approx(searched.objective, rel=1e-4)
    assert warm.objective <= cold.objective * (1 + 1e-4)


def test_a_changed_transient_is_searched_again():
    """A cut that the transient detector no longer confirms at the new fit is dropped:
    the refit searches the whole window again (here: a cut at a step past the
    transient, so the points before it are not all far from the law)."""
    c = _curve()
    w = Watcher(c.lr)
    _feed_to(w, c.steps, c.loss, 0.5, c.total_steps)
    curve = _binned(w)
    w._cut = 10  # ten binned losses: more than the transient
    result = w._warm_fit(curve)
    assert result.min_step is None and w._cut == watch._transient_cut(result) < 10


def test_a_growing_log_does_not_recompile_per_update():
    """The losses are binned into ``fit_points`` bins and the schedule is fixed, so the
    refits of a growing per-step log reuse the compiled solver and Jacobian: after the
    first fit and the first warm refit (which compile them), no refit compiles again."""
    c = _curve()
    steps = np.arange(1, c.total_steps + 1)
    loss = np.interp(steps, c.steps, c.loss)
    w = Watcher(c.lr)
    _feed_to(w, steps, loss, 0.4, c.total_steps, chunk=100)
    _feed_to(w, steps, loss, 0.42, c.total_steps, chunk=100)
    assert w.refits >= 2
    jitted = (core._solve, core._predict_one, core._jacobian, watch._logpred_jac)
    before = [f._cache_size() for f in jitted]
    refits = w.refits
    _feed_to(w, steps, loss, 0.6, c.total_steps, chunk=100)
    assert w.refits >= refits + 10
    assert [f._cache_size() for f in jitted] == before
