r"""The convex last-iterate bound as a loss law (Defazio et al. 2023; Schaipp et al. 2025).

For SGD on a convex problem with step sizes ``eta_1 .. eta_T``, Theorem 10
of Defazio, Cutkosky, Mehta, Mishchenko, "When, Why and How Much? Adaptive
Learning Rate Scheduling by Refinement" (arXiv 2310.07831, 2023) bounds the
suboptimality of the *last* iterate by

    bound(T) = D^2 / (2 A_T) + sum_{t<=T} eta_t^2 G_t^2 / (2 A_T)
               + 1/2 sum_{k<T} eta_k / (sum_{k<t<=T} eta_t)
                       * (sum_{k<=t<=T} eta_t^2 G_t^2) / (sum_{k<=t<=T} eta_t),

``A_T = sum_{t<=T} eta_t``, with ``D`` the distance from the start to the
optimum and ``G_t`` the gradient norm.  Schaipp, Hägele, Taylor, Simsekli,
Bach, "The Surprising Agreement Between Convex Optimization Theory and
Learning-Rate Scheduling for Large Model Training" (arXiv 2501.18965, 2025)
found its shape to match LLM loss curves; as a loss law,

    L(T) = C + M * bound(T).

With a constant ``G`` this is linear in three non-negative parameters:

    L(T) = C + MD2 * f1(T) + MG2 * f2(T),      MD2 = M D^2,  MG2 = M G^2,
    f1(T) = 1 / (2 A_T),
    f2(T) = bound(T) with D = 0, G = 1.

With a per-step gradient-norm series ``G_t`` (option ``grad_norm=True``) the
last parameter is ``M`` itself and ``f2`` uses ``eta_t^2 G_t^2``.

**Step convention** (the one of :func:`lrlaw.laws.areas.forward_area`): the
schedule is ``eta_0, eta_1, ...``, one LR per step, and the loss logged at
step ``T`` pairs with the paper's ``eta_1 .. eta_T`` = ``lr[1..T]``: step
``T``'s own LR counts, ``eta_0`` does not, and ``A_T = S1(T)``.

**Zero learning rates.**  A step with ``eta_t = 0`` does not move the iterate,
so it is dropped: ``bound(T)`` is the bound of the schedule with its zero
steps removed.  Without this rule the formula divides by zero: a trailing
zero (a decay to exactly 0 at step ``T``) makes ``sum_{k<t<=T} eta_t = 0`` for
``k = T - 1``, an infinite term.  LRs at or below :data:`ZERO_LR` (1e-12)
times the schedule's largest LR count as 0, so that a decay "to 0" computed
in floating point (which may end at 1e-19) is not mistaken for a tiny last
step.  That matters because the bound itself is discontinuous there: a last
LR ``eta_T`` far below ``eta_{T-1}`` adds about ``eta_{T-1}^2 G^2 / (2 eta_T)``,
large for an abrupt drop to a small positive LR; smooth decays are
unaffected.  Where ``A_T = 0`` (no positive LR up to ``T``, e.g. step 0) the
bound is ``+inf``, like ``S1^-alpha`` in the other laws.

**Evaluation.**  With ``b_t = eta_t^2 G_t^2``, ``B_T = sum_{t<=T} b_t`` and
``R_k = A_T - A_k``, the identity ``eta_k / (R_k R_{k-1}) = 1/R_k - 1/R_{k-1}``
(``R_{k-1} - R_k = eta_k``) and summation by parts turn the ``G``-part of the
bound into

    f2(T) = 1/2 [ sum_{k<L} b_k / R_k  +  b_L / eta_L ],

``L`` the last step ``<= T`` with ``eta_L > 0`` (``L = T`` when ``eta_T > 0``),
the first sum over the steps with ``eta_k > 0``.  That is one division per
``(T, k)`` pair; ``R_k`` is summed from the end (a reversed cumulative sum),
so a small tail keeps its relative precision.  Only the observed steps are evaluated,
in blocks of 32 (``lax.map``), so memory stays bounded (32 x T per block) for
100k-step schedules with many observed points: O(T m) work for ``m`` observed
steps, no Python loop over steps.  The features do not depend on the
parameters, so :meth:`ConvexLaw.prepare` computes them once per curve and a
fit costs no more than a linear model.  ``tests/laws/test_convex.py`` checks them
against a literal double-loop transcription of the theorem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from lrlaw._x64 import with_x64
from lrlaw.errors import LrlawError
from lrlaw.laws.base import Law, register

__all__ = [
    "ConvexLaw",
    "convex_features",
    "nnls_start",
]

#: Observed steps per block of the (observed step x step) matrix.
_ROWS = 32
#: Learning rates at or below this fraction of the schedule's largest count as exactly 0.
ZERO_LR = 1e-12


def _suffix(a: jax.Array) -> jax.Array:
    """``R_k = sum_{j>k} a_j`` along the last axis, summed from the end (no cancellation:
    a small tail keeps its relative precision, unlike a difference of prefix sums)."""
    inclusive = jnp.flip(jnp.cumsum(jnp.flip(a, -1), axis=-1), -1)
    return jnp.concatenate([inclusive[..., 1:], jnp.zeros_like(inclusive[..., :1])], axis=-1)


def _g_sum(t: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """``sum_{k<=t, a_k>0, R_k>0} b_k / R_k``, ``R_k = sum_{k<j<=t} a_j``, for a block of
    observed steps ``t``."""
    k = jnp.arange(a.shape[0])
    upto = k[None, :] <= t[:, None]
    r = _suffix(jnp.where(upto, a[None, :], 0.0))
    ok = upto & (a[None, :] > 0) & (r > 0)
    return jnp.sum(jnp.where(ok, b[None, :] / jnp.where(ok, r, 1.0), 0.0), axis=1)


@jax.jit
def _features(a: jax.Array, b: jax.Array, steps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(f1, f2)`` at ``steps`` for per-step ``a = eta`` (``a_0 = 0``) and ``b = eta^2 G^2``."""
    cum_a = jnp.cumsum(a)
    idx = jnp.arange(a.shape[0])
    # L(t): last step <= t with a positive LR (0 when there is none; a_0 = 0).
    last = jax.lax.cummax(jnp.where(a > 0, idx, 0))
    rows = steps.reshape(-1, _ROWS)  # callers pad the steps to a multiple of _ROWS
    head = jax.lax.map(lambda t: _g_sum(t, a, b), rows).reshape(-1)
    a_t = cum_a[steps]
    l_t = last[steps]
    tail = jnp.where(a[l_t] > 0, b[l_t] / jnp.where(a[l_t] > 0, a[l_t], 1.0), 0.0)
    f1 = jnp.where(a_t > 0, 0.5 / jnp.where(a_t > 0, a_t, 1.0), jnp.inf)
    f2 = jnp.where(a_t > 0, 0.5 * (head + tail), jnp.inf)
    return f1, f2


def _per_step(lr: np.ndarray, grad_norm: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``a_t = eta_t`` (``a_0 = 0``: eta_0 is not part of the bound; LRs <= ZERO_LR times the
    largest count as 0) and ``b_t = eta_t^2 G_t^2``."""
    a = np.array(lr, dtype=np.float64)
    a[:1] = 0.0
    a[a <= ZERO_LR * a.max(initial=0.0)] = 0.0
    b = a * a
    if grad_norm is not None:
        b = b * grad_norm * grad_norm
    return a, b


def _check_grad_norm(grad_norm: Any, size: int, last_step: int) -> np.ndarray:
    """The series as float64, padded with its last value to ``size``; errors name the problem."""
    g = np.asarray(grad_norm, dtype=np.float64)
    if g.ndim != 1:
        raise LrlawError(f"grad_norm must be a 1-D per-step series, got shape {g.shape}")
    if g.size <= last_step:
        raise LrlawError(
            f"grad_norm covers steps 0..{g.size - 1} but the bound is needed up to step "
            f"{last_step}; give one gradient norm per step"
        )
    bad = np.flatnonzero(~np.isfinite(g[: last_step + 1]) | (g[: last_step + 1] < 0))
    if bad.size:
        raise LrlawError(
            f"grad_norm[{int(bad[0])}] = {float(g[bad[0]])!r}: expected a finite gradient norm >= 0"
        )
    if g.size >= size:
        return g[:size]
    return np.pad(g, (0, size - g.size), mode="edge")


@with_x64
def convex_features(
    lr: np.ndarray, steps: np.ndarray, grad_norm: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""The two terms of the last-iterate bound at ``steps``: ``(f1, f2)``.

    ``bound(T) = D^2 f1(T) + G^2 f2(T)`` for a constant gradient norm ``G``
    (Defazio et al. 2023, arXiv 2310.07831, Thm. 10), with ``f1(T) = 1/(2 A_T)``,
    ``A_T = sum_{t=1..T} eta_t`` and ``f2(T)`` the bound with ``D = 0, G = 1``;
    with a per-step ``grad_norm`` series ``G_t``, ``f2`` is the bound's
    ``G``-part with ``eta_t^2 G_t^2`` (see the module docstring for the step
    convention and the treatment of zero learning rates).

    Args:
        lr: learning rate at every step ``0..N-1``.
        steps: steps at which to evaluate the bound (each in ``0..N-1``).
        grad_norm: optional gradient norm at every step (at least up to ``max(steps)``).

    Example:
        >>> f1, f2 = convex_features([1.0, 1.0, 1.0, 1.0], [1, 2, 3])
        >>> f1.tolist()  # 1 / (2 T)
        [0.5, 0.25, 0.16666666666666666]
        >>> f2.tolist()  # (1 + H_{T-1}) / 2 for a constant LR of 1
        [0.5, 1.0, 1.25]
    """
    lr = np.asarray(lr, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.int64)
    if lr.ndim != 1 or lr.size == 0:
        raise LrlawError(f"lr must be a non-empty 1-D per-step array, got shape {lr.shape}")
    if steps.size == 0:
        return np.zeros(0), np.zeros(0)
    if steps.min() < 0 or steps.max() >= lr.size:
        raise LrlawError(f"steps must lie in 0..{lr.size - 1}, the steps the schedule defines")
    if not np.all(np.isfinite(lr)) or np.any(lr < 0):
        raise LrlawError("learning rates must be finite and >= 0")
    g = None if grad_norm is None else _check_grad_norm(grad_norm, lr.size, int(steps.max()))
    a, b = _per_step(lr, g)
    n = steps.size
    padded = np.pad(steps, (0, -n % _ROWS), mode="edge")
    f1, f2 = _features(jnp.asarray(a), jnp.asarray(b), jnp.asarray(padded))
    return np.asarray(f1)[:n], np.asarray(f2)[:n]


def nnls_start(
    f1: np.ndarray, f2: np.ndarray, loss: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    r"""Non-negative least squares ``loss ~ C + P f1 + Q f2``: ``[C, P, Q] >= 0``.

    Minimises ``sum w_j (C + P f1_j + Q f2_j - loss_j)^2`` subject to
    ``C, P, Q >= 0`` (Lawson & Hanson's algorithm, ``scipy.optimize.nnls``),
    with the columns scaled to unit norm for conditioning.  ``weights``
    default to 1; ``1 / loss^2`` approximates a fit of the relative error.

    Example:
        >>> f1 = np.array([0.5, 0.25, 0.125]); f2 = np.array([0.1, 0.2, 0.3])
        >>> np.round(nnls_start(f1, f2, 2.0 + 3.0 * f1 + 0.5 * f2), 10).tolist()
        [2.0, 3.0, 0.5]
    """
    from scipy.optimize import nnls

    x = np.column_stack([np.ones_like(f1), f1, f2]).astype(np.float64)
    y = np.asarray(loss, dtype=np.float64)
    if weights is not None:
        sw = np.sqrt(np.asarray(weights, dtype=np.float64))
        x, y = x * sw[:, None], y * sw
    scale = np.linalg.norm(x, axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(x / scale, y, maxiter=50 * x.shape[1])
    return coef / scale


@register
class ConvexLaw(Law):
    r"""``L(T) = C + MD2 f1(T) + MG2 f2(T)``: the convex last-iterate bound as a loss law.

    ``f1 = 1 / (2 sum_{t=1..T} eta_t)`` and ``f2`` are the two terms of the
    bound of Defazio et al. (2023, Thm. 10) with ``D = G = 1`` (see
    :func:`convex_features` and the module docstring); Schaipp et al. (2025)
    use ``C + M bound(T)`` as a loss predictor.  Three positive parameters
    ``C, MD2 = M D^2, MG2 = M G^2`` (fitted in log space; started from a
    non-negative least-squares solve of the linear form).

    Option ``grad_norm=True``: ``f2`` uses a per-step gradient-norm series
    ``G_t``, given to :meth:`prepare`; the parameters are then ``C, MD2, M``.
    """

    name = "convex"
    param_names: tuple[str, ...] = ("C", "MD2", "MG2")
    positive: tuple[bool, ...] = (True, True, True)
    reference = (
        "Defazio et al. 2023, When, Why and How Much? Adaptive Learning Rate Scheduling by "
        "Refinement, arXiv 2310.07831, Thm. 10; as a loss law: Schaipp et al. 2025, "
        "arXiv 2501.18965"
    )
    typical: ClassVar[dict[str, tuple[float, float]]] = {}

    def __init__(self, grad_norm: bool = False) -> None:
        self.grad_norm = bool(grad_norm)
        if self.grad_norm:
            self.param_names = ("C", "MD2", "M")

    @property
    def options(self) -> dict[str, Any]:
        return {"grad_norm": self.grad_norm}

    def prepare(
        self, lr: np.ndarray, steps: np.ndarray, grad_norm: np.ndarray | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """``(f1, f2)`` at the observed steps; ``grad_norm``: per-step ``G_t`` (``grad_norm=True``).

        Raises:
            LrlawError: ``grad_norm`` is missing although the law needs it, or given
                although it does not, or does not cover the steps.
        """
        if self.grad_norm and grad_norm is None:
            raise LrlawError(
                "the convex law with grad_norm=True needs a per-step gradient-norm series; "
                "fitting it from curve files is not wired yet (use lrlaw.laws.convex."
                "convex_features and nnls_start, or the constant-G law)"
            )
        if not self.grad_norm and grad_norm is not None:
            raise LrlawError("a gradient-norm series was given to the constant-G convex law")
        f1, f2 = convex_features(lr, steps, grad_norm)
        return jnp.asarray(f1), jnp.asarray(f2)

    def predict(self, params: jax.Array, prepared: tuple[jax.Array, jax.Array]) -> jax.Array:
        f1, f2 = prepared
        return params[0] + params[1] * f1 + params[2] * f2

    def initial_guesses(
        self, prepared: Sequence[tuple[jax.Array, jax.Array]], losses: Sequence[np.ndarray]
    ) -> np.ndarray:
        """Non-negative least squares of the linear form (:func:`nnls_start`), unweighted and
        weighted by ``1 / loss^2``; zero coefficients are lifted to a small positive floor
        (the solver works on their logarithms)."""
        loss = np.concatenate([np.asarray(y) for y in losses])
        f1 = np.concatenate([np.asarray(p[0])[: len(y)] for p, y in zip(prepared, losses)])
        f2 = np.concatenate([np.asarray(p[1])[: len(y)] for p, y in zip(prepared, losses)])
        ok = np.isfinite(f1) & np.isfinite(f2)
        if not ok.any():
            raise LrlawError("the convex law is undefined at every point (no positive LR)")
        loss, f1, f2 = loss[ok], f1[ok], f2[ok]
        # Floors: a loss offset of 0.1 % of the smallest loss, and coefficients whose term
        # is 1e-6 of the mean loss.
        mean = float(loss.mean())
        floor = np.array(
            [
                1e-3 * float(loss.min()),
                1e-6 * mean / max(float(np.mean(f1)), 1e-300),
                1e-6 * mean / max(float(np.mean(f2)), 1e-300),
            ]
        )
        starts = [nnls_start(f1, f2, loss), nnls_start(f1, f2, loss, weights=loss**-2.0)]
        return np.maximum(np.asarray(starts), floor)

    def final_loss(self, params: jax.Array, lr: jax.Array) -> jax.Array:
        """Loss at the last step ``T = len(lr) - 1``: pure JAX, O(T), differentiable in ``lr``.

        For schedule optimisation; constant ``G`` only (same formulas as :meth:`prepare`).
        """
        if self.grad_norm:
            raise LrlawError("final_loss needs a gradient-norm series with grad_norm=True")
        a = jnp.asarray(lr).at[0].set(0.0)
        a = jnp.where(a > ZERO_LR * jax.lax.stop_gradient(jnp.max(a)), a, 0.0)
        b = a * a
        r = _suffix(a)
        ok = (a > 0) & (r > 0)
        head = jnp.sum(jnp.where(ok, b / jnp.where(ok, r, 1.0), 0.0))
        idx = jnp.arange(a.shape[0])
        last = jnp.max(jnp.where(a > 0, idx, 0))
        f1 = 0.5 / jnp.sum(a)
        f2 = 0.5 * (head + a[last])
        return params[0] + params[1] * f1 + params[2] * f2
