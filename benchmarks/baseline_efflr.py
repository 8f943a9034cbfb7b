r"""Plain numpy/scipy fit of the effective-LR law -- the baseline lrlaw's ``efflr`` fit is
timed against (``bench_efflr.py``).

Written the way a researcher would write it in a notebook, independently of
lrlaw (it imports nothing from the package).  The law (lrlaw's own, see
``lrlaw/laws/efflr.py``)::

    u_t  = (eta_t / eta_ref)^r            (0 where eta_t = 0),   eta_ref = 1e-3
    S(t) = sum_{i=1..t} u_i
    nu_0 = u_0,   nu_t = nu_{t-1} + (u_t - nu_{t-1}) (1 - exp(-kappa u_t^q)),   q = 1/2
                  (no relaxation where eta_t = 0: nu_t = nu_{t-1})
    L(t) = L0 + A S(t)^(-alpha) + B nu_t

Noise floor ``nu``, two implementations (same numbers to ~1e-13):

- ``"loop"`` (the straightforward one): the relaxation factors
  ``g_t = 1 - exp(-kappa u_t^q)`` vectorised, then a Python ``for`` loop over
  every step, ``nu[t] = nu[t-1] + (u[t] - nu[t-1]) * g[t]`` on numpy arrays.
- ``"vectorised"``: the closed form of the linear recurrence ``nu_t = a_t
  nu_{t-1} + b_t`` (``a_t = exp(-kappa u_t^q)``, ``b_t = (1 - a_t) u_t``;
  ``a_0 = 0, b_0 = u_0``): with ``c_t = sum_{j=1..t} log a_j``,
  ``nu_t = exp(c_t + logsumexp_{i<=t}(log b_i - c_i))``, the running
  log-sum-exp by ``np.logaddexp.accumulate`` (in log space, so the products
  ``prod a_j`` cannot underflow however long the run).

Objective: ``sum Huber_delta(log L_obs - log L_pred)``, ``delta = 1e-3``, over
the points given (the benchmark passes lrlaw's fit window: the steps at or
after the end of warmup, all curves jointly).  Minimised by
``scipy.optimize.least_squares`` (``method="trf"``, ``loss="huber"``,
``f_scale=delta`` -- whose cost ``0.5 f_scale^2 sum rho((r/f_scale)^2)`` *is*
the Huber objective above -- 2-point finite-difference Jacobian, scipy's
default tolerances ``ftol = xtol = gtol = 1e-8``) on the log-parameters (all six
are positive), from each start of :func:`start_grid`; the best is kept.

Start grid (:func:`start_grid`, 8 starts): ``alpha in {0.3, 0.6}``,
``r in {0.6, 0.9}``, and ``kappa`` such that the relaxation rate per step at
the peak LR, ``kappa u_peak^q``, is ``1e-3`` or ``1e-2``; at each of these 8
points ``(L0, A, B)`` by linear least squares on the losses (clipped to
``>= 1e-3 min(loss)`` for ``L0`` and ``>= 1e-12`` for ``A, B``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np
from scipy.optimize import least_squares

DELTA = 1e-3
ETA_REF = 1e-3
Q = 0.5
PARAM_NAMES = ("L0", "A", "alpha", "B", "kappa", "r")
ALPHA_GRID = (0.3, 0.6)
R_GRID = (0.6, 0.9)
RATE_GRID = (1e-3, 1e-2)  # kappa * u_peak^q: relaxation per step at the peak LR

Curves = Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (lr per step, steps, losses)


class Deadline(Exception):
    """Raised inside the objective when the fit's time cap is reached."""


def effective_lr(lr: np.ndarray, r: float) -> np.ndarray:
    """``u = (eta / eta_ref)^r``, 0 where ``eta = 0``."""
    u = np.zeros(len(lr))
    pos = lr > 0
    u[pos] = (lr[pos] / ETA_REF) ** r
    return u


def noise_floor_loop(lr: np.ndarray, r: float, kappa: float, q: float = Q) -> np.ndarray:
    """``nu_t`` at every step by the explicit recurrence, a Python loop over the steps."""
    u = effective_lr(lr, r)
    g = np.where(lr > 0, 1.0 - np.exp(-kappa * u**q), 0.0)  # no relaxation at eta = 0
    nu = np.empty(len(u))
    nu[0] = u[0]
    for t in range(1, len(u)):
        nu[t] = nu[t - 1] + (u[t] - nu[t - 1]) * g[t]
    return nu


def noise_floor_vectorised(lr: np.ndarray, r: float, kappa: float, q: float = Q) -> np.ndarray:
    """``nu_t`` at every step by the closed form of the recurrence, in log space."""
    pos = lr > 0
    log_x = np.log(np.where(pos, lr, 1.0) / ETA_REF)
    u = np.where(pos, np.exp(r * log_x), 0.0)
    log_a = np.where(pos, -kappa * np.exp(q * r * log_x), 0.0)  # log a_t = -kappa u_t^q
    log_a[0] = 0.0  # a_0 = 0 is handled by b_0 = u_0 and starting c at step 0
    c = np.cumsum(log_a)  # c_t = sum_{j=1..t} log a_j
    with np.errstate(divide="ignore"):
        log_b = np.log(-np.expm1(log_a)) + np.log(u)  # log((1 - a_t) u_t); -inf if 0
        log_b[0] = np.log(u[0])
        return np.exp(c + np.logaddexp.accumulate(log_b - c))


NOISE_FLOOR = {"loop": noise_floor_loop, "vectorised": noise_floor_vectorised}


def predict(
    params: np.ndarray, lr: np.ndarray, steps: np.ndarray, recurrence: str = "loop"
) -> np.ndarray:
    """``L0 + A S^-alpha + B nu`` at ``steps`` for the per-step schedule ``lr`` (from step 0)."""
    l0, a, alpha, b, kappa, r = params
    u = effective_lr(lr, r)
    area = np.concatenate([[0.0], np.cumsum(u[1:])])
    nu = NOISE_FLOOR[recurrence](lr, r, kappa)
    return l0 + a * area[steps] ** (-alpha) + b * nu[steps]


def huber(r: np.ndarray, delta: float = DELTA) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def log_residuals(params: np.ndarray, curves: Curves, recurrence: str = "loop") -> np.ndarray:
    """``log L_obs - log L_pred`` over every point of ``curves`` (all curves concatenated)."""
    pred = np.concatenate([predict(params, lr, s, recurrence) for lr, s, _ in curves])
    log_y = np.log(np.concatenate([y for _, _, y in curves]))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pred > 0, log_y - np.log(pred), 1e3)  # 1e3: a non-positive prediction


def objective(params: np.ndarray, curves: Curves, recurrence: str = "vectorised") -> float:
    """``sum Huber(log L - log L_pred)`` over every point of ``curves``."""
    return float(np.sum(huber(log_residuals(params, curves, recurrence))))


def start_grid(curves: Curves, recurrence: str = "vectorised") -> np.ndarray:
    """The 8 starts (rows of ``PARAM_NAMES``): a grid of ``(alpha, r, kappa)``, ``(L0, A, B)``
    by linear least squares at each grid point."""
    loss = np.concatenate([y for _, _, y in curves])
    peak = max(float(np.max(lr)) for lr, _, _ in curves)
    floor = np.array([1e-3 * loss.min(), 1e-12, 1e-12])
    starts = []
    for alpha, r, rate in itertools.product(ALPHA_GRID, R_GRID, RATE_GRID):
        kappa = rate / ((peak / ETA_REF) ** r) ** Q
        area, nu = [], []
        for lr, s, _ in curves:
            u = effective_lr(lr, r)
            area.append(np.cumsum(u[1:])[s - 1])
            nu.append(NOISE_FLOOR[recurrence](lr, r, kappa)[s])
        x = np.stack([np.ones(len(loss)), np.concatenate(area) ** -alpha, np.concatenate(nu)], 1)
        coef = np.maximum(np.linalg.lstsq(x, loss, rcond=None)[0], floor)
        starts.append([coef[0], coef[1], alpha, coef[2], kappa, r])
    return np.array(starts)


def fit(
    curves: Curves,
    recurrence: str = "loop",
    starts: np.ndarray | None = None,
    deadline: float | None = None,
) -> dict:
    """Fit the law jointly to ``curves`` = [(lr per step, observed steps, losses), ...].

    ``deadline``: a ``time.perf_counter()`` value; the fit stops (unfinished)
    once an objective evaluation ends after it.  Returns ``{"params",
    "objective", "n_starts", "n_eval", "finished", "runs"}``; ``n_eval`` counts
    every residual evaluation (finite-difference ones included), ``runs`` has
    per finished start its objective, evaluations and scipy's status.
    """
    if starts is None:
        starts = start_grid(curves, recurrence)
    n_eval = 0

    def fun(x: np.ndarray) -> np.ndarray:
        nonlocal n_eval
        n_eval += 1
        res = log_residuals(np.exp(x), curves, recurrence)
        if deadline is not None and time.perf_counter() > deadline:
            raise Deadline
        return res

    best, runs = None, []
    for x0 in np.asarray(starts, dtype=float):
        before = n_eval
        try:
            sol = least_squares(fun, np.log(x0), loss="huber", f_scale=DELTA)
        except Deadline:
            break
        runs.append(
            {
                "objective": float(sol.cost),
                "n_eval": n_eval - before,
                "nfev": int(sol.nfev),
                "njev": int(sol.njev),
                "status": int(sol.status),
                "message": str(sol.message),
            }
        )
        if best is None or sol.cost < best.cost:
            best = sol
    return {
        "params": None if best is None else np.exp(best.x),
        "objective": None if best is None else float(best.cost),
        "n_starts": len(starts),
        "n_eval": n_eval,
        "finished": len(runs) == len(starts),
        "runs": runs,
    }
