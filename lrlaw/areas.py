r"""Schedule areas: the statistics of an LR schedule that the loss laws use.

Conventions (see ``README.md``, "Laws"): a schedule is one learning rate per
optimizer step, :math:`\eta_0, \dots, \eta_{T}`; a loss logged at step ``s``
is the loss after ``s`` updates.  All functions take the per-step LR array
``lr`` (any length ``T + 1``) and return an array of the same length whose
entry ``s`` is the area *at step s*; gather the observed steps from it.

Forward area (Tissue et al. 2024, arXiv 2408.11029, eq. 2)::

    S1(s) = sum_{i=1..s} eta_i                      (S1(0) = 0)

Annealing area with momentum (Tissue et al. 2024, eq. 3)::

    m_i   = lam * m_{i-1} + (eta_{i-1} - eta_i),    m_{-1} = 0,  eta_{-1} = 0
    S2(s) = sum_{i=0..s} m_i
          = sum_{i=0..s} sum_{k=0..i} (eta_{k-1} - eta_k) * lam^(i-k)

**Training starts from rest.**  The LR before step 0 is taken as 0, so the
first change is ``d_0 = -eta_0``: a schedule starting at its peak (no warmup)
and one warming up from 0 to the same peak have the same ``S2`` once the
warmup has passed (up to a transient that decays like ``lam^t``).  With
``d_0 = 0`` instead (the literal eq. 3), ``S2`` would carry a permanent offset
``(eta_0 - eta_peak) / (1 - lam)``, so the predicted loss of a candidate
schedule would depend on its *starting* LR: 0.15 in loss for a momentum fit of
the MPL 100M runs (``C ~ 0.5``, peak 3e-4), enough to rank a cosine without
warmup 5 % better than the same cosine with one.  Schedules that start at
``eta_0 = 0`` (every warmup from 0, as in the MPL runs) are unaffected.

Closed forms used as checks: ``lam = 0`` gives ``S2(s) = -eta_s``; a
constant LR ``eta`` gives ``S2(s) = -eta (1 - lam^(s+1)) / (1 - lam)``, so
``-C S2`` tends to ``C eta / (1 - lam)``, a noise floor proportional to the LR.

**LR increases.**  During warmup or a re-warmup ``eta_{i-1} - eta_i`` is
negative.  ``warmup="signed"`` (the default) keeps every change with its
sign, as the Multi-Power Law reference code does: a warmup from 0 to a peak
lowers S2 by ``eta_peak / (1 - lam)`` once it has decayed (the constant offset
is the same for every schedule with that peak, and the fitted ``L0`` absorbs
it), and a re-warmup in continual pretraining *reduces* S2 -- the law then
predicts the loss rising again, as observed.  ``warmup="ignore"`` drops the
increases of the initial rise (``d_0`` and every step before the first LR
drop) and keeps later ones signed, so a warmup followed by a constant LR
gives S2 = 0 exactly.

Everything is O(T): ``S1`` is a cumulative sum and the momentum recurrence is
a first-order linear recurrence evaluated with ``jax.lax.scan`` on CPU or
``jax.lax.associative_scan`` (parallel prefix) on accelerators; there is no
Python loop over steps.  Functions are pure, jit- and
vmap-compatible (batch many schedules with :func:`jax.vmap`) and
differentiable in ``lr`` and ``lam``.  Call them with float64 enabled (the
public fit/predict entry points do so) to keep sums over 1e6 steps exact to
~1e-12.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["WarmupMode", "annealing_area", "forward_area", "lr_changes", "momentum"]

WarmupMode = Literal["signed", "ignore"]
ScanMethod = Literal["auto", "parallel", "sequential"]
WARMUP_MODES: tuple[str, ...] = ("signed", "ignore")


def lr_changes(lr: ArrayLike, warmup: WarmupMode = "signed") -> jax.Array:
    r"""LR drops ``d_i = eta_{i-1} - eta_i`` with ``eta_{-1} = 0`` (so ``d_0 = -eta_0``).

    ``warmup="signed"`` keeps every change; ``"ignore"`` zeroes the increases
    (negative ``d_i``) that come before the first drop (the initial warmup).
    Source: Tissue et al. 2024 (arXiv 2408.11029), eq. 3; the LR before step 0
    is 0 (training starts from rest; see the module docstring).

    Example:
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     print(lr_changes([1.0, 1.0, 0.5]).tolist())
        [-1.0, 0.0, 0.5]
    """
    lr = jnp.asarray(lr)
    d = jnp.concatenate([-lr[:1], lr[:-1] - lr[1:]])
    if warmup == "signed":
        return d
    if warmup == "ignore":
        started = jnp.cumsum(d > 0) > 0
        return jnp.where(started | (d >= 0), d, 0.0)
    raise ValueError(f"warmup={warmup!r}: expected one of {WARMUP_MODES}")


def forward_area(lr: ArrayLike) -> jax.Array:
    r"""Forward area ``S1(s) = sum_{i=1..s} eta_i`` for every step ``s``.

    Source: Tissue et al. 2024, "Scaling Law with Learning Rate Annealing"
    (arXiv 2408.11029), eq. 2.  ``S1(0) = 0``.

    Example:
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     print(forward_area([0.0, 1.0, 2.0, 3.0]).tolist())
        [0.0, 1.0, 3.0, 6.0]
    """
    lr = jnp.asarray(lr)
    return jnp.concatenate([jnp.zeros_like(lr[:1]), jnp.cumsum(lr[1:])])


def momentum(
    lr: ArrayLike,
    lam: ArrayLike = 0.999,
    warmup: WarmupMode = "signed",
    method: ScanMethod = "auto",
) -> jax.Array:
    r"""Annealing momentum ``m_i = lam * m_{i-1} + (eta_{i-1} - eta_i)``, ``m_{-1} = eta_{-1} = 0``.

    ``method="parallel"`` evaluates it as a parallel prefix scan of the affine
    maps ``m -> lam * m + d_i`` (O(T) work, O(log T) depth); ``"sequential"``
    as a ``lax.scan`` (same result).  ``"auto"`` picks ``sequential`` on CPU,
    where it runs as fast and compiles about 4x faster (``benchmarks/``), and
    ``parallel`` on accelerators.
    Source: Tissue et al. 2024 (arXiv 2408.11029), eq. 3.
    """
    d = lr_changes(lr, warmup)
    if method == "auto":
        method = "sequential" if jax.default_backend() == "cpu" else "parallel"
    if method == "sequential":
        lam = jnp.asarray(lam, dtype=d.dtype)

        def step(m: jax.Array, d_i: jax.Array) -> tuple[jax.Array, jax.Array]:
            m = lam * m + d_i
            return m, m

        return jax.lax.scan(step, jnp.zeros((), d.dtype), d)[1]
    a = jnp.broadcast_to(jnp.asarray(lam, dtype=d.dtype), d.shape)

    def combine(left: tuple[jax.Array, jax.Array], right: tuple[jax.Array, jax.Array]):
        a1, b1 = left
        a2, b2 = right
        return a1 * a2, a2 * b1 + b2

    _, m = jax.lax.associative_scan(combine, (a, d))
    return m


def annealing_area(
    lr: ArrayLike,
    lam: ArrayLike = 0.999,
    warmup: WarmupMode = "signed",
    method: ScanMethod = "auto",
) -> jax.Array:
    r"""Annealing area ``S2(s) = sum_{i=0..s} m_i`` for every step ``s``.

    ``m_i = lam * m_{i-1} + (eta_{i-1} - eta_i)`` with ``m_{-1} = eta_{-1} = 0``;
    equivalently ``S2(s) = sum_{i=0..s} sum_{k=0..i} (eta_{k-1} - eta_k) lam^(i-k)``.
    Source: Tissue et al. 2024, "Scaling Law with Learning Rate Annealing"
    (arXiv 2408.11029), eq. 3; ``lam = 0.999`` is the paper's value.  The LR
    before step 0 is 0, so the start LR leaves no permanent offset (module
    docstring).

    Example:
        >>> import jax
        >>> with jax.enable_x64(True):  # a step drop from 1.0 to 0.5, lam = 0: S2 = -eta
        ...     print(annealing_area([1.0, 1.0, 0.5, 0.5], lam=0.0).tolist())
        [-1.0, -1.0, -0.5, -0.5]
    """
    return jnp.cumsum(momentum(lr, lam, warmup, method))
