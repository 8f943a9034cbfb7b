"""Reading curve tables and writing outputs safely.

Canonical curve table (CSV or parquet), one row per logged step:

=======  ========================================================
column   meaning
=======  ========================================================
step     optimizer step (integer >= 0); the loss is after ``step`` updates
loss     loss at that step; may be empty on rows that only give the LR
lr       learning rate used at that step (optional; may be empty)
run      run name (optional: several runs in one file)
=======  ========================================================

Empty cells, and the texts ``nan``, ``na``, ``null`` and ``none``, are
missing values.  Every problem is reported as one :class:`~lrlaw.errors.DataError` naming the
file, the column, the line (CSV: the line number in the file, header = line
1; parquet: the 1-based data row) and what was expected.

Outputs are written atomically (a temporary file in the same folder, then
``os.replace``), and never onto one of the inputs.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lrlaw.curves import Curve, detect_warmup, schedule_from_table
from lrlaw.errors import DataError, LrlawError

__all__ = [
    "RunTable",
    "atomic_output",
    "check_output",
    "load_curves",
    "parse_schedule_assignments",
    "read_schedules_file",
    "read_table",
    "write_text_atomic",
]

_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


@dataclass(frozen=True, eq=False)
class RunTable:
    """The rows of one run as read from a file (before the schedule is resolved)."""

    name: str
    source: str
    step: np.ndarray  # int64, every row of the run
    loss: np.ndarray  # float64, NaN where empty
    lr: np.ndarray | None  # float64, NaN where empty; None if the file has no lr column
    line: np.ndarray  # line (CSV) / row (parquet) numbers, for messages

    def loc(self, i: int) -> str:
        """Human position of row ``i``: 'line N' (CSV) or 'row N' (parquet)."""
        kind = "row" if self.source.endswith((".parquet", ".pq")) else "line"
        return f"{kind} {int(self.line[i])}"


def _read_frame(path: Path):
    """Read a table; return it (all cells as read) and the file line/row of each row."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix!r}; expected .csv, .tsv or .parquet"
        )
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            lines = np.arange(1, len(frame) + 1)
        else:
            if path.stat().st_size == 0:
                raise DataError(f"{path}: empty file; expected a header with columns step, loss")
            with warnings.catch_warnings():
                # index_col=False: a row with more fields than the header is an
                # error, not silently turned into an index (pandas' default).
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    path,
                    sep="\t" if suffix == ".tsv" else ",",
                    dtype=str,
                    keep_default_na=False,
                    skipinitialspace=True,
                    skip_blank_lines=False,
                    index_col=False,
                )
            # Blank lines are no data but keep their place in the line numbering.
            blank = (frame == "").all(axis=1).to_numpy()
            lines = np.arange(2, 2 + len(frame))[~blank]
            frame = frame[~blank].reset_index(drop=True)
    except DataError:
        raise
    except pd.errors.ParserWarning:
        raise DataError(_wide_row_message(path, "\t" if suffix == ".tsv" else ",")) from None
    except Exception as exc:  # pandas/pyarrow parse errors
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot be read as a table: {msg}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, lines


def _wide_row_message(path: Path, sep: str) -> str:
    """Message for a row with more fields than the header, naming its line."""
    import csv

    with path.open(newline="") as fh:
        rows = csv.reader(fh, delimiter=sep)
        header = next(rows)
        for n, row in enumerate(rows, start=2):
            if len(row) > len(header):
                return (
                    f"{path}: line {n}: {len(row)} fields but the header has {len(header)} "
                    f"columns ({', '.join(header)}); expected one value per column"
                )
    return f"{path}: some rows have more fields than the header has columns"


def _show(value: object) -> str:
    """A cell as quoted text (CSV) or a plain number (parquet), for messages."""
    if isinstance(value, (np.integer, np.floating)):
        return repr(value.item())
    return repr(value)


def _numeric(path: Path, frame, col: str, lines: np.ndarray, kind: str) -> np.ndarray:
    """Column as float64; empty cells -> NaN; anything non-numeric -> DataError."""
    values = frame[col].to_numpy()
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = np.nan
            continue
        if isinstance(v, (int, float, np.integer, np.floating)):
            out[i] = float(v)
            continue
        text = str(v).strip()
        if text == "" or text.lower() in ("nan", "na", "null", "none"):
            out[i] = np.nan
            continue
        try:
            out[i] = float(text)
        except ValueError:
            raise DataError(
                f"{path}: column '{col}', {kind} {int(lines[i])}: expected a number, got {text!r}"
            ) from None
    return out


def read_table(
    path: str | os.PathLike,
    *,
    step_col: str = "step",
    loss_col: str = "loss",
    lr_col: str = "lr",
    run_col: str = "run",
) -> list[RunTable]:
    """Read a canonical curve table (CSV/TSV/parquet) into one :class:`RunTable` per run.

    Runs appear in the order of their first row; without a ``run`` column the
    run is named after the file stem.  Validates every cell (see module doc).
    """
    path = Path(path)
    frame, lines = _read_frame(path)
    kind = "row" if path.suffix.lower() in (".parquet", ".pq") else "line"
    if len(frame) == 0:
        raise DataError(
            f"{path}: no data rows (only a header); expected rows of {step_col}, {loss_col}"
        )
    cols = list(frame.columns)
    for needed in (step_col, loss_col):
        if needed not in cols:
            raise DataError(
                f"{path}: no column '{needed}'; columns found: {', '.join(cols) or '(none)'}; "
                f"expected {step_col}, {loss_col}[, {lr_col}][, {run_col}]"
            )
    step_f = _numeric(path, frame, step_col, lines, kind)
    bad = np.flatnonzero(
        ~np.isfinite(step_f) | (step_f < 0) | (step_f != np.round(step_f)) | (step_f > 2**53)
    )
    if bad.size:
        i = bad[0]
        raise DataError(
            f"{path}: column '{step_col}', {kind} {lines[i]}: expected an integer >= 0, "
            f"got {_show(frame[step_col].iloc[i])}"
        )
    loss = _numeric(path, frame, loss_col, lines, kind)
    bad = np.flatnonzero(np.isinf(loss) | (loss <= 0))
    if bad.size:
        i = bad[0]
        raise DataError(
            f"{path}: column '{loss_col}', {kind} {lines[i]}: expected a finite loss > 0, "
            f"got {_show(frame[loss_col].iloc[i])}"
        )
    lr = None
    if lr_col in cols:
        lr = _numeric(path, frame, lr_col, lines, kind)
        bad = np.flatnonzero(np.isinf(lr) | (lr < 0))
        if bad.size:
            i = bad[0]
            raise DataError(
                f"{path}: column '{lr_col}', {kind} {lines[i]}: expected a finite learning "
                f"rate >= 0, got {_show(frame[lr_col].iloc[i])}"
            )
    if run_col in cols:
        runs = frame[run_col].astype(str).str.strip().to_numpy()
        names = list(dict.fromkeys(runs))
    else:
        runs = None
        names = [path.stem]
    tables = []
    for name in names:
        idx = np.arange(len(frame)) if runs is None else np.flatnonzero(runs == name)
        table = RunTable(
            name=name,
            source=str(path),
            step=step_f[idx].astype(np.int64),
            loss=loss[idx],
            lr=None if lr is None else lr[idx],
            line=lines[idx],
        )
        in_run = f" within run {name!r}" if runs is not None else ""
        back = np.flatnonzero(np.diff(table.step) <= 0)
        if back.size:
            i = back[0]
            what = "repeats" if table.step[i + 1] == table.step[i] else "goes back to"
            raise DataError(
                f"{path}: column '{step_col}', {table.loc(i + 1)}: step {what} "
                f"{table.step[i + 1]} after {table.step[i]} ({table.loc(i)}); "
                f"expected strictly increasing steps{in_run}"
            )
        if not np.any(np.isfinite(table.loss)):
            raise DataError(f"{path}: run {name!r}: column '{loss_col}' has no values")
        tables.append(table)
    return tables


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


def read_schedules_file(path: str | os.PathLike) -> dict[str, str]:
    """Read a schedules file: one ``RUN=SPEC`` per line; ``#`` starts a comment."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    out: dict[str, str] = {}
    for n, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        head = line.split(":", 1)[0]
        if "=" not in head:
            raise DataError(f"{path}: line {n}: expected RUN=SPEC, got {line!r}")
        run, spec = line.split("=", 1)
        out[run.strip()] = spec.strip()
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
            f"{table.source}: column 'lr', {table.loc(i)}: lr {table.lr[i]:.6g} at step "
            f"{table.step[i]} disagrees with schedule {spec!r} ({expected[bad[0]]:.6g}); "
            "fix the spec or drop the column"
        )


def curve_from_table(table: RunTable, spec: str | None = None, warmup: int | None = None) -> Curve:
    """Resolve a run's schedule (spec, or its lr column) and build a :class:`Curve`."""
    from lrlaw.schedules import parse_schedule

    has_loss = np.isfinite(table.loss)
    steps, loss = table.step[has_loss], table.loss[has_loss]
    where = f"{table.source}: run {table.name!r}"
    last = int(steps[-1])
    if spec is not None:
        try:
            schedule = parse_schedule(spec)
        except LrlawError as exc:
            raise type(exc)(f"{where}: {exc}") from None
        total = schedule.total if schedule.total is not None else 0
        lr = schedule.values(max(total, last, int(table.step[-1])) + 1)
        _check_against_column(table, lr, spec)
        return Curve(table.name, steps, loss, lr, schedule.warmup, table.source, schedule.spec)
    if table.lr is None:
        raise DataError(f"{where}: the file has no 'lr' column; pass --schedule SPEC for this run")
    has_lr = np.isfinite(table.lr)
    lr = schedule_from_table(table.step[has_lr], table.lr[has_lr], last, warmup=warmup, where=where)
    late = bool(has_lr.any()) and int(table.step[has_lr][0]) > 0
    supplied = warmup if late else None  # --warmup only fills in a missing start
    exact = bool(has_lr.sum() == lr.size)
    how = "lr column (every step)" if exact else "lr column (linear interpolation)"
    if supplied is not None:
        how += f", linear warmup over {supplied} steps supplied"
    w = detect_warmup(lr) if supplied is None else supplied
    return Curve(table.name, steps, loss, lr, w, table.source, how)


def load_curves(
    paths: Sequence[str | os.PathLike],
    schedules: Sequence[str] | Mapping[str, str] = (),
    *,
    warmup: int | None = None,
    schedules_file: str | os.PathLike | None = None,
) -> list[Curve]:
    """Read curve files and resolve each run's schedule.

    Args:
        paths: canonical tables (CSV/TSV/parquet).
        schedules: ``--schedule`` values (``RUN=SPEC`` or bare specs given to
            runs in order), or a mapping run name -> spec.
        warmup: linear warmup length supplied for runs whose ``lr`` column
            starts after step 0 (ignored for runs with a spec).
        schedules_file: a ``RUN=SPEC`` file; its entries apply to runs of
            those names that have no ``schedules`` entry.
    """
    tables = [t for p in paths for t in read_table(p)]
    names = [t.name for t in tables]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LrlawError(
            f"run name(s) {', '.join(dupes)} appear more than once; runs need unique names "
            "(rename the files or use a 'run' column)"
        )
    if isinstance(schedules, Mapping):
        assigned = dict(schedules)
        unknown = sorted(set(assigned) - set(names))
        if unknown:
            raise LrlawError(
                f"schedules given for unknown run(s) {', '.join(unknown)}; runs: {', '.join(names)}"
            )
    else:
        assigned = parse_schedule_assignments(list(schedules), names)
    if schedules_file is not None:
        for run, spec in read_schedules_file(schedules_file).items():
            if run in names:
                assigned.setdefault(run, spec)
    return [curve_from_table(t, assigned.get(t.name), warmup) for t in tables]


def check_output(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """Fail early if ``path`` cannot be an output: it is an input, its folder is missing,
    or it is a folder.  Commands call this for every output before doing any work."""
    path = Path(path)
    target = path.resolve()
    for inp in inputs:
        if Path(inp).resolve() == target:
            raise LrlawError(f"{path}: refusing to overwrite an input file")
    if not path.parent.exists():
        raise LrlawError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise LrlawError(f"{path}: is a folder; expected a file name")
    return path


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``.

    Nothing is left behind when the block raises.  Refuses to write onto one
    of ``inputs``.
    """
    path = check_output(path, inputs)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode a plain open()
        # would (0666 minus the umask), or keep the mode of the file it replaces.
        if path.exists():
            mode = path.stat().st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(
    path: str | os.PathLike, text: str, inputs: Sequence[str | os.PathLike] = ()
) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, inputs) as tmp:
        tmp.write_text(text)
