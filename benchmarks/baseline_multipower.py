r"""Plain numpy/scipy fit of the Multi-Power Law -- the baseline lrlaw's multipower fit is
timed against (``bench_multipower.py``).

Written the way a researcher would write it in a notebook, independently of
lrlaw (it imports nothing from the package).  The law (Luo et al. 2025, eq. 5)::

    L(t)   = L0 + A * (S1(t) + S_W)^(-alpha) - LD(t)
    LD(t)  = B * sum_{k=1..t} (eta_{k-1} - eta_k) * G(eta_k^(-gamma) * S_k(t))
    S_k(t) = sum_{tau=k..t} eta_tau,    G(x) = 1 - (C x + 1)^(-beta)

with lrlaw's convention: ``eta`` is the per-step LR *including* the warmup,
``S1(t) + S_W = sum_{tau=0..t} eta_tau = P_t`` (cumulative sum), the changes
``eta_{k-1} - eta_k`` are signed (warmup increases count negatively), and
``S_k(t) = P_t - P_{k-1}``.

Prediction: a Python loop over the observed steps ``t``, each one a numpy
expression vectorised over *all* ``k = 1..t`` (no skipping of the steps where
the LR does not change, no blocking, no caching of ``eta_k^-gamma`` between
calls).

Objective: ``sum Huber_delta(log L_obs - log L_pred)``, ``delta = 1e-3``,
over every point (all curves concatenated; ``1e10`` if a prediction is <= 0),
minimised by ``scipy.optimize.minimize(method="L-BFGS-B")`` on the seven
parameters with bounds ``> 0`` (``[1e-10, inf)``) and scipy's default
finite-difference gradient and tolerances, from each start; the best result
is kept.  Starts: passed in by the caller (the benchmark passes the six that
lrlaw's ``MultiPowerLaw.initial_guesses`` computes, so both fits start from
the same points), or else the fixed grid :data:`START_GRID` (6 starts).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

DELTA = 1e-3
PARAM_NAMES = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
LOWER = 1e-10  # parameters must stay > 0
#: Fallback starts when none are given: 1 x 1 x 1 x 1 x 3 x 2 x 1 = 6 points.
START_GRID = {
    "L0": (3.0,),
    "A": (0.5,),
    "alpha": (0.5,),
    "B": (500.0,),
    "C": (0.3, 2.0, 10.0),
    "beta": (0.3, 0.6),
    "gamma": (0.5,),
}


def predict(params: np.ndarray, lr: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Multi-Power-Law loss at ``steps`` for the per-step schedule ``lr`` (``lr[0]`` = step 0)."""
    l0, a, alpha, b, c, beta, gamma = params
    p = np.cumsum(lr)  # P_t = sum_{tau <= t} eta_tau = S1(t) + S_W
    out = np.empty(len(steps))
    for i, t in enumerate(steps):
        k = np.arange(1, t + 1)
        s_k = p[t] - p[k - 1]  # S_k(t)
        g = 1.0 - (c * lr[k] ** (-gamma) * s_k + 1.0) ** (-beta)
        loss_drop = b * np.sum((lr[k - 1] - lr[k]) * g)
        out[i] = l0 + a * p[t] ** (-alpha) - loss_drop
    return out


def huber(r: np.ndarray, delta: float = DELTA) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def objective(
    params: np.ndarray, curves: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> float:
    """``sum Huber(log L - log L_pred)`` over every point of ``curves`` = [(lr, steps, loss)]."""
    pred = np.concatenate([predict(params, lr, steps) for lr, steps, _ in curves])
    if not np.all(pred > 0):
        return 1e10
    log_y = np.log(np.concatenate([loss for _, _, loss in curves]))
    return float(np.sum(huber(log_y - np.log(pred))))


def fit(
    curves: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    starts: np.ndarray | None = None,
    options: dict | None = None,
    history: list | None = None,
) -> dict:
    """Fit the law jointly to ``curves`` = [(lr per step, observed steps, losses), ...].

    ``starts``: rows of (L0, A, alpha, B, C, beta, gamma); default :data:`START_GRID`.
    ``options``: passed to L-BFGS-B (default: none, i.e. scipy's defaults:
    ``maxiter=15000``, ``ftol=2.2e-9``, ``gtol=1e-5``).
    ``history``: if a list, ``(time.perf_counter(), value)`` of every objective
    evaluation (finite-difference ones included) is appended to it.
    Returns ``{"params", "objective", "n_starts", "runs"}``; ``runs`` has, per
    start, the objective, iterations, function evaluations and scipy's message.
    """
    if starts is None:
        starts = np.array(list(itertools.product(*START_GRID.values())), dtype=float)

    def fun(params: np.ndarray) -> float:
        value = objective(params, curves)
        if history is not None:
            history.append((time.perf_counter(), value))
        return value

    best, runs = None, []
    for x0 in np.asarray(starts, dtype=float):
        res = minimize(
            fun,
            x0,
            method="L-BFGS-B",
            bounds=[(LOWER, None)] * len(PARAM_NAMES),
            options=options or {},
        )
        runs.append(
            {
                "objective": float(res.fun),
                "nit": int(res.nit),
                "nfev": int(res.nfev),
                "success": bool(res.success),
                "message": str(res.message),
            }
        )
        if best is None or res.fun < best.fun:
            best = res
    return {
        "params": np.asarray(best.x),
        "objective": float(best.fun),
        "n_starts": len(starts),
        "runs": runs,
    }
