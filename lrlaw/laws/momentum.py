r"""The momentum law of Tissue et al. (2024).

    L(s) = L0 + A * S1(s)^(-alpha) - C * S2(s)

with the forward area S1 and the momentum annealing area S2 of
:mod:`lrlaw.laws.areas`.  Source: H. Tissue, V. Wang, L. Wang, "Scaling Law with
Learning Rate Annealing", arXiv 2408.11029 (2024), eq. 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from lrlaw.errors import LrlawError
from lrlaw.laws.areas import WARMUP_MODES, WarmupMode, annealing_area, areas, lr_changes
from lrlaw.laws.base import Law, register

__all__ = [
    "MomentumLaw",
]

# Exponents tried as starting points; for each, (L0, A, C) come from linear
# least squares (variable projection), so the grid adapts to any data scale.
_ALPHA_GRID = (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.4, 2.0)


@jax.jit(static_argnames=("warmup",))
def _areas_at(
    lr: jax.Array, steps: jax.Array, lam: float, warmup: WarmupMode
) -> tuple[jax.Array, jax.Array]:
    s1, s2 = areas(lr, lam, warmup)  # one pass over lr for both
    return s1[steps], s2[steps]


@jax.jit(static_argnames=("warmup",))
def _s2_at(lr: jax.Array, steps: jax.Array, lam: jax.Array, warmup: WarmupMode) -> jax.Array:
    return annealing_area(lr, lam, warmup)[steps]


def _value_and_jac(xp: Any, params: Any, s1: Any, s2: Any) -> tuple[Any, Any]:
    """``L = L0 + A S1^-alpha - C S2`` and ``dL/d(L0, A, alpha, C) = (1, S1^-alpha,
    -A S1^-alpha log S1, -S2)`` (Tissue et al. 2024, eq. 1), with ``xp`` numpy or
    jax.numpy.  ``S1^-alpha`` is ``exp(-alpha log S1)``, so that ``log S1`` serves the
    value and the derivative in ``alpha`` (the compiled solver computes it once)."""
    l0, a, alpha, c = params[0], params[1], params[2], params[3]
    log_s1 = xp.log(s1)
    p = xp.exp(-alpha * log_s1)
    jac = xp.stack([xp.ones_like(s1), p, -a * p * log_s1, -s2], axis=1)
    return l0 + a * p - c * s2, jac


@register
class MomentumLaw(Law):
    r"""``L(s) = L0 + A * S1(s)^(-alpha) - C * S2(s)`` (Tissue et al. 2024, eq. 1).

    ``S1(s) = sum_{i=1..s} eta_i``; ``S2(s) = sum_{i=0..s} m_i`` with
    ``m_i = lam * m_{i-1} + (eta_{i-1} - eta_i)`` and ``eta_{-1} = m_{-1} = 0``
    (training starts from rest, :mod:`lrlaw.laws.areas`).  Parameters ``L0, A, alpha,
    C`` are all positive (fitted in log space).  Options: ``lam`` (momentum
    decay of the annealing area, default 0.999 as in the paper), ``warmup``
    (how S2 treats LR increases, see :mod:`lrlaw.laws.areas`) and ``fit_lam``: fit
    ``lam`` too, as a fifth parameter in (0, 1) (through ``logit``; the areas
    are then recomputed at every solver step, still O(T)).
    """

    name = "momentum"
    param_names: tuple[str, ...] = ("L0", "A", "alpha", "C")
    positive: tuple[bool, ...] = (True, True, True, True)
    typical: ClassVar[dict[str, tuple[float, float]]] = {"alpha": (0.01, 5.0)}
    reference = "Tissue et al. 2024, Scaling Law with Learning Rate Annealing, arXiv 2408.11029"
    #: Rows of a solver call in turn, not under vmap (``Law.solve_in_turn``): on the MPL
    #: 100M quick start the 10 starts take 24-260 iterations, so under vmap 10 x 260
    #: row-iterations ran where 605 do; warm solve 84 ms -> 22 ms, parameters within
    #: 1.3e-11 relative of the vmapped solve.
    solve_in_turn: ClassVar[bool] = True

    def __init__(
        self, lam: float = 0.999, warmup: WarmupMode = "signed", fit_lam: bool = False
    ) -> None:
        if not 0.0 <= float(lam) < 1.0:
            raise LrlawError(f"lam={lam} must be in [0, 1)")
        if warmup not in WARMUP_MODES:
            raise LrlawError(f"warmup={warmup!r} must be one of {', '.join(WARMUP_MODES)}")
        self.lam = float(lam)
        self.warmup: WarmupMode = warmup
        self.fit_lam = bool(fit_lam)
        if self.fit_lam:
            self.param_names = (*type(self).param_names, "lam")
            self.positive = (True, True, True, True, False)
            self.unit = (False, False, False, False, True)

    @property
    def options(self) -> dict[str, Any]:
        return {"lam": self.lam, "warmup": self.warmup, "fit_lam": self.fit_lam}

    def prepare(self, lr: np.ndarray, steps: np.ndarray) -> tuple[jax.Array, ...]:
        """``(S1, S2)`` at the observed steps; with ``fit_lam``, ``(S1, lr, steps)``."""
        if self.fit_lam:
            s1, _ = _areas_at(jnp.asarray(lr), jnp.asarray(steps), self.lam, self.warmup)
            return s1, jnp.asarray(lr), jnp.asarray(steps)
        if isinstance(lr, np.ndarray) and isinstance(steps, np.ndarray):
            # Concrete schedules: areas() runs the native C loop on the numpy array
            # (else a compiled kernel cached per length bucket) and numpy picks the
            # steps: the values of _areas_at, with nothing to compile per curve shape.
            s1, s2 = areas(lr, self.lam, self.warmup)
            return np.asarray(s1)[steps], np.asarray(s2)[steps]
        return _areas_at(lr, steps, self.lam, self.warmup)

    def predict(self, params: jax.Array, prepared: tuple[jax.Array, ...]) -> jax.Array:
        l0, a, alpha, c = params[0], params[1], params[2], params[3]
        if self.fit_lam:
            s1, lr, steps = prepared
            s2 = annealing_area(lr, params[4], self.warmup)[steps]
        else:
            s1, s2 = prepared
        return l0 + a * s1 ** (-alpha) - c * s2

    def _host_areas(self, prepared: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray] | None:
        """``(S1, S2)`` as numpy arrays, or ``None`` where the host forms do not apply
        (``fit_lam``: the areas depend on a parameter; areas that are not numpy arrays)."""
        if self.fit_lam or not all(isinstance(x, np.ndarray) for x in prepared):
            return None
        s1, s2 = prepared
        return s1, s2

    def predict_host(self, params: np.ndarray, prepared: tuple[Any, ...]) -> np.ndarray | None:
        """``L0 + A S1^-alpha - C S2`` (Tissue et al. 2024, eq. 1) in numpy, for one
        parameter vector or a stack of them; ``None`` with ``fit_lam`` (the areas then
        depend on a parameter) or areas that are not numpy arrays."""
        areas = self._host_areas(prepared)
        if areas is None:
            return None
        s1, s2 = areas
        p = np.asarray(params, dtype=np.float64)
        l0, a, alpha, c = (p[..., k, None] for k in range(4))
        # S1 = 0 (step 0) and a wild bootstrap replicate (alpha in the thousands) give inf,
        # as the jitted predict does; the callers treat non-finite predictions.
        with np.errstate(over="ignore", divide="ignore"):
            return l0 + a * s1 ** (-alpha) - c * s2

    def predict_jac_host(
        self, params: np.ndarray, prepared: tuple[Any, ...]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """``L = L0 + A S1^-alpha - C S2`` and ``dL/d(L0, A, alpha, C) = (1, S1^-alpha,
        -A S1^-alpha log S1, -S2)`` in numpy (Tissue et al. 2024, eq. 1); ``None`` where
        :meth:`predict_host` is."""
        areas = self._host_areas(prepared)
        if areas is None:
            return None
        s1, s2 = areas
        return _value_and_jac(np, np.asarray(params, dtype=np.float64), s1, s2)

    def predict_jac(
        self, params: jax.Array, prepared: Sequence[tuple[jax.Array, ...]]
    ) -> tuple[jax.Array, jax.Array] | None:
        """:meth:`predict_jac_host` in JAX over all curves at once (their areas
        concatenated: one fused kernel per iteration, not one per curve), for the fit's
        compiled solver; ``None`` with ``fit_lam`` (the areas depend on a parameter)."""
        if self.fit_lam:
            return None
        s1 = jnp.concatenate([p[0] for p in prepared])
        s2 = jnp.concatenate([p[1] for p in prepared])
        return _value_and_jac(jnp, params, s1, s2)

    def final_loss(self, params: jax.Array, lr: jax.Array) -> jax.Array:
        r"""``L(T) = L0 + A S1(T)^-alpha - C S2(T)`` at ``T = len(lr) - 1``.

        Tissue et al. 2024 (arXiv 2408.11029), eq. 1.

        With the LR changes ``d_k`` (:func:`lrlaw.laws.areas.lr_changes`) the annealing
        area at ``T`` sums in closed form,
        ``S2(T) = sum_k d_k sum_{i=k..T} lam^(i-k) = sum_k d_k (1 - lam^(T-k+1)) / (1 - lam)``,
        so the final loss costs one pass over the schedule, with no scan.
        """
        l0, a, alpha, c = params[0], params[1], params[2], params[3]
        lam = params[4] if self.fit_lam else self.lam
        d = lr_changes(lr, self.warmup)
        n = lr.shape[0]
        expo = (n - jnp.arange(n)).astype(lr.dtype)
        weight = -jnp.expm1(expo * jnp.log(lam)) / (1.0 - lam)
        s2 = jnp.sum(d * weight)
        s1 = jnp.sum(lr[1:])
        return l0 + a * s1 ** (-alpha) - c * s2

    def initial_guesses(
        self, prepared: Sequence[tuple[jax.Array, ...]], losses: Sequence[np.ndarray]
    ) -> np.ndarray:
        """Variable projection: for each alpha on a grid (and, with ``fit_lam``, each lam
        in 0.99, 0.995, 0.999, 0.9995), (L0, A, C) by least squares."""
        # ``prepared`` may be padded past the observed points: keep the first len(loss).
        loss = np.concatenate([np.asarray(x) for x in losses])
        s1 = np.concatenate([np.asarray(p[0])[: len(y)] for p, y in zip(prepared, losses)])
        if self.fit_lam:
            lams = (0.99, 0.995, 0.999, 0.9995)
            s2s = [
                np.concatenate(
                    [
                        np.asarray(_s2_at(p[1], p[2], lam, self.warmup))[: len(y)]
                        for p, y in zip(prepared, losses)
                    ]
                )
                for lam in lams
            ]
        else:
            lams = (self.lam,)
            s2s = [np.concatenate([np.asarray(p[1])[: len(y)] for p, y in zip(prepared, losses)])]
        floor = np.array([1e-3 * loss.min(), 1e-8 * loss.mean(), 1e-8 * loss.mean()])
        starts, sse = [], []
        for lam, s2 in zip(lams, s2s):
            for alpha in _ALPHA_GRID:
                x = np.stack([np.ones_like(s1), s1**-alpha, -s2], axis=1)
                coef, *_ = np.linalg.lstsq(x, loss, rcond=None)
                l0, a, c = np.maximum(coef, floor)
                starts.append([l0, a, alpha, c, lam] if self.fit_lam else [l0, a, alpha, c])
                sse.append(float(np.sum((x @ np.array([l0, a, c]) - loss) ** 2)))
        # With lam fitted every step recomputes the areas: keep the 8 best starts.
        keep = np.argsort(sse)[:8] if self.fit_lam else np.arange(len(starts))
        return np.asarray(starts)[keep]
