"""Issue 18.3: the analytic-gradient baseline of ``benchmarks/baseline_scipy.py``.

``bench.py`` times lrlaw's warm momentum fit against L-BFGS-B with the numpy gradient of
lrlaw's own objective.  That comparison only means something if the gradient is right and
the objective is lrlaw's: both are checked here (the timing itself is in the benchmark).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from mpl import MPL_TRAIN, mpl_curves

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import baseline_scipy as base  # noqa: E402

from lrlaw.fitting import fit  # noqa: E402
from lrlaw.fitting.core import HUBER_DELTA, _Problem  # noqa: E402
from lrlaw.laws import get_law  # noqa: E402


def _inputs(curves):
    law = get_law("momentum")
    problem = _Problem.build(curves, law, None, HUBER_DELTA)
    s1, s2, logy, w, thr = [], [], [], [], []
    for i, (c, m) in enumerate(zip(curves, problem.masks)):
        idx = np.flatnonzero(problem.curve_of == i)
        s1.append(base.forward_area(c.lr)[c.steps[m]])
        s2.append(base.annealing_area_lfilter(c.lr)[c.steps[m]])
        logy.append(np.log(c.loss[m]))
        w.append(problem.weight[idx])
        thr.append(problem.thresholds[idx])
    return tuple(np.concatenate(x) for x in (s1, s2, logy, w, thr))


def test_analytic_gradient_matches_finite_differences() -> None:
    args = _inputs(mpl_curves("100m", MPL_TRAIN))
    rng = np.random.default_rng(0)
    points = [
        np.array([3.0, 0.5, 0.5, 0.4]),  # residuals far beyond the Huber thresholds
        np.array([2.9, 0.45, 0.48, 0.35]),
        np.array([0.1, 0.2, 0.3, 30.0]),  # predictions below 1e-6: the log's linear part
    ]
    points += [p * np.exp(0.2 * rng.standard_normal(4)) for p in points[:2]]
    for x in points:
        _, grad = base.weighted_objective_grad(x, *args)
        fd = np.empty(4)
        for k in range(4):
            h = 1e-6 * max(abs(x[k]), 1e-3)
            up, dn = x.copy(), x.copy()
            up[k] += h
            dn[k] -= h
            fd[k] = (
                base.weighted_objective_grad(up, *args)[0]
                - base.weighted_objective_grad(dn, *args)[0]
            ) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-9 * np.abs(fd).max())


def test_baseline_objective_is_lrlaws_and_reaches_its_optimum() -> None:
    curves = mpl_curves("100m", MPL_TRAIN)
    result = fit(curves)
    assert all("transient" not in c for c in result.curves)  # same window as the baseline
    law = get_law("momentum")
    p = np.array([result.params[k] for k in law.param_names])
    args = _inputs(curves)
    value, _ = base.weighted_objective_grad(p, *args)
    assert abs(value - result.objective) <= 1e-12 * result.objective
    # from lrlaw's starts, with tight tolerances, L-BFGS-B finds the same optimum
    problem = _Problem.build(curves, law, None, HUBER_DELTA)
    starts = law.initial_guesses(problem.prepared, list(problem.losses))
    data = []
    for i, (c, m) in enumerate(zip(curves, problem.masks)):
        idx = np.flatnonzero(problem.curve_of == i)
        data.append((c.lr, c.steps[m], c.loss[m], problem.weight[idx], problem.thresholds[idx]))
    res = base.fit_analytic(data, starts, ftol=1e-14, gtol=1e-12)
    assert abs(res["objective"] - result.objective) <= 1e-10 * result.objective
    np.testing.assert_allclose(res["params"], p, rtol=1e-7)
