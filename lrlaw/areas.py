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

Everything is O(T) and there is no Python loop over steps.  On CPU, S1, the
momentum and S2 come out of **one** sequential ``jax.lax.scan`` (carry
``(eta_{i-1}, m, S2, S1)``, one pass over the LRs; the sums are accumulated in two levels, blocks of
256 steps and the blocks, so their rounding error grows like
``(T / 256 + 256) eps``, not ``T eps``): XLA:CPU lowers
``jnp.cumsum`` to a parallel prefix scan of ~2 log2(T) strided passes, and a
blocked formulation (within-block matmuls or Kogge-Stone doubling, a scan over
the block carries) only adds passes; ``benchmarks/bench.py`` (section 2)
measures these against numpy.  On accelerators the momentum is a
``jax.lax.associative_scan`` (parallel prefix) and the sums ``jnp.cumsum``.
The momentum recurrence is evaluated in the same order as
``scipy.signal.lfilter``; the two-level sums are more accurate than
``numpy.cumsum`` (whose error grows like ``T * eps``).

Functions are pure, jit- and vmap-compatible (batch many schedules with
:func:`jax.vmap`) and differentiable in ``lr`` and ``lam``.  Called eagerly
(with concrete arrays) they run a cached compiled kernel: the schedule is
zero-padded to a length bucket (at most 12.5 % longer, at least 512), so
schedules of many different lengths share a few compilations; the padding
cannot change the result (every area is causal) and is cut off again.  Inside
``jit``/``vmap``/``grad`` they trace as plain JAX.  Call them with float64
enabled (the public fit/predict entry points do so) to keep sums over 1e6
steps exact to ~1e-12.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lrlaw import _jaxcache

_jaxcache.enable()  # persistent XLA compilation cache (off: LRLAW_NO_XLA_CACHE=1)


__all__ = ["WarmupMode", "annealing_area", "areas", "forward_area", "lr_changes", "momentum"]

WarmupMode = Literal["signed", "ignore"]
ScanMethod = Literal["auto", "parallel", "sequential"]
WARMUP_MODES: tuple[str, ...] = ("signed", "ignore")


def _bucket(n: int) -> int:
    """Padded length for an eager call on ``n`` steps: >= 512, at most 12.5 % above ``n``."""
    if n <= 512:
        return 512
    q = 1 << (n.bit_length() - 4)
    return -(-n // q) * q


def _eager(kernel: Any, lr: ArrayLike, *args: Any) -> jax.Array:
    """Run the jitted ``kernel(lr, *args)``; concrete 1-D ``lr`` is padded to a length bucket.

    Every area at step ``s`` depends on ``lr[:s + 1]`` only, so zero padding at the
    end leaves the first ``len(lr)`` outputs unchanged."""
    if isinstance(lr, jax.core.Tracer) or any(isinstance(a, jax.core.Tracer) for a in args):
        return kernel(lr, *args)
    x = jnp.asarray(lr)
    n = x.shape[0] if x.ndim == 1 else 0
    if x.ndim != 1 or n == 0 or _bucket(n) == n:
        return kernel(x, *args)
    padded = np.zeros(_bucket(n), dtype=x.dtype)
    padded[:n] = np.asarray(x)
    out = np.asarray(kernel(jnp.asarray(padded), *args))[:n]
    return jnp.asarray(out)


def _sequential(backend_method: str) -> bool:
    if backend_method == "auto":
        return jax.default_backend() == "cpu"
    if backend_method in ("sequential", "parallel"):
        return backend_method == "sequential"
    raise ValueError(f"method={backend_method!r}: expected auto, parallel or sequential")


def _changes(lr: jax.Array, warmup: WarmupMode) -> jax.Array:
    d = jnp.concatenate([-lr[:1], lr[:-1] - lr[1:]])
    if warmup == "signed":
        return d
    if warmup == "ignore":
        drop = d > 0  # the initial rise ends at the first drop (no cumsum: slow on CPU)
        started = (jnp.arange(d.shape[0]) >= jnp.argmax(drop)) & jnp.any(drop)
        return jnp.where(started | (d >= 0), d, 0.0)
    raise ValueError(f"warmup={warmup!r}: expected one of {WARMUP_MODES}")


#: Steps per block of the two-level sums in :func:`_scan_areas` (a power of 2).
_BLOCK = 256


def _scan_areas(
    lr: jax.Array, lam: ArrayLike, warmup: WarmupMode, outputs: tuple[str, ...]
) -> tuple[jax.Array, ...]:
    """``S1``, the momentum ``m`` and/or ``S2`` (named in ``outputs``) in one ``lax.scan``.

    Carry ``(eta_{i-1}, m, S2, S1)``, the sums in two levels (blocks of ``_BLOCK``);
    signed mode reads only ``lr`` (``d_i`` is formed in the loop), ``"ignore"`` also
    the masked changes.  ``S1`` starts at ``-eta_0`` so that
    ``S1(0) = -eta_0 + eta_0 = 0`` exactly and ``S1(s)`` adds ``eta_1..eta_s`` in order."""
    lam = jnp.asarray(lam, dtype=lr.dtype)
    zero = jnp.zeros((), lr.dtype)
    signed = warmup == "signed"
    xs = lr if signed else (lr, _changes(lr, warmup))

    def step(carry, x):
        i, prev, m, s2, r2, s1, r1 = carry
        eta, d = (x, prev - x) if signed else x
        m = lam * m + d
        # Two-level sums: r adds up the current block of _BLOCK steps, s the blocks
        # before it; the area is s + r.  The rounding error grows like
        # (T / _BLOCK + _BLOCK) eps instead of T eps, and the sum of non-negative
        # terms stays non-decreasing (unlike a Kahan sum).
        flush = (i & (_BLOCK - 1)) == _BLOCK - 1
        r2 = r2 + m
        r1 = r1 + eta
        a2, a1 = s2 + r2, s1 + r1
        out = {"s1": a1, "m": m, "s2": a2}
        s2, r2 = jnp.where(flush, a2, s2), jnp.where(flush, zero, r2)
        s1, r1 = jnp.where(flush, a1, s1), jnp.where(flush, zero, r1)
        return (i + 1, eta, m, s2, r2, s1, r1), tuple(out[k] for k in outputs)

    start = (jnp.zeros((), jnp.int32), zero, zero, zero, zero, zero, -lr[0])
    return jax.lax.scan(step, start, xs)[1]


def _parallel_momentum(d: jax.Array, lam: ArrayLike) -> jax.Array:
    a = jnp.broadcast_to(jnp.asarray(lam, dtype=d.dtype), d.shape)

    def combine(left: tuple[jax.Array, jax.Array], right: tuple[jax.Array, jax.Array]):
        a1, b1 = left
        a2, b2 = right
        return a1 * a2, a2 * b1 + b2

    return jax.lax.associative_scan(combine, (a, d))[1]


@functools.partial(jax.jit, static_argnames=("warmup",))
def _lr_changes_jit(lr: jax.Array, warmup: WarmupMode) -> jax.Array:
    return _changes(jnp.asarray(lr), warmup)


@jax.jit
def _forward_jit(lr: jax.Array) -> jax.Array:
    lr = jnp.asarray(lr)
    if jax.default_backend() == "cpu":
        return _scan_areas(lr, 0.0, "signed", ("s1",))[0]
    return jnp.concatenate([jnp.zeros_like(lr[:1]), jnp.cumsum(lr[1:])])


@functools.partial(jax.jit, static_argnames=("warmup", "method"))
def _momentum_jit(lr: jax.Array, lam: ArrayLike, warmup: WarmupMode, method: str) -> jax.Array:
    lr = jnp.asarray(lr)
    if _sequential(method):
        return _scan_areas(lr, lam, warmup, ("m",))[0]
    return _parallel_momentum(_changes(lr, warmup), lam)


@functools.partial(jax.jit, static_argnames=("warmup", "method"))
def _annealing_jit(lr: jax.Array, lam: ArrayLike, warmup: WarmupMode, method: str) -> jax.Array:
    lr = jnp.asarray(lr)
    if _sequential(method):
        return _scan_areas(lr, lam, warmup, ("s2",))[0]
    return jnp.cumsum(_parallel_momentum(_changes(lr, warmup), lam))


@functools.partial(jax.jit, static_argnames=("warmup", "method"))
def _areas_jit(
    lr: jax.Array, lam: ArrayLike, warmup: WarmupMode, method: str
) -> tuple[jax.Array, jax.Array]:
    lr = jnp.asarray(lr)
    if _sequential(method):
        s1, s2 = _scan_areas(lr, lam, warmup, ("s1", "s2"))
        return s1, s2
    return _forward_jit(lr), _annealing_jit(lr, lam, warmup, method)


def _check_warmup(warmup: str) -> None:
    if warmup not in WARMUP_MODES:
        raise ValueError(f"warmup={warmup!r}: expected one of {WARMUP_MODES}")


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
    _check_warmup(warmup)
    if isinstance(lr, jax.core.Tracer):
        return _changes(lr, warmup)
    return _lr_changes_jit(jnp.asarray(lr), warmup)


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
    return _eager(_forward_jit, lr)


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
    where it is several times faster (``benchmarks/bench.py``), and
    ``parallel`` on accelerators.
    Source: Tissue et al. 2024 (arXiv 2408.11029), eq. 3.
    """
    _check_warmup(warmup)
    _sequential(method)
    return _eager(_momentum_jit, lr, lam, warmup, method)


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
    _check_warmup(warmup)
    _sequential(method)
    return _eager(_annealing_jit, lr, lam, warmup, method)


def areas(
    lr: ArrayLike,
    lam: ArrayLike = 0.999,
    warmup: WarmupMode = "signed",
    method: ScanMethod = "auto",
) -> tuple[jax.Array, jax.Array]:
    r"""``(forward_area(lr), annealing_area(lr, lam, warmup))`` in one pass over ``lr``.

    On CPU one ``lax.scan`` yields both (about the cost of one of them alone).

    Example:
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     s1, s2 = areas([1.0, 1.0, 0.5, 0.5], lam=0.0)
        ...     print(s1.tolist(), s2.tolist())
        [0.0, 1.0, 1.5, 2.0] [-1.0, -1.0, -0.5, -0.5]
    """
    _check_warmup(warmup)
    _sequential(method)
    if isinstance(lr, jax.core.Tracer) or isinstance(lam, jax.core.Tracer):
        return _areas_jit(lr, lam, warmup, method)
    x = jnp.asarray(lr)
    n = x.shape[0] if x.ndim == 1 else 0
    if x.ndim != 1 or n == 0 or _bucket(n) == n:
        return _areas_jit(x, lam, warmup, method)
    padded = np.zeros(_bucket(n), dtype=x.dtype)
    padded[:n] = np.asarray(x)
    s1, s2 = _areas_jit(jnp.asarray(padded), lam, warmup, method)
    return jnp.asarray(np.asarray(s1)[:n]), jnp.asarray(np.asarray(s2)[:n])
