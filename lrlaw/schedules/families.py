"""Learning-rate schedules as pure, JAX-traceable functions of the optimizer step.

The schedule families: factories that return a
:class:`~lrlaw.schedules.schedule.Schedule`.  Factories (:func:`constant`,
:func:`cosine`, :func:`linear`, :func:`wsd`, :func:`step`, :func:`multistep`,
:func:`rex`, :func:`onecycle`, :func:`inverse_sqrt`, :func:`polynomial`,
:func:`exponential`, :func:`cyclic`, :func:`power`, :func:`infinite`,
:func:`rewarm`, :func:`join`, :func:`from_array`) validate their arguments up
front and raise :class:`~lrlaw.errors.ScheduleError` naming the offending
argument.

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
  ``milestones``, ``every``) are static Python ints, and so are the
  fractions that place phase boundaries (``decay_frac``, ``pct_start``).
* :func:`onecycle` and :func:`cyclic` have no ``warmup`` argument (their
  rising phase plays that role); :func:`rewarm` names its warmup start
  ``start_lr``.

Imports: :mod:`lrlaw.schedules.schedule` and the base modules only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lrlaw.errors import ScheduleError
from lrlaw.schedules.schedule import (
    _MAX_STEPS,
    WSD_SHAPES,
    Schedule,
    _build,
    _check_final,
    _check_peak,
    _check_total,
    _check_warmup,
    _common_items,
    _float_arg,
    _int_arg,
    _make_spec,
    _progress,
)

__all__ = [
    "constant",
    "cosine",
    "cyclic",
    "exponential",
    "from_array",
    "infinite",
    "inverse_sqrt",
    "join",
    "linear",
    "multistep",
    "onecycle",
    "polynomial",
    "power",
    "rewarm",
    "rex",
    "step",
    "wsd",
]

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


def _decay_family(
    family: str,
    shape: Callable[[jax.Array], jax.Array],
    peak: Any,
    total: Any,
    final: Any,
    warmup: Any,
    warmup_start: Any,
    *,
    extra: Sequence[tuple[str, Any, Any]] = (),
) -> Schedule:
    """A decay from ``peak`` to ``final`` over the progress ``q`` after warmup:
    ``final + (peak - final) * shape(q)`` with ``shape(0) = 1``, ``shape(1) = 0``.

    Shared by the families that differ only in ``shape`` (validation, spec, warmup).
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=False)
    _check_final(final, p)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    items = [*_common_items(peak, warmup, warmup_start, total), *extra, ("final", final, 0.0)]
    spec = _make_spec(family, items)

    def body(t: jax.Array) -> jax.Array:
        return final + (peak - final) * shape(_progress(t, warmup, total))

    return _build(body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=peak)


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
    return _decay_family(
        "cosine",
        lambda q: (1.0 + jnp.cos(jnp.pi * q)) / 2.0,
        peak,
        total,
        final,
        warmup,
        warmup_start,
    )


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
    return _decay_family("linear", lambda q: 1.0 - q, peak, total, final, warmup, warmup_start)


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


def _check_shape(name: str, shape: Any) -> str:
    if not isinstance(shape, str) or shape not in WSD_SHAPES:
        raise ScheduleError(f"unknown {name}={shape!r}; valid shapes: {', '.join(WSD_SHAPES)}")
    return shape


def _decay(shape: str, start: Any, final: Any, q: jax.Array) -> jax.Array:
    """Decay from ``start`` (``q = 0``) to ``final`` (``q = 1``) with a :data:`WSD_SHAPES` shape."""
    if shape == "exp":
        return start * (final / start) ** q
    return final + (start - final) * _WSD_DECAY[shape](q)


def _check_static_frac(name: str, x: Any, *, lo_open: bool = True) -> float:
    """A concrete fraction in ``(0, 1)`` (``[0, 1)`` when ``lo_open`` is False)."""
    value = _float_arg(name, x)
    if value is None:
        raise ScheduleError(f"{name} must be a concrete number, not a traced value")
    if not (0 < value < 1 if lo_open else 0 <= value < 1):
        raise ScheduleError(f"{name}={value!r} must be in {'(0' if lo_open else '[0'}, 1)")
    return value


def rex(
    peak: ArrayLike,
    total: int,
    *,
    final: ArrayLike = 0.0,
    warmup: int = 0,
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """REX decay from ``peak`` to ``final`` over steps ``W..T``.

    ``lr(t) = final + (peak - final) * (1 - p) / (1 - p / 2)`` with
    ``p = clip((t - W) / (T - W), 0, 1)``.

    Source: Chen et al. 2022, "REX: Revisiting Budgeted Training with an
    Improved Schedule".

    Example:
        >>> s = rex(1.0, 100)
        >>> float(s(0)), round(float(s(50)), 6), float(s(100))
        (1.0, 0.666667, 0.0)
    """
    return _decay_family(
        "rex", lambda q: (1.0 - q) / (1.0 - q / 2.0), peak, total, final, warmup, warmup_start
    )


_ONECYCLE_ANNEAL: tuple[str, ...] = ("cos", "linear")


def onecycle(
    peak: ArrayLike,
    total: int,
    *,
    pct_start: float = 0.3,
    div_factor: ArrayLike = 25.0,
    final_div_factor: ArrayLike = 1e4,
    anneal: str = "cos",
) -> Schedule:
    """One-cycle policy, transcribed from PyTorch ``OneCycleLR`` (two phases).

    With ``lr0 = peak / div_factor``, ``lr_min = lr0 / final_div_factor``,
    ``E = pct_start * T - 1`` (PyTorch's ``total_steps = T``):

    * ``t <= E``: ``anneal(lr0, peak, t / E)``;
    * ``t > E``: ``anneal(peak, lr_min, min(1, (t - E) / (T - 1 - E)))``;

    where ``anneal(a, b, x) = b + (a - b) * (1 + cos(pi x)) / 2`` (``cos``) or
    ``a + (b - a) * x`` (``linear``).  As in PyTorch, ``lr_min`` is reached at
    step ``T - 1`` (the last step PyTorch allows) and held from there on.  The
    first phase is the warmup: there is no ``warmup`` argument and
    ``Schedule.warmup = round(pct_start * T) - 1`` (the step of the peak).
    ``pct_start`` must lie in ``(0, 1)`` with ``pct_start * T > 1``;
    ``div_factor`` and ``final_div_factor`` must be ``>= 1``.

    Source: Smith & Topin 2019, "Super-Convergence: Very Fast Training of
    Neural Networks Using Large Learning Rates"; PyTorch
    ``torch.optim.lr_scheduler.OneCycleLR`` (``max_lr=peak``, ``three_phase=False``).

    Example:
        >>> s = onecycle(1.0, 101, pct_start=0.5, div_factor=4.0, anneal="linear")
        >>> float(s(0)), float(s(49.5)), s.warmup
        (0.25, 1.0, 49)
    """
    _check_peak(peak)
    total = _check_total(total, optional=False)
    frac = _check_static_frac("pct_start", pct_start)
    e1 = frac * total - 1.0
    if e1 <= 0:
        raise ScheduleError(f"pct_start={frac!r} is too small: pct_start * total must be > 1")
    for name, x in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
        v = _float_arg(name, x)
        if v is not None and v < 1:
            raise ScheduleError(f"{name}={v!r} must be >= 1")
    if not isinstance(anneal, str) or anneal not in _ONECYCLE_ANNEAL:
        raise ScheduleError(f"unknown anneal={anneal!r}; valid: {', '.join(_ONECYCLE_ANNEAL)}")
    items = [
        ("peak", peak, None),
        ("total", total, None),
        ("pct_start", pct_start, 0.3),
        ("div_factor", div_factor, 25.0),
        ("final_div_factor", final_div_factor, 1e4),
        ("anneal", anneal, "cos"),
    ]
    spec = _make_spec("onecycle", items)
    e2 = float(total - 1)

    def ann(a: Any, b: Any, x: jax.Array) -> jax.Array:
        if anneal == "cos":
            return b + (a - b) * (1.0 + jnp.cos(jnp.pi * x)) / 2.0
        return a + (b - a) * x

    def body(t: jax.Array) -> jax.Array:
        lr0 = peak / div_factor
        lr_min = lr0 / final_div_factor
        up = ann(lr0, peak, jnp.clip(t / e1, 0.0, 1.0))
        down = ann(peak, lr_min, jnp.clip((t - e1) / (e2 - e1), 0.0, 1.0))
        return jnp.where(t <= e1, up, down)

    s = _build(body, spec=spec, total=total, warmup=0, warmup_start=0.0, peak=peak)
    return replace(s, warmup=max(0, round(frac * total) - 1))


def inverse_sqrt(
    peak: ArrayLike,
    *,
    warmup: int,
    total: int | None = None,
    cooldown: int = 0,
    final: ArrayLike = 0.0,
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """Inverse-square-root decay after warmup, with an optional linear cooldown.

    ``lr(t) = peak * sqrt(W / max(t, W))`` for ``t >= W`` (``warmup >= 1``).
    With ``cooldown = C > 0`` (requires ``total``) the last ``C`` steps decay
    linearly from ``v = lr(T - C)`` to ``final``:
    ``lr(t) = v + (final - v) * (t - (T - C)) / C`` for ``t >= T - C``
    (``T - C >= W``, ``final <= v``).  ``final`` is only used with a cooldown.

    Sources: Vaswani et al. 2017, "Attention Is All You Need" (rsqrt);
    Zhai et al. 2022, "Scaling Vision Transformers" and Hägele et al. 2024
    (linear cooldown).

    Example:
        >>> s = inverse_sqrt(1.0, warmup=100)
        >>> float(s(50)), float(s(100)), float(s(400))
        (0.5, 1.0, 0.5)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=True)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    if warmup < 1:
        raise ScheduleError("warmup=0 must be >= 1 for inverse_sqrt")
    cooldown = _int_arg("cooldown", cooldown)
    fin = _float_arg("final", final)
    if cooldown > 0:
        if total is None:
            raise ScheduleError(f"cooldown={cooldown} requires total")
        if total - cooldown < warmup:
            raise ScheduleError(f"cooldown={cooldown} must be <= total - warmup = {total - warmup}")
        if fin is not None:
            start = total - cooldown
            v = None if p is None else p * math.sqrt(warmup / max(start, warmup))
            if fin < 0:
                raise ScheduleError(f"final={fin!r} must be >= 0")
            if v is not None and fin > v:
                raise ScheduleError(f"final={fin!r} must be <= lr at the cooldown start ({v!r})")
    elif fin is None or fin != 0:
        raise ScheduleError("final requires cooldown > 0")
    items = [
        *_common_items(peak, warmup, warmup_start, total),
        ("cooldown", cooldown, 0),
        ("final", final, 0.0),
    ]
    spec = _make_spec("inverse_sqrt", items)

    def rsqrt(t: Any) -> Any:
        return peak * jnp.sqrt(float(warmup) / jnp.maximum(t, float(warmup)))

    def body(t: jax.Array) -> jax.Array:
        out = rsqrt(t)
        if cooldown > 0:
            c0 = total - cooldown
            v = rsqrt(float(c0))
            out = jnp.where(t >= c0, v + (final - v) * _progress(t, c0, total), out)
        return out

    return _build(body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=peak)


def polynomial(
    peak: ArrayLike,
    total: int,
    *,
    power: ArrayLike = 1.0,
    final: ArrayLike = 0.0,
    warmup: int = 0,
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """Polynomial decay from ``peak`` to ``final`` over steps ``W..T``.

    ``lr(t) = final + (peak - final) * (1 - p) ** power`` with
    ``p = clip((t - W) / (T - W), 0, 1)`` and ``power > 0``.

    Source: ``optax.polynomial_schedule``; PyTorch ``PolynomialLR``
    (``total_iters = T - W``, ``final = 0``).

    Example:
        >>> s = polynomial(1.0, 100, power=2.0)
        >>> float(s(50)), float(s(100))
        (0.25, 0.0)
    """
    pw = _float_arg("power", power)
    if pw is not None and pw <= 0:
        raise ScheduleError(f"power={pw!r} must be > 0")
    return _decay_family(
        "polynomial",
        lambda q: (1.0 - q) ** power,
        peak,
        total,
        final,
        warmup,
        warmup_start,
        extra=[("power", power, 1.0)],
    )


def exponential(
    peak: ArrayLike,
    *,
    rate: ArrayLike,
    every: int = 1,
    total: int | None = None,
    final: ArrayLike = 0.0,
    warmup: int = 0,
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """Continuous exponential decay after warmup, floored at ``final``.

    ``lr(t) = max(final, peak * rate ** ((t - W) / every))`` for ``t >= W``,
    ``rate`` in ``(0, 1]``.

    Source: ``optax.exponential_decay`` (``transition_steps=every``,
    ``decay_rate=rate``, ``end_value=final``, ``staircase=False``).

    Example:
        >>> s = exponential(1.0, rate=0.5, every=10)
        >>> float(s(10)), float(s(20)), float(s(30))
        (0.5, 0.25, 0.125)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=True)
    _check_final(final, p)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    r = _float_arg("rate", rate)
    if r is not None and not 0 < r <= 1:
        raise ScheduleError(f"rate={r!r} must be in (0, 1]")
    every = _int_arg("every", every, minimum=1)
    items = [
        *_common_items(peak, warmup, warmup_start, total),
        ("rate", rate, None),
        ("every", every, 1),
        ("final", final, 0.0),
    ]
    spec = _make_spec("exponential", items)

    def body(t: jax.Array) -> jax.Array:
        k = jnp.maximum(t - float(warmup), 0.0) / float(every)
        return jnp.maximum(final, peak * jnp.asarray(rate, dtype=t.dtype) ** k)

    return _build(body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=peak)


_CYCLIC_MODES: tuple[str, ...] = ("triangular", "triangular2", "exp_range")


def cyclic(
    low: ArrayLike,
    high: ArrayLike,
    *,
    step_size: int,
    mode: str = "triangular",
    gamma: ArrayLike = 1.0,
    total: int | None = None,
) -> Schedule:
    """Cyclical learning rate between ``low`` and ``high``, from PyTorch ``CyclicLR``.

    With half-cycle ``S = step_size`` (``step_size_up = step_size_down = S``),
    ``c = floor(1 + t / (2 S))``, ``x = 1 + t / (2 S) - c`` and
    ``f = x / 0.5`` if ``x <= 0.5`` else ``(x - 1) / (0.5 - 1)``:
    ``lr(t) = low + (high - low) * f * scale``, with ``scale = 1``
    (``triangular``), ``1 / 2 ** (c - 1)`` (``triangular2``) or ``gamma ** t``
    (``exp_range``; ``gamma`` in ``(0, 1]``, only for this mode).  There is no
    warmup (the first half cycle rises from ``low``); ``Schedule.peak = high``.

    Source: Smith 2017, "Cyclical Learning Rates for Training Neural
    Networks"; PyTorch ``torch.optim.lr_scheduler.CyclicLR``
    (``base_lr=low``, ``max_lr=high``, ``step_size_up=step_size``).

    Example:
        >>> s = cyclic(0.25, 1.0, step_size=10)
        >>> float(s(0)), float(s(10)), float(s(15)), float(s(20))
        (0.25, 1.0, 0.625, 0.25)
    """
    lo = _float_arg("low", low)
    if lo is not None and lo < 0:
        raise ScheduleError(f"low={lo!r} must be >= 0")
    hi = _float_arg("high", high)
    if hi is not None:
        if hi <= 0:
            raise ScheduleError(f"high={hi!r} must be > 0")
        if lo is not None and lo > hi:
            raise ScheduleError(f"low={lo!r} must be <= high={hi!r}")
    step_size = _int_arg("step_size", step_size, minimum=1)
    if not isinstance(mode, str) or mode not in _CYCLIC_MODES:
        raise ScheduleError(f"unknown mode={mode!r}; valid modes: {', '.join(_CYCLIC_MODES)}")
    g = _float_arg("gamma", gamma)
    if g is not None:
        if not 0 < g <= 1:
            raise ScheduleError(f"gamma={g!r} must be in (0, 1]")
        if g != 1 and mode != "exp_range":
            raise ScheduleError(f"gamma={g!r} is only used with mode='exp_range'")
    total = _check_total(total, optional=True)
    items = [
        ("low", low, None),
        ("high", high, None),
        ("step_size", step_size, None),
        ("mode", mode, "triangular"),
        ("gamma", gamma, 1.0),
        ("total", total, None),
    ]
    spec = _make_spec("cyclic", items)
    size = 2.0 * step_size

    def body(t: jax.Array) -> jax.Array:
        c = jnp.floor(1.0 + t / size)
        x = 1.0 + t / size - c
        f = jnp.where(x <= 0.5, x / 0.5, (x - 1.0) / (0.5 - 1.0))
        if mode == "triangular":
            scale = 1.0
        elif mode == "triangular2":
            scale = 1.0 / 2.0 ** (c - 1.0)
        else:
            scale = jnp.asarray(gamma, dtype=t.dtype) ** t
        return low + (high - low) * f * scale

    return _build(body, spec=spec, total=total, warmup=0, warmup_start=0.0, peak=high)


def power(
    *,
    batch_size: int,
    tokens_per_step: int,
    total: int,
    peak: ArrayLike | None = None,
    a: ArrayLike = 4.6,
    b: ArrayLike = -0.51,
    warmup: int = 0,
    warmup_start: ArrayLike = 0.0,
    decay_frac: float = 0.0,
    decay_shape: str = "linear",
    final: ArrayLike = 0.0,
) -> Schedule:
    """Power scheduler: ``lr(t) = min(peak, batch_size * a * n(t) ** b)``.

    Units: ``batch_size`` is the batch size in *sequences*; ``n(t) =
    t * tokens_per_step`` is the number of *tokens seen* before step ``t``
    (``tokens_per_step`` = sequences per batch x sequence length).  ``peak``
    is the cap ``eta_max`` (optional; required when ``warmup = 0``, since
    ``n(0) ** b`` diverges); ``a > 0`` and ``b < 0``.  The linear warmup ramps
    to the body's value at ``W``, which is ``Schedule.peak``.  With
    ``decay_frac > 0`` the last ``T - D`` steps, ``D = T - round(decay_frac * T)
    >= W``, decay from ``v = lr(D)`` to ``final`` with a :data:`WSD_SHAPES`
    shape ``decay_shape``: ``final + (v - final) * f(q)`` or ``v * (final / v)
    ** q`` (``exp``), ``q = (t - D) / (T - D)``.

    Source: Shen et al. 2024, "Power Scheduler: A Batch Size and Token Number
    Agnostic Learning Rate Scheduler" (formula as in the project design:
    ``eta = min(eta_max, a * B * tokens ** b)``, ``a = 4.6``, ``b = -0.51``).

    Example:
        >>> s = power(batch_size=1, tokens_per_step=1, a=1.0, b=-0.5, total=100, warmup=4)
        >>> float(s(2)), float(s(4)), float(s(16)), s.peak
        (0.25, 0.5, 0.25, 0.5)
    """
    total = _check_total(total, optional=False)
    bs = _int_arg("batch_size", batch_size, minimum=1)
    tps = _int_arg("tokens_per_step", tokens_per_step, minimum=1)
    cap = None if peak is None else _check_peak(peak)
    av = _float_arg("a", a)
    if av is not None and av <= 0:
        raise ScheduleError(f"a={av!r} must be > 0")
    bv = _float_arg("b", b)
    if bv is not None and bv >= 0:
        raise ScheduleError(f"b={bv!r} must be < 0")
    w = _int_arg("warmup", warmup)
    if w == 0 and peak is None:
        raise ScheduleError("power needs peak (the cap eta_max) when warmup=0")
    frac = _check_static_frac("decay_frac", decay_frac, lo_open=False)
    d = total - round(frac * total)
    shape = _check_shape("decay_shape", decay_shape)

    def concrete_lr(step: int) -> float | None:
        if av is None or bv is None or (peak is not None and cap is None):
            return None
        raw = math.inf if step == 0 else bs * av * float(step * tps) ** bv
        return raw if cap is None else min(cap, raw)

    peak_w = concrete_lr(w)
    warmup = _check_warmup(w, warmup_start, total, peak_w)
    if d < warmup:
        raise ScheduleError(
            f"decay_frac={frac!r} puts the decay start at step {d}, "
            f"before the end of warmup={warmup}"
        )
    fin = _check_final(final, concrete_lr(d))
    if d == total and (fin is None or fin != 0):
        raise ScheduleError("final requires decay_frac > 0")
    if d < total and shape == "exp" and fin is not None and fin <= 0:
        raise ScheduleError(f"decay_shape='exp' requires final > 0, got final={fin!r}")
    items = [
        ("peak", peak, None),
        ("warmup", warmup, 0),
        ("warmup_start", warmup_start, 0.0),
        ("total", total, None),
        ("batch_size", bs, None),
        ("tokens_per_step", tps, None),
        ("a", a, 4.6),
        ("b", b, -0.51),
        ("decay_frac", decay_frac, 0.0),
        ("decay_shape", decay_shape, "linear"),
        ("final", final, 0.0),
    ]
    spec = _make_spec("power", items)

    def lr(t: Any) -> Any:
        n = jnp.asarray(t, dtype=jnp.result_type(float)) * float(tps)
        pos = n > 0
        raw = jnp.where(pos, bs * a * jnp.where(pos, n, 1.0) ** b, jnp.inf)
        return raw if peak is None else jnp.minimum(peak, raw)

    def body(t: jax.Array) -> jax.Array:
        out = lr(t)
        if d < total:
            v = lr(float(d))
            out = jnp.where(t >= d, _decay(shape, v, final, _progress(t, d, total)), out)
        return out

    s = _build(
        body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=lr(float(w))
    )
    return replace(s, peak=peak_w)


def infinite(
    peak: ArrayLike,
    total: int,
    *,
    warmup: int,
    cooldown_steps: int,
    constant_lr: ArrayLike,
    anneal_steps: int,
    final: ArrayLike = 0.0,
    anneal_shape: str = "linear",
    warmup_start: ArrayLike = 0.0,
) -> Schedule:
    """Infinite schedule: warmup, cosine cooldown to a constant, constant, final anneal.

    With ``C = cooldown_steps``, ``A = anneal_steps``, ``W + C <= T - A``:

    * ``W <= t < W + C``: ``c + (peak - c) * (1 + cos(pi (t - W) / C)) / 2``
      with ``c = constant_lr`` (with ``C = 0`` the rate is ``c`` from ``W``);
    * ``W + C <= t < T - A``: ``c``;
    * ``t >= T - A``: anneal from ``c`` to ``final`` with a :data:`WSD_SHAPES`
      shape ``anneal_shape`` over ``q = (t - (T - A)) / A``:
      ``final + (c - final) * f(q)`` or ``c * (final / c) ** q`` (``exp``).
      With ``A = 0`` there is no anneal (the rate stays ``c``).

    ``final <= constant_lr <= peak``.

    Source: Ibrahim et al. 2024, "Simple and Scalable Strategies to
    Continually Pre-train Large Language Models" (infinite LR schedules).

    Example:
        >>> s = infinite(1.0, 100, warmup=10, cooldown_steps=20, constant_lr=0.5,
        ...              anneal_steps=10)
        >>> float(s(10)), round(float(s(20)), 6), float(s(50)), float(s(95)), float(s(100))
        (1.0, 0.75, 0.5, 0.25, 0.0)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=False)
    warmup = _check_warmup(warmup, warmup_start, total, p)
    cd = _int_arg("cooldown_steps", cooldown_steps)
    an = _int_arg("anneal_steps", anneal_steps)
    if warmup + cd > total - an:
        raise ScheduleError(
            f"warmup + cooldown_steps + anneal_steps = {warmup + cd + an} must be <= total={total}"
        )
    c = _float_arg("constant_lr", constant_lr)
    if c is not None:
        if c <= 0:
            raise ScheduleError(f"constant_lr={c!r} must be > 0")
        if p is not None and c > p:
            raise ScheduleError(f"constant_lr={c!r} must be <= peak={p!r}")
    fin = _check_final(final, c)
    shape = _check_shape("anneal_shape", anneal_shape)
    if an > 0 and shape == "exp" and fin is not None and fin <= 0:
        raise ScheduleError(f"anneal_shape='exp' requires final > 0, got final={fin!r}")
    items = [
        ("peak", peak, None),
        ("warmup", warmup, None),  # a required key: always written, even when 0
        ("warmup_start", warmup_start, 0.0),
        ("total", total, None),
        ("cooldown_steps", cd, None),
        ("constant_lr", constant_lr, None),
        ("anneal_steps", an, None),
        ("final", final, 0.0),
        ("anneal_shape", shape, "linear"),
    ]
    spec = _make_spec("infinite", items)
    a0 = total - an

    def body(t: jax.Array) -> jax.Array:
        q1 = _progress(t, warmup, warmup + cd)
        out = constant_lr + (peak - constant_lr) * (1.0 + jnp.cos(jnp.pi * q1)) / 2.0
        if an > 0:
            out = jnp.where(
                t >= a0, _decay(shape, constant_lr, final, _progress(t, a0, total)), out
            )
        return out

    return _build(body, spec=spec, total=total, warmup=warmup, warmup_start=warmup_start, peak=peak)


def rewarm(
    peak: ArrayLike,
    total: int,
    *,
    start_lr: ArrayLike,
    warmup: int,
    final: ArrayLike = 0.0,
    shape: str = "cosine",
) -> Schedule:
    """One re-warmup + re-decay segment (continual pretraining), usable as a phase.

    Linear re-warmup ``start_lr + (peak - start_lr) * t / W`` for ``t < W``
    (``W = warmup >= 1``, ``0 <= start_lr <= peak``), then decay from ``peak``
    to ``final`` over ``W..T`` with a :data:`WSD_SHAPES` shape and
    ``q = (t - W) / (T - W)``: ``final + (peak - final) * f(q)`` or
    ``peak * (final / peak) ** q`` (``exp``).  Combine with :func:`join`.

    Source: Ibrahim et al. 2024, "Simple and Scalable Strategies to
    Continually Pre-train Large Language Models"; Gupta et al. 2023,
    "Continual Pre-Training of Large Language Models: How to (re)warm your model?".

    Example:
        >>> s = rewarm(1.0, 100, start_lr=0.25, warmup=10, shape="linear")
        >>> float(s(0)), float(s(5)), float(s(10)), float(s(55))
        (0.25, 0.625, 1.0, 0.5)
    """
    p = _check_peak(peak)
    total = _check_total(total, optional=False)
    fin = _check_final(final, p)
    w = _int_arg("warmup", warmup, minimum=1)
    if w >= total:
        raise ScheduleError(f"warmup={w} must be smaller than total={total}")
    s0 = _float_arg("start_lr", start_lr)
    if s0 is not None:
        if s0 < 0:
            raise ScheduleError(f"start_lr={s0!r} must be >= 0")
        if p is not None and s0 > p:
            raise ScheduleError(f"start_lr={s0!r} must be <= peak={p!r}")
    shape = _check_shape("shape", shape)
    if shape == "exp" and fin is not None and fin <= 0:
        raise ScheduleError(f"shape='exp' requires final > 0, got final={fin!r}")
    items = [
        ("peak", peak, None),
        ("start_lr", start_lr, None),
        ("warmup", w, None),
        ("total", total, None),
        ("final", final, 0.0),
        ("shape", shape, "cosine"),
    ]
    spec = _make_spec("rewarm", items)

    def body(t: jax.Array) -> jax.Array:
        return _decay(shape, peak, final, _progress(t, w, total))

    return _build(body, spec=spec, total=total, warmup=w, warmup_start=start_lr, peak=peak)


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Phases: run ``schedules[i]`` from step ``boundaries[i - 1]`` on, restarted there.

    ``lr(t) = schedules[i](t - boundaries[i - 1])`` for
    ``boundaries[i - 1] <= t < boundaries[i]`` (``boundaries[-1] = 0``), as in
    ``optax.join_schedules``.  ``boundaries`` has ``len(schedules) - 1``
    strictly increasing steps ``>= 1``.  A phase that is shorter than its slot
    holds its final value.  ``total = boundaries[-1] + schedules[-1].total``
    (``None`` if the last phase is open-ended), ``warmup`` is the first
    phase's, ``peak`` the largest phase peak.  The spec is
    ``phases:[SPEC@0;SPEC@START;...]`` (see the module docstring).

    Example (a cosine run, then a re-warmup to a lower peak and a re-decay):
        >>> first = cosine(1.0, 100, final=0.25)
        >>> second = rewarm(0.5, 50, start_lr=0.25, warmup=10, final=0.125, shape="linear")
        >>> s = join([first, second], [100])
        >>> print(s.spec.replace(";", ";\\n  "))
        phases:[cosine:peak=1.0,total=100,final=0.25@0;
          rewarm:peak=0.5,start_lr=0.25,warmup=10,total=50,final=0.125,shape=linear@100]
        >>> float(s(100)), float(s(110)), float(s(150)), s.total
        (0.25, 0.5, 0.125, 150)
    """
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
        raise ScheduleError(f"schedules must be a list of Schedule, got {schedules!r}")
    scheds = list(schedules)
    if not scheds:
        raise ScheduleError("schedules must not be empty")
    for i, s in enumerate(scheds):
        if not isinstance(s, Schedule):
            raise ScheduleError(f"schedules[{i}] must be a Schedule, got {s!r}")
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
        raise ScheduleError(f"boundaries must be a list of integers, got {boundaries!r}")
    bs = [_int_arg(f"boundaries[{i}]", x, minimum=1) for i, x in enumerate(boundaries)]
    if len(bs) != len(scheds) - 1:
        raise ScheduleError(
            f"boundaries has {len(bs)} entries but there are {len(scheds)} schedules; "
            "it needs one fewer"
        )
    for x, y in itertools.pairwise(bs):
        if y <= x:
            raise ScheduleError(f"boundaries={bs} must be strictly increasing")
    starts = [0, *bs]
    last = scheds[-1].total
    total = None if last is None else starts[-1] + last
    if total is not None and total > _MAX_STEPS:
        raise ScheduleError(f"total={total} is too large (at most 2**53)")
    peaks = [s.peak for s in scheds]
    peak = None if any(x is None for x in peaks) else max(peaks)
    spec = "phases:[" + ";".join(f"{s.spec}@{b}" for s, b in zip(scheds, starts)) + "]"

    def fn(step: ArrayLike) -> jax.Array:
        t = jnp.asarray(step).astype(jnp.result_type(float))
        out = scheds[0](t)
        for s, b in zip(scheds[1:], bs):
            out = jnp.where(t >= float(b), s(t - float(b)), out)
        return out

    if all(getattr(s.fn, "_lrlaw_spec", None) == s.spec for s in scheds):
        fn._lrlaw_spec = spec  # type: ignore[attr-defined]  # a function of its phases' specs
    return Schedule(fn=fn, spec=spec, total=total, warmup=scheds[0].warmup, peak=peak)


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
