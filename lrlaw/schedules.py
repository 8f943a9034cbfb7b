"""Learning-rate schedules as pure, JAX-traceable functions of the optimizer step.

A :class:`Schedule` wraps a function ``step -> learning rate`` (optax-style: a
``Schedule`` can be passed wherever optax expects a schedule) together with a
canonical spec string and a little metadata.  Factories (:func:`constant`,
:func:`cosine`, :func:`linear`, :func:`wsd`, :func:`step`, :func:`multistep`,
:func:`from_array`) validate their arguments up front and raise
:class:`~lrlaw.errors.ScheduleError` naming the offending argument.

Conventions
-----------
* There is one learning rate per optimizer step ``t = 0, 1, 2, ...``; ``total``
  is ``T``, the number of training steps; a schedule is meaningful on steps
  ``0..T`` inclusive and for ``t >= T`` it holds its value at ``T`` (the final
  value).  Negative steps are clamped to ``0``.  Steps may be ints or floats
  of any shape; the result has the same shape and the default JAX float dtype
  (float64 when ``jax_enable_x64`` is on).
* Linear warmup (Goyal et al. 2017, "Accurate, Large Minibatch SGD") composes
  with every family: for ``t < W`` (``W = warmup``)
  ``lr(t) = warmup_start + (peak - warmup_start) * t / W``.  At ``t = W`` the
  body of the schedule starts, at its peak.  ``warmup`` must be smaller than
  ``total`` when ``total`` is given; ``warmup_start`` (default 0) must lie in
  ``[0, peak]`` and may only be non-zero when ``warmup > 0``.
* The body after warmup uses the progress ``p = (t - W) / (T - W)`` clipped
  to ``[0, 1]``.
* Float arguments (``peak``, ``final``, ``factor``, ``values``, ...) may be JAX
  tracers when the factory is called inside ``jax.jit`` / ``jax.grad`` /
  ``jax.vmap``; their value checks are then skipped, ``Schedule.peak`` is
  ``None`` and the spec shows ``traced`` for them (such a spec cannot be
  parsed back).  Step counts (``total``, ``warmup``, ``decay_start``,
  ``milestones``, ``every``) are static Python ints.

Spec strings
------------
``family:key=value,key=value,...``, for instance
``wsd:peak=3e-4,warmup=2160,total=24000,decay_start=20000,final=3e-5,shape=exp``.
Keys are the factory's keyword arguments; lists are written in square brackets
(``milestones=[8000,12000]``).  :func:`parse_schedule` parses a spec and
``Schedule.spec`` is canonical: fixed key order, defaults omitted, floats
written so that they round-trip exactly, and
``parse_schedule(s.spec).spec == s.spec``.  Families are looked up in
:data:`FAMILIES`.  Array schedules (:func:`from_array`, spec ``array:n=<len>``)
come from files or Python and cannot be parsed from a spec.
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lrlaw._x64 import x64
from lrlaw.errors import ScheduleError

__all__ = [
    "FAMILIES",
    "WSD_SHAPES",
    "Schedule",
    "constant",
    "cosine",
    "from_array",
    "linear",
    "multistep",
    "parse_schedule",
    "step",
    "wsd",
]

#: Decay shapes accepted by :func:`wsd`.
WSD_SHAPES: tuple[str, ...] = ("linear", "cosine", "sqrt", "square", "exp")

# Value type of every spec key: "int", "float", "str", "int_list", "float_list".
_KEY_TYPES: dict[str, str] = {
    "peak": "float",
    "final": "float",
    "warmup_start": "float",
    "decay_frac": "float",
    "factor": "float",
    "total": "int",
    "warmup": "int",
    "decay_start": "int",
    "every": "int",
    "milestones": "int_list",
    "values": "float_list",
    "shape": "str",
}

# Step counts beyond 2**53 cannot be represented exactly as float64 steps.
_MAX_STEPS = 2**53


# --------------------------------------------------------------------------- #
# Schedule
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, eq=False)
class Schedule:
    """A learning-rate schedule: a pure function of the step plus metadata.

    Attributes:
        fn: ``step(s) -> lr`` (same shape as the input, float dtype); JAX-traceable.
        spec: canonical spec string; ``parse_schedule(spec)`` rebuilds an equal
            schedule (except for array schedules and traced parameters).
        total: number of training steps ``T`` (meaningful on steps ``0..T``),
            ``None`` if open-ended.
        warmup: number of linear warmup steps (0 if none).
        peak: peak learning rate reached after warmup (``None`` if unknown,
            e.g. when the factory was called with a traced ``peak``).

    Two schedules compare equal when their spec, total, warmup and peak agree;
    array schedules (``spec`` starting with ``array:``) are only equal if they
    share the same function.
    """

    fn: Callable[[ArrayLike], jax.Array] = field(repr=False)
    spec: str
    total: int | None
    warmup: int
    peak: float | None

    def __call__(self, step: ArrayLike) -> jax.Array:
        """Learning rate at ``step`` (int or float, any shape)."""
        return self.fn(step)

    def values(self, num: int | None = None) -> np.ndarray:
        """Learning rates at steps ``0..num-1`` as a float64 numpy array (computed in float64).

        ``num`` defaults to ``total + 1`` (steps ``0..T`` inclusive); it is an
        error to omit it for an open-ended schedule (``total is None``).
        """
        if num is None:
            if self.total is None:
                raise ScheduleError(f"schedule {self.spec!r} has no total; pass num to values()")
            num = self.total + 1
        if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 0:
            raise ScheduleError(f"num={num!r} must be a non-negative integer")
        with x64():  # float64 regardless of the caller's jax_enable_x64 setting
            return np.asarray(self.fn(jnp.arange(int(num))), dtype=np.float64)

    def _key(self) -> tuple[Any, ...]:
        if self.spec.startswith("array:"):
            return (self.spec, self.total, self.warmup, self.peak, id(self.fn))
        return (self.spec, self.total, self.warmup, self.peak)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


# --------------------------------------------------------------------------- #
# Validation helpers
# --------------------------------------------------------------------------- #


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _float_arg(name: str, x: Any) -> float | None:
    """Check that ``x`` is a finite real scalar; return it as float (None if traced)."""
    if isinstance(x, (bool, str, bytes)):
        raise ScheduleError(f"{name} must be a number, got {x!r}")
    if _is_tracer(x):
        if jnp.ndim(x) != 0:
            raise ScheduleError(f"{name} must be a scalar, got shape {jnp.shape(x)}")
        return None
    try:
        arr = np.asarray(x)
    except Exception as e:  # any conversion failure means a bad argument
        raise ScheduleError(f"{name} must be a number, got {x!r}") from e
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise ScheduleError(f"{name} must be a real scalar, got {x!r}")
    value = float(arr)
    if not math.isfinite(value):
        raise ScheduleError(f"{name}={value!r} must be finite")
    return value


def _int_arg(name: str, x: Any, minimum: int = 0) -> int:
    """Check that ``x`` is a static Python integer in ``[minimum, 2**53]``."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ScheduleError(f"{name} must be an integer, got {x!r}")
    value = int(x)
    if value < minimum:
        raise ScheduleError(f"{name}={value} must be >= {minimum}")
    if value > _MAX_STEPS:
        raise ScheduleError(f"{name}={value} is too large (at most 2**53)")
    return value


def _check_peak(peak: Any) -> float | None:
    value = _float_arg("peak", peak)
    if value is not None and value <= 0:
        raise ScheduleError(f"peak={value!r} must be > 0")
    return value


def _check_final(final: Any, peak: float | None) -> float | None:
    value = _float_arg("final", final)
    if value is not None:
        if value < 0:
            raise ScheduleError(f"final={value!r} must be >= 0")
        if peak is not None and value > peak:
            raise ScheduleError(f"final={value!r} must be <= peak={peak!r}")
    return value


def _check_total(total: Any, *, optional: bool) -> int | None:
    if total is None:
        if optional:
            return None
        raise ScheduleError("total is required")
    return _int_arg("total", total, minimum=1)


def _check_warmup(warmup: Any, warmup_start: Any, total: int | None, peak: float | None) -> int:
    w = _int_arg("warmup", warmup)
    if total is not None and w >= total:
        raise ScheduleError(f"warmup={w} must be smaller than total={total}")
    start = _float_arg("warmup_start", warmup_start)
    if start is not None:
        if start < 0:
            raise ScheduleError(f"warmup_start={start!r} must be >= 0")
        if peak is not None and start > peak:
            raise ScheduleError(f"warmup_start={start!r} must be <= peak={peak!r}")
        if start != 0 and w == 0:
            raise ScheduleError(f"warmup_start={start!r} requires warmup > 0")
    return w


# --------------------------------------------------------------------------- #
# Spec formatting
# --------------------------------------------------------------------------- #


def _fmt_float(x: Any) -> str:
    """Round-trip float formatting; ``traced`` for tracers."""
    if _is_tracer(x):
        return "traced"
    return repr(float(x))


def _fmt_value(key: str, x: Any) -> str:
    """Format a spec value according to the type of ``key`` (see ``_KEY_TYPES``)."""
    kind = _KEY_TYPES[key]
    if kind == "int":
        return str(int(x))
    if kind == "float":
        return _fmt_float(x)
    if kind == "int_list":
        return "[" + ",".join(str(int(v)) for v in x) + "]"
    if kind == "float_list":
        return "[" + ",".join(_fmt_float(v) for v in x) + "]"
    return str(x)


def _is_default(value: Any, default: Any) -> bool:
    if default is None or _is_tracer(value):
        return False
    if isinstance(default, str):
        return value == default
    return float(value) == float(default)


def _make_spec(family: str, items: Sequence[tuple[str, Any, Any]]) -> str:
    """``family:key=value,...`` for ``(key, value, default)`` items.

    Items whose value is ``None`` or equal to the default are omitted.
    """
    parts = [
        f"{key}={_fmt_value(key, value)}"
        for key, value, default in items
        if value is not None and not _is_default(value, default)
    ]
    return f"{family}:" + ",".join(parts)


def _common_items(
    peak: Any, warmup: int, warmup_start: Any, total: int | None
) -> list[tuple[str, Any, Any]]:
    """Spec items shared by every family, in canonical order."""
    return [
        ("peak", peak, None),
        ("warmup", warmup, 0),
        ("warmup_start", warmup_start, 0.0),
        ("total", total, None),
    ]


# --------------------------------------------------------------------------- #
# Shared machinery: step conversion, clamping, warmup, progress
# --------------------------------------------------------------------------- #


def _progress(t: jax.Array, start: int, end: int) -> jax.Array:
    """``(t - start) / (end - start)`` clipped to ``[0, 1]``.

    If ``end == start`` the progress jumps from 0 to 1 at ``t = end``.
    """
    if end > start:
        return jnp.clip((t - float(start)) / float(end - start), 0.0, 1.0)
    return jnp.where(t >= float(end), 1.0, 0.0).astype(t.dtype)


def _build(
    body: Callable[[jax.Array], jax.Array],
    *,
    spec: str,
    total: int | None,
    warmup: int,
    warmup_start: Any,
    peak: Any,
) -> Schedule:
    """Wrap ``body(t)`` (``t`` float, clamped to ``[0, T]``) with linear warmup.

    This is the single place that converts steps, clamps them and applies the
    warmup ``warmup_start + (peak - warmup_start) * t / W`` for ``t < W``.
    """

    def fn(step: ArrayLike) -> jax.Array:
        t = jnp.asarray(step).astype(jnp.result_type(float))
        hi = None if total is None else float(total)
        t = jnp.clip(t, 0.0, hi)
        out = body(t)
        if warmup > 0:
            ramp = warmup_start + (peak - warmup_start) * (t / float(warmup))
            out = jnp.where(t < float(warmup), ramp, out)
        return jnp.broadcast_to(out, t.shape)

    peak_value = None if _is_tracer(peak) else float(peak)
    return Schedule(fn=fn, spec=spec, total=total, warmup=warmup, peak=peak_value)


# --------------------------------------------------------------------------- #
# Families
# --------------------------------------------------------------------------- #


def constant(
    peak: ArrayLike, *, total: int | None = None, warmup: int = 0, warmup_start: ArrayLike = 0.0
) -> Schedule:
    """Constant learning rate ``lr(t) = peak`` (after optional linear warmup).

    Source: ``optax.constant_schedule`` (warmup as in Goyal et al. 2017).

    Example:
        >>> s = constant(0.5, total=10, warmup=4)
        >>> float(s(0)), float(s(2)), float(s(4)), float(s(100))
        (0.0, 0.25, 0.5, 0.5)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=True)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    spec = _make_spec("constant", _common_items(peak, warmup, warmup_start, total))
    return _build(
        lambda t: jnp.zeros_like(t) + peak,
        spec=spec,
        total=total,
        warmup=warmup,
        warmup_start=warmup_start,
        peak=peak,
    )


def cosine(
    peak: ArrayLike,
    total: int,
    *,
    final: ArrayLike = 0.0,
    warmup: int = 0,
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """Cosine decay from ``peak`` to ``final`` over steps ``W..T``.

    ``lr(t) = final + (peak - final) * (1 + cos(pi * p)) / 2`` with
    ``p = clip((t - W) / (T - W), 0, 1)``.

    Source: Loshchilov & Hutter 2017, "SGDR: Stochastic Gradient Descent with
    Warm Restarts" (single cycle, no restarts); ``optax.warmup_cosine_decay_schedule``.

    Example:
        >>> s = cosine(1.0, 100, warmup=10)
        >>> float(s(0)), float(s(5)), float(s(10))
        (0.0, 0.5, 1.0)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=False)
    _check_final(final, p)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    items = [*_common_items(peak, warmup, warmup_start, total), ("final", final, 0.0)]
    spec = _make_spec("cosine", items)

    def body(t: jax.Array) -> jax.Array:
        q = _progress(t, warmup, total)
        return final + (peak - final) * (1.0 + jnp.cos(jnp.pi * q)) / 2.0

    return _build(body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=peak)


def linear(
    peak: ArrayLike,
    total: int,
    *,
    final: ArrayLike = 0.0,
    warmup: int = 0,
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """Linear decay from ``peak`` to ``final`` over steps ``W..T``.

    ``lr(t) = peak + (final - peak) * p`` with ``p = clip((t - W) / (T - W), 0, 1)``.

    Source: ``optax.linear_schedule`` (decay) and Goyal et al. 2017 (warmup).

    Example:
        >>> s = linear(1.0, 100)
        >>> float(s(0)), float(s(50)), float(s(100)), float(s(200))
        (1.0, 0.5, 0.0, 0.0)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=False)
    _check_final(final, p)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    items = [*_common_items(peak, warmup, warmup_start, total), ("final", final, 0.0)]
    spec = _make_spec("linear", items)

    def body(t: jax.Array) -> jax.Array:
        return peak + (final - peak) * _progress(t, warmup, total)

    return _build(body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=peak)


def _safe_sqrt(q: jax.Array) -> jax.Array:
    """``sqrt(q)`` for ``q >= 0`` with a zero (not NaN) gradient at ``q = 0``."""
    positive = q > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, q, 1.0)), 0.0)


_WSD_DECAY: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": lambda q: 1.0 - q,
    "cosine": lambda q: (1.0 + jnp.cos(jnp.pi * q)) / 2.0,
    "sqrt": lambda q: 1.0 - _safe_sqrt(q),
    "square": lambda q: 1.0 - q * q,
}


def wsd(
    peak: ArrayLike,
    total: int,
    *,
    decay_start: int | None = None,
    decay_frac: float | None = None,
    final: ArrayLike = 0.0,
    shape: str = "linear",
    warmup: int = 0,
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """Warmup-stable-decay: ``peak`` until the decay start ``D``, then decay to ``final``.

    Give exactly one of ``decay_start`` (absolute step ``D`` in ``[W, T]``) or
    ``decay_frac`` in ``(0, 1]`` (``D = T - round(decay_frac * T)``, Python
    rounding).  With ``q = clip((t - D) / (T - D), 0, 1)``:

    * ``lr = final + (peak - final) * f(q)`` with ``f = 1 - q`` (``linear``),
      ``(1 + cos(pi q)) / 2`` (``cosine``), ``1 - sqrt(q)`` (``sqrt``, "1-sqrt"),
      ``1 - q**2`` (``square``);
    * ``lr = peak * (final / peak) ** q`` (``exp``, geometric; needs ``final > 0``).

    If ``D == T`` there is no decay phase: the rate is ``peak`` before ``T``
    and ``final`` at ``T``.

    Sources: Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training
    Beyond Fixed Training Durations"; Hu et al. 2024, "MiniCPM".

    Example:
        >>> s = wsd(1.0, 100, decay_start=80)
        >>> float(s(50)), float(s(80)), float(s(90)), float(s(100))
        (1.0, 1.0, 0.5, 0.0)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=False)
    fin = _check_final(final, p)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    if not isinstance(shape, str) or shape not in WSD_SHAPES:
        raise ScheduleError(f"unknown shape={shape!r}; valid shapes: {', '.join(WSD_SHAPES)}")
    if shape == "exp" and fin is not None and fin <= 0:
        raise ScheduleError(f"shape='exp' requires final > 0, got final={fin!r}")
    if (decay_start is None) == (decay_frac is None):
        raise ScheduleError("give exactly one of decay_start or decay_frac")
    if decay_start is not None:
        d = _int_arg("decay_start", decay_start)
        if not warmup <= d <= total:
            raise ScheduleError(f"decay_start={d} must be in [warmup, total] = [{warmup}, {total}]")
    else:
        frac = _float_arg("decay_frac", decay_frac)
        if frac is None:
            raise ScheduleError("decay_frac must be a concrete number, not a traced value")
        if not 0 < frac <= 1:
            raise ScheduleError(f"decay_frac={frac!r} must be in (0, 1]")
        d = total - round(frac * total)
        if d < warmup:
            raise ScheduleError(
                f"decay_frac={frac!r} puts the decay start at step {d}, "
                f"before the end of warmup={warmup}"
            )
    items = [
        *_common_items(peak, warmup, warmup_start, total),
        ("decay_start", decay_start, None),
        ("decay_frac", decay_frac, None),
        ("final", final, 0.0),
        ("shape", shape, "linear"),
    ]
    spec = _make_spec("wsd", items)

    def body(t: jax.Array) -> jax.Array:
        q = _progress(t, d, total)
        if shape == "exp":
            return peak * (final / peak) ** q
        return final + (peak - final) * _WSD_DECAY[shape](q)

    return _build(body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=peak)


def _check_factor(factor: Any) -> None:
    value = _float_arg("factor", factor)
    if value is not None and not 0 < value <= 1:
        raise ScheduleError(f"factor={value!r} must be in (0, 1]")


def step(
    peak: ArrayLike,
    *,
    every: int,
    factor: ArrayLike,
    total: int | None = None,
    warmup: int = 0,
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """Step decay: multiply the rate by ``factor`` every ``every`` steps after warmup.

    ``lr(t) = peak * factor ** floor((t - W) / every)`` for ``t >= W``.

    Source: PyTorch ``torch.optim.lr_scheduler.StepLR`` (``step_size=every``,
    ``gamma=factor``); ``optax.exponential_decay(staircase=True)``.

    Example:
        >>> s = step(1.0, every=10, factor=0.5)
        >>> float(s(9)), float(s(10)), float(s(25))
        (1.0, 0.5, 0.25)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=True)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    every = _int_arg("every", every, minimum=1)
    _check_factor(factor)
    items = [
        *_common_items(peak, warmup, warmup_start, total),
        ("every", every, None),
        ("factor", factor, None),
    ]
    spec = _make_spec("step", items)

    def body(t: jax.Array) -> jax.Array:
        k = jnp.floor(jnp.maximum(t - float(warmup), 0.0) / float(every))
        return peak * jnp.asarray(factor, dtype=t.dtype) ** k

    return _build(body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=peak)


def multistep(
    peak: ArrayLike,
    *,
    milestones: Sequence[int],
    factor: ArrayLike | None = None,
    values: Sequence[ArrayLike] | None = None,
    total: int | None = None,
    warmup: int = 0,
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """Piecewise-constant decay at absolute ``milestones``.

    With ``factor``: ``lr(t) = peak * factor ** k(t)`` where ``k(t)`` is the
    number of milestones ``<= t``.  With ``values`` (same length as
    ``milestones``): ``lr(t) = values[k - 1]`` after the ``k``-th milestone,
    ``peak`` before the first.  Give exactly one of ``factor`` / ``values``.
    Milestones are strictly increasing steps ``> warmup`` (and ``<= total``).

    Source: PyTorch ``torch.optim.lr_scheduler.MultiStepLR`` (``gamma=factor``);
    ``optax.piecewise_constant_schedule``.

    Example:
        >>> s = multistep(1.0, milestones=[10, 20], factor=0.5)
        >>> float(s(9)), float(s(10)), float(s(20))
        (1.0, 0.5, 0.25)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=True)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
        raise ScheduleError(f"milestones must be a list of integers, got {milestones!r}")
    ms = [_int_arg(f"milestones[{i}]", m) for i, m in enumerate(milestones)]
    if not ms:
        raise ScheduleError("milestones must not be empty")
    for a, b in itertools.pairwise(ms):
        if b <= a:
            raise ScheduleError(f"milestones={ms} must be strictly increasing")
    if ms[0] <= warmup:
        raise ScheduleError(f"milestones[0]={ms[0]} must be > warmup={warmup}")
    if total is not None and ms[-1] > total:
        raise ScheduleError(f"milestones[-1]={ms[-1]} must be <= total={total}")
    if (factor is None) == (values is None):
        raise ScheduleError("give exactly one of factor or values")
    if factor is not None:
        _check_factor(factor)
        vals = None
    else:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise ScheduleError(f"values must be a list of numbers, got {values!r}")
        vals = list(values)
        if len(vals) != len(ms):
            raise ScheduleError(
                f"values has {len(vals)} entries but milestones has {len(ms)}; "
                "they must have the same length"
            )
        for i, v in enumerate(vals):
            fv = _float_arg(f"values[{i}]", v)
            if fv is not None and fv < 0:
                raise ScheduleError(f"values[{i}]={fv!r} must be >= 0")
    items = [
        *_common_items(peak, warmup, warmup_start, total),
        ("milestones", ms, None),
        ("factor", factor, None),
        ("values", vals, None),
    ]
    spec = _make_spec("multistep", items)

    def body(t: jax.Array) -> jax.Array:
        k = sum((t >= float(m)).astype(t.dtype) for m in ms)
        if vals is None:
            return peak * jnp.asarray(factor, dtype=t.dtype) ** k
        table = jnp.stack([jnp.asarray(v, dtype=t.dtype) for v in [peak, *vals]])
        return table[k.astype(jnp.int32)]

    return _build(body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=peak)


def from_array(lrs: ArrayLike, *, spec: str | None = None) -> Schedule:
    """A schedule given by an explicit per-step array: ``lr(t) = lrs[t]``.

    Steps are clipped to ``[0, len(lrs) - 1]`` (the last value is held) and
    fractional steps are floored.  ``total = len(lrs) - 1``.  ``warmup`` is
    detected as the end of the initial non-decreasing rise: the first index
    where the initial non-decreasing run of ``lrs`` reaches its maximum (0 if
    ``lrs[1] < lrs[0]`` or the rate starts at its maximum; an exact comparison,
    so noisy arrays may give a short warmup).  ``peak = lrs[warmup]``.

    ``spec`` defaults to ``"array:n=<len>"``; array schedules come from files
    or Python and :func:`parse_schedule` rejects the ``array`` family.

    Example:
        >>> s = from_array([0.0, 0.5, 1.0, 1.0, 0.25])
        >>> s.warmup, s.total, float(s(3)), float(s(10))
        (2, 4, 1.0, 0.25)
    """
    try:
        arr = np.array(lrs, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ScheduleError(f"lrs must be a 1-D array of numbers: {e}") from e
    if arr.ndim != 1 or arr.size == 0:
        raise ScheduleError(f"lrs must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ScheduleError(f"lrs must be finite; index {int(np.argmin(np.isfinite(arr)))} is not")
    if np.any(arr < 0):
        raise ScheduleError(f"lrs must be >= 0; lrs[{int(np.argmax(arr < 0))}] is negative")
    if spec is None:
        spec = f"array:n={arr.size}"
    elif not isinstance(spec, str) or not spec.strip():
        raise ScheduleError(f"spec must be a non-empty string, got {spec!r}")
    drops = np.flatnonzero(np.diff(arr) < 0)
    rise_end = int(drops[0]) if drops.size else arr.size - 1
    warmup = int(np.argmax(arr[: rise_end + 1]))
    arr.setflags(write=False)
    last = arr.size - 1

    def fn(step: ArrayLike) -> jax.Array:
        dtype = jnp.result_type(float)
        t = jnp.clip(jnp.asarray(step).astype(dtype), 0.0, float(last))
        return jnp.asarray(arr, dtype=dtype)[jnp.floor(t).astype(jnp.int32)]

    return Schedule(fn=fn, spec=spec, total=last, warmup=warmup, peak=float(arr[warmup]))


# --------------------------------------------------------------------------- #
# Parsing
# --------------------------------------------------------------------------- #

#: Family name -> factory; :func:`parse_schedule` calls ``FAMILIES[family](**keys)``.
FAMILIES: Mapping[str, Callable[..., Schedule]] = {
    "constant": constant,
    "cosine": cosine,
    "linear": linear,
    "wsd": wsd,
    "step": step,
    "multistep": multistep,
}

_SYNTAX = "family:key=value,key=value,... (e.g. 'cosine:peak=3e-4,total=24000')"
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _family_keys(factory: Callable[..., Schedule]) -> tuple[list[str], set[str]]:
    """All keyword names of a factory and the required ones (no default)."""
    params = inspect.signature(factory).parameters.values()
    names = [p.name for p in params]
    required = {p.name for p in params if p.default is inspect.Parameter.empty}
    return names, required


def _split_top(text: str) -> list[str]:
    """Split on commas outside square brackets; raise on unbalanced brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced ']'")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise ValueError("unbalanced '['")
    parts.append("".join(cur))
    return parts


def _parse_float(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{key}={text!r} is not a number") from None


def _parse_int(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{key}={text!r} is not an integer") from None
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"{key}={text!r} is not an integer")
    return int(value)


def _parse_value(key: str, kind: str, text: str) -> Any:
    if kind in ("int_list", "float_list"):
        if not (text.startswith("[") and text.endswith("]")):
            raise ValueError(f"{key} expects a list in square brackets, e.g. [8000,12000]")
        inner = text[1:-1].strip()
        items = [] if not inner else [s.strip() for s in _split_top(inner)]
        parse = _parse_int if kind == "int_list" else _parse_float
        if any(not s for s in items):
            raise ValueError(f"{key}={text!r} has an empty list entry")
        return [parse(key, s) for s in items]
    if "[" in text or "]" in text:
        raise ValueError(f"{key}={text!r} must be a single value, not a list")
    if kind == "int":
        return _parse_int(key, text)
    if kind == "float":
        return _parse_float(key, text)
    return text


def parse_schedule(spec: str) -> Schedule:
    """Build a schedule from a spec string ``family:key=value,key=value,...``.

    Whitespace around tokens is ignored; lists are written in square brackets
    (``milestones=[8000,12000]``); integer keys accept ``2160``, ``2.16e3`` and
    ``24_000`` but not ``2160.5``.  The family is looked up in :data:`FAMILIES`
    and the keys are passed to its factory, so every factory check applies.
    The ``array`` family (from :func:`from_array`) cannot be parsed.  Every
    problem raises :class:`~lrlaw.errors.ScheduleError` quoting the spec.

    Example:
        >>> s = parse_schedule("wsd: peak=1.0, total=100, decay_frac=0.2")
        >>> s.spec
        'wsd:peak=1.0,total=100,decay_frac=0.2'
        >>> float(s(90))
        0.5
    """
    if not isinstance(spec, str):
        raise ScheduleError(f"schedule spec must be a string, got {spec!r}")

    def fail(msg: str) -> ScheduleError:
        return ScheduleError(f"invalid schedule spec {spec!r}: {msg}")

    if not spec.strip():
        raise fail(f"empty spec; expected {_SYNTAX}")
    if ":" not in spec:
        raise fail(f"missing ':'; expected {_SYNTAX}")
    family, _, rest = spec.partition(":")
    family = family.strip()
    if family == "array":
        raise fail(
            "array schedules cannot be parsed from a spec; build them with "
            "from_array() or load them from a file"
        )
    if family not in FAMILIES:
        raise fail(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    factory = FAMILIES[family]
    names, required = _family_keys(factory)

    kwargs: dict[str, Any] = {}
    try:
        items = _split_top(rest) if rest.strip() else []
    except ValueError as e:
        raise fail(str(e)) from None
    for item in items:
        item = item.strip()
        if not item:
            raise fail("empty entry (stray comma?)")
        key, eq, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not eq:
            raise fail(f"entry {item!r} is not of the form key=value")
        if not _KEY_RE.fullmatch(key):
            raise fail(f"invalid key {key!r}")
        if key not in names:
            raise fail(f"unknown key {key!r} for family {family!r}; valid keys: {', '.join(names)}")
        if key in kwargs:
            raise fail(f"duplicate key {key!r}")
        if not text:
            raise fail(f"missing value for key {key!r}")
        try:
            kwargs[key] = _parse_value(key, _KEY_TYPES[key], text)
        except ValueError as e:
            raise fail(str(e)) from None
    missing = [k for k in names if k in required and k not in kwargs]
    if missing:
        raise fail(f"missing required key(s) {', '.join(missing)} for family {family!r}")
    try:
        return factory(**kwargs)
    except ScheduleError as e:
        raise fail(str(e)) from e
