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
* :func:`to_hf` / :func:`from_hf`: Hugging Face ``TrainingArguments`` settings
  (``lr_scheduler_type="warmup_stable_decay"`` with ``lr_scheduler_kwargs``,
  i.e. ``transformers.get_wsd_schedule``) and back;
  :func:`to_torchtitan` / :func:`from_torchtitan`: torchtitan's
  ``[lr_scheduler]`` section (with ``[training] steps`` and ``[optimizer] lr``)
  and back; :func:`write_trainer_config` / :func:`read_trainer_config` as
  JSON or TOML files.  Step ``t`` of a schedule is the trainers' ``LambdaLR``
  step (``lr(t)`` is used for the ``t + 1``-th optimizer update), and an export
  is checked against the trainer's own formula (transcribed in
  :func:`hf_wsd_lambda` and :func:`torchtitan_lambda`) at every step ``0..T``:
  a schedule the trainer cannot express raises a :class:`ScheduleError` that
  says why, instead of exporting something else.
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
from lrlaw.schedules.families import from_array
from lrlaw.schedules.schedule import Schedule

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "as_lambda_lr",
    "as_optax",
    "from_hf",
    "from_torchtitan",
    "hf_wsd_lambda",
    "read_schedule_table",
    "read_trainer_config",
    "schedule_table_format",
    "to_hf",
    "to_table",
    "to_torchtitan",
    "torchtitan_lambda",
    "write_schedule",
    "write_trainer_config",
]

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


def schedule_table_format(path: str | os.PathLike) -> str:
    """The suffix (``.csv`` or ``.json``) of a schedule table's path, or a
    :class:`~lrlaw.errors.DataError` naming the path: commands check an output's
    format before doing any work."""
    path = Path(path)
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
    from lrlaw.output import atomic_output, check_output

    path = Path(path)
    suffix = schedule_table_format(path)
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
    suffix = schedule_table_format(path)
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


# --------------------------------------------------------------------------- #
# Trainer-native settings: Hugging Face get_wsd_schedule, torchtitan lr_scheduler
# --------------------------------------------------------------------------- #

#: lrlaw WSD shapes and their names in the trainers (``sqrt`` is "1-sqrt").
_HF_DECAY = {"linear": "linear", "cosine": "cosine", "sqrt": "1-sqrt"}
_TT_DECAY = {"linear": "linear", "cosine": "cosine", "sqrt": "sqrt"}


def _wsd_params(schedule: Schedule) -> dict:
    """``peak, total, warmup, warmup_start, decay_start, final, shape`` of a schedule
    that is a WSD in disguise (``wsd``, ``cosine``, ``linear``; decay from the warmup's
    end for the latter two), read from its spec's keywords (:attr:`Schedule.kwargs`)."""
    family, kv = schedule.family, schedule.kwargs
    if family not in ("wsd", "cosine", "linear"):
        raise ScheduleError(
            f"schedule {schedule.spec!r}: the trainers' WSD schedulers express wsd, cosine "
            f"and linear schedules, not {family!r}"
        )
    total = int(kv["total"])
    warmup = int(kv.get("warmup", 0))
    if family == "wsd":
        if "decay_start" in kv:
            start = int(kv["decay_start"])
        else:
            start = total - round(float(kv["decay_frac"]) * total)
        shape = kv.get("shape", "linear")
    else:
        start, shape = warmup, family
    return {
        "peak": float(kv["peak"]),
        "total": total,
        "warmup": warmup,
        "warmup_start": float(kv.get("warmup_start", 0.0)),
        "decay_start": start,
        "final": float(kv.get("final", 0.0)),
        "shape": shape,
    }


def hf_wsd_lambda(
    step: int,
    *,
    num_warmup_steps: int,
    num_stable_steps: int,
    num_decay_steps: int,
    decay_type: str = "cosine",
    min_lr_ratio: float = 0.0,
    warmup_type: str = "linear",
    num_cycles: float = 0.5,
) -> float:
    """The LR multiplier of ``transformers.get_wsd_schedule`` at ``step`` (its ``lr_lambda``).

    Warmup ``r + (1 - r) * t / W`` (``warmup_type="linear"``; ``cosine`` and
    ``1-sqrt`` too) for ``t < W``, then 1 for ``t < W + S``, then
    ``r + (1 - r) * f(p)`` with ``p = (t - W - S) / D`` and ``f`` = ``1 - p``
    (linear), ``(1 + cos(2 pi c p)) / 2`` (cosine, ``c = num_cycles``) or
    ``1 - sqrt(p)`` (1-sqrt), then ``r`` (``r = min_lr_ratio``).  Transcribed
    from transformers 5.25 ``optimization.py`` (``_get_wsd_scheduler_lambda``).
    """
    w, s, d, r = num_warmup_steps, num_stable_steps, num_decay_steps, min_lr_ratio
    if step < w:
        p = float(step) / float(max(1, w))
        f = {
            "linear": p,
            "cosine": 0.5 * (1.0 - math.cos(math.pi * p)),
            "1-sqrt": 1.0 - math.sqrt(1.0 - p),
        }[warmup_type]
        return max(0.0, f * (1.0 - r) + r)
    if step < w + s:
        return 1.0
    if step < w + s + d:
        p = float(step - w - s) / float(max(1, d))
        f = {
            "linear": 1.0 - p,
            "cosine": 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * p)),
            "1-sqrt": 1.0 - math.sqrt(p),
        }[decay_type]
        return max(0.0, f * (1.0 - r) + r)
    return r


def torchtitan_lambda(
    step: int,
    *,
    training_steps: int,
    warmup_steps: int,
    decay_ratio: float | None,
    decay_type: str = "linear",
    min_lr_factor: float = 0.0,
) -> float:
    """The LR multiplier of torchtitan's ``linear_warmup_stable_decay`` at ``step``.

    With ``T = training_steps``, ``W = min(warmup_steps, T)``,
    ``D = round(T * decay_ratio)`` (clamped to ``T - W``; ``T - W`` without a
    ratio) and ``S = T + 1 - W - D`` (a virtual last step): ``(t + 1) / W`` for
    ``t < W``, 1 for ``t < W + S``, then ``m + (1 - m) f(p)`` with
    ``p = (t + 1 - W - S) / D``, ``f`` = ``1 - p``, ``1 - sqrt(p)`` or
    ``(1 + cos(pi p)) / 2`` and ``m = min_lr_factor``.  Transcribed from
    torchtitan ``torchtitan/components/lr_scheduler.py`` (``build_lr_schedulers``,
    the version with ``min_lr_factor``, 2025).
    """
    t_steps = int(training_steps)
    w = min(int(warmup_steps), t_steps)
    if decay_ratio is not None:
        d = round(t_steps * decay_ratio)
        if w + d > t_steps:
            d = t_steps - w
    else:
        d = t_steps - w
    s = t_steps + 1 - w - d
    if step < w:
        return float((step + 1) / w)
    if step < w + s:
        return 1.0
    p = float(step + 1 - (w + s)) / d
    f = {
        "linear": 1 - p,
        "sqrt": 1 - math.sqrt(p),
        "cosine": 0.5 * (1.0 + math.cos(math.pi * p)),
    }[decay_type]
    return min_lr_factor + (1 - min_lr_factor) * f


def _check_same(schedule: Schedule, lrs: np.ndarray, trainer: str) -> None:
    want = schedule.values()
    bad = np.flatnonzero(~np.isclose(lrs, want, rtol=1e-9, atol=1e-12 * float(np.max(want))))
    if bad.size:
        i = int(bad[0])
        raise ScheduleError(
            f"schedule {schedule.spec!r}: {trainer} cannot express it exactly: at step {i} it "
            f"gives {lrs[i]:.6g} instead of {want[i]:.6g} ({bad.size} of {want.size} steps differ)"
        )


def to_hf(schedule: Schedule) -> dict:
    """Hugging Face ``TrainingArguments`` settings that give ``schedule`` step for step.

    Returns ``{"learning_rate", "max_steps", "warmup_steps", "lr_scheduler_type":
    "warmup_stable_decay", "lr_scheduler_kwargs": {"num_stable_steps",
    "num_decay_steps", "decay_type", "min_lr_ratio"}}``; for
    ``get_wsd_schedule(optimizer, num_warmup_steps=warmup_steps,
    **lr_scheduler_kwargs)`` directly, create the optimizer with
    ``lr=learning_rate``.  A ``wsd`` (shapes linear, cosine, sqrt = "1-sqrt"),
    ``cosine`` or ``linear`` schedule maps to ``W = warmup``, ``S = decay_start -
    W``, ``D = total - decay_start``, ``min_lr_ratio = final / peak``; HF's warmup
    starts at ``min_lr_ratio * peak``, so the schedule's ``warmup_start`` must
    equal ``final`` (or there is no warmup).  Anything else raises
    :class:`ScheduleError` (the result is checked at every step against
    :func:`hf_wsd_lambda`).
    """
    p = _wsd_params(schedule)
    if p["shape"] not in _HF_DECAY:
        raise ScheduleError(
            f"schedule {schedule.spec!r}: get_wsd_schedule has no {p['shape']!r} decay "
            "(linear, cosine, 1-sqrt)"
        )
    ratio = p["final"] / p["peak"]
    kwargs = {
        "num_stable_steps": p["decay_start"] - p["warmup"],
        "num_decay_steps": p["total"] - p["decay_start"],
        "decay_type": _HF_DECAY[p["shape"]],
        "min_lr_ratio": ratio,
    }
    if p["warmup"] and not math.isclose(p["warmup_start"], p["final"], rel_tol=1e-12, abs_tol=0):
        raise ScheduleError(
            f"schedule {schedule.spec!r}: get_wsd_schedule warms up from min_lr_ratio * peak "
            f"= {p['final']:g} (the final LR), this schedule from warmup_start="
            f"{p['warmup_start']:g}; set warmup_start={p['final']:g} to export it"
        )
    out = {
        "learning_rate": p["peak"],
        "max_steps": p["total"],
        "warmup_steps": p["warmup"],
        "lr_scheduler_type": "warmup_stable_decay",
        "lr_scheduler_kwargs": kwargs,
    }
    _check_same(schedule, _hf_values(out), "transformers get_wsd_schedule")
    return out


def _hf_values(settings: dict) -> np.ndarray:
    peak, total = float(settings["learning_rate"]), int(settings["max_steps"])
    kw = dict(settings.get("lr_scheduler_kwargs") or {})
    warmup = settings.get("warmup_steps", 0)
    warmup = int(warmup) if warmup >= 1 else math.ceil(total * warmup)  # TrainingArguments rule
    if "num_stable_steps" not in kw:
        kw["num_stable_steps"] = total - warmup - int(kw["num_decay_steps"])
    return peak * np.array(
        [hf_wsd_lambda(t, num_warmup_steps=warmup, **kw) for t in range(total + 1)]
    )


def from_hf(settings: dict) -> Schedule:
    """The schedule of HF ``TrainingArguments`` settings as written by :func:`to_hf`.

    Needs ``learning_rate``, ``max_steps``, ``lr_scheduler_type =
    "warmup_stable_decay"`` and ``lr_scheduler_kwargs`` with ``num_decay_steps``
    (``num_stable_steps`` defaults to ``max_steps - warmup - num_decay_steps`` as
    in ``get_wsd_schedule``; ``decay_type`` to "cosine", ``min_lr_ratio`` to 0, as
    there).  Returns the equivalent ``wsd`` schedule, checked step for step against
    :func:`hf_wsd_lambda`.
    """
    from lrlaw.schedules.families import wsd

    if settings.get("lr_scheduler_type", "warmup_stable_decay") != "warmup_stable_decay":
        raise ScheduleError(
            f"lr_scheduler_type={settings.get('lr_scheduler_type')!r}: lrlaw reads back "
            "'warmup_stable_decay' (get_wsd_schedule)"
        )
    try:
        peak, total = float(settings["learning_rate"]), int(settings["max_steps"])
        kw = dict(settings.get("lr_scheduler_kwargs") or {})
        warmup = settings.get("warmup_steps", 0)
        warmup = int(warmup) if warmup >= 1 else math.ceil(total * warmup)
        decay = int(kw["num_decay_steps"])
    except (KeyError, TypeError, ValueError) as e:
        raise ScheduleError(
            f"HF settings: missing or bad {e}; expected learning_rate, max_steps, "
            "warmup_steps and lr_scheduler_kwargs.num_decay_steps"
        ) from None
    stable = int(kw.get("num_stable_steps", total - warmup - decay))
    if warmup + stable + decay != total:
        raise ScheduleError(
            f"HF settings: warmup_steps + num_stable_steps + num_decay_steps = "
            f"{warmup + stable + decay}, not max_steps = {total}"
        )
    decay_type = kw.get("decay_type", "cosine")
    shapes = {v: k for k, v in _HF_DECAY.items()}
    if decay_type not in shapes or kw.get("warmup_type", "linear") != "linear":
        raise ScheduleError(
            f"HF settings: decay_type={decay_type!r}, warmup_type="
            f"{kw.get('warmup_type', 'linear')!r}; lrlaw reads linear warmups and "
            "linear, cosine or 1-sqrt decays"
        )
    if float(kw.get("num_cycles", 0.5)) != 0.5:
        raise ScheduleError("HF settings: num_cycles must be 0.5 (a single half cosine)")
    final = float(kw.get("min_lr_ratio", 0.0)) * peak
    sched = wsd(
        peak, total, decay_start=warmup + stable, final=final, shape=shapes[decay_type],
        warmup=warmup, warmup_start=final if warmup else 0.0,
    )  # fmt: skip
    _check_same(sched, _hf_values(settings), "transformers get_wsd_schedule")
    return sched


def to_torchtitan(schedule: Schedule) -> dict:
    """torchtitan settings that give ``schedule`` step for step:
    ``{"optimizer": {"lr"}, "training": {"steps"}, "lr_scheduler": {"warmup_steps",
    "decay_ratio", "decay_type", "min_lr_factor"}}``.

    torchtitan's warmup is ``(t + 1) / W``: it matches a schedule with
    ``warmup = W - 1`` and ``warmup_start = peak / W``; its decay covers the last
    ``D = round(T * decay_ratio)`` steps (``decay_start = T - D``) down to
    ``min_lr_factor * peak`` at ``T``.  Anything else raises
    :class:`ScheduleError` (checked at every step against :func:`torchtitan_lambda`).
    """
    p = _wsd_params(schedule)
    total, peak = p["total"], p["peak"]
    if p["warmup"]:
        w = p["warmup"] + 1
        if not math.isclose(p["warmup_start"], peak / w, rel_tol=1e-12):
            raise ScheduleError(
                f"schedule {schedule.spec!r}: torchtitan warms up as (t + 1) / W: over "
                f"warmup={p['warmup']} steps that starts at peak / {w} = {peak / w:g}, "
                f"this schedule at warmup_start={p['warmup_start']:g}"
            )
    else:
        w = 0
    d = total - p["decay_start"]
    ratio = d / total
    if round(total * ratio) != d:
        ratio = math.nextafter(ratio, 1.0)
    section = {
        "warmup_steps": w,
        "decay_ratio": ratio,
        "decay_type": _TT_DECAY.get(p["shape"], p["shape"]),
        "min_lr_factor": p["final"] / peak,
    }
    if section["decay_type"] not in _TT_DECAY.values():
        raise ScheduleError(
            f"schedule {schedule.spec!r}: torchtitan has no {p['shape']!r} decay "
            "(linear, sqrt, cosine)"
        )
    out = {"optimizer": {"lr": peak}, "training": {"steps": total}, "lr_scheduler": section}
    _check_same(schedule, _torchtitan_values(out), "torchtitan lr_scheduler")
    return out


def _torchtitan_values(settings: dict) -> np.ndarray:
    peak = float(settings["optimizer"]["lr"])
    total = int(settings["training"]["steps"])
    sec = settings["lr_scheduler"]
    kw = {
        "training_steps": total,
        "warmup_steps": int(sec.get("warmup_steps", 0)),
        "decay_ratio": sec.get("decay_ratio"),
        "decay_type": sec.get("decay_type", "linear"),
        "min_lr_factor": float(sec.get("min_lr_factor", 0.0)),
    }
    return peak * np.array([torchtitan_lambda(t, **kw) for t in range(total + 1)])


def from_torchtitan(settings: dict) -> Schedule:
    """The schedule of torchtitan settings (``optimizer.lr``, ``training.steps``,
    ``lr_scheduler``), as written by :func:`to_torchtitan`, on steps ``0..T``
    (step ``T`` is torchtitan's virtual last step); checked step for step."""
    from lrlaw.schedules.families import wsd

    try:
        peak = float(settings["optimizer"]["lr"])
        total = int(settings["training"]["steps"])
        sec = dict(settings.get("lr_scheduler") or {})
        w = min(int(sec.get("warmup_steps", 0)), total)
        ratio = sec.get("decay_ratio")
        m = float(sec.get("min_lr_factor", 0.0))
    except (KeyError, TypeError, ValueError) as e:
        raise ScheduleError(
            f"torchtitan settings: missing or bad {e}; expected optimizer.lr, training.steps "
            "and an lr_scheduler section"
        ) from None
    d = round(total * ratio) if ratio is not None else total - w
    d = min(d, total - w)
    kind = sec.get("decay_type", "linear")
    shapes = {v: k for k, v in _TT_DECAY.items()}
    if kind not in shapes:
        raise ScheduleError(
            f"torchtitan settings: decay_type={kind!r}; expected linear, sqrt, cosine"
        )
    if d == 0:
        raise ScheduleError(
            "torchtitan settings: no decay steps; lrlaw reads WSD schedules with a decay"
        )
    sched = wsd(
        peak, total, decay_start=total - d, final=m * peak, shape=shapes[kind],
        warmup=max(w - 1, 0), warmup_start=peak / w if w else 0.0,
    )  # fmt: skip
    _check_same(sched, _torchtitan_values(settings), "torchtitan lr_scheduler")
    return sched


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)  # a float's repr always has "." or "e": a TOML float
    return json.dumps(str(v))


def write_trainer_config(
    schedule: Schedule,
    path: str | os.PathLike,
    trainer: str,
    *,
    inputs: Sequence[str | os.PathLike] = (),
) -> Path:
    """Write ``schedule`` as ``trainer`` settings: ``"hf"`` (JSON of :func:`to_hf`) or
    ``"torchtitan"`` (TOML sections of :func:`to_torchtitan`), atomically."""
    from lrlaw.output import atomic_output, check_output

    path = Path(path)
    check_output(path, inputs)
    if trainer == "hf":
        text = json.dumps(to_hf(schedule), indent=2) + "\n"
    elif trainer == "torchtitan":
        cfg = to_torchtitan(schedule)
        lines = [f"# lrlaw schedule {schedule.spec}"]
        for section, values in cfg.items():
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
        text = "\n".join(lines) + "\n"
    else:
        raise ScheduleError(f"trainer {trainer!r}: expected hf or torchtitan")
    with atomic_output(path, inputs) as tmp:
        tmp.write_text(text)
    return path


def read_trainer_config(path: str | os.PathLike) -> Schedule:
    """Read HF settings (``.json``, :func:`from_hf`) or a torchtitan config (``.toml``,
    :func:`from_torchtitan`) back as a schedule."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read: {e}") from None
    try:
        if path.suffix.lower() == ".json":
            return from_hf(json.loads(text))
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                import tomli as tomllib
            return from_torchtitan(tomllib.loads(text))
    except ScheduleError as e:
        raise DataError(f"{path}: {e}") from None
    except ValueError as e:
        raise DataError(f"{path}: cannot parse: {e}") from None
    raise DataError(f"{path}: expected HF settings (.json) or a torchtitan config (.toml)")
