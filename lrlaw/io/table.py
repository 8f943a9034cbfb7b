"""The canonical curve table: one row per logged step, read strictly.

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

Imports: :mod:`lrlaw.io.readers` (frames) and the base modules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lrlaw.errors import DataError

__all__ = [
    "RunTable",
    "numeric_column",
    "read_frame",
    "read_table",
    "show_cell",
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
    kind: str = ""  # 'line' | 'row' | 'entry' | 'event' (default: from the file suffix)
    lr_col: str = "lr"  # the lr column's name in messages
    from_base: np.ndarray | None = None  # rows taken from a base run (branch merging)
    base_source: str | None = None
    meta: dict = field(default_factory=dict)  # passed on to the Curve (summary line, ...)
    count: np.ndarray | None = None  # logged values averaged into each row's loss (bins)

    def loc(self, i: int) -> str:
        """Human position of row ``i``: 'line N' (CSV) or 'row N' (parquet)."""
        kind = self.kind or ("row" if self.source.endswith((".parquet", ".pq")) else "line")
        where = f"{kind} {int(self.line[i])}"
        if self.from_base is not None and self.from_base[i]:
            where += f" of {self.base_source}"
        return where


def read_frame(path: Path) -> tuple[Any, np.ndarray]:
    """Read a table; return it (all cells as read) and the file line/row of each row."""
    from lrlaw.io.readers import read_csv_frame, read_parquet_frame

    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix!r}; expected .csv, .tsv or .parquet"
        )
    if path.is_dir():
        raise DataError(f"{path}: a folder, not a table; expected a {suffix} file")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if suffix in (".parquet", ".pq"):
        return read_parquet_frame(path)
    return read_csv_frame(path, "\t" if suffix == ".tsv" else ",")


def show_cell(value: object) -> str:
    """A cell as quoted text (CSV) or a plain number (parquet), for messages."""
    if isinstance(value, (np.integer, np.floating)):
        return repr(value.item())
    return repr(value)


def numeric_column(path: Path, frame, col: str, lines: np.ndarray, kind: str) -> np.ndarray:
    """Column as float64; empty cells -> NaN; anything non-numeric -> DataError."""
    from lrlaw.io.readers import to_float

    values, _ = to_float(frame[col], col, lines, kind, str(path))
    return values


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
    frame, lines = read_frame(path)
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
    step_f = numeric_column(path, frame, step_col, lines, kind)
    bad = np.flatnonzero(
        ~np.isfinite(step_f) | (step_f < 0) | (step_f != np.round(step_f)) | (step_f > 2**53)
    )
    if bad.size:
        i = bad[0]
        raise DataError(
            f"{path}: column '{step_col}', {kind} {lines[i]}: expected an integer >= 0, "
            f"got {show_cell(frame[step_col].iloc[i])}"
        )
    loss = numeric_column(path, frame, loss_col, lines, kind)
    bad = np.flatnonzero(np.isinf(loss) | (loss <= 0))
    if bad.size:
        i = bad[0]
        raise DataError(
            f"{path}: column '{loss_col}', {kind} {lines[i]}: expected a finite loss > 0, "
            f"got {show_cell(frame[loss_col].iloc[i])}"
        )
    lr = None
    if lr_col in cols:
        lr = numeric_column(path, frame, lr_col, lines, kind)
        bad = np.flatnonzero(np.isinf(lr) | (lr < 0))
        if bad.size:
            i = bad[0]
            raise DataError(
                f"{path}: column '{lr_col}', {kind} {lines[i]}: expected a finite learning "
                f"rate >= 0, got {show_cell(frame[lr_col].iloc[i])}"
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
