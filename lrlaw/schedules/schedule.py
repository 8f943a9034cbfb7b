"""The :class:`Schedule` type and the machinery every family shares.

A :class:`Schedule` wraps a function ``step -> learning rate`` (optax-style: a
``Schedule`` can be passed wherever optax expects a schedule) together with a
canonical spec string and a little metadata.  This module also holds the
argument checks (one :class:`~lrlaw.errors.ScheduleError` naming the argument),
the canonical spec formatting and the warmup/progress helpers the families
build on (:mod:`lrlaw.schedules.families`).

Imports: the base modules only (:mod:`lrlaw.errors`, :mod:`lrlaw._x64`,
:mod:`lrlaw._jaxcache`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lrlaw._jaxcache import bucket
from lrlaw._x64 import x64
from lrlaw.errors import ScheduleError

__all__ = [
    "WSD_SHAPES",
    "Schedule",
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
    "pct_start": "float",
    "div_factor": "float",
    "final_div_factor": "float",
    "anneal": "str",
    "cooldown": "int",
    "power": "float",
    "rate": "float",
    "low": "float",
    "high": "float",
    "step_size": "int",
    "mode": "str",
    "gamma": "float",
    "batch_size": "int",
    "tokens_per_step": "int",
    "a": "float",
    "b": "float",
    "decay_shape": "str",
    "cooldown_steps": "int",
    "constant_lr": "float",
    "anneal_steps": "int",
    "anneal_shape": "str",
    "start_lr": "float",
}


# Step counts beyond 2**53 cannot be represented exactly as float64 steps.
_MAX_STEPS = 2**53


# --------------------------------------------------------------------------- #
# Schedule
# --------------------------------------------------------------------------- #


#: Compiled ``values`` functions shared by equal lrlaw-built schedules (see
#: ``Schedule._compiled``), oldest dropped first beyond :data:`_COMPILED_MAX`.
_COMPILED: dict[tuple[Any, ...], Callable[[np.ndarray], jax.Array]] = {}
_COMPILED_MAX = 256


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

    @property
    def family(self) -> str:
        """The family of the canonical spec: ``"cosine"``, ``"wsd"``, ``"phases"``, ..."""
        return self.spec.partition(":")[0]

    @property
    def kwargs(self) -> dict[str, Any]:
        """The family's keyword arguments that the spec gives, typed (defaults are left out,
        as in the spec): ``FAMILIES[s.family](**s.kwargs)`` rebuilds ``s``.  Empty for
        ``phases`` and ``array`` schedules, which have no keywords of their own."""
        family, _, body = self.spec.partition(":")
        if family in ("phases", "array") or not body:
            return {}
        out = {}
        for item in _split_top(body):
            key, _, text = item.partition("=")
            out[key] = _parse_value(key, _KEY_TYPES[key], text)
        return out

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
        num = int(num)
        with x64():  # float64 regardless of the caller's jax_enable_x64 setting
            if "array:" in self.spec:  # a gather from the array itself: eager is cheap
                return np.asarray(self.fn(jnp.arange(num)), dtype=np.float64)
            # One compiled call (eager, each jnp op of the family compiled on its own
            # costs 0.3 s for a new length), on a bucketed length so that other
            # lengths reuse it; the steps go in as numpy (jnp.arange compiles too).
            steps = np.arange(bucket(num, 64), dtype=np.int64)
            return np.array(np.asarray(self._compiled(steps))[:num], dtype=np.float64)

    @functools.cached_property
    def _compiled(self) -> Callable[[np.ndarray], jax.Array]:
        # A schedule that lrlaw built is a function of its key alone (the spec round-trips
        # every value), so equal schedules share one compiled function: ``optimize`` and
        # the planners rebuild the same reference schedules on every call, and each new
        # ``jax.jit`` of an equal closure was traced, lowered and compiled again (25-40 ms).
        # Schedules with an array part, traced values or a hand-made ``fn`` get their own.
        shared = getattr(self.fn, "_lrlaw_spec", None) == self.spec
        if not shared or "array:" in self.spec or "traced" in self.spec:
            return jax.jit(self.fn)
        key = self._key()
        f = _COMPILED.get(key)
        if f is None:
            while len(_COMPILED) >= _COMPILED_MAX:
                _COMPILED.pop(next(iter(_COMPILED)))
            f = _COMPILED[key] = jax.jit(self.fn)
        return f

    def _key(self) -> tuple[Any, ...]:
        if "array:" in self.spec:  # array schedules, also as phases of join()
            return (self.spec, self.total, self.warmup, self.peak, id(self.fn))
        return (self.spec, self.total, self.warmup, self.peak)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


# --------------------------------------------------------------------------- #
# Spec values (the grammar of one value; lrlaw.schedules.spec parses whole specs)
# --------------------------------------------------------------------------- #


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside square brackets; raise on unbalanced brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced ']'")
        if ch == sep and depth == 0:
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

    fn._lrlaw_spec = spec  # type: ignore[attr-defined]  # built here: a function of the spec
    peak_value = None if _is_tracer(peak) else float(peak)
    return Schedule(fn=fn, spec=spec, total=total, warmup=warmup, peak=peak_value)
