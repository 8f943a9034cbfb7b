"""Spec strings: parse ``family:key=value,...`` text into a schedule.

``family:key=value,key=value,...``, for instance
``wsd:peak=3e-4,warmup=2160,total=24000,decay_start=20000,final=3e-5,shape=exp``.
Keys are the factory's keyword arguments; lists are written in square brackets
(``milestones=[8000,12000]``).  :func:`parse_schedule` parses a spec and
``Schedule.spec`` is canonical: fixed key order, defaults omitted, floats
written so that they round-trip exactly, and
``parse_schedule(s.spec).spec == s.spec``.  Families are looked up in
:data:`FAMILIES`.  Array schedules (:func:`from_array`, spec ``array:n=<len>``)
come from files or Python and cannot be parsed from a spec.

Phases (:func:`join`, for continual pretraining: re-warmup / re-decay
segments after a first run) have the spec
``phases:[SPEC@START;SPEC@START;...]``: each ``SPEC`` is a full spec of its
own (it may itself be a ``phases`` spec), ``START`` is the integer step at
which that phase begins, the first phase starts at ``@0`` and the starts
strictly increase.  Phase ``i`` is evaluated at ``t - START_i``.  ``;``
separates phases and ``@`` ends each phase; both are only recognised outside
square brackets, so they never clash with the inner specs' ``,``, ``=``,
``:`` and ``[...]``.  Example:
``phases:[cosine:peak=0.0003,total=10000,final=3e-05@0;rewarm:peak=0.00015,start_lr=3e-05,warmup=500,total=5000@10000]``.

Imports: :mod:`lrlaw.schedules.families` (the factories :data:`FAMILIES` names).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lrlaw.errors import ScheduleError
from lrlaw.schedules.families import (
    constant,
    cosine,
    cyclic,
    exponential,
    infinite,
    inverse_sqrt,
    join,
    linear,
    multistep,
    onecycle,
    polynomial,
    power,
    rewarm,
    rex,
    step,
    wsd,
)
from lrlaw.schedules.schedule import _KEY_TYPES, Schedule, _parse_int, _parse_value, _split_top

__all__ = [
    "FAMILIES",
    "FIXED_STEP_KEYS",
    "SCALED_STEP_KEYS",
    "parse_schedule",
    "rescale",
]


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
    "rex": rex,
    "onecycle": onecycle,
    "inverse_sqrt": inverse_sqrt,
    "polynomial": polynomial,
    "exponential": exponential,
    "cyclic": cyclic,
    "power": power,
    "infinite": infinite,
    "rewarm": rewarm,
    "phases": join,
}

_SYNTAX = "family:key=value,key=value,... (e.g. 'cosine:peak=3e-4,total=24000')"
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _family_keys(factory: Callable[..., Schedule]) -> tuple[list[str], set[str]]:
    """All keyword names of a factory and the required ones (no default)."""
    params = inspect.signature(factory).parameters.values()
    names = [p.name for p in params]
    required = {p.name for p in params if p.default is inspect.Parameter.empty}
    return names, required


_PHASES_SYNTAX = "phases:[SPEC@0;SPEC@START;...]"


def _parse_phases(rest: str, fail: Callable[[str], ScheduleError]) -> Schedule:
    """Parse the body ``[SPEC@0;SPEC@START;...]`` of a ``phases`` spec into :func:`join`."""
    body = rest.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise fail(f"phases expects a bracketed list, {_PHASES_SYNTAX}")
    try:
        items = _split_top(body[1:-1], sep=";")
    except ValueError as e:
        raise fail(str(e)) from None
    scheds, starts = [], []
    for item in items:
        item = item.strip()
        if not item:
            raise fail("empty phase (stray ';'?)")
        try:
            at = _split_top(item, sep="@")
        except ValueError as e:  # pragma: no cover - brackets were balanced above
            raise fail(str(e)) from None
        if len(at) < 2:
            raise fail(f"phase {item!r} has no '@START'; expected {_PHASES_SYNTAX}")
        inner, start_text = "@".join(at[:-1]).strip(), at[-1].strip()
        try:
            start = _parse_int("start", start_text)
        except ValueError as e:
            raise fail(f"phase {item!r}: {e}") from None
        try:
            scheds.append(parse_schedule(inner))
        except ScheduleError as e:
            raise fail(f"phase {len(scheds)}: {e}") from e
        starts.append(start)
    if starts[0] != 0:
        raise fail(f"the first phase must start at @0, not @{starts[0]}")
    try:
        return join(scheds, starts[1:])
    except ScheduleError as e:
        raise fail(str(e)) from e


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
    if family == "phases":
        return _parse_phases(rest, fail)
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


#: Integer keys that are *not* scaled by :func:`rescale` (warmup length, batch geometry).
FIXED_STEP_KEYS: frozenset[str] = frozenset({"warmup", "batch_size", "tokens_per_step"})
#: Step-count keys that :func:`rescale` multiplies by ``T' / T`` (every other int / int-list key).
SCALED_STEP_KEYS: frozenset[str] = frozenset(
    k for k, kind in _KEY_TYPES.items() if kind in ("int", "int_list") and k not in FIXED_STEP_KEYS
)


def rescale(schedule_spec: Schedule | str, total: int) -> Schedule:
    """The schedule ``schedule_spec`` stretched (or shrunk) to ``total`` steps.

    Every step-count key in :data:`SCALED_STEP_KEYS` (``total``,
    ``decay_start``, ``milestones``, ...) is multiplied by ``total / T`` and
    rounded to an integer; ``warmup`` (and the other keys in
    :data:`FIXED_STEP_KEYS`) stays fixed; float keys are unchanged.

    Example:
        >>> s = rescale("wsd:peak=1.0,warmup=100,total=1000,decay_start=800", 2000)
        >>> s.spec
        'wsd:peak=1.0,warmup=100,total=2000,decay_start=1600'

    Raises:
        ScheduleError: the spec is invalid, has no ``total``, is a ``phases``
            spec, or the rescaled schedule is invalid (e.g. ``total`` no
            longer exceeds ``warmup``).
    """
    spec = schedule_spec.spec if isinstance(schedule_spec, Schedule) else schedule_spec
    parsed = parse_schedule(spec)  # validate first (array specs too): errors quote the spec
    if parsed.family == "phases":
        raise ScheduleError(f"cannot rescale {spec!r}: phases schedules are not supported")
    family, kwargs = parsed.family, parsed.kwargs
    old = kwargs.get("total")
    if old is None:
        raise ScheduleError(f"cannot rescale {spec!r}: it has no total")
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
        raise ScheduleError(f"total={total!r} must be a positive integer")
    factor = int(total) / old
    for key, value in kwargs.items():
        if key == "total":
            kwargs[key] = int(total)
        elif key in SCALED_STEP_KEYS:
            if isinstance(value, list):
                kwargs[key] = [max(1, round(v * factor)) for v in value]
            else:
                kwargs[key] = max(0, round(value * factor))
    try:
        return FAMILIES[family](**kwargs)
    except ScheduleError as e:
        raise ScheduleError(f"cannot rescale {spec!r} to total={total}: {e}") from e
