r"""Fitting loss-curve laws to one or many logged curves.

Objective (Tissue et al. 2024; Luo et al. 2025)::

    J(theta) = sum_curves sum_points Huber_delta( log L_obs - log L_pred(theta) ),
    Huber_delta(r) = r^2/2 if |r| <= delta else delta (|r| - delta/2),   delta = 1e-3

summed over the points of every curve in the fit window (by default the
steps after warmup), with the law's parameters shared by all curves (a joint
fit).  Positive parameters are fitted through ``log`` so they stay positive.

Solver: Levenberg--Marquardt (optimistix's ``LevenbergMarquardt``) on the
"square-root Huber" residuals ``rho(r) = sign(r) sqrt(2 Huber_delta(r))`` (so that
``sum rho^2 / 2 = J``; rho is C^1), from a grid of data-driven starts solved
in one compiled call, in parallel with ``jax.vmap`` or, for laws whose iterations
are cheap (``Law.solve_in_turn``: the momentum law), in turn in one loop, so that
each start stops at its own iteration count; the start with the lowest objective
is kept.  The starts solved in turn use the same algorithm written out for a small
dense problem (:func:`_levenberg_marquardt`): 20-25 % less time per fit and no
optimistix import or trace in a cold one (``benchmarks/README.md``, issue 18.3).
LM rather than BFGS because the problem is a (robust) least-squares problem:
on the Multi-Power-Law curves every start converges in < 100 iterations,
while BFGS stalls on the badly scaled log-parameters.  Laws whose prediction
is memory-hungry (``Law.parallel_starts = False``, the Multi-Power Law) solve
their starts one at a time: each start gets a few iterations, the best one
is polished.

``fit(..., bootstrap=N)`` adds parameter errors and prediction bands
(:mod:`lrlaw.fitting.uncertainty`); every fit carries diagnostics
(:mod:`lrlaw.fitting.diagnostics`) in ``FitResult.warnings``.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lrlaw import _jaxexport, progress
from lrlaw._x64 import with_x64
from lrlaw.curves import Curve
from lrlaw.errors import FitError, LrlawError
from lrlaw.fitting.diagnostics import (
    identifiability_warnings,
    lr_scale_warnings,
    range_warnings,
    residual_warnings,
    schedule_warnings,
    trend_warnings,
    unidentified_params,
)
from lrlaw.fitting.metrics import curve_metrics, mean_metrics
from lrlaw.fitting.uncertainty import (
    Uncertainty,
    block_length,
    bootstrap_weights,
    horizon_growth,
)
from lrlaw.fitting.weighting import (
    despiked,
    edge_pad,
    huber_thresholds,
    moving_mean,
    noise_level,
    outliers,
    span_weights,
    start_transient,
)
from lrlaw.laws import Law, get_law
from lrlaw.laws.base import bucket

__all__ = [
    "HUBER_DELTA",
    "FitResult",
    "fit",
    "huber",
    "predict_curve",
    "predict_many",
]

HUBER_DELTA = 1e-3
_FORMAT = "lrlaw.fit/1"

#: Saved fits that are not one law's :class:`FitResult`: the ``law`` field's value ->
#: the subclass that reads them.  Subclasses register themselves (``--law auto``'s
#: :class:`~lrlaw.fitting.ensemble.EnsembleFit` does), so that :meth:`FitResult.load`
#: reads every saved fit while this module imports none of them.
SAVED_KINDS: dict[str, type[FitResult]] = {}
_MIN_POINTS = 64  # observed steps are padded to a bucket size >= this
_SCREEN_STEPS = 12  # iterations per start when starts are screened before polishing
#: Rows (starts or refits) per solver call, at least: every call of a fit is padded or
#: split to the same number of rows, so that the solver is traced and compiled once.
_MIN_ROWS = 8
#: A bootstrap refit counts as converged only within this many iterations (warm-started
#: from the best fit, a replicate that needs more is one the curves do not determine).
_REFIT_STEPS = 200
#: Iteration cap of the held-out (exact) refits of laws that do not share one solver
#: across a fit (multi-power, solved one row at a time; any law with ``Law.share_solver`` False).
#: Their rows already get a solver compiled for their own number of rows, so a cap of
#: their own costs no extra compilation.  Measured on the MPL 100M split
#: (issue 16.5): leaving out a curve takes multi-power 263 and 471 iterations from the
#: best fit, but after 200 the predictions of the left-out curves had moved by at most
#: 2e-5 (7e-6 relative) and the band's width by under 1 % (a flat valley: the parameters
#: creep, the curve does not); at 100 they moved by 9e-4 and the band shrank by a quarter.
#: The band costs 0.6x the time with the cap.  Laws that share the main fit's compiled
#: solver keep ``max_steps``.
_HELD_OUT_STEPS = 200


def huber(r: jax.Array, delta: float = HUBER_DELTA) -> jax.Array:
    """Huber loss ``r^2/2`` for ``|r| <= delta``, else ``delta (|r| - delta/2)`` (Huber 1964)."""
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _huber_root(r: jax.Array, delta: float) -> jax.Array:
    """``sign(r) sqrt(2 huber(r))``: least-squares residuals whose squares sum to 2 J."""
    a = jnp.abs(r)
    outer = jnp.sqrt(jnp.maximum(2.0 * delta * a - delta * delta, delta * delta))
    return jnp.where(a <= delta, r, jnp.sign(r) * outer)


#: Below this prediction :func:`_safe_log` continues ``log`` linearly.
_LOG_FLOOR = 1e-6


def _safe_log(x: jax.Array, eps: float = _LOG_FLOOR) -> jax.Array:
    """``log x``, continued linearly below ``eps`` so that a negative prediction
    gives a large but finite residual (and a useful gradient) instead of NaN."""
    return jnp.where(x > eps, jnp.log(jnp.maximum(x, eps)), np.log(eps) + (x - eps) / eps)


def _prepare(law: Law, lr: np.ndarray, steps: np.ndarray, size: int | None = None) -> Any:
    """``law.prepare`` on inputs padded to bucketed lengths (so curves of other
    lengths reuse the compiled code): the LR is extended with its last value (areas
    at steps <= T do not change) and the steps with the last step (to ``size`` points
    when given, else to their bucket).  Only the first ``len(steps)`` predictions are
    meaningful."""
    lr = np.asarray(lr, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.int64)
    lr = edge_pad(lr, 0, bucket(lr.size, 1024) - lr.size)
    size = bucket(steps.size, _MIN_POINTS) if size is None else max(int(size), steps.size)
    steps = edge_pad(steps, 0, size - steps.size)
    return law.prepare(lr, steps)


def _residual_fn(law: Law, delta: float):
    """Residuals ``sqrt(w_i) rho_{delta_i}(r_i) / delta`` (their squares sum to ``2 J / delta^2``).

    ``args`` holds per-point weights ``w_i`` and Huber thresholds ``delta_i``
    (:mod:`lrlaw.fitting.weighting`); ``delta`` only scales the residuals to order 1.
    """

    def residuals(theta: jax.Array, args: Any) -> jax.Array:
        prepared, log_obs, weight, thresholds = args
        params = law.from_unconstrained(theta)
        pred = jnp.concatenate([law.predict(params, p) for p in prepared])
        return jnp.sqrt(weight) * _huber_root(log_obs - _safe_log(pred), thresholds) / delta

    return residuals


def _residuals_and_jac(
    xp: Any,
    law: Law,
    params: Any,
    pred: Any,
    d_pred: Any,
    log_obs: Any,
    weight: Any,
    thresholds: Any,
    delta: float,
) -> tuple[Any, Any]:
    """:func:`_residual_fn`'s residuals ``sqrt(w) rho(log y - safe_log(L)) / delta`` and
    their Jacobian in the solver's parameters, by the chain rule from the prediction
    ``L`` and its derivatives ``d_pred`` in the natural parameters (through
    :func:`_safe_log`, :func:`_huber_root` and :meth:`Law.from_unconstrained`);
    ``xp`` is numpy (the host Jacobian of the band) or jax.numpy (the solver)."""
    eps = _LOG_FLOOR
    inside = pred > eps
    log_pred = xp.where(inside, xp.log(xp.maximum(pred, eps)), np.log(eps) + (pred - eps) / eps)
    d_log = xp.where(inside, 1.0 / xp.maximum(pred, eps), 1.0 / eps)
    r = log_obs - log_pred
    a = xp.abs(r)
    t2 = thresholds * thresholds
    q = 2.0 * thresholds * a - t2  # 2 Huber(r) past the threshold
    outer = xp.sqrt(xp.maximum(q, t2))
    small = a <= thresholds
    rho = xp.where(small, r, xp.sign(r) * outer)
    d_rho = xp.where(small, 1.0, xp.where(q > t2, thresholds / outer, 0.0))
    scale = xp.sqrt(weight) / delta
    unit = np.asarray(law.unit or (False,) * len(law.param_names))
    d_theta = xp.where(
        unit, params * (1.0 - params), xp.where(np.asarray(law.positive), params, 1.0)
    )
    jac = (-(scale * d_rho * d_log))[:, None] * d_pred * d_theta[None, :]
    return scale * rho, jac


def _residual_jac_fn(law: Law, delta: float) -> Any:
    """Residuals of :func:`_residual_fn` and their Jacobian in the solver's parameters,
    ``(theta, args) -> (r, J)``: in closed form for laws with :meth:`Law.predict_jac`
    (equal to ``jax.jacfwd`` of the residuals to rounding, ``tests/fitting/test_lm.py``),
    else by ``jax.linearize`` (one JVP per parameter)."""
    residuals = _residual_fn(law, delta)

    def evaluate(theta: jax.Array, args: Any) -> tuple[jax.Array, jax.Array]:
        prepared, log_obs, weight, thresholds = args
        params = law.from_unconstrained(theta)
        closed = law.predict_jac(params, prepared)
        if closed is None:
            return _linearized(residuals, theta, args)
        pred, d_pred = closed
        return _residuals_and_jac(
            jnp, law, params, pred, d_pred, log_obs, weight, thresholds, delta
        )

    return evaluate


def _linearized(residuals: Any, theta: jax.Array, args: Any) -> tuple[jax.Array, jax.Array]:
    """Residuals and their Jacobian by ``jax.linearize`` (one JVP per parameter)."""
    r, lin = jax.linearize(lambda t: residuals(t, args), theta)
    return r, jax.vmap(lin, out_axes=1)(jnp.eye(theta.shape[0], dtype=theta.dtype))


def _levenberg_marquardt(
    residuals: Any,
    y0: jax.Array,
    args: Any,
    max_steps: int,
    rtol: float,
    atol: float,
    evaluate: Any = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""``optimistix.LevenbergMarquardt(rtol, atol)``'s iteration, written out for a small
    dense problem: the last accepted parameters, whether the Cauchy test stopped it, and
    the number of steps.

    The same algorithm, step for step (optimistix 0.1: ``AbstractGaussNewton.step`` with
    ``DampedNewtonDescent`` and ``ClassicalTrustRegion``): the damped Gauss-Newton step
    ``d = argmin |J d + r|^2 + lam |d|^2 = -(J^T J + lam I)^-1 J^T r`` with ``lam = 1 / s``
    (by QR of the augmented matrix ``[J; sqrt(lam) I]``, as lineax's ``QR``); a step is
    accepted when the objective ``f = |r|^2 / 2`` falls by at least 0.01 of the
    Gauss-Newton prediction ``(|J d + r|^2 - |r|^2) / 2`` (always at the first
    evaluation), and ``s`` grows 3.5x after a step that achieves 0.99 of it and shrinks
    4x after a rejected one (the constants of Gould et al. 2005, "Sensitivity of trust
    region algorithms to their parameters"); it stops at an accepted step ``y -> y'``
    with ``max_i |y'_i - y_i| / (atol + rtol |y'_i|) < 1`` and ``max_j |r'_j - r_j| /
    (atol + rtol |r'_j|) < 1`` (optimistix's Cauchy test).

    Why not optimistix itself: its generic machinery (linear operators, trust-region and
    descent state, lineax's solve) takes most of each iteration of these 4-parameter
    problems.  Here the Jacobian is formed once per evaluation and reused by the
    trust-region prediction: by ``evaluate`` (``(theta, args) -> (r, J)``, the closed
    form of :func:`_residual_jac_fn`) when given, else by ``jax.linearize`` (one JVP per
    parameter); the step takes only the triangular factor of the augmented matrix with
    ``r`` appended as a column (Golub & Van Loan 2013, §5.3.3), not an explicit ``Q``,
    and the same factor gives the trust region's predicted reduction.  On the MPL 100M
    quick start's 10 starts these cut the solver from 13.7 to 7.7 ms (24 to 14 us per
    iteration; optimistix: 17.0 ms, 28 us; ``benchmarks/README.md``, issue 18.3, session
    16); ``tests/fitting/test_lm.py`` compares the iterates with optimistix's."""
    p = y0.shape[0]
    dtype = y0.dtype
    eye = jnp.eye(p, dtype=dtype)

    values = functools.partial(_linearized, residuals) if evaluate is None else evaluate

    def descent(
        y: jax.Array, r: jax.Array, jac: jax.Array, s: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        ok = s > jnp.finfo(dtype).eps
        lam = jnp.where(ok, 1.0 / jnp.where(ok, s, 1.0), jnp.finfo(dtype).max)
        # The triangular factor of [[J, r], [sqrt(lam) I, 0]] holds R and Q^T [r; 0] of
        # the augmented least-squares problem (one Householder pass, no explicit Q), and
        # its last diagonal entry the residual |J d - r|^2 + lam |d|^2 of the step.
        a = jnp.concatenate([jac, jnp.sqrt(lam) * eye])
        b = jnp.concatenate([r, jnp.zeros(p, dtype)])
        rr = jnp.linalg.qr(jnp.concatenate([a, b[:, None]], axis=1), mode="r")
        d = jax.scipy.linalg.solve_triangular(rr[:p, :p], rr[:p, p])
        return y - d, rr[p, p] ** 2 - lam * jnp.sum(d * d)

    def body(state):
        y, r, rtr, jac, y_eval, jd2, s, first, _, steps = state
        r_e, jac_e = values(y_eval, args)
        diff = y_eval - y
        # the Gauss-Newton prediction |J diff + r|^2 - |r|^2 of the step, from its QR
        predicted = 0.5 * (jd2 - rtr)
        rtr_e = jnp.sum(r_e * r_e)
        change = 0.5 * rtr_e - 0.5 * rtr
        accept = (change <= 0.01 * predicted) | first
        good = (change < 0.99 * predicted) & (predicted < 0) & ~first
        s = s * jnp.where(accept, jnp.where(good, 3.5, 1.0), 0.25)
        y_conv = jnp.max(jnp.abs(diff) / (atol + rtol * jnp.abs(y_eval))) < 1
        f_conv = jnp.max(jnp.abs(r_e - r) / (atol + rtol * jnp.abs(r_e))) < 1
        done = accept & y_conv & f_conv
        y = jnp.where(accept, y_eval, y)
        r = jnp.where(accept, r_e, r)
        rtr = jnp.where(accept, rtr_e, rtr)
        jac = jnp.where(accept, jac_e, jac)
        y_next, jd2 = descent(y, r, jac, s)
        return (y, r, rtr, jac, y_next, jd2, s, jnp.array(False), done, steps + 1)

    def cond(state):
        return ~state[8] & (state[9] < max_steps)

    m = jax.eval_shape(lambda t: residuals(t, args), y0).shape[0]
    zeros_r = jnp.zeros(m, dtype)
    zero = jnp.asarray(0.0, dtype)
    init = (y0, zeros_r, zero, jnp.zeros((m, p), dtype), y0, zero, jnp.asarray(1.0, dtype),
            jnp.array(True), jnp.array(False), jnp.array(0, jnp.int32))  # fmt: skip
    y, *_, done, steps = jax.lax.while_loop(cond, body, init)
    return y, done, steps


#: The Levenberg-Marquardt of the laws solved in turn (``Law.solve_in_turn``: the
#: momentum law): ``"lrlaw"`` (:func:`_levenberg_marquardt`, the default) or
#: ``"optimistix"`` (``LRLAW_LM=optimistix``; the laws solved in parallel always use it).
LM_IMPLEMENTATIONS = ("lrlaw", "optimistix")


def _lm_implementation() -> str:
    """``LRLAW_LM`` (read at each fit; part of the solver's export key), else ``lrlaw``."""
    name = os.environ.get("LRLAW_LM", "").strip() or "lrlaw"
    if name not in LM_IMPLEMENTATIONS:
        raise ValueError(f"LRLAW_LM={name!r}: expected one of {LM_IMPLEMENTATIONS}")
    return name


@jax.jit(static_argnames=("law", "delta", "max_steps", "lm"))
def _solve(
    law: Law,
    prepared: Any,
    log_obs: jax.Array,
    weights: jax.Array,
    thresholds: jax.Array,
    theta0: jax.Array,
    n_rows: jax.Array,
    delta: float,
    max_steps: int,
    lm: str = "lrlaw",
):
    """Solve one robust least-squares problem per row of ``theta0`` / ``weights``.

    ``weights[i]`` are per-point weights (span weights times bootstrap counts; 0
    for padding), ``thresholds`` the per-point Huber thresholds.  Rows run in
    parallel (vmap), in turn (``Law.solve_in_turn``: only the first ``n_rows`` rows
    are solved, the rest are padding and come back as given, with an infinite
    objective) or, for memory-hungry laws, in turn with ``lax.map``.
    """
    residuals = _residual_fn(law, delta)

    def one(inputs: tuple[jax.Array, jax.Array]):
        import optimistix as optx  # 0.3 s of a cold fit: only where it is used

        solver = optx.LevenbergMarquardt(rtol=1e-8, atol=1e-8)
        t0, weight = inputs
        args = (prepared, log_obs, weight, thresholds)
        sol = optx.least_squares(residuals, solver, t0, args=args, max_steps=max_steps, throw=False)
        r = residuals(sol.value, args)
        objective = 0.5 * jnp.sum(r * r) * delta * delta
        ok = sol.result == optx.RESULTS.successful
        return sol.value, objective, ok, sol.stats["num_steps"]

    def one_lrlaw(inputs: tuple[jax.Array, jax.Array]):
        t0, weight = inputs
        args = (prepared, log_obs, weight, thresholds)
        value, ok, steps = _levenberg_marquardt(
            residuals, t0, args, max_steps, 1e-8, 1e-8, _residual_jac_fn(law, delta)
        )
        r = residuals(value, args)
        return value, 0.5 * jnp.sum(r * r) * delta * delta, ok, steps

    if law.parallel_starts and law.solve_in_turn:
        # A loop over the real rows: each row stops at its own iteration count, where
        # under vmap every row iterates until the slowest one has converged.
        rows = theta0.shape[0]
        init = (
            theta0,
            jnp.full(rows, jnp.inf, theta0.dtype),
            jnp.zeros(rows, bool),
            jnp.zeros(rows, jnp.int32),
        )

        solve_row = one_lrlaw if lm == "lrlaw" else one

        def row(i: jax.Array, out: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
            res = solve_row((theta0[i], weights[i]))
            return tuple(o.at[i].set(jnp.asarray(x, o.dtype)) for o, x in zip(out, res))

        return jax.lax.fori_loop(0, n_rows, row, init)
    if law.parallel_starts:
        return jax.vmap(one)((theta0, weights))
    return jax.lax.map(one, (theta0, weights))  # one at a time: bounded memory


@jax.jit(static_argnames=("law", "delta"))
def _jacobian(
    law: Law,
    prepared: Any,
    log_obs: jax.Array,
    weight: jax.Array,
    thresholds: jax.Array,
    theta: jax.Array,
    delta: float,
) -> tuple[jax.Array, jax.Array]:
    """Residuals and their Jacobian with respect to the solver's parameters."""
    residuals = _residual_fn(law, delta)
    args = (prepared, log_obs, weight, thresholds)
    return residuals(theta, args), jax.jacfwd(residuals)(theta, args)


@dataclass(frozen=True, eq=False)
class _Problem:
    """The data of a fit, prepared and padded for the solver."""

    law: Law
    prepared: tuple[Any, ...]  # law.prepare output per curve with points in the window
    losses: list[np.ndarray]  # observed losses in the window, per such curve
    masks: list[np.ndarray]  # window mask per input curve (all curves)
    log_obs: np.ndarray  # padded log losses, all curves concatenated
    mask: np.ndarray  # 1 for real points, 0 for padding
    weight: np.ndarray  # span weight of each padded point (0 for padding; lrlaw.fitting.weighting)
    thresholds: np.ndarray  # Huber threshold of each padded point (lrlaw.fitting.weighting)
    noise: list[float]  # noise of one logged value (log units), per input curve (NaN: unknown)
    point_noise: list[np.ndarray]  # noise of each point in the window, per input curve
    curve_of: np.ndarray  # index (into ``losses``) of each padded point, -1 for padding
    n_points: int
    rows: int = _MIN_ROWS  # rows per solver call (laws solved in parallel; see solve)
    padded: tuple[int, ...] = ()  # padded number of points per input curve (0: none fitted)

    @classmethod
    def build(
        cls,
        curves: Sequence[Curve],
        law: Law,
        min_step: int | None,
        delta: float = HUBER_DELTA,
        starts: Sequence[int | None] | None = None,
        rows: int = _MIN_ROWS,
        padded_like: _Problem | None = None,
    ) -> _Problem:
        """The fit's points: each curve's window (``starts[i]``, else ``min_step``, else
        its warmup end), span weights and noise-scaled Huber thresholds.  ``rows``: rows
        per solver call (:meth:`solve`).  With ``padded_like``, each curve is padded to
        at least that problem's size for it, so that a narrower window (a start transient
        left out) keeps the shapes, and the compiled solver, of the first fit."""
        if not curves:
            raise FitError("no curves to fit")
        starts = [None] * len(curves) if starts is None else list(starts)
        prepared, losses, masks, log_obs, mask, curve_of = [], [], [], [], [], []
        spans, thresholds, noise, point_noise, sizes = [], [], [], [], []
        like = padded_like.padded if padded_like is not None else ()
        for j, (c, start) in enumerate(zip(curves, starts)):
            window = c.window(min_step if start is None else start)
            masks.append(window)
            if not window.any():
                noise.append(float("nan"))
                point_noise.append(np.zeros(0))
                sizes.append(0)
                continue
            m = int(window.sum())
            padded = bucket(m, _MIN_POINTS)
            if j < len(like) and like[j] >= m:
                padded = like[j]
            sizes.append(padded)
            steps, y = c.steps[window], np.log(c.loss[window])
            counts = None if c.counts is None else c.counts[window]
            prepared.append(_prepare(law, c.lr, steps, padded))
            log_obs.append(edge_pad(y, 0, padded - m))
            real = np.arange(padded) < m
            mask.append(real)
            curve_of.append(np.where(real, len(losses), -1))
            losses.append(c.loss[window])
            spans.append(np.concatenate([span_weights(steps), np.zeros(padded - m)]))
            sigma = noise_level(steps, y, counts)
            noise.append(sigma)
            n = np.ones(m) if counts is None else counts
            point_noise.append(np.nan_to_num(sigma) / np.sqrt(n))
            thr = huber_thresholds(delta, sigma, counts, m)
            thresholds.append(edge_pad(thr, 0, padded - m))
        n_points = int(sum(m.sum() for m in masks))
        n_params = len(law.param_names)
        if n_points < n_params + 1:
            raise FitError(
                f"{n_points} point(s) in the fit window (steps after warmup"
                f"{'' if min_step is None else f', >= {min_step}'}); the {law.name} law has "
                f"{n_params} parameters and needs at least {n_params + 1}"
            )
        if all(float(np.max(c.lr)) <= 0 for c in curves):
            raise FitError("every schedule is zero: the learning rate must be > 0 somewhere")
        weight = np.concatenate(spans)
        weight *= n_points / weight.sum()  # mean 1 over the real points
        return cls(
            law=law,
            prepared=tuple(prepared),
            losses=losses,
            masks=masks,
            log_obs=np.concatenate(log_obs),
            mask=np.concatenate(mask).astype(np.float64),
            weight=weight,
            thresholds=np.concatenate(thresholds),
            noise=noise,
            point_noise=point_noise,
            curve_of=np.concatenate(curve_of),
            n_points=n_points,
            rows=max(int(rows), 1),
            padded=tuple(sizes),
        )

    def jacobian(self, theta: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
        """Residuals and Jacobian at ``theta`` (solver parameters), with the fit's weights."""
        host = self._jacobian_host(np.asarray(theta, dtype=np.float64), delta)
        if host is not None:
            return host
        r, jac = _jacobian(
            self.law,
            self.prepared,
            self.log_obs,
            self.weight,
            self.thresholds,
            np.asarray(theta, dtype=np.float64),
            delta,
        )
        return np.asarray(r), np.asarray(jac)

    def _jacobian_host(
        self, theta: np.ndarray, delta: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`jacobian` in numpy, for laws with :meth:`Law.predict_jac_host` (else
        ``None``): the chain rule through :func:`_residual_fn`'s residuals
        ``sqrt(w) rho(log y - safe_log(L)) / delta`` and the parameter transforms."""
        law = self.law
        params = law.from_unconstrained(theta)
        parts = [law.predict_jac_host(params, p) for p in self.prepared]
        if any(x is None for x in parts):
            return None
        pred = np.concatenate([x[0] for x in parts])  # type: ignore[index]
        d_pred = np.concatenate([x[1] for x in parts])  # type: ignore[index]
        return _residuals_and_jac(
            np, law, params, pred, d_pred, self.log_obs, self.weight, self.thresholds, delta
        )

    def solve(
        self,
        theta0: jax.Array,
        delta: float,
        max_steps: int,
        weights: np.ndarray | None = None,
        *,
        screen: bool = True,
        bar: progress.Task | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Solve from each start (rows of ``theta0``), with per-row point multiplicities.

        Without ``weights`` every real point counts once; either way each point's
        multiplicity is times its span weight.  For laws that solve starts one at
        a time, several starts are screened with a few iterations.

        For laws solved in parallel, the rows go to the solver in calls of exactly
        :attr:`rows` rows (the last call padded with copies of the last row), so that
        the main fit, the transient refit, the bootstrap and the held-out refits share
        one compiled solver: tracing and compiling it is most of a cold fit.  ``bar``
        advances by the real rows of each call.
        """
        theta0 = np.atleast_2d(np.asarray(theta0, dtype=np.float64))
        n = theta0.shape[0]
        if weights is None:
            weights = np.broadcast_to(self.mask, (n, self.mask.size))
        weights = np.asarray(weights, dtype=np.float64) * self.weight
        steps = max_steps
        if screen and not self.law.parallel_starts and n > 1:
            steps = min(max_steps, _SCREEN_STEPS)
        rows = self.rows if self.law.parallel_starts and self.law.share_solver else n
        pad = -n % rows
        if pad:
            theta0 = np.concatenate([theta0, np.repeat(theta0[-1:], pad, axis=0)])
            weights = np.concatenate([weights, np.repeat(weights[-1:], pad, axis=0)])
        parts = []
        for lo in range(0, n, rows):
            # Through jax.export: a later process calls the traced solver from disk
            # (lrlaw._jaxexport), without tracing optimistix again.
            out = _jaxexport.call(
                "solve",
                _solve,
                (
                    self.prepared,
                    self.log_obs,
                    weights[lo : lo + rows],
                    self.thresholds,
                    theta0[lo : lo + rows],
                    np.int32(min(rows, n - lo)),
                ),
                static_args=(self.law,),
                static_kwargs={
                    "delta": float(delta),
                    "max_steps": int(steps),
                    "lm": _lm_implementation(),
                },
            )
            parts.append([np.array(x) for x in jax.device_get(out)])
            if bar is not None:
                bar.advance(min(rows, n - lo))
        return tuple(np.concatenate(x)[:n] for x in zip(*parts))  # type: ignore[return-value]


@dataclass(frozen=True)
class FitResult:
    """A fitted law: parameters, objective, solver status and per-curve metrics.

    Serialises to JSON (:meth:`save`, :meth:`to_json`) and loads back
    (:meth:`load`, :meth:`from_json`) with everything needed to predict:
    the law's name and options.
    """

    law: str
    options: dict[str, Any]
    params: dict[str, float]
    objective: float
    delta: float
    n_points: int
    converged: bool
    n_starts: int
    n_converged: int
    n_near_best: int
    num_steps: int
    curves: list[dict[str, Any]] = field(default_factory=list)
    min_step: int | None = None
    screened: bool = False
    uncertainty: Uncertainty | None = None
    warnings: list[str] = field(default_factory=list)
    selection: dict[str, Any] | None = None  # how --law auto chose the law (lrlaw.fitting.crossval)

    @property
    def law_object(self) -> Law:
        """The law (with its options) this result was fitted with."""
        return get_law(self.law, **self.options)

    @property
    def param_vector(self) -> np.ndarray:
        """Parameters as a vector in the law's ``param_names`` order."""
        return np.array([self.params[k] for k in self.law_object.param_names])

    @property
    def mean_metrics(self) -> dict[str, float]:
        """Mean over the fitted curves of each in-sample metric."""
        return mean_metrics([c["metrics"] for c in self.curves])

    def predict(self, curve: Curve | np.ndarray, steps: np.ndarray | None = None) -> np.ndarray:
        """Predicted loss at ``steps`` (default: the curve's observed steps).

        ``curve`` is a :class:`Curve` or a per-step LR array.
        """
        lr = curve.lr if isinstance(curve, Curve) else np.asarray(curve, dtype=np.float64)
        if steps is None:
            if not isinstance(curve, Curve):
                raise LrlawError("steps are required when predicting from an LR array")
            steps = curve.steps
        return predict_curve(self.law_object, self.param_vector, lr, steps)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FitResult):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    @property
    def unidentified(self) -> list[str]:
        """Parameters the fitted curves do not determine (flagged in :attr:`warnings`)."""
        return unidentified_params(self.warnings, list(self.params))

    @property
    def stderr(self) -> dict[str, float] | None:
        """Bootstrap standard error of each parameter (None without a bootstrap); NaN
        for a parameter that is not identified (its bootstrap spread means nothing)."""
        if self.uncertainty is None or self.uncertainty.n_boot < 2:
            return None
        free = set(self.unidentified)
        return {
            k: float("nan") if k in free else float(v)
            for k, v in zip(self.params, self.uncertainty.stderr())
        }

    def predict_band(
        self, lr: np.ndarray, steps: np.ndarray, level: float = 0.9
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper prediction band at ``level`` (see :mod:`lrlaw.fitting.uncertainty`);
        it always contains the prediction (``lo <= predict(lr, steps) <= hi``).

        Raises:
            LrlawError: the fit has no bootstrap (fit with ``bootstrap > 0``).
        """
        if self.uncertainty is None or self.uncertainty.n_boot == 0:
            raise LrlawError("this fit has no uncertainty estimate; refit with a bootstrap")
        u = self.uncertainty
        preds = predict_many(self.law_object, u.params, lr, steps)
        center = predict_curve(self.law_object, self.param_vector, lr, steps)
        curve = None
        if u.curve_params is not None:
            curve = predict_many(self.law_object, u.curve_params, lr, steps)
        return u.band(preds, level, center, curve, steps=steps)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (see :meth:`from_dict`)."""
        from lrlaw import __version__

        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["uncertainty"] = None if self.uncertainty is None else self.uncertainty.to_dict()
        data["unidentified"] = self.unidentified  # derived from the warnings (not read back)
        return {"format": _FORMAT, "lrlaw": __version__, **data}

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitResult:
        """Rebuild a result from :meth:`to_dict` output."""
        if not isinstance(data, dict):
            raise LrlawError("not an lrlaw fit result (expected a JSON object)")
        if data.get("format") != _FORMAT:
            found = (
                "no 'format' key"
                if "format" not in data
                else f"'format' is {data['format']!r}, not {_FORMAT!r}"
            )
            raise LrlawError(
                f"not an lrlaw fit result ({found}); give a file written by 'lrlaw fit --out'"
            )
        kind = SAVED_KINDS.get(data.get("law"))
        if kind is not None and cls is FitResult:  # e.g. --law auto's combination
            return kind.from_dict(data)
        names = set(cls.__dataclass_fields__)
        optional = ("curves", "min_step", "screened", "uncertainty", "warnings", "selection")
        missing = sorted(n for n in names if n not in data and n not in optional)
        if missing:
            raise LrlawError(f"fit result is missing {', '.join(missing)}")
        options, params = data["options"], data["params"]
        if not isinstance(options, dict) or not isinstance(params, dict):
            raise LrlawError("fit result: 'options' and 'params' must be JSON objects")
        try:
            law = get_law(data["law"], **options)
        except TypeError as exc:
            raise LrlawError(
                f"fit result: invalid options for law {data['law']!r}: {exc}"
            ) from None
        if sorted(params) != sorted(law.param_names):
            raise LrlawError(
                f"fit result: params {sorted(params)} do not match the {law.name} law's "
                f"parameters {list(law.param_names)}"
            )
        if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in params.values()):
            raise LrlawError("fit result: every parameter must be a finite number")
        kwargs = {k: v for k, v in data.items() if k in names}
        if kwargs.get("uncertainty") is not None:
            try:
                kwargs["uncertainty"] = Uncertainty.from_dict(kwargs["uncertainty"])
            except (KeyError, TypeError, ValueError) as exc:
                raise LrlawError(f"fit result: malformed 'uncertainty': {exc}") from None
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> FitResult:
        """Parse :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LrlawError(f"fit result is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()) -> None:
        """Write JSON atomically to ``path`` (never onto one of ``inputs``)."""
        from lrlaw.output import write_text_atomic

        write_text_atomic(path, self.to_json(), inputs)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FitResult:
        """Read a result written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise LrlawError(f"{path}: no such file")
        try:
            return cls.from_json(path.read_text())
        except LrlawError as exc:
            raise LrlawError(f"{path}: {exc}") from None

    def report(self) -> str:
        """Text report: parameters ± errors, correlations, objective, AIC/BIC, metrics, warnings."""
        from lrlaw.fitting.report import report_text

        return report_text(self)

    def __repr__(self) -> str:
        """One line: law, parameters, objective and sizes (the arrays are summarised)."""
        params = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        boot = 0 if self.uncertainty is None else self.uncertainty.n_boot
        return (
            f"FitResult(law={self.law!r}, params={{{params}}}, objective={self.objective:.6g}, "
            f"converged={self.converged}, curves={len(self.curves)}, "
            f"n_points={self.n_points}, bootstrap={boot}, warnings={len(self.warnings)})"
        )

    def _repr_html_(self) -> str:
        from lrlaw.fitting.report import report_html

        return report_html(self)


@with_x64
def predict_curve(law: Law, params: np.ndarray, lr: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Loss predicted by ``law`` with ``params`` for the schedule ``lr`` at ``steps``."""
    steps = np.asarray(steps, dtype=np.int64)
    lr = np.asarray(lr, dtype=np.float64)
    if steps.size and (steps.min() < 0 or steps.max() >= lr.size):
        raise LrlawError(f"steps must lie in 0..{lr.size - 1}, the steps the schedule defines")
    if steps.size == 0:
        return np.zeros(0)
    prepared = _prepare(law, lr, steps)
    params = np.asarray(params, dtype=np.float64)
    pred = law.predict_host(params, prepared)
    if pred is None:
        pred = _predict_one(law, params, prepared)
    return np.asarray(pred)[: steps.size]


def _window_prediction(
    problem: _Problem, law: Law, params: np.ndarray, curves: Sequence[Curve], i: int
) -> np.ndarray:
    """``predict_curve(law, params, curves[i].lr, steps)`` at the steps of curve ``i``'s fit
    window, from the problem's prepared arrays where the law has a host prediction
    (:meth:`Law.predict_host`: the momentum law), so that its areas are not computed
    again; values identical (the same arrays, padded to at least as many points)."""
    c, mask = curves[i], problem.masks[i]
    j = sum(1 for m in problem.masks[:i] if m.any())  # index among the fitted curves
    pred = law.predict_host(np.asarray(params, dtype=np.float64), problem.prepared[j])
    if pred is None:
        return predict_curve(law, params, c.lr, c.steps[mask])
    return np.asarray(pred)[: int(mask.sum())]


@jax.jit(static_argnames=("law",))
def _predict_one(law: Law, params: jax.Array, prepared: Any) -> jax.Array:
    """``law.predict`` compiled (run op by op, the multi-power law's takes ~7x longer)."""
    return law.predict(params, prepared)


@with_x64
def predict_many(law: Law, params: np.ndarray, lr: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Predictions for many parameter vectors (rows of ``params``) at once."""
    steps = np.asarray(steps, dtype=np.int64)
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    if steps.size == 0:
        return np.zeros((params.shape[0], 0))
    prepared = _prepare(law, np.asarray(lr, dtype=np.float64), steps)
    pred = law.predict_host(params, prepared)
    if pred is None:
        pred = _predict_many(law, params, prepared)
    return np.asarray(pred)[:, : steps.size]


@jax.jit(static_argnames=("law",))
def _predict_many(law: Law, params: jax.Array, prepared: Any) -> jax.Array:
    def one(p: jax.Array) -> jax.Array:
        return law.predict(p, prepared)

    return jax.vmap(one)(params) if law.parallel_starts else jax.lax.map(one, params)


@with_x64
def fit(
    curves: Sequence[Curve],
    law: str | Law = "momentum",
    *,
    delta: float = HUBER_DELTA,
    min_step: int | None = None,
    max_steps: int = 1000,
    bootstrap: int = 0,
    seed: int = 0,
    init: Mapping[str, float] | None = None,
    auto_window: bool = True,
) -> FitResult:
    r"""Fit ``law`` jointly to ``curves`` by robust multi-start least squares.

    Minimises ``sum_i w_i Huber_{delta_i}(log L_obs,i - log L_pred,i)`` over the
    points in each curve's fit window (``step >= warmup``, or ``>= min_step``),
    with parameters shared across curves (see the module docstring for the
    solver).  ``w_i`` is the number of steps point ``i`` stands for and
    ``delta_i = max(delta, 1.345 sigma_i)`` grows with its noise, so the answer
    does not depend on how densely a run was logged (:mod:`lrlaw.fitting.weighting`).
    Without ``min_step``, a start transient (the first points far above the law)
    is left out and recorded in ``FitResult.curves[i]["transient"]``.

    Args:
        curves: the training runs to fit.
        law: a registered law name (``"momentum"``) or a :class:`Law` instance
            (e.g. ``MomentumLaw(lam=0.99)``).
        delta: Huber threshold on log-loss residuals (1e-3 as in Tissue et al.
            2024 and Luo et al. 2025).
        min_step: first step used for fitting (default: each curve's warmup end).
        max_steps: iteration cap of the solver for each start.
        bootstrap: number of bootstrap replicates for parameter errors and
            prediction bands (0: none); see :mod:`lrlaw.fitting.uncertainty`.
        seed: seed of the bootstrap draws.
        init: start from these parameters only (no start grid).
        auto_window: leave out start transients (only without ``min_step``).

    Raises:
        FitError: too few points, or no start yields a finite objective.
    """
    law = get_law(law) if isinstance(law, str) else law
    if not delta > 0:
        raise FitError(f"delta={delta} must be > 0")
    problem = _Problem.build(curves, law, min_step, delta)
    if init is not None:
        missing = [k for k in law.param_names if k not in init]
        if missing:
            raise FitError(f"init lacks parameter(s) {', '.join(missing)}")
        guesses = np.array([[init[k] for k in law.param_names]])
    else:
        guesses = law.initial_guesses(problem.prepared, [despiked(y) for y in problem.losses])
    starts = law.to_unconstrained(np.asarray(guesses, dtype=np.float64))
    # Every later solver call (transient refit, bootstrap, held-out refits) uses as many
    # rows as the starts: one compiled solver per fit.  A warm start without a bootstrap
    # (lrlaw.watch's refits) solves one row: padding it to _MIN_ROWS made each of its
    # Levenberg-Marquardt iterations 5-8x dearer for the efflr law at 50k steps.
    rows = len(starts) if init is not None and bootstrap <= 0 else max(len(starts), _MIN_ROWS)
    problem = replace(problem, rows=rows)
    screened = not law.parallel_starts and len(starts) > 1
    with progress.task(
        f"fitting the {law.name} law ({len(starts)} starts, {problem.n_points} points)",
        total=2 if screened else 1,
    ) as bar:
        values, objectives, ok, nsteps = problem.solve(starts, delta, max_steps)
        bar.advance()
        if screened:
            # Screened starts (a few iterations each): polish the best one.
            first = int(np.argmin(np.where(np.isfinite(objectives), objectives, np.inf)))
            v, o, k, n = problem.solve(values[first : first + 1], delta, max_steps)
            values[first], objectives[first], ok[first], nsteps[first] = v[0], o[0], k[0], n[0]
            bar.advance()
    objectives = np.where(np.isfinite(objectives), objectives, np.inf)
    best = int(np.argmin(objectives))
    if not np.isfinite(objectives[best]):
        raise FitError("no start gave a finite objective; check the curves and schedules")
    near = objectives <= objectives[best] * (1 + 1e-6) + 1e-15
    n_converged, n_near = int(np.sum(ok)), int(np.sum(near))
    theta, objective, converged, num_steps = values[best], objectives[best], ok[best], nsteps[best]
    transients: dict[int, dict[str, Any]] = {}
    if min_step is None and auto_window:
        # Leave out start transients (lrlaw.fitting.weighting.start_transient), refit from the
        # best fit; twice at most (a cut can reveal the rest of a transient).
        window_starts: list[int | None] = [None] * len(curves)
        for _ in range(2):
            params = law.from_unconstrained(np.asarray(theta))
            cuts = _find_transients(curves, problem, law, params, transients)
            if not cuts:
                break
            for i, step in cuts.items():
                window_starts[i] = step
            problem = _Problem.build(
                curves, law, min_step, delta, window_starts, problem.rows, problem
            )
            v, o, k, n = problem.solve(theta[None], delta, max_steps, screen=False)
            if np.isfinite(o[0]):
                theta, objective, converged, num_steps = v[0], o[0], k[0], n[0]
    params = law.from_unconstrained(np.asarray(theta))
    if not np.all(np.isfinite(params)):
        raise FitError(f"the best fit has non-finite parameters {params.tolist()}")
    per_curve, log_residuals, flagged = [], {}, []
    for i, (c, mask) in enumerate(zip(curves, problem.masks)):
        entry: dict[str, Any] = {
            "name": c.name,
            "source": c.source,
            "schedule": c.schedule,
            "peak_lr": float(np.max(c.lr)),
        }
        if not mask.any():
            entry["metrics"] = curve_metrics(np.array([]), np.array([]))
            per_curve.append(entry)
            continue
        steps, loss = c.steps[mask], c.loss[mask]
        pred = _window_prediction(problem, law, params, curves, i)
        r = np.log(loss) - np.log(pred)
        log_residuals[c.name] = r
        sigma, point_noise = problem.noise[i], problem.point_noise[i]
        wild = outliers(np.log(loss), r, point_noise)
        good = ~wild
        excess = float(np.mean(r[good] ** 2) - np.mean(point_noise[good] ** 2))
        entry |= {
            "metrics": curve_metrics(loss[good], pred[good]),
            "window": [int(steps[0]), int(steps[-1])],
            "noise": sigma if np.isfinite(sigma) else None,
            "noise_per_point": float(np.median(point_noise)) if np.isfinite(sigma) else None,
            "law_residual": float(np.sqrt(max(excess, 0.0))),
            "outliers": [
                {"step": int(st), "loss": float(lo), "pred": float(pr)}
                for st, lo, pr in zip(steps[wild], loss[wild], pred[wild])
            ],
        }
        if i in transients:
            entry["transient"] = transients[i]
        if wild.any():
            flagged.append(entry)
        per_curve.append(entry)
    uncertainty = (
        _uncertainty(curves, problem, law, theta, params, delta, bootstrap, seed, max_steps)
        if bootstrap > 0
        else None
    )
    return FitResult(
        law=law.name,
        options=law.options,
        params={k: float(v) for k, v in zip(law.param_names, params)},
        objective=float(objective),
        delta=float(delta),
        n_points=problem.n_points,
        converged=bool(converged),
        n_starts=len(objectives),
        n_converged=n_converged,
        n_near_best=n_near,
        num_steps=int(num_steps),
        curves=per_curve,
        min_step=min_step,
        screened=screened,
        warnings=[
            *schedule_warnings(
                {
                    c.name: c.lr[c.steps[m][0] : c.steps[m][-1] + 1]
                    for c, m in zip(curves, problem.masks)
                    if m.any()
                }
            ),
            *trend_warnings(
                {c.name: (c.steps[m], c.loss[m]) for c, m in zip(curves, problem.masks)}
            ),
            *lr_scale_warnings({c.name: float(np.max(c.lr)) for c in curves}),
            *_outlier_warnings(flagged),
            *_diagnose(problem, law, theta, params, delta, log_residuals),
            *([] if uncertainty is None else uncertainty.warnings()),
        ],
        uncertainty=uncertainty,
    )


def _find_transients(
    curves: Sequence[Curve],
    problem: _Problem,
    law: Law,
    params: np.ndarray,
    found: dict[int, dict[str, Any]],
) -> dict[int, int]:
    """New window starts of curves that begin with a start transient (lrlaw.fitting.weighting).

    Updates ``found`` (curve index -> what was left out, for the report).
    """
    cuts = {}
    for i, (c, mask) in enumerate(zip(curves, problem.masks)):
        if mask.sum() < 10:
            continue
        steps, loss = c.steps[mask], c.loss[mask]
        pred = _window_prediction(problem, law, params, curves, i)
        r = np.log(loss) - np.log(pred)
        k = start_transient(steps, r, problem.point_noise[i])
        if k == 0:
            continue
        cuts[i] = int(steps[k])
        prev = found.get(i)
        first = steps[0] if prev is None else prev["from_step"]
        before = c.steps[(c.steps >= first) & (c.steps < steps[k])]
        found[i] = {
            "from_step": int(first),
            "to_step": int(before[-1]),
            "points": int(before.size),
            "max_loss": float(np.max(c.loss[(c.steps >= first) & (c.steps < steps[k])])),
            "max_excess": max(
                float(np.max(np.abs(np.expm1(r[:k])))), prev["max_excess"] if prev else 0.0
            ),
        }
    return cuts


def _outlier_warnings(flagged: Sequence[dict[str, Any]]) -> list[str]:
    """One warning listing the losses left out of the summary figures as outliers."""
    if not flagged:
        return []
    parts = []
    for e in flagged:
        shown = ", ".join(
            f"step {o['step']} loss {o['loss']:.4g} (law {o['pred']:.4g})"
            for o in e["outliers"][:3]
        )
        more = len(e["outliers"]) - 3
        parts.append(f"{e['name']}: {shown}" + (f" and {more} more" if more > 0 else ""))
    n = sum(len(e["outliers"]) for e in flagged)
    return [
        f"{n} logged loss(es) lie far from the law and the rest of the curve (spikes or bad "
        f"log entries): {'; '.join(parts)}. The robust fit barely moves for them; R², MAE and "
        "WorstE leave them out"
    ]


def _diagnose(
    problem: _Problem,
    law: Law,
    theta: np.ndarray,
    params: np.ndarray,
    delta: float,
    log_residuals: dict[str, np.ndarray],
) -> list[str]:
    """Warnings about the fit (see :mod:`lrlaw.fitting.diagnostics`)."""
    named = dict(zip(law.param_names, map(float, params)))
    r, jac = problem.jacobian(theta, delta)
    real = problem.mask > 0
    return [
        *range_warnings(named, law.typical),
        *identifiability_warnings(jac[real], r[real], law.param_names),
        *residual_warnings(log_residuals),
    ]


def _refit(
    problem: _Problem,
    law: Law,
    theta: np.ndarray,
    weights: np.ndarray,
    delta: float,
    *,
    exact: bool = False,
    linear: bool = False,
    bar: progress.Task | None = None,
    max_steps: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Refit from ``theta`` once per row of point ``weights``; (parameters, converged).

    Laws that solve in parallel (unless ``linear``), and every refit with ``exact``, get
    full Levenberg-Marquardt refits (vmap, or one at a time for memory-hungry laws).
    Otherwise (memory-hungry laws, and every law with ``linear``: the default band's
    within-curve block replicates) they get the one-step (linearised) refit of the bootstrap
    literature (Davison & Hinkley 1997, §7.2): ``theta_b = theta - (J^T W_b J +
    mu D)^-1 J^T W_b r`` with the residuals ``r`` and Jacobian ``J`` at the best
    fit and Marquardt damping ``mu = 1e-3`` on the diagonal ``D`` of ``J^T W_b J``.

    The exact refits are warm-started from ``theta`` and run in calls of
    ``problem.rows`` rows (:meth:`_Problem.solve`: the solver compiled for the main
    fit is reused, with its iteration cap ``max_steps``; laws solved one row at a time
    stop at :data:`_HELD_OUT_STEPS`); a refit counts as converged
    when it converged within :data:`_REFIT_STEPS` iterations.
    """
    if (law.parallel_starts and not linear) or exact:
        n = len(weights)
        shared = law.parallel_starts and law.share_solver
        cap = max_steps if shared else min(max_steps, _HELD_OUT_STEPS)
        values, _, ok, nsteps = problem.solve(
            np.tile(theta, (n, 1)), delta, cap, weights=weights, screen=False, bar=bar
        )
        params = law.from_unconstrained(np.asarray(values))
        return params, ok.astype(bool) & (nsteps <= _REFIT_STEPS)
    r, jac = problem.jacobian(theta, delta)
    w = weights * problem.mask  # the span weights are already in r and jac
    a = np.einsum("ni,bn,nj->bij", jac, w, jac)
    g = np.einsum("ni,bn,n->bi", jac, w, r)
    damped = a + 1e-3 * np.einsum("bii->bi", a)[:, :, None] * np.eye(a.shape[1])
    # The minimum-norm step (pseudo-inverse of the symmetric damped matrix): a direction
    # the curves do not inform (a zero Jacobian column, as at multi-power's degenerate
    # limit gamma -> 0) gets no step.  np.linalg.solve gave such replicates inf or NaN
    # parameters, and the band lost them: 106 of 200 on three noisy synthetic
    # multi-power curves (tests/laws/test_multipower.py).
    with np.errstate(all="ignore"):
        step = -np.einsum("bij,bj->bi", np.linalg.pinv(damped, rcond=1e-12, hermitian=True), g)
    values = theta[None, :] + step
    params = law.from_unconstrained(np.asarray(values))
    if bar is not None:
        bar.advance(len(weights))
    return params, np.all(np.isfinite(params), axis=1)


#: How ``fit(..., bootstrap=N)`` resamples (``_uncertainty``'s ``resampling``):
#: ``"block"`` (the default since issue 16.4: moving blocks within every curve, a
#: jackknife curve-level term, pooled held-out errors; :mod:`lrlaw.uncertainty`);
#: issue 16 item 4's ``"block+horizon"`` (an error term that grows past the fitted
#: horizon as the forward split measured, :func:`lrlaw.fitting.uncertainty.horizon_growth`),
#: ``"block+deflate"`` (each held-out error series shrunk by the noise left in it and the
#: held-out refit's own estimation variance) and both together, none the default: on
#: ``benchmarks/band_methods.py``'s rows and folds each moved as many cells out of the
#: target as into it (benchmarks/README.md); ``"curve+block"`` (the scheme before 16.4:
#: whole curves resampled as well, exact refits).  All but the default are kept for
#: ``benchmarks/band_methods.py``'s before/after tables.
RESAMPLING_METHODS = (
    "block",
    "block+horizon",
    "block+deflate",
    "block+horizon+deflate",
    "curve+block",
)
#: Bootstrap replicates of each held-out refit for the deflation of its errors.
_DEFLATE_REPLICATES = 100
#: Resample whole curves in the bootstrap only from this many curves on.
MIN_CURVES_TO_RESAMPLE = 3
#: Leave one curve out for the out-of-sample errors only from this many curves on.
MIN_CURVES_TO_LEAVE_OUT = 3


def _systematic(errors: np.ndarray, noise: float, delta: float = HUBER_DELTA) -> np.ndarray:
    """The systematic part of a held-out error series: its centred moving mean over
    ``w = (noise / delta)^2`` points (odd, at most a fifth of the series), where
    ``noise`` is the noise of one point of the series (:mod:`lrlaw.fitting.weighting`).

    A law's errors are smooth along a curve; the noise of the logged values (1 % on
    a per-step training loss) says nothing about the error of the predicted curve.
    The window brings what is left of it down to ``delta`` (0.1 %, the precision the
    papers' Huber threshold assumes), so a clean evaluation curve (noise ~1e-4) is
    not smoothed at all and keeps the sharp errors after an LR drop.  (Taking the
    variance of the noise left in the moving mean out as well was measured and
    dropped: on the noisy rows of ``benchmarks/band_methods.py`` it covered 7 of 12
    cells, against 8 without, and it left a 90 % band covering well under half of a
    correctly specified law's noisy held-out points.)"""
    e = np.asarray(errors, dtype=np.float64)
    size = _smoothing_window(e.size, noise, delta)
    return e if size < 3 else moving_mean(e, size)  # scipy's uniform_filter1d, in numpy


def _smoothing_window(n: int, noise: float, delta: float = HUBER_DELTA) -> int:
    """:func:`_systematic`'s window for a series of ``n`` errors (1: not smoothed)."""
    if not np.isfinite(noise) or noise <= delta:
        return 1
    return min(int(np.ceil((noise / delta) ** 2)), max(1, n // 5)) | 1


def _noise_left(n: int, noise: float, delta: float = HUBER_DELTA) -> float:
    """The noise left in one point of :func:`_systematic`'s moving mean of a series of
    ``n`` errors: ``noise / sqrt(w)`` for a window of ``w`` points (``noise`` itself
    where the series is not smoothed)."""
    if not np.isfinite(noise):
        return 0.0
    size = _smoothing_window(n, noise, delta)
    return float(noise) / np.sqrt(size if size >= 3 else 1)


def _uncertainty(
    curves: Sequence[Curve],
    problem: _Problem,
    law: Law,
    theta: np.ndarray,
    params: np.ndarray,
    delta: float,
    n_boot: int,
    seed: int,
    max_steps: int = 1000,
    resampling: str = "block",
) -> Uncertainty:
    """Bootstrap refits plus out-of-sample errors (:mod:`lrlaw.fitting.uncertainty`).

    ``resampling="block"`` (default): moving blocks within each curve (every replicate
    keeps every curve, so it identifies the law as well as the fit does), refitted by
    one linearised Levenberg-Marquardt step from the best fit; from
    :data:`MIN_CURVES_TO_LEAVE_OUT` curves on, the leave-one-curve-out refits give the
    curve-level (jackknife) term and their errors, pooled with those of a forward split
    of every curve; with two curves, blocked cross-validation (each tenth of each curve
    left out in turn); with one, the forward split.  ``"curve+block"``: the former
    scheme (whole curves resampled too from :data:`MIN_CURVES_TO_RESAMPLE` curves on,
    exact refits, leave-one-curve-out errors alone, no curve-level term).
    ``"block+horizon"``: ``"block"``, and the forward split's errors also give how the
    error term grows with the distance past the fitted horizon
    (:func:`lrlaw.fitting.uncertainty.horizon_growth`; the band adds it at the steps of a
    new schedule past the last fitted step).  ``"block+deflate"``: ``"block"``, and each
    held-out error series ``e`` (after the smoothing below) is shrunk to
    ``e sqrt(max(0, 1 - (s^2 + v) / mean(e^2)))``, where ``s`` is the noise left in the
    moving mean (:func:`_noise_left`) and ``v`` the mean variance of the held-out
    refit's prediction over its own block replicates (:data:`_DEFLATE_REPLICATES`
    linearised refits from the refit, on the main bootstrap's draws): a held-out
    error is the law's error plus noise plus the refit's estimation error, and the
    band already carries the full fit's estimation error in its replicates; the
    positive-part moment shrinkage of Baranchik (1964, Stanford TR 51) removes the
    other two on average.  ``"block+horizon+deflate"``: both.  The errors
    of a noisy log are smoothed along each curve (:func:`_systematic`), so that the
    band is about the law's curve, not about the noise of single logged values.
    """
    if resampling not in RESAMPLING_METHODS:
        raise ValueError(f"resampling={resampling!r}: use one of {RESAMPLING_METHODS}")
    legacy = resampling == "curve+block"
    rng = np.random.default_rng(seed)
    fitted = [(c, m, pn) for c, m, pn in zip(curves, problem.masks, problem.point_noise) if m.any()]
    residuals = [
        np.log(y) - np.log(predict_curve(law, params, c.lr, c.steps[m]))
        for (c, m, _), y in zip(fitted, problem.losses)
    ]
    blocks = [block_length(r) for r in residuals]
    # Whole curves were resampled (legacy scheme, from MIN_CURVES_TO_RESAMPLE curves on)
    # until issue 16.4: a draw of three curves that holds no decaying schedule (1 in 27
    # on the MPL split) cannot identify the annealing term, and the band's width hinged
    # on those draws (its Monte-Carlo error reached 50 % of its width on noisy logs).  The
    # default keeps every curve in every replicate; what the choice of curves does to a
    # prediction is the jackknife term of the leave-one-curve-out refits below.
    by_curve = legacy and len(fitted) >= MIN_CURVES_TO_RESAMPLE
    counts = bootstrap_weights(
        [len(y) for y in problem.losses], blocks, n_boot, rng, resample_curves=by_curve
    )
    points = [np.flatnonzero(problem.curve_of == i) for i in range(len(fitted))]
    weights = np.zeros((n_boot, problem.mask.size))
    for idx, cnt in zip(points, counts):
        weights[:, idx] = cnt
    held_out, source, n_loco, split = _held_out_sets(problem, points, legacy)
    with progress.task(
        f"bootstrap: {n_boot} refits + {len(held_out)} held-out", total=n_boot + len(held_out)
    ) as bar:
        held = np.stack([h[0] for h in held_out])
        if law.parallel_starts and legacy:
            # One batch of refits: the held-out ones fill what would be padding.
            every, done = _refit(
                problem,
                law,
                theta,
                np.concatenate([weights, held]),
                delta,
                bar=bar,
                max_steps=max_steps,
            )
            boot, ok, sub_params = every[:n_boot], done[:n_boot], every[n_boot:]
        else:
            # Block replicates keep every curve, so one linearised step from the best fit
            # is the refit (Davison & Hinkley 1997, 7.2): measured on the MPL and 124M
            # splits its bands match the exact refits' (benchmarks/band_methods.py).
            boot, ok = _refit(problem, law, theta, weights, delta, linear=not legacy, bar=bar)
            sub_params, _ = _refit(
                problem, law, theta, held, delta, exact=True, bar=bar, max_steps=max_steps
            )
    # A replicate whose refit gave non-finite parameters is no bootstrap estimate.  One
    # stopped by the iteration cap is kept: Levenberg-Marquardt only accepts steps that
    # lower the replicate's objective, and the refits that hit the cap are the draws the
    # data identify worst (on the quick start, the draws of three curves that hold no
    # decaying schedule, C ~ 0.03).  Dropping them made the band hinge on which of those
    # reached the cap: 2 of 199 replicates more or less moved the quick start's held-out
    # coverage from 93 % to 76 %.  ``converged`` still counts only the converged refits.
    keep = np.all(np.isfinite(boot), axis=1)
    curve_params = None
    if not legacy and n_loco:
        loco = np.asarray(sub_params)[:n_loco]
        loco = loco[np.all(np.isfinite(loco), axis=1)]
        curve_params = loco if len(loco) >= 2 else None
    errors, spans = [], []
    split_e, split_x, split_w = [], [], []
    deflate = "deflate" in resampling.split("+")
    horizon = "horizon" in resampling.split("+")
    for j, ((w_set, parts), p) in enumerate(zip(held_out, sub_params)):
        # A refit stopped by the iteration cap still predicts usefully: keep it.
        if not np.all(np.isfinite(p)):
            continue
        reps = None
        if deflate:
            n_dfl = min(n_boot, _DEFLATE_REPLICATES)
            reps, _ = _refit(
                problem,
                law,
                np.asarray(law.to_unconstrained(np.asarray(p))),
                weights[:n_dfl] * (w_set > 0),
                delta,
                linear=True,
            )
            reps = reps[np.all(np.isfinite(reps), axis=1)]
        # The last step the forward split saw (the distance of its errors past the fit).
        seen = 0
        if horizon and j == split:
            seen = max(
                (
                    int(c.steps[m][w_set[idx] > 0].max())
                    for (c, m, _), idx in zip(fitted, points)
                    if (w_set[idx] > 0).any()
                ),
                default=0,
            )
        for i, part in parts:
            c, m, pn = fitted[i]
            steps, loss = c.steps[m][part], problem.losses[i][part]
            if steps.size:
                pred = predict_curve(law, p, c.lr, steps)
                noise = float(np.median(pn[part]))
                e = _systematic((loss - pred) / pred, noise)
                if deflate:
                    # Shrink the series so that its mean square loses what the noise left
                    # in it and the refit's own estimation error add (positive part).
                    var = _noise_left(e.size, noise) ** 2
                    if reps is not None and len(reps) >= 4:
                        rel = predict_many(law, reps, c.lr, steps) / pred
                        var += float(np.mean(np.var(rel, axis=0, ddof=1)))
                    ms = float(np.mean(e**2))
                    if ms > 0:
                        e = e * np.sqrt(max(0.0, 1.0 - var / ms))
                errors.append(e)
                spans.append(problem.weight[points[i][part]])
                if j == split and seen > 0:
                    split_e.append(errors[-1])
                    split_x.append(np.log(np.maximum(1.0, steps / seen)))
                    split_w.append(spans[-1])
    growth = None
    if horizon and split_e:
        last = max(int(c.steps[m].max()) for c, m, _ in fitted)
        growth = horizon_growth(
            np.concatenate(split_e), np.concatenate(split_x), np.concatenate(split_w), last
        )
    result = Uncertainty(
        scheme=resampling,
        params=boot[keep],
        converged=float(np.mean(ok)),
        blocks={c.name: b for (c, _, _), b in zip(fitted, blocks)},
        errors=np.concatenate(errors) if errors else np.zeros(0),
        error_source=source if errors else "none (the refits failed)",
        seed=seed,
        error_weights=np.concatenate(spans) if spans else None,
        curve_params=curve_params,
        growth=growth,
    )
    # The band's Monte-Carlo error on the training curves (split-half estimate).
    preds = [predict_many(law, result.params, c.lr, c.steps[m]) for c, m, _ in fitted]
    cps = None
    if curve_params is not None:
        cps = [predict_many(law, curve_params, c.lr, c.steps[m]) for c, m, _ in fitted]
    return replace(result, mc_error=result.mc_error_of(preds, curve_preds=cps))


#: Folds per curve of the blocked cross-validation of two curves (K = 10, the usual
#: choice of K-fold cross-validation; Hastie, Tibshirani & Friedman 2009, 7.10).
#: Measured on the 124M pair, momentum: K = 5 gave a 90 % band 7.4x the held-out mean
#: error (99.9 % inside), K = 10 6.2x (96.9 %).
BLOCKED_FOLDS = 10


def _held_out_sets(
    problem: _Problem, points: Sequence[np.ndarray], legacy: bool
) -> tuple[list[tuple[np.ndarray, list[tuple[int, slice]]]], str, int, int | None]:
    """The held-out refits of the band: (point weights, [(curve, held-out part)]) each,
    a description, how many of them (first) leave one whole curve out, and the index
    of the forward split among them (``None`` without one).

    From :data:`MIN_CURVES_TO_LEAVE_OUT` curves on: leave each curve out, and (default
    scheme) one forward split of every curve besides (fit the first 60 % of each
    curve's points, predict the rest): the curves of a split often share their length,
    and only the forward split shows how the law extrapolates in time (on the MPL
    100M split, the errors of leaving a curve out alone covered 53 % of the held-out
    points, pooled 66 %).  With two curves, blocked cross-validation (Roberts et al.
    2017, Ecography 40:913): each tenth of each curve is left out in turn, the other
    curve kept, so that a fold never asks one schedule alone to identify the law (the
    forward split of a constant + cosine pair leaves the cosine's decay unseen: its
    90 % band on the 124M pair was 15x the mean error, blocked 6.2x).  With one curve,
    the forward split (blocks of one curve would only test interpolation).  The legacy
    scheme: leave-one-curve-out alone, else the forward split.
    """
    n = len(problem.losses)
    sets: list[tuple[np.ndarray, list[tuple[int, slice]]]] = []
    described = []
    if n >= MIN_CURVES_TO_LEAVE_OUT:
        for i in range(n):
            w = problem.mask.copy()
            w[points[i]] = 0.0
            sets.append((w, [(i, slice(None))]))
        described.append("leave-one-curve-out")
    n_loco = len(sets)
    split = None
    if n == 2 and not legacy:
        for i, y in enumerate(problem.losses):
            edges = np.linspace(0, len(y), BLOCKED_FOLDS + 1).astype(int)
            for a, b in itertools.pairwise(edges):
                if b > a:
                    w = problem.mask.copy()
                    w[points[i][a:b]] = 0.0
                    sets.append((w, [(i, slice(a, b))]))
        described.append("blocked cross-validation (each tenth of each curve left out in turn)")
    elif not n_loco or not legacy:
        split = len(sets)
        w, parts = problem.mask.copy(), []
        for i, y in enumerate(problem.losses):
            cut = int(0.6 * len(y))
            w[points[i][cut:]] = 0.0
            parts.append((i, slice(cut, None)))
        sets.append((w, parts))
        described.append("forward split (fit the first 60 % of each curve, predict the rest)")
    return sets, " and ".join(described), n_loco, split
