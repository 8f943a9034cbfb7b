r"""Schedule optimisation: the LR schedule that minimises a fitted law's final loss.

Two ways:

* ``family="free"``: the whole per-step schedule after a fixed linear warmup
  (0 -> peak over ``W`` steps) is optimised by a quasi-Newton method (L-BFGS,
  :mod:`lrlaw.plan._lbfgs`, float64, one compiled loop inside one ``jit``) on the
  law's closed-form predicted loss at step ``T``, with its ``jax.grad``
  gradient.  L-BFGS needs tens to hundreds of steps where Adam needed thousands
  and ends lower (``benchmarks/bench_optimize.py``).  The constraints hold exactly by construction:

  - non-increasing (``monotone=True``): ``eta_t = f + (peak - f) *
    exp(cumsum(log_sigmoid(z)))_t`` for ``t = W..T``, so ``eta`` stays in
    ``[f, peak]`` and never rises;
  - otherwise: ``eta_t = f + (peak - f) * sigmoid(z_t)``;
  - ``final_max``: the last value is ``min(eta_T, final_max)``.

  ``f = final_min``.  The objective is O(T) and differentiable: for the
  momentum law ``L0 + A S1(T)^-alpha - C S2(T)`` with the closed form
  ``S2(T) = sum_k d_k (1 - lam^(T-k+1)) / (1 - lam)``; for the multi-power
  law ``LD(T)`` summed over all ``k = 1..T``.
* ``family="wsd"`` / ``"cosine"``: a grid over the family's parameters (WSD:
  decay fraction x decay shape x final LR; cosine: final LR), then a bounded
  scalar refinement of the best decay fraction and final LR.

Every result also carries the predicted final losses of two references on the
same ``T``/peak/warmup: cosine to ``peak / 10`` and WSD with a 20 % linear
decay to 0.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lrlaw import progress, schedules
from lrlaw._x64 import with_x64, x64
from lrlaw.errors import LrlawError
from lrlaw.laws import Law, get_law
from lrlaw.laws.areas import prefix_sum
from lrlaw.plan._lbfgs import lbfgs
from lrlaw.plan.references import reference_schedules
from lrlaw.schedules import WSD_SHAPES, Schedule, from_array

__all__ = [
    "OptimizedSchedule",
    "final_loss",
    "final_losses",
    "optimize",
]

FAMILIES = ("free", "wsd", "cosine")


@dataclass
class OptimizedSchedule:
    """Result of :func:`optimize`."""

    schedule: Schedule
    loss: float  # predicted final loss of ``schedule``
    cosine_loss: float  # cosine to peak/10, same T/peak/warmup
    wsd_loss: float  # WSD, 20 % linear decay to 0
    family: str
    info: dict[str, Any]

    @property
    def gain_over_cosine(self) -> float:
        """Predicted final-loss reduction against the cosine reference (positive: better)."""
        return self.cosine_loss - self.loss

    @property
    def gain_over_wsd(self) -> float:
        """Predicted final-loss reduction against WSD-20 % (positive: better)."""
        return self.wsd_loss - self.loss

    def summary(self) -> str:
        """Human-readable table of the predicted final losses and gains."""
        rows = [
            f"optimum ({self.family}):  predicted final loss {self.loss:.5f}",
            f"cosine (final=peak/10): predicted final loss {self.cosine_loss:.5f}"
            f"   gain {self.gain_over_cosine:+.5f}",
            f"wsd (20% linear to 0): predicted final loss {self.wsd_loss:.5f}"
            f"   gain {self.gain_over_wsd:+.5f}",
        ]
        if self.schedule.spec and not self.schedule.spec.startswith("array"):
            rows.insert(1, f"schedule: {self.schedule.spec}")
        shape = self.shape()
        total = shape["total"]
        rows.insert(
            1,
            f"shape: at peak until step {shape['stable_until']} "
            f"({100 * shape['stable_until'] / total:.1f}% of the run), below half the peak "
            f"from step {shape['half_at']} ({100 * shape['half_at'] / total:.1f}%), "
            f"final LR {shape['final_lr']:.3g}",
        )
        first, again = self.info.get("first_solve"), self.info.get("restart")
        if first is not None:
            rows.append(
                f"note: the solve from the default start stopped at {first['loss']:.5f}, "
                f"above the {self.info['restarted_from']} reference; solved again from it"
            )
        elif again is not None:
            rows.append(
                f"note: the optimum is above the {again['from']} reference; a solve from "
                f"it stopped at {again['loss']:.5f}"
            )
        if self.family == "free" and self.info.get("converged") is False:
            rows.append(
                f"note: stopped at the iteration cap ({self.info['max_iters']}) before "
                "converging; raise --iters"
            )
        return "\n".join(rows)

    def shape(self) -> dict[str, Any]:
        """Where the optimum decays: first step after warmup below 95 % of the peak
        (``stable_until``), first step below 50 % (``half_at``), the final LR."""
        lr = self.schedule.values()
        peak = float(np.max(lr))
        start = int(self.info.get("warmup", 0))
        tail = lr[start:]

        def first_below(q: float) -> int:
            idx = np.flatnonzero(tail < q * peak)
            return int(start + idx[0]) if idx.size else int(lr.size - 1)

        return {
            "total": int(lr.size - 1),
            "stable_until": first_below(0.95),
            "half_at": first_below(0.5),
            "final_lr": float(lr[-1]),
        }


# --------------------------------------------------------------------------- objective


def _law_final_loss(law: Law, params: jax.Array, lr: jax.Array) -> jax.Array:
    """Predicted loss at the last step ``T = len(lr) - 1``: the law's own closed form
    (:meth:`lrlaw.laws.base.Law.final_loss`); pure JAX, O(T), differentiable."""
    _check_final_loss(law, "optimize")
    return law.final_loss(params, lr)


def _check_final_loss(law: Law, what: str) -> None:
    if not law.has_final_loss:
        from lrlaw.laws import LAWS

        able = ", ".join(
            sorted(n for n, cls in LAWS.items() if cls.final_loss is not Law.final_loss)
        )
        raise LrlawError(
            f"{what} supports the laws with a closed-form final loss ({able}), not {law.name!r}"
        )


@with_x64
def final_loss(law: Law, params: np.ndarray, lr: np.ndarray) -> float:
    """Predicted loss at the last step of the per-step schedule ``lr``."""
    return float(_final_jit(law, jnp.asarray(params, jnp.float64), jnp.asarray(lr, jnp.float64)))


@functools.partial(jax.jit, static_argnames=("law",))
def _final_jit(law: Law, params: jax.Array, lr: jax.Array) -> jax.Array:
    return _law_final_loss(law, params, lr)


_GRID_CHUNK = 32


@functools.partial(jax.jit, static_argnames=("law",))
def _final_many(law: Law, params: jax.Array, lrs: jax.Array) -> jax.Array:
    """Final losses of a stack of schedules ``lrs`` (rows), vmapped."""
    return jax.vmap(lambda lr: _law_final_loss(law, params, lr))(lrs)


def _stack_schedules(lrs: Any) -> np.ndarray:
    """``lrs`` (2-D array, or a sequence of Schedules / 1-D arrays) as a validated 2-D array."""
    if isinstance(lrs, Schedule):
        raise LrlawError("lrs is one Schedule: pass a list of schedules (or use final_loss)")
    if isinstance(lrs, (np.ndarray, jax.Array)):
        try:
            arr = np.asarray(lrs, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise LrlawError(f"lrs must hold numbers: {exc}") from None
        if arr.ndim != 2:
            raise LrlawError(
                f"lrs must be a 2-D array (one per-step schedule per row), got shape {arr.shape}"
            )
    else:
        if isinstance(lrs, (str, bytes)) or not hasattr(lrs, "__iter__"):
            raise LrlawError(f"lrs must be a 2-D array or a list of schedules, got {lrs!r:.80}")
        rows: list[np.ndarray] = []
        for i, item in enumerate(lrs):
            if isinstance(item, Schedule):
                if item.total is None:
                    raise LrlawError(f"schedule {i} ({item.spec!r}) has no total")
                row = item.values()
            else:
                try:
                    row = np.asarray(item, dtype=np.float64)
                except (TypeError, ValueError) as exc:
                    raise LrlawError(f"schedule {i}: not an array of numbers ({exc})") from None
                if row.ndim != 1:
                    raise LrlawError(
                        f"schedule {i}: expected a 1-D array of per-step LRs, got shape {row.shape}"
                    )
            if rows and row.size != rows[0].size:
                raise LrlawError(
                    f"schedule {i} has {row.size} steps (T = {row.size - 1}) but schedule 0 has "
                    f"{rows[0].size} (T = {rows[0].size - 1}); all must have the same length"
                )
            rows.append(row)
        if not rows:
            return np.zeros((0, 0))
        arr = np.stack(rows)
    if arr.shape[0] and arr.shape[1] < 2:
        raise LrlawError(f"schedules need at least 2 steps (eta_0, eta_1), got {arr.shape[1]}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise LrlawError(f"schedule {i}, step {j}: lr = {arr[i, j]} is not finite")
    neg = arr < 0
    if neg.any():
        i, j = np.argwhere(neg)[0]
        raise LrlawError(f"schedule {i}, step {j}: lr = {arr[i, j]:.6g} is negative (need >= 0)")
    return arr


@with_x64
def final_losses(
    model: Any, lrs: Any, params: Any = None, *, chunk: int = _GRID_CHUNK
) -> np.ndarray:
    r"""Predicted final loss ``L(T)`` of each of many candidate schedules, vmapped.

    ``lrs`` is a 2-D array with one per-step schedule ``eta_0 .. eta_T`` per row,
    or a sequence of :class:`~lrlaw.schedules.Schedule` objects with the same
    ``total`` (or of equal-length 1-D arrays).  ``model`` is as in
    :func:`optimize`: a :class:`~lrlaw.fitting.core.FitResult`, or a law (name or
    object) with ``params``.  Each row gets the law's loss at its last step
    ``T`` (the same value as ``predict_curve(law, params, lr, [T])``; for the
    multi-power law the exact sum, which its default ``merge_tol`` approximates to
    about 1e-6), in O(T):

    * momentum (Tissue et al. 2024, arXiv 2408.11029, eq. 1):
      ``L0 + A S1^-alpha - C S2`` with ``S1 = sum_{i=1..T} eta_i`` and
      ``S2 = sum_{k=1..T} d_k (1 - lam^(T-k+1)) / (1 - lam)``,
      ``d_k = eta_{k-1} - eta_k``;
    * multipower (Luo et al. 2025, ICLR, arXiv 2503.12811, eq. 5):
      ``L0 + A P_T^-alpha - B sum_{k=1..T} d_k (1 - (1 + C eta_k^-gamma
      (P_T - P_{k-1}))^-beta)`` with ``P_t = sum_{tau<=t} eta_tau``;
    * convex (Defazio et al. 2023, arXiv 2310.07831, Thm. 10, as a loss law in
      Schaipp et al. 2025, arXiv 2501.18965): ``C + MD2 f1(T) + MG2 f2(T)``.

    Rows are evaluated ``chunk`` at a time by one jitted, vmapped function (the
    last chunk is padded with copies of its last row, so one compiled shape
    serves every chunk), in float64.

    Raises:
        LrlawError: ``lrs`` is not 2-D, has fewer than 2 steps, schedules of
            different lengths (named), non-finite or negative LRs (schedule and
            step named), or the law has no final-loss formula.

    Example:
        >>> from lrlaw import schedules
        >>> cands = [
        ...     schedules.cosine(3e-4, 2000, final=3e-5, warmup=100),
        ...     schedules.wsd(3e-4, 2000, decay_frac=0.2, warmup=100),
        ... ]
        >>> final_losses("momentum", cands, params=[2.7, 0.5, 0.5, 0.3]).round(4).tolist()
        [3.6026, 3.4514]
    """
    law, theta = _resolve(model, params)
    _check_final_loss(law, "final_losses")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise LrlawError(f"chunk={chunk!r} must be a positive integer")
    arr = _stack_schedules(lrs)
    n, chunk = arr.shape[0], int(chunk)
    if n == 0:
        return np.zeros(0)
    theta_j = jnp.asarray(theta)
    pending = []
    for start in range(0, n, chunk):  # dispatch every chunk, then collect
        block = arr[start : start + chunk]
        if block.shape[0] < chunk:
            pad = np.repeat(block[-1:], chunk - block.shape[0], axis=0)
            block = np.concatenate([block, pad])
        pending.append(_final_many(law, theta_j, jnp.asarray(block)))
    out = np.empty(n)
    with progress.task(f"final losses of {n} schedules", total=n) as bar:
        for i, vals in enumerate(pending):
            m = min(chunk, n - i * chunk)
            out[i * chunk : i * chunk + m] = np.asarray(vals)[:m]
            bar.advance(m)
    return out


# --------------------------------------------------------------------------- free-form


def _free_lr(
    z: jax.Array, head: jax.Array, peak: float, fmin: float, fmax: float, monotone: bool
) -> jax.Array:
    if monotone:
        frac = jnp.exp(prefix_sum(jax.nn.log_sigmoid(z)))  # native loop on CPU
    else:
        frac = jax.nn.sigmoid(z)
    tail = fmin + (peak - fmin) * frac
    tail = tail.at[-1].set(jnp.minimum(tail[-1], fmax))
    return jnp.concatenate([head, tail])


#: :func:`_free_lr` compiled: the optimum's schedule in one call (op by op it cost 0.6 ms
#: of a 40 ms optimisation at 20k steps).
_free_lr_jit = jax.jit(_free_lr, static_argnames=("monotone",))

#: L-BFGS memory (pairs of past steps).  Fewer pairs cost less per step and take as many
#: steps on the momentum law, but 4-6 stop 1e-4-5e-4 higher on the multi-power law.
_LBFGS_HISTORY = 10
#: Absolute part of the L-BFGS stopping test (loss units).
_LBFGS_ATOL = 1e-12


@functools.partial(jax.jit, static_argnames=("law", "monotone", "iters"))
def _lbfgs_free(
    law: Law,
    params: jax.Array,
    z0: jax.Array,
    head: jax.Array,
    peak: float,
    fmin: float,
    fmax: float,
    monotone: bool,
    iters: int,
    tol: float,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """L-BFGS (:mod:`lrlaw.plan._lbfgs`, float64, one compiled loop) in logit space on the
    closed-form final loss, gradient by ``jax.grad``.  Stops when an accepted step lowers
    the loss by at most ``tol * |loss| + 1e-12``, or after ``iters`` steps.  Returns the
    logits, the loss at ``z0`` and at the end, and the steps taken."""

    def objective(z: jax.Array) -> jax.Array:
        return _law_final_loss(law, params, _free_lr(z, head, peak, fmin, fmax, monotone))

    z, last, steps = lbfgs(
        objective, z0, history=_LBFGS_HISTORY, max_steps=iters, rtol=tol, atol=_LBFGS_ATOL
    )
    return z, objective(z0), last, steps


def _free_start(total: int, peak: float, warmup: int, fmin: float) -> tuple[np.ndarray, np.ndarray]:
    """The free-form optimiser's fixed warmup (linear from 0 to ``peak``) and its start
    after warmup: WSD-like, a 20 % linear decay towards ``fmin`` (1 % of the range above
    it)."""
    head = schedules.constant(peak, total=total, warmup=warmup).values()[:warmup]
    init = schedules.wsd(
        peak,
        total,
        decay_start=max(warmup, total - round(0.2 * total)),
        final=fmin + 0.01 * (peak - fmin),
        warmup=warmup,
    ).values()[warmup:]
    return head, init


def _init_logits(target: np.ndarray, peak: float, fmin: float, monotone: bool) -> np.ndarray:
    """Logits ``z`` whose parameterisation reproduces ``target`` (tail after warmup)."""
    frac = np.clip((target - fmin) / (peak - fmin), 1e-12, 1.0)
    if monotone:
        prev = np.concatenate([[1.0], frac[:-1]])
        r = frac / prev
    else:
        r = frac
    r = np.clip(r, 1e-9, 1.0 - 1e-8)
    return np.log(r) - np.log1p(-r)


# --------------------------------------------------------------------------- main entry


def _resolve(model: Any, params: Any) -> tuple[Law, np.ndarray]:
    from lrlaw.fitting import FitResult

    if isinstance(model, FitResult):
        return model.law_object, np.asarray(model.param_vector, dtype=np.float64)
    law = get_law(model) if isinstance(model, str) else model
    if not isinstance(law, Law):
        raise LrlawError("optimize needs a FitResult, or a law (name or object) and params")
    if params is None:
        raise LrlawError("params are required when optimising with a law instead of a fit")
    params = np.asarray(params, dtype=np.float64).reshape(-1)
    if params.size != len(law.param_names):
        raise LrlawError(
            f"{law.name} has {len(law.param_names)} parameters {law.param_names}, got {params.size}"
        )
    return law, params


def _check(total: int, peak: float, warmup: int, final_min: float, final_max: float | None):
    if int(total) != total or total < 2:
        raise LrlawError(f"total={total} must be an integer >= 2")
    if not peak > 0:
        raise LrlawError(f"peak={peak} must be > 0")
    if int(warmup) != warmup or warmup < 0:
        raise LrlawError(f"warmup={warmup} must be an integer >= 0")
    if warmup >= total:
        raise LrlawError(f"warmup={warmup} must be smaller than total={total}")
    if not 0 <= final_min < peak:
        raise LrlawError(f"final_min={final_min} must be in [0, peak={peak})")
    if final_max is not None and not final_min <= final_max:
        raise LrlawError(f"final_max={final_max} must be >= final_min={final_min}")


@with_x64
def optimize(
    model: Any,
    total: int,
    peak: float,
    warmup: int,
    *,
    params: Any = None,
    family: str = "free",
    monotone: bool = True,
    final_min: float = 0.0,
    final_max: float | None = None,
    iters: int = 10_000,
    tol: float = 1e-12,
) -> OptimizedSchedule:
    """Optimise the LR schedule of a ``total``-step run for the predicted final loss.

    Args:
        model: a :class:`~lrlaw.fitting.core.FitResult`, or a law (name or object)
            with ``params`` (vector in the law's ``param_names`` order).
        total, peak, warmup: run length ``T``, peak LR (cap), linear warmup
            steps from 0 (fixed, not optimised).
        family: ``"free"`` (per-step, L-BFGS), ``"wsd"`` or ``"cosine"``.
        monotone: free-form only: keep the LR non-increasing after warmup.
        final_min, final_max: bounds on the LR after warmup (``final_min``
            bounds every step, ``final_max`` the last one).
        iters, tol: free-form L-BFGS: at most ``iters`` steps, stopping once an
            accepted step lowers the loss by at most ``tol * |loss| + 1e-12``.
    """
    law, theta = _resolve(model, params)
    total, warmup, peak = int(total), int(warmup), float(peak)
    _check(total, peak, warmup, float(final_min), final_max)
    if family not in FAMILIES:
        raise LrlawError(f"family={family!r} must be one of {', '.join(FAMILIES)}")
    refs = {k: s.values() for k, s in reference_schedules(total, peak, warmup).items()}
    ref_loss = {k: final_loss(law, theta, v) for k, v in refs.items()}
    start = time.perf_counter()
    if family == "free":
        solve = functools.partial(
            _optimize_free, law, theta, total, peak, warmup, monotone, float(final_min),
            final_max, iters, tol,
        )  # fmt: skip
        sched, info, loss = _solve_free(
            solve, law, theta, refs, ref_loss, warmup, monotone, float(final_min), final_max
        )
    else:
        sched, info = _optimize_family(law, theta, total, peak, warmup, family, final_min)
        loss = final_loss(law, theta, sched.values())
    info["seconds"] = time.perf_counter() - start
    info["warmup"] = warmup
    info["peak"] = peak
    return OptimizedSchedule(sched, loss, ref_loss["cosine"], ref_loss["wsd"], family, info)


def _solve_free(
    solve: Any,
    law: Law,
    theta: np.ndarray,
    refs: dict[str, np.ndarray],
    ref_loss: dict[str, float],
    warmup: int,
    monotone: bool,
    final_min: float,
    final_max: float | None,
) -> tuple[Schedule, dict[str, Any], float]:
    """``solve()`` (:func:`_optimize_free` with the problem bound), and once more from the
    best reference schedule the bounds allow (``refs``: per-step LRs) when the first
    optimum ends above it: L-BFGS found only a stationary valley (the convex bound's
    landscape has them; which one a solve ends in can hinge on rounding).  The lower
    optimum is kept, and ``info`` says what happened.  An optimum above a reference the
    bounds forbid is no stall."""
    sched, info = solve()
    loss = final_loss(law, theta, sched.values())
    allowed = [k for k in refs if _feasible(refs[k][warmup:], final_min, final_max, monotone)]
    best = min(allowed, key=lambda k: ref_loss[k], default=None)
    if best is None or loss <= ref_loss[best]:
        return sched, info, loss
    again, info2 = solve(init=refs[best][warmup:])
    loss2 = final_loss(law, theta, again.values())
    if loss2 < loss:
        info2 |= {"restarted_from": best, "first_solve": {"loss": loss, "iters": info["iters"]}}
        return again, info2, loss2
    info["restart"] = {"from": best, "loss": loss2, "iters": info2["iters"]}
    return sched, info, loss


def _feasible(tail: np.ndarray, final_min: float, final_max: float | None, monotone: bool) -> bool:
    """Whether a schedule's LRs after warmup respect the free form's bounds: every one
    ``>= final_min``, the last ``<= final_max`` and, with ``monotone``, none above the
    one before (to rounding)."""
    tail = np.asarray(tail, dtype=np.float64)
    if tail.size == 0 or not bool(np.all(tail >= final_min)):
        return False
    if monotone and not bool(np.all(np.diff(tail) <= 1e-12 * float(np.max(tail)))):
        return False
    return final_max is None or float(tail[-1]) <= final_max


def _optimize_free(
    law: Law,
    theta: np.ndarray,
    total: int,
    peak: float,
    warmup: int,
    monotone: bool,
    fmin: float,
    fmax: float | None,
    iters: int,
    tol: float,
    init: np.ndarray | None = None,
) -> tuple[Schedule, dict[str, Any]]:
    """The free-form L-BFGS solve from ``init`` (the LRs after warmup; default the
    WSD-like start of :func:`_free_start`)."""
    head, start = _free_start(total, peak, warmup, fmin)
    init = start if init is None else np.asarray(init, dtype=np.float64)
    z0 = _init_logits(init, peak, fmin, monotone)
    cap = peak if fmax is None else min(float(fmax), peak)
    desc = f"optimising {total - warmup} LRs (L-BFGS; stops at convergence, at most {iters} steps)"
    with progress.task(desc, total=1) as bar:
        z, first, last, taken = _lbfgs_free(
            law,
            jnp.asarray(theta),
            jnp.asarray(z0),
            jnp.asarray(head),
            peak,
            fmin,
            cap,
            bool(monotone),
            int(iters),
            float(tol),
        )
        taken = int(jax.block_until_ready(taken))
        bar.advance(1)
    lr = np.asarray(_free_lr_jit(z, jnp.asarray(head), peak, fmin, cap, bool(monotone)))
    spec = f"array:n={lr.size}"
    return from_array(lr, spec=spec), {
        "iters": taken,
        "max_iters": iters,
        "converged": taken < iters,
        "initial_loss": final_loss(law, theta, np.concatenate([head, init])),
        "solver": "L-BFGS (lrlaw.plan._lbfgs)",
        # the loss at the start (the WSD-like init, through its logits) and at the end
        "loss_history": [float(first), float(last)],
    }


def _candidate_values(s: Schedule) -> np.ndarray:
    """The per-step LRs of a candidate schedule (steps ``0..T``), evaluated op by op.

    ``Schedule.values`` compiles one function per schedule (25-40 ms to trace, lower and
    compile), while eager ops are compiled once per array shape and reused by every
    candidate of the same length: a wsd grid of ~200 candidates plus its refinement took
    5-8 s, nearly all of it compiling.  Eager values can differ from the compiled ones in
    the last bit (XLA fuses differently), so they only rank the candidates: the chosen
    schedule is returned as a :class:`Schedule`, and its loss is computed from its
    ``values()``."""
    with x64():
        return np.asarray(s.fn(np.arange(int(s.total) + 1)), dtype=np.float64)


def _optimize_family(
    law: Law,
    theta: np.ndarray,
    total: int,
    peak: float,
    warmup: int,
    family: str,
    final_min: float,
) -> tuple[Schedule, dict[str, Any]]:
    from scipy.optimize import minimize_scalar

    finals = sorted({float(final_min), *(peak * f for f in (0.0, 0.01, 0.03, 0.1, 0.3))})
    finals = [f for f in finals if f >= final_min]
    max_frac = (total - warmup) / total

    def make(frac: float, shape: str, final: float) -> Schedule:
        if family == "cosine":
            return schedules.cosine(peak, total, final=final, warmup=warmup)
        frac = float(np.clip(frac, 1.0 / total, max_frac))
        return schedules.wsd(peak, total, decay_frac=frac, final=final, shape=shape, warmup=warmup)

    def loss(frac: float, shape: str, final: float) -> float:
        return final_loss(law, theta, _candidate_values(make(frac, shape, final)))

    if family == "cosine":
        cands = [(0.0, "linear", f) for f in finals]
    else:
        fracs = [f for f in (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9) if f <= max_frac]
        cands = [
            (fr, sh, fi)
            for fr in fracs
            for sh in WSD_SHAPES
            for fi in finals
            if not (sh == "exp" and fi <= 0)
        ]
    # The grid: candidates stacked 32 at a time and evaluated by one vmapped,
    # compiled objective (every candidate has the same array shape).
    theta_j = jnp.asarray(theta)
    losses: list[float] = []
    with progress.task(f"{family} grid: {len(cands)} schedules", total=len(cands)) as bar:
        for i in range(0, len(cands), _GRID_CHUNK):
            chunk = [_candidate_values(make(*c)) for c in cands[i : i + _GRID_CHUNK]]
            n = len(chunk)
            chunk += [chunk[-1]] * (_GRID_CHUNK - n)  # one compiled shape
            vals = np.asarray(_final_many(law, theta_j, jnp.asarray(np.stack(chunk))))
            losses.extend(vals[:n].tolist())
            bar.advance(n)
    frac, shape, final = cands[int(np.argmin(losses))]
    best = min(losses)
    # Local refinement: final LR (log scale between neighbours), then decay fraction.
    lo_f = max(final_min, final / 3.0) if final > 0 else final_min
    hi_f = min(peak * 0.99, final * 3.0 if final > 0 else peak * 0.01)
    if hi_f > lo_f:
        r = minimize_scalar(
            lambda f: loss(frac, shape, f),
            bounds=(lo_f, hi_f),
            method="bounded",
            options={"xatol": 1e-3 * peak},
        )
        if r.fun < best and not (shape == "exp" and r.x <= 0):
            final, best = float(r.x), float(r.fun)
    if family == "wsd":
        r = minimize_scalar(
            lambda x: loss(x, shape, final),
            bounds=(max(1.0 / total, frac / 2), min(max_frac, frac * 1.5)),
            method="bounded",
            options={"xatol": 1e-3},
        )
        if r.fun < best:
            frac, best = float(r.x), float(r.fun)
    sched = make(frac, shape, final)
    return sched, {"candidates": len(cands), "decay_frac": frac, "shape": shape, "final": final}
