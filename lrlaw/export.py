"""Export schedules: per-step tables (CSV/JSON), optax schedules, PyTorch ``LambdaLR`` multipliers.

A :class:`~lrlaw.schedules.Schedule` (parsed from a spec, optimised, or built
in Python) is meaningful on the steps ``t = 0..T`` (``T = total``) and holds
its final value for ``t > T``.  This module hands it to the outside world:

* :func:`to_table` / :func:`write_schedule` / :func:`read_schedule_table`:
  the table ``step, lr`` with one row per step ``0..T`` as CSV (``.csv``) or
  JSON (``.json``); floats are written with ``repr`` so that reading the file
  back gives exactly the same values.
* :func:`as_optax`: a function ``count -> lr`` that optax accepts as a
  ``learning_rate`` schedule (JAX-traceable, works under ``jax.jit``).
* :func:`as_lambda_lr`: the multiplier ``t -> lr(t) / base_lr`` (a plain
  Python float) for ``torch.optim.lr_scheduler.LambdaLR``.  torch is never
  imported by lrlaw.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import numpy as np

from lrlaw.errors import DataError, ScheduleError
from lrlaw.schedules import Schedule, from_array

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["as_lambda_lr", "as_optax", "read_schedule_table", "to_table", "write_schedule"]

_SUFFIXES = (".csv", ".json")


def _values(schedule: Schedule, num: int | None) -> np.ndarray:
    if num is None and schedule.total is None:
        raise ScheduleError(f"schedule {schedule.spec!r} has no total; add total=STEPS or pass num")
    return schedule.values(num)


def to_table(schedule: Schedule, num: int | None = None) -> pd.DataFrame:
    """The per-step table of ``schedule``: columns ``step`` (int) and ``lr`` (float64).

    One row per step ``0..num-1``; ``num`` defaults to ``total + 1`` (steps
    ``0..T`` inclusive) and is required for open-ended schedules.  ``lr`` equals
    ``schedule.values(num)``.

    Example:
        >>> from lrlaw.schedules import parse_schedule
        >>> to_table(parse_schedule("linear:peak=1.0,total=4"))
           step    lr
        0     0  1.00
        1     1  0.75
        2     2  0.50
        3     3  0.25
        4     4  0.00
    """
    import pandas as pd

    lr = _values(schedule, num)
    return pd.DataFrame({"step": np.arange(lr.size, dtype=np.int64), "lr": lr})


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(
            f"{path}: unsupported schedule table format {path.suffix or '(none)'!r}; "
            "expected .csv or .json"
        )
    return suffix


def write_schedule(
    schedule: Schedule,
    path: str | os.PathLike,
    *,
    num: int | None = None,
    inputs: Sequence[str | os.PathLike] = (),
) -> Path:
    """Write the per-step table of ``schedule`` to ``path`` atomically; return the path.

    The format follows the suffix:

    * ``.csv``: header ``step,lr`` and one row per step ``0..T``;
    * ``.json``: ``{"spec", "total", "warmup", "peak", "lr": [lr(0), ..., lr(T)]}``.

    Floats are written with ``repr`` (shortest round-tripping form), so
    :func:`read_schedule_table` recovers the values exactly.  ``num`` is as in
    :func:`to_table`.  Refuses to overwrite one of ``inputs``; on failure
    nothing is left at ``path``.
    """
    from lrlaw.io import atomic_output, check_output

    path = Path(path)
    suffix = _check_suffix(path)
    check_output(path, inputs)
    lr = _values(schedule, num)
    if suffix == ".csv":
        text = "step,lr\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(lr))
    else:
        payload = {
            "spec": schedule.spec,
            "total": schedule.total,
            "warmup": schedule.warmup,
            "peak": schedule.peak,
            "lr": [float(v) for v in lr],
        }
        text = json.dumps(payload) + "\n"
    with atomic_output(path, inputs) as tmp:
        tmp.write_text(text)
    return path


def read_schedule_table(path: str | os.PathLike) -> Schedule:
    """Read a table written by :func:`write_schedule` back as an array schedule.

    Returns :func:`~lrlaw.schedules.from_array` of the ``lr`` values (spec
    ``array:n=<len>``; ``total = len - 1``; the last value is held beyond it),
    so ``read_schedule_table(p).values()`` equals the written values exactly.
    A CSV needs columns ``step`` and ``lr`` with steps ``0, 1, 2, ...``; a
    JSON file needs an ``lr`` list.  Problems raise
    :class:`~lrlaw.errors.DataError` naming the file.
    """
    path = Path(path)
    suffix = _check_suffix(path)
    if suffix == ".csv":
        import pandas as pd

        try:
            # Read as text and convert with float(): exact (shortest-repr round trip)
            # whatever the parser's float precision.
            df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: cannot read CSV: {e}") from None
        missing = [c for c in ("step", "lr") if c not in df.columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected step, lr")
        steps = pd.to_numeric(df["step"], errors="coerce").to_numpy(dtype=np.float64)
        if not np.array_equal(steps, np.arange(len(df), dtype=np.float64)):
            bad = int(np.argmax(steps != np.arange(len(df))))
            raise DataError(
                f"{path}: column step must be 0, 1, 2, ... (row {bad + 1} has {df['step'][bad]!r})"
            )
        try:
            lrs = np.array([float(v) for v in df["lr"]], dtype=np.float64)
        except ValueError as e:
            raise DataError(f"{path}: column lr must hold numbers: {e}") from None
    else:
        try:
            payload = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: invalid JSON: {e}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("lr"), list):
            raise DataError(f'{path}: expected a JSON object with an "lr" list')
        try:
            lrs = np.array(payload["lr"], dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f'{path}: "lr" must be a list of numbers') from None
    try:
        return from_array(lrs)
    except ScheduleError as e:
        raise DataError(f"{path}: {e}") from None


def as_optax(schedule: Schedule) -> Callable[[int | jax.Array], jax.Array]:
    """An optax schedule: ``count -> lr(count)`` as a JAX scalar (traceable, jit-safe).

    optax calls its ``learning_rate`` schedule with the number of updates
    applied so far (an int32 array), so ``lr(0)`` is used for the first
    update.  Past ``total`` the final value is held.  The result has the
    default JAX float dtype (float32 unless ``jax_enable_x64`` is on).

    Usage (optax is not a dependency of lrlaw)::

        import optax
        opt = optax.adamw(learning_rate=as_optax(parse_schedule(spec)))

    Example:
        >>> import jax
        >>> from lrlaw.schedules import parse_schedule
        >>> f = as_optax(parse_schedule("linear:peak=1.0,total=4"))
        >>> float(jax.jit(f)(1)), float(f(10))
        (0.75, 0.0)
    """
    fn = schedule.fn

    def optax_schedule(count: int | jax.Array) -> jax.Array:
        return fn(count)

    return optax_schedule


def as_lambda_lr(
    schedule: Schedule, base_lr: float | None = None, *, num: int | None = None
) -> Callable[[int], float]:
    """The ``lr_lambda`` for PyTorch's ``LambdaLR``: ``t -> lr(t) / base_lr`` as a Python float.

    ``LambdaLR`` sets the learning rate to ``base_lr * lr_lambda(t)``, where
    ``base_lr`` is the ``lr`` the optimizer was created with and ``t`` counts
    ``scheduler.step()`` calls.  **Create the optimizer with ``lr=base_lr``**
    (by default ``base_lr = schedule.peak``) so that the optimizer follows
    ``lr(t)``.  The values are computed once (steps ``0..T``, or ``0..num-1``)
    into a numpy array; each call is a lookup, no JAX work.  Steps past the
    end hold the last value; negative steps use ``lr(0)``.

    Usage (lrlaw never imports torch)::

        s = parse_schedule("cosine:peak=3e-4,warmup=2160,total=24000,final=3e-5")
        opt = torch.optim.AdamW(model.parameters(), lr=s.peak)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=as_lambda_lr(s))
        # per step: opt.step(); sched.step()

    Example:
        >>> from lrlaw.schedules import parse_schedule
        >>> f = as_lambda_lr(parse_schedule("linear:peak=2.0,total=4"))
        >>> [f(t) for t in (0, 1, 4, 100)]
        [1.0, 0.75, 0.0, 0.0]
    """
    if base_lr is None:
        base_lr = schedule.peak
        if base_lr is None:
            raise ScheduleError(f"schedule {schedule.spec!r} has no known peak; pass base_lr")
    base = float(base_lr)
    if not math.isfinite(base) or base <= 0:
        raise ScheduleError(f"base_lr={base_lr!r} must be a finite number > 0")
    mult = _values(schedule, num) / base
    if mult.size == 0:
        raise ScheduleError("num must be at least 1")
    table = [float(v) for v in mult]
    last = len(table) - 1

    def lr_lambda(step: int) -> float:
        return table[min(max(int(step), 0), last)]

    return lr_lambda
