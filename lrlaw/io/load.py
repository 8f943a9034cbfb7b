"""Loading curves: read the logs, resolve each run's schedule, build the curves.

:func:`load_curves` reads training logs in every format of
:mod:`lrlaw.io.readers` (CSV/TSV, parquet, JSONL, W&B exports, TensorBoard),
cleans them (:mod:`lrlaw.io.cleaning`: resumed runs, NaN/inf, gaps, optional
smoothing, resampling), joins cooldown branches to their base run, and
resolves each run's per-step schedule (a spec, or the lr column).

Imports: :mod:`lrlaw.schedules` (spec parsing) and the other :mod:`lrlaw.io` modules.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw.curves import Curve, detect_warmup, schedule_from_table
from lrlaw.errors import DataError, LrlawError
from lrlaw.io.table import RunTable

if TYPE_CHECKING:
    from lrlaw.schedules import Schedule

__all__ = [
    "curve_from_table",
    "interpolation_error",
    "load_curves",
    "malformed_spec_message",
    "parse_schedule_assignments",
    "read_schedules_file",
]


def parse_schedule_assignments(specs: Sequence[str], run_names: Sequence[str]) -> dict[str, str]:
    """Assign ``--schedule`` values to runs.

    Each value is either ``RUN=SPEC`` (e.g. ``cosine_24000=cosine:peak=3e-4,...``;
    recognised because the text before the first ``:`` contains ``=``) or a bare
    ``SPEC``; bare specs are given to the runs without a named spec, in order,
    and their number must match.
    """
    named: dict[str, str] = {}
    bare: list[str] = []
    for text in specs:
        head = text.split(":", 1)[0]
        if "=" in head:
            run, spec = text.split("=", 1)
            run = run.strip()
            if run not in run_names:
                if ":" not in spec or _starts_with_family(run):
                    # 'cosine peak=3e-4,...' (a space for the colon) is no RUN=SPEC
                    raise LrlawError(malformed_spec_message(f"--schedule {text!r}", run_names))
                raise LrlawError(
                    f"--schedule {text!r}: no run named {run!r}; runs: {', '.join(run_names)}"
                )
            named[run] = spec.strip()
        else:
            bare.append(text.strip())
    rest = [r for r in run_names if r not in named]
    if bare and len(bare) != len(rest):
        raise LrlawError(
            f"{len(bare)} unnamed --schedule value(s) for {len(rest)} run(s) without one "
            f"({', '.join(rest)}); give one per run in order, or name them as RUN=SPEC"
        )
    named.update(zip(rest, bare))
    return named


def malformed_spec_message(
    where: str, run_names: Sequence[str] = (), named: str = "the run it is for"
) -> str:
    """Message for a value that is neither a schedule spec nor NAME=SPEC (``where``: the
    option and its value, e.g. ``--schedule 'cosine peak=3e-4'``; ``named``: what the NAME
    of NAME=SPEC names)."""
    runs = f" (runs: {', '.join(run_names)})" if run_names else ""
    return (
        f"{where}: malformed schedule spec; a spec is FAMILY:KEY=VALUE,... with a colon "
        "after the family, e.g. 'cosine:peak=3e-4,total=24000,warmup=2160', and NAME=SPEC "
        f"names {named}{runs}"
    )


def _starts_with_family(name: str) -> bool:
    """``'cosine peak'``: a schedule family, a space, more (a spec with a space for ':')."""
    from lrlaw.schedules import FAMILIES

    words = name.split()
    return len(words) > 1 and words[0] in FAMILIES


def read_schedules_file(path: str | os.PathLike) -> dict[str, str]:
    """Read a schedules file: one ``RUN=SPEC`` per line; ``#`` starts a comment."""
    return {run: spec for run, (spec, _) in _schedules_file_lines(path).items()}


def _schedules_file_lines(path: str | os.PathLike) -> dict[str, tuple[str, int]]:
    """``run -> (spec, line number)`` of a schedules file."""
    from lrlaw.io.readers import read_text

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    out: dict[str, tuple[str, int]] = {}
    text = read_text(path, "a text file of RUN=SPEC lines")
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        head = line.split(":", 1)[0]
        if "=" not in head:
            raise DataError(f"{path}: line {n}: expected RUN=SPEC, got {line!r}")
        run, spec = line.split("=", 1)
        out[run.strip()] = (spec.strip(), n)
    return out


def _check_against_column(table: RunTable, lr: np.ndarray, spec: str) -> None:
    """The lr column, where given, must agree with the schedule spec (1% of peak)."""
    if table.lr is None:
        return
    # Only the schedule up to the last loss matters (a log may record a final
    # LR after its last update, e.g. 0 at the end of a constant run).
    last = table.step[np.isfinite(table.loss)][-1]
    has = np.isfinite(table.lr) & (table.step <= last)
    if not np.any(has):
        return
    expected = lr[table.step[has]]
    tol = 0.01 * float(np.max(lr)) + 1e-12
    bad = np.flatnonzero(np.abs(table.lr[has] - expected) > tol)
    if bad.size:
        i = np.flatnonzero(has)[bad[0]]
        raise DataError(
            f"{table.source}: column '{table.lr_col}', {table.loc(i)}: lr {table.lr[i]:.6g} at "
            f"step {table.step[i]} disagrees with schedule {spec!r} ({expected[bad[0]]:.6g}); "
            "fix the spec or drop the column"
        )


#: Estimated interpolation error (fraction of the peak LR) above which a read warns.
_INTERP_WARN = 0.02


def interpolation_error(steps: np.ndarray, lr: np.ndarray) -> tuple[float, int]:
    """Estimated error of interpolating a logged LR series linearly between its points.

    Every interior point is predicted from its two neighbours; that misses by the
    curvature of the schedule over twice the logging gap.  Interpolation between
    adjacent points spans half that gap, and for a smooth schedule the error grows
    with the square of the gap, so the estimate is a quarter of the miss, as a
    fraction of the largest LR.  A kink *at* a logged point (the end of a warmup,
    the start of a decay) makes only that point miss, and the interpolation is
    exact there, so only misses shared by two adjacent points count (the smaller
    of the two).  A step (a jump over one interval, by more than 10 % of the peak
    and 20x the changes of the intervals on either side: a step decay, a restart)
    makes its two end points miss, but interpolation only moves it within one
    logging interval, so those misses are left out.  Returns ``(estimate, step)``;
    ``(0.0, -1)`` with fewer than 4 points or a zero LR.

    Example:
        >>> steps = np.arange(0, 5001, 1000)
        >>> round(interpolation_error(steps, 1e-3 * 0.1 ** (steps / 5000))[0], 3)
        0.011
    """
    steps = np.asarray(steps, dtype=np.float64)
    lr = np.asarray(lr, dtype=np.float64)
    peak = float(np.max(lr)) if lr.size else 0.0
    if lr.size < 4 or not peak > 0:
        return 0.0, -1
    frac = (steps[1:-1] - steps[:-2]) / (steps[2:] - steps[:-2])
    guess = lr[:-2] + frac * (lr[2:] - lr[:-2])
    miss = np.abs(guess - lr[1:-1])  # miss[k] is point k + 1
    jump = np.abs(np.diff(lr))  # jump[j]: interval j -> j + 1
    side = np.maximum(np.r_[0.0, jump[:-1]], np.r_[jump[1:], 0.0])
    for j in np.flatnonzero((jump > 0.1 * peak) & (side < 0.05 * jump)):
        miss[max(j - 1, 0) : j + 1] = 0.0  # points j and j + 1
    shared = np.minimum(miss[:-1], miss[1:])
    i = int(np.argmax(shared))
    return float(shared[i] / peak / 4.0), int(steps[i + 1])


def _spec_values(schedule: Schedule, num: int) -> np.ndarray:
    """``schedule.values(num)`` of a schedule parsed from its spec, kept on disk
    (:func:`lrlaw._jaxexport.cached_values`, keyed by the spec and the length bucket that
    ``values`` computes on): the same bits, without compiling the spec's kernel in every
    process."""
    from lrlaw import _jaxcache, _jaxexport

    if "array:" in schedule.spec:  # not given by its spec alone
        return schedule.values(num)
    size = _jaxcache.bucket(num, 64)  # values(num) computes values(size)[:num]
    full = _jaxexport.cached_values(
        "schedule", f"{schedule.spec}\n{size}", lambda: schedule.values(size)
    )
    if full.shape != (size,):
        return schedule.values(num)
    return full[:num].copy()


def curve_from_table(
    table: RunTable,
    spec: str | None = None,
    warmup: int | None = None,
    *,
    initial_lr: float | None = None,
    spec_origin: str | None = None,
) -> Curve:
    """Resolve a run's schedule (spec, or its lr column) and build a :class:`Curve`.

    ``warmup`` and ``initial_lr`` only fill in the start of an lr column that
    begins after step 0 (see :func:`lrlaw.curves.schedule_from_table`).
    ``spec_origin`` (e.g. ``"schedules.txt, line 3"``) is named in spec errors.
    """
    from lrlaw.schedules import parse_schedule

    has_loss = np.isfinite(table.loss)
    steps, loss = table.step[has_loss], table.loss[has_loss]
    counts = None if table.count is None else table.count[has_loss]
    where = f"{table.source}: run {table.name!r}"
    last = int(steps[-1])
    meta = dict(table.meta)
    if spec is not None:
        try:
            schedule = parse_schedule(spec)
        except LrlawError as exc:
            origin = f" (spec from {spec_origin})" if spec_origin else ""
            raise type(exc)(f"{where}: {exc}{origin}") from None
        total = schedule.total if schedule.total is not None else 0
        lr = _spec_values(schedule, max(total, last, int(table.step[-1])) + 1)
        if schedule.total is not None and last > schedule.total and lr[-1] == 0.0:
            # Past its total a schedule holds its final value; a final LR of 0 would mean
            # training on at LR 0, which no logged run does: the total is wrong.
            origin = f" (spec from {spec_origin})" if spec_origin else ""
            raise DataError(
                f"{where}: the loss is logged up to step {last}, past the schedule's "
                f"total={schedule.total} ({spec!r}{origin}), where its LR is 0; "
                "fix the spec's total to cover every logged step"
            )
        _check_against_column(table, lr, spec)
        return Curve(
            table.name, steps, loss, lr, schedule.warmup, table.source, schedule.spec, meta, counts
        )
    if table.lr is None:
        looked = meta.get("lr_names", "")
        raise DataError(
            f"{where}: the file has no 'lr' column; pass --schedule SPEC for this run"
            + (
                f", or name the learning-rate column with --lr-col (looked for {looked})"
                if looked
                else ""
            )
        )
    has_lr = np.isfinite(table.lr)
    lr = schedule_from_table(
        table.step[has_lr],
        table.lr[has_lr],
        last,
        warmup=warmup,
        initial_lr=initial_lr,
        where=where,
        column=table.lr_col,
    )
    late = bool(has_lr.any()) and int(table.step[has_lr][0]) > 0
    supplied = warmup if late else None  # --warmup only fills in a missing start
    exact = bool(has_lr.sum() == lr.size)
    how = (
        f"{table.lr_col} column (every step)"
        if exact
        else (f"{table.lr_col} column (linear interpolation)")
    )
    if supplied is not None:
        start = "" if not initial_lr else f" from {initial_lr:g}"
        first = int(table.step[has_lr][0])
        if supplied > first:  # the listed LRs carry the rest of the ramp
            how += (
                f", linear warmup{start} from step 0 to the first listed lr (step {first}) "
                f"supplied, a {supplied}-step warmup"
            )
        else:
            how += f", linear warmup{start} over {supplied} steps supplied"
    elif late and initial_lr is not None:
        how += f", lr {initial_lr:g} at step 0 supplied"
    if not exact and supplied is None:
        ls, lv = table.step[has_lr], table.lr[has_lr]
        if lv.size > 1 and lv[1] - lv[0] > 0.5 * lv.max() and ls[1] - ls[0] > 1:
            how += (
                f"; warning: the lr rises from {lv[0]:g} at step {ls[0]} to {lv[1]:g} at step "
                f"{ls[1]}, and interpolation spreads that warmup over all {ls[1] - ls[0]} steps; "
                "if it was shorter, pass --schedule SPEC"
            )
    if not exact:
        miss, at = interpolation_error(table.step[has_lr], table.lr[has_lr])
        if miss > _INTERP_WARN:
            how += (
                f"; warning: the lr column is not linear between its points (about {miss:.0%} "
                f"of the peak LR off near step {at}); pass --schedule SPEC for the exact "
                "schedule"
            )
    w = detect_warmup(lr) if supplied is None else supplied
    return Curve(table.name, steps, loss, lr, w, table.source, how, meta, counts)


def _table_from_run(run) -> RunTable:
    """A :class:`RunTable` (all steps with a loss or an lr) from a cleaned run."""
    from lrlaw.io.cleaning import union_sorted
    from lrlaw.io.readers import LR_NAMES

    loss, lr = run.loss, run.lr
    steps = loss.step if lr is None else union_sorted(loss.step, lr.step)
    loss_col = np.full(steps.size, np.nan)
    at = np.searchsorted(steps, loss.step)
    loss_col[at] = loss.value
    count = None
    if loss.count is not None and np.any(loss.count > 1):
        count = np.ones(steps.size)
        count[at] = loss.count
    line = np.zeros(steps.size, dtype=np.int64)
    line[at] = loss.pos
    base = None
    if loss.from_base is not None or (lr is not None and lr.from_base is not None):
        base = np.zeros(steps.size, dtype=bool)
        if loss.from_base is not None:
            base[at] = loss.from_base
    lr_col = None
    if lr is not None:
        lr_col = np.full(steps.size, np.nan)
        at_lr = np.searchsorted(steps, lr.step)
        lr_col[at_lr] = lr.value
        line[at_lr] = lr.pos  # the lr's position wins: messages about rows name the lr
        if base is not None:
            base[at_lr] = False if lr.from_base is None else lr.from_base
    meta = {"summary": run.summary(), "loss_column": loss.label}
    if lr is None:
        meta["lr_names"] = ", ".join(LR_NAMES)
    return RunTable(
        name=run.name,
        source=run.source,
        step=steps,
        loss=loss_col,
        lr=lr_col,
        line=line,
        kind=run.pos_kind,
        lr_col="lr" if lr is None else lr.label,
        from_base=base,
        base_source=run.base_source,
        meta=meta,
        count=count,
    )


def _base_requests(
    base: str | os.PathLike | Mapping[str, str | os.PathLike] | Sequence[str] | None,
    names: Sequence[str],
) -> tuple[Path | None, dict[str, Path]]:
    """``--base`` values: a bare FILE (for every run that starts after step 0) and RUN=FILE."""
    if base is None:
        return None, {}
    if isinstance(base, (str, os.PathLike)):
        base = [os.fspath(base)]
    if isinstance(base, Mapping):
        named = {str(k): Path(v) for k, v in base.items()}
        bare: list[Path] = []
    else:
        named, bare = {}, []
        for text in base:
            text = os.fspath(text)
            run, sep, file = text.partition("=")
            if sep and run.strip() in names and not Path(text).exists():
                named[run.strip()] = Path(file.strip())
            elif sep and not Path(text).exists():
                raise LrlawError(
                    f"--base {text!r}: no run named {run.strip()!r}; runs: {', '.join(names)}"
                )
            else:
                bare.append(Path(text))
    unknown = sorted(set(named) - set(names))
    if unknown:
        raise LrlawError(
            f"--base given for unknown run(s) {', '.join(unknown)}; runs: {', '.join(names)}"
        )
    if len(bare) > 1:
        raise LrlawError(
            f"{len(bare)} --base files without a run name; give one, or name them RUN=FILE"
        )
    return (bare[0] if bare else None), named


def _read_base(path: Path, options) -> tuple[str, object]:
    """The single run of a base file, cleaned."""
    from lrlaw.io.readers import prepare_run, read_runs

    runs = read_runs(path, options)
    if len(runs) != 1:
        raise DataError(
            f"{path}: a --base file must hold one run; it holds {len(runs)} "
            f"({', '.join(r.name for r in runs)})"
        )
    return runs[0].name, prepare_run(runs[0], options)


def _unique_names(logs: list[tuple[str, Any]]) -> list[Any]:
    """The runs of ``(path, RunLog)`` pairs, a name that several *files* give their runs
    qualified by as many of each file's parent folders as tell them apart.

    Trainers write one log per run under a folder of its own (``version_0/metrics.csv``,
    ``version_1/metrics.csv``), so the file's stem is often the same for every run; those
    become ``version_0/metrics`` and ``version_1/metrics``.  A name repeated within one
    file, or the same file given twice, is left for the caller's error."""
    from dataclasses import replace

    by_name: dict[str, list[int]] = {}
    for i, (_, r) in enumerate(logs):
        by_name.setdefault(r.name, []).append(i)
    out = [r for _, r in logs]
    for name, idx in by_name.items():
        parents = [Path(logs[i][0]).resolve().parent.parts for i in idx]
        if len(idx) < 2 or len(set(parents)) < len(idx):
            continue
        for k in range(1, max(len(q) for q in parents) + 1):
            tails = [q[-k:] for q in parents]
            if len(set(tails)) == len(tails):
                break
        for i, tail in zip(idx, tails):
            out[i] = replace(out[i], name="/".join((*tail, name)))
    return out


def load_curves(
    paths: Sequence[str | os.PathLike],
    schedules: Sequence[str] | Mapping[str, str] = (),
    *,
    warmup: int | None = None,
    schedules_file: str | os.PathLike | None = None,
    initial_lr: float | None = None,
    base: str | os.PathLike | Mapping[str, str | os.PathLike] | Sequence[str] | None = None,
    options=None,
) -> list[Curve]:
    """Read training logs, clean them and resolve each run's schedule.

    Args:
        paths: logs in any format of :mod:`lrlaw.io.readers` (CSV/TSV, parquet,
            JSONL, W&B JSON/CSV exports, TensorBoard event files).
        schedules: ``--schedule`` values (``RUN=SPEC`` or bare specs given to
            runs in order), or a mapping run name -> spec.
        warmup: linear warmup length supplied for runs whose ``lr`` column
            starts after step 0 (ignored for runs with a spec).
        schedules_file: a ``RUN=SPEC`` file; its entries apply to runs of
            those names that have no ``schedules`` entry.
        initial_lr: the LR at step 0 for runs whose ``lr`` column starts
            after step 0 (W&B logs the LR from the first logging step on):
            the schedule goes linearly from it to the first logged LR (at step
            ``warmup`` when given).
        base: branch merging (:func:`lrlaw.io.cleaning.join_base`): a log whose
            single run every run that starts after step 0 is joined to, or a
            mapping run name -> base log, or ``--base`` values (``FILE`` or
            ``RUN=FILE``).
        options: :class:`lrlaw.io.readers.ReadOptions` (columns, loss kind,
            cleaning, smoothing, resampling; default: detect and resample to
            at most :data:`lrlaw.io.cleaning.DEFAULT_MAX_POINTS` losses per run).

    Each curve's ``meta["summary"]`` is a one-line report of what was read and cleaned.
    """
    from lrlaw.io.cleaning import join_base
    from lrlaw.io.readers import ReadOptions, finish_run, prepare_run, read_runs

    options = options or ReadOptions()
    logs = _unique_names([(str(p), r) for p in paths for r in read_runs(p, options)])
    runs = [prepare_run(r, options) for r in logs]
    names = [r.name for r in runs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LrlawError(
            f"run name(s) {', '.join(dupes)} appear more than once; runs need unique names "
            "(rename the files or use a 'run' column)"
        )
    bare, named = _base_requests(base, names)
    if bare is not None or named:
        cache: dict[Path, tuple[str, object]] = {}

        def get(path: Path):
            key = path.resolve() if path.exists() else path
            if key not in cache:
                cache[key] = _read_base(path, options)
            return cache[key]

        joined = 0
        for i, run in enumerate(runs):
            path = named.get(run.name, bare)
            if path is None:
                continue
            if run.first_step == 0:
                if run.name in named:
                    raise LrlawError(
                        f"--base for run {run.name!r}: it starts at step 0, so there is nothing "
                        "to join; a base run is joined to a run that starts later (a cooldown "
                        "branch)"
                    )
                continue
            base_name, base_run = get(path)
            runs[i] = join_base(run, base_run, base_name)
            joined += 1
        if bare is not None and not joined:
            raise LrlawError(
                f"--base {bare}: no run starts after step 0, so none is joined to it; a base "
                "run is joined to runs that hold only their last segment (a cooldown branch)"
            )
    runs = [finish_run(r, options) for r in runs]
    if isinstance(schedules, Mapping):
        assigned = dict(schedules)
        unknown = sorted(set(assigned) - set(names))
        if unknown:
            raise LrlawError(
                f"schedules given for unknown run(s) {', '.join(unknown)}; runs: {', '.join(names)}"
            )
    else:
        assigned = parse_schedule_assignments(list(schedules), names)
    origins: dict[str, str] = {}
    if schedules_file is not None:
        for run, (spec, line) in _schedules_file_lines(schedules_file).items():
            if run in names and run not in assigned:
                assigned[run] = spec
                origins[run] = f"{schedules_file}, line {line}"
    return [
        curve_from_table(
            _table_from_run(r),
            assigned.get(r.name),
            warmup,
            initial_lr=initial_lr,
            spec_origin=origins.get(r.name),
        )
        for r in runs
    ]
