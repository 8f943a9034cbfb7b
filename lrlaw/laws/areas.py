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

Everything is O(T) and there is no Python loop over steps.  Kernels
(``method``):

* ``"native"`` (the ``"auto"`` choice on CPU with float64): S1, the momentum and
  S2 in one C loop (:mod:`lrlaw._native`, compiled once per machine, called as an
  XLA FFI custom call inside ``jit``/``vmap``; ``vmap`` passes the whole batch to
  one call, which runs four rows per pass over XLA's intra-op threads).  Its
  derivatives (``jvp``, ``grad``) are those of the scan below.
  Measured side by side in ``benchmarks/bench.py`` (2 shared cores; the fastest
  of the kernels tried, ``benchmarks/README.md``): 4.8-6.0x numpy ``cumsum`` +
  ``lfilter`` at 1e4-1e5 steps, 2.0-6.7x at 1e6 (load 10 / 3), 2.0x at 1e7.  The
  loop runs at ~1.9 ns/step into mapped memory; at 1e6+ steps the page faults of
  the freshly allocated outputs dominate (with glibc's mmap threshold raised:
  9-11x at 1e6, 7.8x at 1e7).
* ``"sequential"`` (``auto`` on CPU without the native kernel): one
  ``jax.lax.scan`` with carry ``(eta_{i-1}, m, S2, S1)``, the sums in two levels
  (blocks of 256 steps and the blocks, so their rounding error grows like
  ``(T / 256 + 256) eps``, not ``T eps``); 1.5-11x slower than the native loop.
  Rewrites that avoid the sequential loop were all slower on XLA:CPU
  (``jnp.cumsum`` is a parallel prefix scan of ~2 log2(T) strided passes;
  blocked matmuls, lane-parallel scans over ``(T / C, C)`` layouts: 0.2-0.6x
  numpy; ``benchmarks/README.md`` lists them).
* ``"parallel"`` (``auto`` on accelerators): the momentum as a
  ``jax.lax.associative_scan`` of the affine maps, the sums ``jnp.cumsum``.

The momentum recurrence is evaluated in the same order as
``scipy.signal.lfilter``; the two-level sums are more accurate than
``numpy.cumsum`` (whose error grows like ``T * eps``).

Functions are pure, jit- and vmap-compatible (batch many schedules with
:func:`jax.vmap`) and differentiable in ``lr`` and ``lam``.  Called eagerly
(with concrete arrays) they run the native loop on the numpy array directly
(results wrapped without a copy), or else a cached compiled kernel: the schedule is
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

from lrlaw import _jaxcache, _native

_jaxcache.enable()  # persistent XLA compilation cache (off: LRLAW_NO_XLA_CACHE=1)


__all__ = [
    "WarmupMode",
    "annealing_area",
    "areas",
    "areas_at",
    "forward_area",
    "lr_changes",
    "momentum",
    "prefix_sum",
]

WarmupMode = Literal["signed", "ignore"]
ScanMethod = Literal["auto", "native", "sequential", "parallel"]
METHODS: tuple[str, ...] = ("auto", "native", "sequential", "parallel")
WARMUP_MODES: tuple[str, ...] = ("signed", "ignore")


def _bucket(n: int) -> int:
    """Padded length for an eager call on ``n`` steps: >= 512, at most 12.5 % above ``n``."""
    return _jaxcache.bucket(n, 512)


#: ``"auto"`` compiles the native kernel (a one-off ~3 s of CPU per machine, see
#: :mod:`lrlaw._native`) only for a schedule at least this long; shorter ones use it
#: when it is already built and the scan otherwise.  A fit of curves of 24k-100k steps
#: computes its areas a few times, well under a millisecond each with the scan, so the
#: build would cost a first fit seconds and win it nothing.
NATIVE_BUILD_MIN_STEPS = 1 << 17


def _kernel(method: str, dtype: Any, steps: int = 0) -> str:
    """The kernel ``method`` stands for: ``"native"``, ``"sequential"`` or ``"parallel"``.

    ``steps`` is the schedule's length, used by ``"auto"`` (see
    :data:`NATIVE_BUILD_MIN_STEPS`)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {METHODS}")
    if method == "auto":
        if not _on_cpu():
            return "parallel"
        if jnp.dtype(dtype) != jnp.float64:
            return "sequential"
        if steps >= NATIVE_BUILD_MIN_STEPS:
            native = _native.available()
        else:
            native = _native.built()
        return "native" if native else "sequential"
    if method == "native":
        if not _on_cpu() or not _native.available():
            why = (
                _native._state.get("error") or "no C++ compiler, LRLAW_NO_NATIVE set, or not on CPU"
            )
            raise ValueError(f"method='native': the native areas kernel is unavailable ({why})")
        if jnp.dtype(dtype) != jnp.float64:
            raise ValueError(f"method='native' needs float64 lr, got {jnp.dtype(dtype)}")
    return method


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


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _native_areas(
    lr: jax.Array, lam: jax.Array, warmup: WarmupMode, outputs: tuple[str, ...]
) -> tuple[jax.Array, ...]:
    """The outputs of :func:`_scan_areas` from the native C loop (:mod:`lrlaw._native`),
    an XLA FFI call: ``vmap`` hands it the whole batch (one call, rows in turn).
    Its derivatives are those of :func:`_scan_areas` (the same recurrences)."""
    full = jax.ShapeDtypeStruct(lr.shape, lr.dtype)
    empty = jax.ShapeDtypeStruct((*lr.shape[:-1], 0), lr.dtype)
    specs = tuple(full if k in outputs else empty for k in ("s1", "s2", "m"))
    call = jax.ffi.ffi_call(_native.TARGET, specs, vmap_method="broadcast_all")
    res = dict(zip(("s1", "s2", "m"), call(lr, lam, ignore=np.int64(warmup == "ignore"))))
    return tuple(res[k] for k in outputs)


@_native_areas.defjvp
def _native_areas_jvp(warmup, outputs, primals, tangents):
    def scan(lr, lam):
        return _scan_areas(lr, lam, warmup, outputs)

    return _native_areas(*primals, warmup, outputs), jax.jvp(scan, primals, tangents)[1]


def _parallel_momentum(d: jax.Array, lam: ArrayLike) -> jax.Array:
    a = jnp.broadcast_to(jnp.asarray(lam, dtype=d.dtype), d.shape)

    def combine(left: tuple[jax.Array, jax.Array], right: tuple[jax.Array, jax.Array]):
        a1, b1 = left
        a2, b2 = right
        return a1 * a2, a2 * b1 + b2

    return jax.lax.associative_scan(combine, (a, d))[1]


def _compute(
    lr: jax.Array, lam: ArrayLike, warmup: WarmupMode, method: str, outputs: tuple[str, ...]
) -> tuple[jax.Array, ...]:
    """The areas named in ``outputs`` (``"s1"``, ``"s2"``, ``"m"``), traced with ``method``."""
    lr = jnp.asarray(lr)
    kernel = _kernel(method, lr.dtype, lr.shape[-1] if lr.ndim else 0)
    if kernel == "native":
        return _native_areas(lr, jnp.asarray(lam, lr.dtype), warmup, outputs)
    if kernel == "sequential":
        return _scan_areas(lr, lam, warmup, outputs)
    res = {}
    if "s1" in outputs:
        res["s1"] = jnp.concatenate([jnp.zeros_like(lr[:1]), jnp.cumsum(lr[1:])])
    if "m" in outputs or "s2" in outputs:
        res["m"] = _parallel_momentum(_changes(lr, warmup), lam)
        res["s2"] = jnp.cumsum(res["m"])
    return tuple(res[k] for k in outputs)


_compute_jit = jax.jit(_compute, static_argnames=("warmup", "method", "outputs"))


@functools.cache
def _dlpack_import() -> Any:
    """jaxlib's DLPack import of a 64-byte aligned float64 numpy array on the CPU, or None.

    ``jax.dlpack.from_dlpack`` looks the device up and calls ``jnp.asarray`` on every
    call: 22 us of its 25 us at 1e4 steps, most of an eager ``areas`` call
    (``benchmarks/README.md``, issue 18 in session 15).  This calls the jaxlib entry point
    it wraps, with the device looked up once (3 us).  The entry point is private, so it is
    probed once on a small array (shape, dtype, values and shared memory checked) and
    any failure, e.g. after a jaxlib upgrade, leaves the public function in use."""
    try:
        from jax._src import xla_bridge
        from jax._src.lib import _jax, jaxlib_extension_version

        probe = _native._aligned_empty(8)
        probe[:] = np.arange(8.0)
        kind, device_id = probe.__dlpack_device__()
        device = xla_bridge.get_backend("cpu").device_from_local_hardware_id(device_id)
        to_buffer = _jax.dlpack_managed_tensor_to_buffer
        extra = (int(kind),) if jaxlib_extension_version >= 467 else ()

        def imp(a: np.ndarray) -> jax.Array:
            return to_buffer(a.__dlpack__(stream=None), device, None, None, *extra)

        x = imp(probe)
        ok = (
            isinstance(x, jax.Array)
            and x.dtype == np.float64
            and x.shape == probe.shape
            and x.unsafe_buffer_pointer() == probe.ctypes.data
            and np.array_equal(np.asarray(x), probe)
        )
        return imp if ok else None
    except Exception:
        return None


def _wrap(a: np.ndarray) -> jax.Array:
    """``a`` (a float64 result of the native kernel) as a jax array, without a copy where
    the buffer allows it (DLPack)."""
    imp = _dlpack_import()
    if imp is not None:
        try:
            return imp(a)
        except Exception:
            pass
    try:
        return jax.dlpack.from_dlpack(a)
    except Exception:  # e.g. a backend that cannot alias host memory
        return jnp.asarray(a)


def _native_eager(
    lr: np.ndarray, lam: float, warmup: WarmupMode, outputs: tuple[str, ...]
) -> tuple[jax.Array, ...]:
    """The native kernel on a float64 numpy schedule, its results handed to jax."""
    return tuple(_wrap(o) for o in _native.areas_numpy(lr, lam, warmup == "ignore", outputs))


@functools.cache
def _on_cpu() -> bool:
    """Whether jax's default backend is the CPU (fixed once jax has started)."""
    return jax.default_backend() == "cpu"


def _run(
    lr: ArrayLike, lam: ArrayLike, warmup: WarmupMode, method: str, outputs: tuple[str, ...]
) -> tuple[jax.Array, ...]:
    """Evaluate :func:`_compute`: traced inputs trace it; concrete ones run the native
    kernel on the numpy array directly (no XLA dispatch; the results are handed to jax
    without a copy) or
    else a cached compiled kernel on a length bucket (zero padding at the end cannot
    change the first ``len(lr)`` outputs: every area at step ``s`` depends on
    ``lr[:s + 1]`` only)."""
    _check_warmup(warmup)
    if (  # the common eager call, decided in ~1 us: a float64 numpy schedule, a float lam
        type(lr) is np.ndarray
        and type(lam) is float
        and lr.ndim == 1
        and lr.dtype == np.float64
        and lr.size
        and method in ("auto", "native")
        and _on_cpu()
        and jax.dtypes.canonicalize_dtype(np.float64) == np.float64  # x64 on here and now
        and _native._state.get("lib") is not None  # loaded: what _kernel would pick
    ):
        return _native_eager(lr, lam, warmup, outputs)
    if isinstance(lr, jax.core.Tracer) or isinstance(lam, jax.core.Tracer):
        return _compute(lr, lam, warmup, method, outputs)
    x = lr if isinstance(lr, jax.Array) else np.asarray(lr)
    dtype = jax.dtypes.canonicalize_dtype(x.dtype)
    n = x.shape[0] if x.ndim == 1 else 0
    if n and np.ndim(lam) == 0 and _kernel(method, dtype, n) == "native":
        return _native_eager(np.asarray(x), float(lam), warmup, outputs)
    if x.ndim != 1 or n == 0 or _bucket(n) == n:
        return _compute_jit(jnp.asarray(x), lam, warmup, method, outputs)
    padded = np.zeros(_bucket(n), dtype=dtype)
    padded[:n] = np.asarray(x)
    out = _compute_jit(jnp.asarray(padded), lam, warmup, method, outputs)
    return tuple(jnp.asarray(np.asarray(o)[:n]) for o in out)


@functools.partial(jax.jit, static_argnames=("warmup",))
def _lr_changes_jit(lr: jax.Array, warmup: WarmupMode) -> jax.Array:
    return _changes(jnp.asarray(lr), warmup)


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
    return _run(lr, 0.0, "signed", "auto", ("s1",))[0]


def _prefix_native(x: jax.Array, reverse: bool) -> jax.Array:
    """Prefix sums along the last axis from the native kernel's ``S1`` (of ``[0, x]``, so
    that ``S1(s) = x_0 + ... + x_{s-1}``), reversed for ``reverse``."""
    if reverse:
        x = jnp.flip(x, axis=-1)
    pad = jnp.zeros((*x.shape[:-1], 1), x.dtype)
    (s1,) = _native_areas(
        jnp.concatenate([pad, x], axis=-1), jnp.zeros((), x.dtype), "signed", ("s1",)
    )
    out = s1[..., 1:]
    return jnp.flip(out, axis=-1) if reverse else out


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _prefix_sum_native(x: jax.Array, reverse: bool) -> jax.Array:
    return _prefix_native(x, reverse)


def _prefix_fwd(x: jax.Array, reverse: bool) -> tuple[jax.Array, None]:
    return _prefix_native(x, reverse), None


def _prefix_bwd(reverse: bool, _: None, g: jax.Array) -> tuple[jax.Array]:
    # a prefix sum is linear: its transpose is the prefix sum in the other direction
    return (_prefix_native(g, not reverse),)


_prefix_sum_native.defvjp(_prefix_fwd, _prefix_bwd)


def prefix_sum(x: ArrayLike, reverse: bool = False) -> jax.Array:
    r"""``y_s = sum_{i<=s} x_i`` along the last axis (``reverse``: ``sum_{i>=s} x_i``):
    ``jnp.cumsum``'s values, differentiable (its VJP is the prefix sum the other way).

    On the CPU in float64 it runs the native areas loop (:mod:`lrlaw._native`: ``S1`` of
    ``[0, x]``, summed in two levels of 256 steps) instead of XLA's ``cumsum``, a tree of
    ``reduce_window`` passes: 20k values took 164 us that way against 49 us for numpy's
    ``cumsum`` (issue 18.4, session 16; ``benchmarks/README.md``).  The free-form schedule
    optimiser (:mod:`lrlaw.plan.optimal`) takes two per objective and gradient.  Elsewhere
    (no compiler, ``LRLAW_NO_NATIVE=1``, float32, accelerators) it is ``jnp.cumsum``.
    The two agree to rounding (about ``(T / 256 + 256) eps`` relative)."""
    x = jnp.asarray(x)
    if x.ndim == 0 or x.shape[-1] == 0 or _kernel("auto", x.dtype, x.shape[-1]) != "native":
        return jax.lax.cumsum(x, axis=x.ndim - 1, reverse=bool(reverse))
    return _prefix_sum_native(x, bool(reverse))


def momentum(
    lr: ArrayLike,
    lam: ArrayLike = 0.999,
    warmup: WarmupMode = "signed",
    method: ScanMethod = "auto",
) -> jax.Array:
    r"""Annealing momentum ``m_i = lam * m_{i-1} + (eta_{i-1} - eta_i)``, ``m_{-1} = eta_{-1} = 0``.

    ``method="parallel"`` evaluates it as a parallel prefix scan of the affine
    maps ``m -> lam * m + d_i`` (O(T) work, O(log T) depth); ``"sequential"``
    as a ``lax.scan``, ``"native"`` as a C loop (same result).  ``"auto"`` picks
    ``native`` on CPU (``sequential`` where it cannot be built), and ``parallel``
    on accelerators (module docstring; ``benchmarks/bench.py``).
    Source: Tissue et al. 2024 (arXiv 2408.11029), eq. 3.
    """
    return _run(lr, lam, warmup, method, ("m",))[0]


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
    return _run(lr, lam, warmup, method, ("s2",))[0]


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
    s1, s2 = _run(lr, lam, warmup, method, ("s1", "s2"))
    return s1, s2


def _at_impl(warmup: WarmupMode):
    @jax.custom_jvp
    def f(lr: jax.Array, lam: jax.Array, steps: jax.Array) -> tuple[jax.Array, jax.Array]:
        spec = jax.ShapeDtypeStruct((*lr.shape[:-1], steps.shape[-1]), lr.dtype)
        call = jax.ffi.ffi_call(_native.TARGET_AT, (spec, spec), vmap_method="broadcast_all")
        s1, s2 = call(lr, lam, steps, ignore=np.int64(warmup == "ignore"))
        return s1, s2

    @f.defjvp
    def f_jvp(primals, tangents):
        lr, lam, steps = primals

        def scan(a, b):
            s1, s2 = _scan_areas(a, b, warmup, ("s1", "s2"))
            return s1[steps], s2[steps]

        return f(lr, lam, steps), jax.jvp(scan, (lr, lam), tangents[:2])[1]

    return f


_AT = {w: _at_impl(w) for w in WARMUP_MODES}


def _compute_at(
    lr: jax.Array, steps: jax.Array, lam: ArrayLike, warmup: WarmupMode, method: str
) -> tuple[jax.Array, jax.Array]:
    lr = jnp.asarray(lr)
    steps = jnp.asarray(steps)
    n = lr.shape[0]
    idx = jnp.clip(jnp.where(steps < 0, steps + n, steps), 0, max(n - 1, 0)).astype(jnp.int64)
    if _kernel(method, lr.dtype, n) != "native" or idx.dtype != jnp.int64:
        s1, s2 = _compute(lr, lam, warmup, method, ("s1", "s2"))
        return s1[idx], s2[idx]
    order = jnp.argsort(idx)
    s1, s2 = _AT[warmup](lr, jnp.asarray(lam, lr.dtype), idx[order])
    inv = jnp.argsort(order)
    return s1[inv], s2[inv]


_compute_at_jit = jax.jit(_compute_at, static_argnames=("warmup", "method"))


def areas_at(
    lr: ArrayLike,
    steps: ArrayLike,
    lam: ArrayLike = 0.999,
    warmup: WarmupMode = "signed",
    method: ScanMethod = "auto",
) -> tuple[jax.Array, jax.Array]:
    r"""``(S1(steps), S2(steps))``: :func:`areas` at the given steps only.

    ``S1(s) = sum_{i=1..s} eta_i`` and ``S2(s) = sum_{i=0..s} m_i`` with
    ``m_i = lam m_{i-1} + (eta_{i-1} - eta_i)``, ``eta_{-1} = 0`` (Tissue et al.
    2024, arXiv 2408.11029, eqs. 2-3).  With the native kernel the LRs are read
    once and nothing is written per step (what a fit or a final-loss prediction
    needs: no array of ``len(lr)`` values is allocated); the values are identical
    to ``areas(lr)[k][steps]``.  Steps index ``lr`` as numpy does (negative from
    the end) and are clipped to ``0 .. len(lr) - 1``.  jit/vmap/grad-compatible.

    Example:
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     s1, s2 = areas_at([1.0, 1.0, 0.5, 0.5], [3, 1], lam=0.0)
        ...     print(s1.tolist(), s2.tolist())
        [2.0, 1.0] [-0.5, -1.0]
    """
    _check_warmup(warmup)
    traced = any(isinstance(a, jax.core.Tracer) for a in (lr, steps, lam))
    if traced:
        return _compute_at(lr, steps, lam, warmup, method)
    x = lr if isinstance(lr, jax.Array) else np.asarray(lr)
    dtype = jax.dtypes.canonicalize_dtype(x.dtype)
    idx = np.asarray(steps)
    n = x.shape[0] if x.ndim == 1 else 0
    if n and np.ndim(lam) == 0 and idx.ndim == 1 and _kernel(method, dtype, n) == "native":
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"steps must be integers, got dtype {idx.dtype}")
        idx = np.clip(np.where(idx < 0, idx + n, idx), 0, n - 1)
        order = np.argsort(idx, kind="stable")
        s1, s2 = _native.areas_at_numpy(np.asarray(x), float(lam), warmup == "ignore", idx[order])
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        return jnp.asarray(s1[inv]), jnp.asarray(s2[inv])
    return _compute_at_jit(jnp.asarray(x), jnp.asarray(idx), lam, warmup, method)
