"""Plain numpy/scipy fit of the momentum law -- the baseline lrlaw is timed against.

Written the way a researcher would write it in a notebook, independently of
lrlaw (it imports nothing from the package):

    L(s) = L0 + A * S1(s)^(-alpha) - C * S2(s)
    S1(s) = sum_{i=1..s} eta_i
    m_i   = lam * m_{i-1} + (eta_{i-1} - eta_i),  m_0 = 0,   S2(s) = sum_{i=1..s} m_i

objective sum Huber_delta(log L_obs - log L_pred), delta = 1e-3, minimised by
``scipy.optimize.minimize(method="L-BFGS-B")`` on (L0, A, alpha, C) with
bounds >= 0 from a grid of starts, keeping the best.

Two versions of the S2 recurrence are given: an explicit Python loop over the
steps (what the straightforward code looks like) and ``scipy.signal.lfilter``
(the vectorised numpy way, a fair baseline for throughput).

:func:`fit_analytic` is the stronger baseline of issue 18.3: lrlaw's own objective
(span weights ``w_i``, per-point Huber thresholds ``delta_i`` and the linear
continuation of ``log`` below 1e-6, all given as data), its analytic gradient in numpy
(:func:`weighted_objective_grad`) and L-BFGS-B from a given list of starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.signal import lfilter

LAM = 0.999
DELTA = 1e-3
START_GRID = {
    "L0": (2.0, 3.0),
    "A": (0.3, 1.0),
    "alpha": (0.3, 0.5, 0.8),
    "C": (0.1, 1.0),
}


def forward_area(lr: np.ndarray) -> np.ndarray:
    """``S1(s) = sum_{i=1..s} eta_i`` with ``S1(0) = 0``."""
    s1 = np.zeros_like(lr)
    s1[1:] = np.cumsum(lr[1:])
    return s1


def annealing_area_loop(lr: np.ndarray, lam: float = LAM) -> np.ndarray:
    """``S2`` with an explicit Python loop for the momentum recurrence (signed changes)."""
    m = np.zeros_like(lr)
    for i in range(1, len(lr)):
        m[i] = lam * m[i - 1] + (lr[i - 1] - lr[i])
    return np.cumsum(m)


def annealing_area_lfilter(lr: np.ndarray, lam: float = LAM) -> np.ndarray:
    """``S2`` with the recurrence as an IIR filter: ``m = lfilter([1], [1, -lam], d)``."""
    d = np.zeros_like(lr)
    d[1:] = lr[:-1] - lr[1:]
    return np.cumsum(lfilter([1.0], [1.0, -lam], d))


def huber(r: np.ndarray, delta: float = DELTA) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def predict(params: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    l0, a, alpha, c = params
    return l0 + a * s1 ** (-alpha) - c * s2


def objective(params: np.ndarray, s1: np.ndarray, s2: np.ndarray, log_y: np.ndarray) -> float:
    pred = predict(params, s1, s2)
    if np.any(pred <= 0):
        return 1e10
    return float(np.sum(huber(log_y - np.log(pred))))


def fit(
    curves: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    lam: float = LAM,
    loop: bool = True,
) -> dict:
    """Fit the momentum law jointly to ``curves`` = [(lr per step, steps, loss), ...].

    Returns ``{"params", "objective", "n_starts"}``.  The time includes the areas.
    """
    area = annealing_area_loop if loop else annealing_area_lfilter
    s1, s2, y = [], [], []
    for lr, steps, loss in curves:
        s1.append(forward_area(lr)[steps])
        s2.append(area(lr, lam)[steps])
        y.append(loss)
    s1, s2, log_y = np.concatenate(s1), np.concatenate(s2), np.log(np.concatenate(y))

    best = None
    starts = list(itertools.product(*START_GRID.values()))
    for x0 in starts:
        res = minimize(
            objective,
            np.array(x0),
            args=(s1, s2, log_y),
            method="L-BFGS-B",
            bounds=[(0, None)] * 4,
        )
        if best is None or res.fun < best.fun:
            best = res
    return {"params": best.x, "objective": float(best.fun), "n_starts": len(starts)}


SAFE_LOG_EPS = 1e-6


def weighted_objective_grad(
    params: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
    log_y: np.ndarray,
    weight: np.ndarray,
    thresholds: np.ndarray,
    eps: float = SAFE_LOG_EPS,
) -> tuple[float, np.ndarray]:
    """``J = sum_i w_i Huber_{delta_i}(log y_i - log L_i)`` and its gradient in (L0, A, alpha, C).

    ``L_i = L0 + A S1_i^-alpha - C S2_i`` (Tissue et al. 2024, eq. 1) and ``log`` is
    continued linearly below ``eps`` (``log eps + (L - eps) / eps``), as in lrlaw.  By
    the chain rule, with ``r_i = log y_i - log L_i``:
    ``dJ/dr_i = w_i clip(r_i, -delta_i, delta_i)``, ``dr_i/dL_i = -1/max(L_i, eps)``,
    ``dL/dL0 = 1``, ``dL/dA = S1^-alpha``, ``dL/dalpha = -A S1^-alpha log S1``,
    ``dL/dC = -S2``.
    """
    l0, a, alpha, c = params
    p = s1 ** (-alpha)
    pred = l0 + a * p - c * s2
    inside = pred > eps
    safe = np.maximum(pred, eps)
    log_pred = np.where(inside, np.log(safe), np.log(eps) + (pred - eps) / eps)
    r = log_y - log_pred
    small = np.abs(r) <= thresholds
    loss = np.where(small, 0.5 * r * r, thresholds * (np.abs(r) - 0.5 * thresholds))
    d_r = weight * np.clip(r, -thresholds, thresholds)
    d_pred = -d_r / np.where(inside, safe, eps)
    grad = np.array(
        [
            d_pred.sum(),
            d_pred @ p,
            -a * (d_pred @ (p * np.log(s1))),
            -(d_pred @ s2),
        ]
    )
    return float(weight @ loss), grad


def fit_analytic(
    curves: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    starts: np.ndarray,
    lam: float = LAM,
    **options: float,
) -> dict:
    """L-BFGS-B with the analytic gradient from each row of ``starts``; best kept.

    ``curves`` = [(lr per step, steps, loss, weights, thresholds), ...]; the areas
    (``cumsum`` + ``lfilter``) are computed inside, as in :func:`fit`.  ``options`` go to
    L-BFGS-B (``ftol``, ``gtol``, ...).  Returns ``{"params", "objective", "n_starts",
    "nit"}`` (``nit``: iterations summed over the starts).
    """
    s1, s2, y, w, thr = [], [], [], [], []
    for lr, steps, loss, weight, thresholds in curves:
        s1.append(forward_area(lr)[steps])
        s2.append(annealing_area_lfilter(lr, lam)[steps])
        y.append(loss)
        w.append(weight)
        thr.append(thresholds)
    cat = [np.concatenate(x) for x in (s1, s2, y, w, thr)]
    args = (cat[0], cat[1], np.log(cat[2]), cat[3], cat[4])
    best, nit = None, 0
    for x0 in np.atleast_2d(starts):
        res = minimize(
            weighted_objective_grad,
            np.asarray(x0, dtype=np.float64),
            args=args,
            jac=True,
            method="L-BFGS-B",
            bounds=[(0, None)] * 4,
            options=options or None,
        )
        nit += int(res.nit)
        if best is None or res.fun < best.fun:
            best = res
    return {"params": best.x, "objective": float(best.fun), "n_starts": len(starts), "nit": nit}
