"""Reading training logs: CSV/TSV, parquet, JSONL, JSON (W&B, Hugging Face), TensorBoard.

Every reader turns a file into one or more runs, each a set of named
*columns* (logged quantities: a loss, the learning rate, a token count,
``grad_norm``, ...), each with its own steps.  The columns the laws need are
then found by name (:func:`select_columns`) and cleaned
(:func:`prepare_run`, using :mod:`lrlaw.io.cleaning`).

Formats (chosen by the file name):

==========================  ================================================
``.csv``, ``.txt``, ``.tsv`` a table with a header.  A W&B panel export
                             (``Step``, ``RUN - METRIC``, ``RUN - METRIC__MIN``,
                             ...) is recognised and gives one run per RUN.
``.parquet``, ``.pq``        a table
``.jsonl``, ``.ndjson``      one JSON object (a logged row) per line
``.json``                    a list of row objects; ``{"history": ...}`` as
                             exported from W&B, either a list of rows or the
                             sectioned layout ``{"history": {"train": {"iter":
                             [...], "train_lr": [...]}, "val": {...}}}`` in
                             which every section has its own step list; a
                             Hugging Face ``trainer_state.json``
                             (``log_history``); or a dict of equal-length lists
TensorBoard                  an event file (``events.out.tfevents.*``) or a
                             folder of them (subfolders prefix their tags);
                             needs the optional extra ``lrlaw[tensorboard]``
``wandb:ENTITY/PROJECT/ID``  a W&B run, every row (:mod:`lrlaw.io.remote`;
                             extra ``lrlaw[wandb]``)
``mlflow:RUN_ID``            an MLflow run's metric histories (extra
                             ``lrlaw[mlflow]``)
==========================  ================================================

Columns are found by their common names (:data:`STEP_NAMES`,
:data:`VAL_LOSS_NAMES`, :data:`TRAIN_LOSS_NAMES`, :data:`LR_NAMES`,
:data:`TOKEN_NAMES`; exact match first, then ignoring case), or named
explicitly in :class:`ReadOptions`.  When a log has both a validation and a
training loss, the validation loss is used (it is far less noisy) unless
``loss_kind="train"``; the summary line says which.  A log whose x axis is a
token count (no step column) is read with ``tokens_per_step``.

Every problem is one :class:`~lrlaw.errors.DataError` naming the file, the
column, the position (``line`` for CSV/JSONL, ``row`` for parquet, ``entry``
for JSON lists, ``event`` for TensorBoard) and what was expected.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
>>> _ = path.write_text('{"step": 0, "train/lr": 0.0}\\n{"step": 10, "train/loss": 3.5, '
...                     '"train/lr": 1e-3}\\n{"step": 10, "train/loss": 3.4, "train/lr": 1e-3}\\n')
>>> read_log(path)[["step", "loss", "lr"]].to_numpy().tolist()
[[0.0, nan, 0.0], [10.0, 3.4, 0.001]]
"""

from __future__ import annotations

import codecs
import functools
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw.curves import MAX_LOSS
from lrlaw.errors import DataError, LrlawError
from lrlaw.io.cleaning import (
    DEFAULT_MAX_POINTS,
    CleanRun,
    Series,
    clean_series,
    parse_averaging,
    parse_smoothing,
    place_averages,
    resample_counts,
    smooth,
    summarise_reports,
    union_sorted,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LR_NAMES",
    "STEP_NAMES",
    "TOKEN_NAMES",
    "TRAIN_LOSS_NAMES",
    "VAL_LOSS_NAMES",
    "Column",
    "ReadOptions",
    "RunLog",
    "Selection",
    "finish_run",
    "is_remote",
    "log_format",
    "prepare_run",
    "read_csv_frame",
    "read_log",
    "read_parquet_frame",
    "read_runs",
    "read_series",
    "read_text",
    "select_columns",
    "to_float",
]

#: Step column names, in order of preference (W&B's ``_step`` counts log calls: last).
STEP_NAMES = (
    "step",
    "global_step",
    "trainer/global_step",
    "train/global_step",
    "iter",
    "iteration",
    "_step",
)
#: Validation-loss column names, in order of preference.
VAL_LOSS_NAMES = (
    "val/loss",
    "val_loss",
    "eval/loss",
    "eval_loss",
    "validation/loss",
    "validation_loss",
    "valid/loss",
    "valid_loss",
    # other trainers' names (checked in their code or logs): Megatron-LM, and its
    # DeepSpeed fork's TensorBoard groups; GPT-NeoX; PyTorch's TensorBoard tutorial;
    # MosaicML Composer
    "lm loss validation",
    "lm-loss-validation/lm loss validation",
    "validation/lm_loss",
    "val/lm_loss",
    "eval/lm_loss",
    "loss/val",
    "loss/valid",
    "loss/validation",
    "loss/eval",
    "metrics/eval/LanguageCrossEntropy",
)
#: Training-loss column names, in order of preference (a plain ``loss`` comes last).
TRAIN_LOSS_NAMES = (
    "train/loss",
    "train_loss",
    "train_loss_step",  # Lightning's self.log("train_loss", on_step=True, on_epoch=True)
    "training_loss",
    "train/lm_loss",
    "lm loss",
    # OLMo-core, OLMo, torchtitan, Composer, PyTorch's TensorBoard tutorial, Megatron-
    # DeepSpeed's TensorBoard groups, nanotron
    "train/CE loss",
    "train/CrossEntropyLoss",
    "loss_metrics/global_avg_loss",
    "loss/train/total",
    "loss/train",
    "lm-loss-training/lm loss",
    "lm_loss",
    "loss",
)
#: Learning-rate column names, in order of preference.
LR_NAMES = (
    "lr",
    "learning_rate",
    "train/lr",
    "train_lr",
    "train/learning_rate",
    "learning-rate",
    "optimizer/lr",
    "lr-AdamW",
    "lr-Adam",
    "lr-SGD",
    # Lightning's LearningRateMonitor with parameter groups, Composer, OLMo-core, OLMo
    "lr-AdamW/pg1",
    "lr-DecoupledAdamW/group0",
    "optim/LR (group 0)",
    "optim/learning_rate_group0",
)
#: Token-count column names, in order of preference.
TOKEN_NAMES = (
    "tokens",
    "num_tokens",
    "tokens_seen",
    "train/tokens",
    "trainer/tokens",
    "consumed_tokens",
    "total_tokens",
    "num_input_tokens_seen",
)
LOSS_KINDS = ("auto", "val", "train")
#: CSV files larger than this are parsed with pyarrow (multi-threaded) when
#: they have no blank line (blank lines would shift pyarrow's line numbers).
FAST_CSV_BYTES = 1 << 20
#: CSV/TSV files up to this size whose every cell is a plain decimal number are read
#: without pandas (:func:`_plain_table`): importing pandas and pyarrow costs a fresh
#: ``lrlaw fit`` about 0.25 s, more than reading a few small logs.
PLAIN_CSV_BYTES = 1 << 20
#: Files at least this large show a progress spinner while they are read (lrlaw.progress).
LARGE_FILE_BYTES = 16 << 20
_MISSING_TEXT = ("", "na", "null", "none")
_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}


@dataclass(frozen=True)
class ReadOptions:
    """How to read logs: which columns to use and how to clean them.

    Attributes:
        step_col, loss_col, lr_col, tokens_col: use these columns instead of
            detecting them by name.
        run_col: column naming the run in a table with several runs.
        loss_kind: ``"auto"`` (validation loss when logged, else training
            loss), ``"val"`` or ``"train"``.
        tokens_per_step: for logs without a step column whose x axis is a
            token count: step = tokens / tokens_per_step.
        sort_steps: accept steps that go back to a step never logged before
            and sort the rows by step (otherwise an error).
        smooth: ``None``/``"none"``, ``"ema:BETA"`` or ``"window:K"`` (see
            :func:`lrlaw.io.cleaning.smooth`), applied to the loss.
        max_points: average the loss into at most this many points per run
            (:func:`lrlaw.io.cleaning.resample`); ``None`` keeps every point.
        loss_average: how the trainer averaged each logged loss (``none``,
            ``since-last``, ``window:K``, ``ema:BETA``): each value is then placed at
            the centre of the steps it averages (:func:`lrlaw.io.cleaning.place_averages`).
            ``"auto"``: ``since-last`` for the training loss of a Hugging Face
            ``Trainer`` log (``trainer_state.json``'s ``loss``, ``train/loss`` over
            the ``train/global_step`` of its W&B logger, ``train/loss`` beside
            ``train/epoch`` and ``train/learning_rate`` in its TensorBoard log, or
            ``loss`` beside ``epoch`` and ``learning_rate`` in a table), which is the
            mean since the previous log; ``none`` otherwise.
    """

    step_col: str | None = None
    loss_col: str | None = None
    lr_col: str | None = None
    tokens_col: str | None = None
    run_col: str = "run"
    loss_kind: str = "auto"
    tokens_per_step: float | None = None
    sort_steps: bool = False
    smooth: str | None = None
    max_points: int | None = DEFAULT_MAX_POINTS
    loss_average: str = "auto"

    def __post_init__(self) -> None:
        if self.loss_kind not in LOSS_KINDS:
            raise LrlawError(
                f"loss kind {self.loss_kind!r}: expected one of {', '.join(LOSS_KINDS)}"
            )
        if self.tokens_per_step is not None and not self.tokens_per_step > 0:
            raise LrlawError(f"tokens per step {self.tokens_per_step}: expected a number > 0")
        if self.max_points is not None and self.max_points < 1:
            raise LrlawError(f"max points {self.max_points}: expected an integer >= 1 (or None)")
        parse_smoothing(self.smooth)
        if self.loss_average.strip().lower() != "auto":
            parse_averaging(self.loss_average)


# --------------------------------------------------------------------------- #
# Columns and runs as read
# --------------------------------------------------------------------------- #


class Column:
    """One logged quantity of a run as read: entries in file order, converted on first use.

    Attributes:
        name: the name it is found by (``val_loss``, ``train/loss``).
        label: the name used in messages (``history.val.val_loss``).
        step_label: where its steps come from (``iter``, ``Step``, ...).
        pos_kind: ``line``, ``row``, ``entry`` or ``event``.
    """

    def __init__(
        self,
        name: str,
        label: str,
        raw: Any,
        pos: np.ndarray,
        pos_kind: str,
        source: str,
        steps: np.ndarray | Callable[[], np.ndarray],
        step_label: str,
    ) -> None:
        self.name, self.label, self.step_label = name, label, step_label
        self.pos, self.pos_kind, self.source = pos, pos_kind, source
        self._raw, self._steps = raw, steps
        self._numbers: tuple[np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"Column({self.label!r}, {len(self._raw)} entries)"

    def show(self, i: int) -> str:
        """Entry ``i`` as read, for messages (quoted text, or a plain number)."""
        value = self._raw.iloc[i] if hasattr(self._raw, "iloc") else self._raw[i]
        if isinstance(value, (np.integer, np.floating)):
            return repr(value.item())
        return repr(value)

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """float64 value of each entry and a mask of entries without a value."""
        if self._numbers is None:
            self._numbers = to_float(self._raw, self.label, self.pos, self.pos_kind, self.source)
        return self._numbers

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(steps, values, missing, positions)``, one per entry, in file order."""
        steps = self._steps() if callable(self._steps) else self._steps
        values, missing = self.numbers()
        if len(values) != len(steps):
            raise DataError(
                f"{self.source}: column '{self.label}', {self.pos_kind} "
                f"{min(len(values), len(steps)) + 1}: the column has {len(values)} entries but "
                f"its steps '{self.step_label}' have {len(steps)}; expected one value per step"
            )
        return steps, values, missing, self.pos


@dataclass(frozen=True, eq=False)
class RunLog:
    """One run of a log file as read: its columns by name (file order)."""

    name: str
    source: str
    fmt: str
    columns: dict[str, Column]
    pos_kind: str = "line"
    several: bool = False  # the file holds several runs (messages name the run)
    header: tuple[str, ...] = ()  # every column of the file, for messages (default: columns)

    def names_found(self) -> list[str]:
        """Every column name the log has (for messages listing them)."""
        return list(self.header or self.columns)

    @property
    def where(self) -> str:
        """Prefix of messages about cells of this run."""
        return f"{self.source}: run {self.name!r}" if self.several else self.source


#: Readers of runs that live in a tracking service, by the source's prefix
#: (``wandb:...``, ``mlflow:...``).  :mod:`lrlaw.io.remote` fills it in when
#: :mod:`lrlaw.io` is imported, so this module does not import it back.
REMOTE_READERS: dict[str, Callable[[str, ReadOptions], list[RunLog]]] = {}


def is_remote(source: str | os.PathLike) -> bool:
    """True when ``source`` names a W&B or MLflow run (``wandb:...``, ``mlflow:...``;
    see :mod:`lrlaw.io.remote`) rather than a file."""
    return str(source).startswith(("wandb:", "mlflow:"))


def log_format(path: str | os.PathLike) -> str:
    """The format of a log file from its name: csv, tsv, parquet, jsonl, json or tensorboard."""
    path = Path(path)
    if path.is_dir() or "tfevents" in path.name:
        return "tensorboard"
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: unsupported file type {path.suffix.lower() or '(none)'!r}; expected .csv, "
            ".tsv, .parquet, .jsonl, .json, or TensorBoard event files (a folder or "
            "events.out.tfevents.*)"
        )
    return fmt


def read_runs(path: str | os.PathLike, options: ReadOptions | None = None) -> list[RunLog]:
    """Read a log file into its runs (columns found, nothing converted or cleaned yet)."""
    options = options or ReadOptions()
    if is_remote(str(path)):
        prefix = str(path).partition(":")[0]
        return REMOTE_READERS[prefix](str(path), options)
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    fmt = log_format(path)
    size = path.stat().st_size if path.is_file() else 0
    if size < LARGE_FILE_BYTES:
        return _read_runs(path, fmt, options)
    from lrlaw import progress

    with progress.task(f"reading {path.name} ({size / 2**20:.0f} MiB)"):
        return _read_runs(path, fmt, options)


def _read_runs(path: Path, fmt: str, options: ReadOptions) -> list[RunLog]:
    if fmt == "tensorboard":
        return _read_tensorboard(path)
    if fmt == "json":
        return _read_json(path, options)
    if fmt in ("csv", "tsv"):
        sep = "\t" if fmt == "tsv" else ","
        plain = _plain_table(path, sep, options)
        frame, pos = plain if plain is not None else read_csv_frame(path, sep)
        return _runs_from_frame(frame, pos, "line", path, fmt, options)
    if fmt == "parquet":
        frame, pos = read_parquet_frame(path)
        return _runs_from_frame(frame, pos, "row", path, fmt, options)
    frame, pos = _read_jsonl(path)
    return _runs_from_frame(frame, pos, "line", path, fmt, options)


# --------------------------------------------------------------------------- #
# Tables: CSV/TSV, parquet, JSONL, JSON rows
# --------------------------------------------------------------------------- #


def read_csv_frame(path: Path, sep: str = ",") -> tuple[pd.DataFrame, np.ndarray]:
    """Read a CSV/TSV file as text cells; return the frame and the file line of each row.

    Blank lines are no data but keep their place in the line numbering (the
    header is line 1).  A row with more or fewer fields than the header is an
    error naming its line (an empty cell still has its separator: ``100,,3e-4``).
    A file saved as UTF-16 or UTF-32 (with a byte-order mark) is decoded; a
    binary file, or text that is not UTF-8, is an error.
    """
    import io

    import pandas as pd

    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file; expected a header with columns step, loss")
    text = _unicode_text(path, "a text table (CSV/TSV)")
    frame = None
    if text is None and path.stat().st_size > FAST_CSV_BYTES:
        data = path.read_bytes()
        if not re.search(rb"(^|\n)[ \t]*\r?\n", data):
            try:
                # pyarrow refuses rows with more or fewer fields than the header
                frame = pd.read_csv(
                    io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False, engine="pyarrow"
                )
            except Exception:  # anything unusual: the careful parser below explains it
                frame = None
        del data
    careful = frame is None
    try:
        if frame is None:
            import warnings

            with warnings.catch_warnings():
                # index_col=False: a row with more fields than the header is an
                # error, not silently turned into an index (pandas' default).
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    path if text is None else io.StringIO(text),
                    sep=sep,
                    dtype=str,
                    keep_default_na=False,
                    skipinitialspace=True,
                    skip_blank_lines=False,
                    index_col=False,
                )
    except pd.errors.ParserWarning:
        raise DataError(_field_count_message(path, sep, text)) from None
    except UnicodeDecodeError:
        raise DataError(_not_utf8_message(path, "a text table (CSV/TSV)")) from None
    except Exception as exc:  # pandas parse errors
        wide = _field_count_message(path, sep, text, strict=True)
        raise DataError(wide or f"{path}: cannot be read as a table: {_first_line(exc)}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    # Rows of empty cells (blank lines) are dropped but keep their line number.
    empty = (frame == "").to_numpy() if frame.shape[1] else np.zeros((len(frame), 0), bool)
    blank = empty.all(axis=1) if frame.shape[1] else np.zeros(len(frame), bool)
    if careful and empty[~blank].any():
        # pandas pads a row with fewer fields than the header with empty cells,
        # which would read as missing values: count the fields of such rows.
        short = _field_count_message(path, sep, text, strict=True)
        if short:
            raise DataError(short)
    lines = np.arange(2, 2 + len(frame))[~blank]
    if blank.any():
        frame = frame[~blank].reset_index(drop=True)
    return frame, lines


class _NumberCells:
    """A column of a plain table (:func:`_plain_table`): each cell's text as read (shown
    in messages, as pandas' text cells are), its float64 value (NaN when empty) and
    whether it is empty (missing)."""

    __slots__ = ("missing", "texts", "values")

    def __init__(self, texts: list[str], values: np.ndarray, missing: np.ndarray) -> None:
        self.texts, self.values, self.missing = texts, values, missing

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> str:
        return self.texts[i]


class _NumberTable:
    """Columns of number cells by name: as much of a DataFrame as :func:`_runs_from_frame`
    uses when the table has no run column."""

    def __init__(self, columns: dict[str, _NumberCells], rows: int) -> None:
        self._columns, self._rows = columns, rows
        self.columns = list(columns)

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, name: str) -> _NumberCells:
        return self._columns[name]


#: A cell of a plain table: a decimal number with nothing around it (no spaces, no
#: quotes), or empty (a missing value).  Each text matches in one way only (the digits
#: before a point are ``[0-9]+``'s alone), so a table that fails to match fails in time
#: linear in its size: with ``[0-9]+\.?[0-9]*`` a 4-digit step matched in 4 ways and a
#: ``nan`` after 36 such rows backtracked through 4**36 of them.
_PLAIN_NUMBER = rb"(?:-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)?"
_PLAIN_SPLIT = {sep: re.compile(rb"[\n" + re.escape(sep.encode()) + rb"]") for sep in (",", "\t")}


@functools.lru_cache(maxsize=64)
def _plain_rows(sep: str, width: int) -> re.Pattern[bytes]:
    """Rows of ``width`` plain numbers separated by ``sep``, one per line."""
    row = _PLAIN_NUMBER + (re.escape(sep.encode()) + _PLAIN_NUMBER) * (width - 1)
    return re.compile(b"(?:%s\n)*%s" % (row, row))


def _plain_table(
    path: Path, sep: str, options: ReadOptions
) -> tuple[_NumberTable, np.ndarray] | None:
    """A small CSV/TSV file read without pandas, when nothing in it needs pandas' parser.

    That is: at most :data:`PLAIN_CSV_BYTES`, UTF-8 without a byte-order mark, a header
    of distinct unquoted names, then at least one row, every row on its own line
    (``\\n`` or ``\\r\\n``, no blank line) with one plain decimal number or an empty
    cell per column (no spaces, quotes, ``nan``/``inf`` or text), the numbers finite, no
    row of empty cells, and no ``run`` column (``options.run_col``).  Returns ``(table, lines)`` as
    :func:`read_csv_frame` does, with the same cell texts and values; ``None`` for
    anything else, which :func:`read_csv_frame` then reads (and explains when wrong).
    """
    try:
        if path.stat().st_size > PLAIN_CSV_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    head, newline, body = data.partition(b"\n")
    if not newline or b"\0" in data or b'"' in head or b"'" in head:
        return None
    try:
        header = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if header.startswith("\ufeff"):
        return None
    if header.endswith("\r"):
        header = header[:-1]
    names = [n.strip() for n in header.split(sep)]
    if any(not n or "\r" in n for n in names) or len(set(names)) != len(names):
        return None
    if options.run_col in names:
        return None
    body = body.replace(b"\r\n", b"\n")
    if body.endswith(b"\n"):
        body = body[:-1]
    if not body or _plain_rows(sep, len(names)).fullmatch(body) is None:
        return None
    width = len(names)
    cells = _PLAIN_SPLIT[sep].split(body)
    empty = np.array([not c for c in cells], dtype=bool).reshape(-1, width)
    if empty.all(axis=1).any():
        return None  # a row of empty cells: read_csv_frame drops it as a blank line
    values = np.array([c or b"nan" for c in cells], dtype=np.float64).reshape(-1, width)
    if not np.isfinite(values[~empty]).all():
        return None
    texts = [c.decode("ascii") for c in cells]
    columns = {
        name: _NumberCells(texts[j::width], values[:, j].copy(), empty[:, j].copy())
        for j, name in enumerate(names)
    }
    rows = values.shape[0]
    return _NumberTable(columns, rows), np.arange(2, 2 + rows)


def read_parquet_frame(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a parquet file; return the frame and the 1-based row of each row."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as a table: {_first_line(exc)}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, np.arange(1, len(frame) + 1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _field_count_message(
    path: Path, sep: str, text: str | None = None, strict: bool = False
) -> str:
    """Message for the first row with more or fewer fields than the header, naming its line
    ('' if none is found and ``strict``).  ``text``: the decoded file (UTF-16), else read."""
    import csv
    import io

    try:
        with (
            io.StringIO(text)
            if text is not None
            else path.open(newline="", encoding="utf-8-sig") as fh
        ):
            rows = csv.reader(fh, delimiter=sep, skipinitialspace=True)
            header = next(rows)
            for row in rows:
                if len(row) == len(header) or not "".join(row).strip():
                    continue  # a blank line has no fields
                fields = f"{len(row)} field{'' if len(row) == 1 else 's'}"
                hint = "" if len(row) > len(header) else " (an empty cell keeps its separator)"
                return (
                    f"{path}: line {rows.line_num}: {fields} but the header has {len(header)} "
                    f"columns ({', '.join(header)}); expected one value per column{hint}"
                )
    except (csv.Error, UnicodeDecodeError, StopIteration):
        pass
    return "" if strict else f"{path}: some rows have more fields than the header has columns"


#: Byte-order marks of the Unicode encodings other than UTF-8 (UTF-32 LE first: its mark
#: starts with UTF-16 LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


def _unicode_text(path: Path, expected: str) -> str | None:
    """The text of a file saved as UTF-16 or UTF-32 (told by its byte-order mark), decoded;
    ``None`` for any other file (to be read as UTF-8).

    Raises:
        DataError: a binary file (a NUL byte in its first 8 KiB, which no UTF-8 text
            has), or a byte-order mark followed by bytes that are not of its encoding.
    """
    with path.open("rb") as fh:
        head = fh.read(8192)
    for bom, codec, name in _BOMS:
        if head.startswith(bom):
            try:
                return path.read_bytes().decode(codec)
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}: starts with a {name} byte-order mark but byte {exc.start} is not "
                    f"{name} text ({exc.reason}); expected {expected}: save it as UTF-8"
                ) from None
    if b"\0" in head:
        at = head.index(b"\0")
        raise DataError(
            f"{path}: a binary file (NUL byte at offset {at}), not {expected}; "
            "if it is UTF-16 text without a byte-order mark, save it as UTF-8"
        )
    return None


def _not_utf8_message(path: Path, expected: str) -> str:
    """Message for a text file that is not UTF-8 (e.g. Latin-1), naming the first bad line."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return (
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            f"expected {expected}: save the file as UTF-8"
        )
    return f"{path}: not UTF-8 text; expected {expected}: save the file as UTF-8"


def read_text(path: str | os.PathLike, expected: str = "a text file") -> str:
    """The text of a file: UTF-8 (with or without a byte-order mark), or UTF-16/UTF-32 with
    a byte-order mark.

    Raises:
        DataError: a binary file, or text that is not UTF-8, with a message
            saying so (``expected`` names what the file should be).
    """
    path = Path(path)
    text = _unicode_text(path, expected)
    if text is not None:
        return text
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(_not_utf8_message(path, expected)) from None


def _read_jsonl(path: Path):
    import io

    import pandas as pd

    records, lines = [], []
    text = _unicode_text(path, "JSON lines (one JSON object per line)")
    with path.open("rb") if text is None else io.StringIO(text) as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except UnicodeDecodeError:
                raise DataError(
                    f"{path}: line {n}: not UTF-8 text; expected one JSON object per line in "
                    "UTF-8: save the file as UTF-8"
                ) from None
            except ValueError as exc:
                raise DataError(
                    f"{path}: line {n}: not valid JSON ({_first_line(exc)}); expected one JSON "
                    "object per line"
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    f"{path}: line {n}: expected a JSON object, got {type(record).__name__}"
                )
            records.append(record)
            lines.append(n)
    if not records:
        raise DataError(f"{path}: no records; expected one JSON object per line")
    return _keep_logged_nans(pd.DataFrame.from_records(records), records), np.asarray(lines)


def _keep_logged_nans(frame, records: list[dict]):
    """``frame`` with a logged NaN (``"loss": NaN``, a diverged step) told apart from a key
    that a record does not have (an eval-only line): both are NaN in a float column, and
    :func:`to_float` would count both as missing, so the NaN losses were dropped without
    being reported.  Such columns become object columns holding ``"nan"`` for logged NaNs
    and ``None`` for absent keys; columns without NaN are left as they are."""
    import pandas as pd

    for col in frame.columns:
        values = frame[col]
        if not pd.api.types.is_float_dtype(values.dtype):
            continue
        rows = np.flatnonzero(np.isnan(values.to_numpy(dtype=np.float64)))
        logged = [i for i in rows if col in records[i]]
        if not logged:
            continue
        cells = values.astype(object)
        cells.iloc[rows] = None
        cells.iloc[logged] = "nan"
        frame[col] = cells
    return frame


def _records_frame(path: Path, records: list, where: str):
    import pandas as pd

    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(
                f"{path}: {where} entry {i + 1}: expected a JSON object (one logged row), "
                f"got {type(record).__name__}"
            )
    if not records:
        raise DataError(f"{path}: {where} has no entries; expected logged rows")
    frame = _keep_logged_nans(pd.DataFrame.from_records(records), records)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, np.arange(1, len(records) + 1)


def _find(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The first candidate present in ``names``: exact match first, then ignoring case."""
    present = set(names)
    for c in candidates:
        if c in present:
            return c
    lower: dict[str, str] = {}
    for n in names:
        lower.setdefault(n.lower(), n)
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def _listing(names: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(names[:limit]) or "(none)"
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _wandb_panel_runs(cols: list[str], step_col: str) -> dict[str, dict[str, str]] | None:
    """For a W&B panel CSV (``Step``, ``RUN - METRIC[__MIN|__MAX]``): run -> metric -> column."""
    others = [c for c in cols if c != step_col]
    if not others or not all(" - " in c for c in others):
        return None
    runs: dict[str, dict[str, str]] = {}
    for c in others:
        run, metric = c.rsplit(" - ", 1)
        if metric.endswith(("__MIN", "__MAX")):
            continue
        runs.setdefault(run.strip(), {})[metric.strip()] = c
    return runs or None


def _steps_from_column(raw, label, pos, pos_kind, where) -> np.ndarray:
    """Validate a step column: every entry an integer >= 0."""
    values, _ = to_float(raw, label, pos, pos_kind, where)
    bad = np.flatnonzero(
        ~np.isfinite(values) | (values < 0) | (values != np.round(values)) | (values > 2**53)
    )
    if bad.size:
        i = int(bad[0])
        value = raw.iloc[i] if hasattr(raw, "iloc") else raw[i]
        shown = repr(value.item()) if isinstance(value, (np.integer, np.floating)) else repr(value)
        raise DataError(
            f"{where}: column '{label}', {pos_kind} {pos[i]}: expected an integer >= 0, got {shown}"
        )
    return values.astype(np.int64)


def _steps_from_tokens(raw, label, pos, pos_kind, where, per_step: float) -> np.ndarray:
    """Steps from a token count: tokens / per_step, which must be a whole number of steps."""
    values, _ = to_float(raw, label, pos, pos_kind, where)
    steps = values / per_step
    rounded = np.round(steps)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (np.abs(steps - rounded) > 0.01))
    if bad.size:
        i = int(bad[0])
        value = raw.iloc[i] if hasattr(raw, "iloc") else raw[i]
        raise DataError(
            f"{where}: column '{label}', {pos_kind} {pos[i]}: expected a token count >= 0 that is "
            f"a whole number of steps of {per_step:g} tokens (--tokens-per-step), got {value!r}"
        )
    return rounded.astype(np.int64)


def _x_axis(names: list[str], get_raw, pos, pos_kind, where, options: ReadOptions):
    """The step column of a table (or steps from its token count): (name, label, steps)."""
    if options.step_col is not None:
        if options.step_col not in names:
            raise DataError(
                f"{where}: no column {options.step_col!r} (--step-col); columns found: "
                f"{_listing(names)}"
            )
        name = options.step_col
    else:
        name = _find(names, (*STEP_NAMES, "Step"))
    if name is not None:
        return name, name, _steps_from_column(get_raw(name), name, pos, pos_kind, where)
    tokens = options.tokens_col if options.tokens_col in names else _find(names, TOKEN_NAMES)
    if tokens is not None and options.tokens_per_step is not None:
        label = f"{tokens} / {options.tokens_per_step:g}"
        steps = _steps_from_tokens(
            get_raw(tokens), tokens, pos, pos_kind, where, options.tokens_per_step
        )
        return tokens, label, steps
    hint = (
        f"; it has a token count '{tokens}': pass --tokens-per-step N to use it as the x axis"
        if tokens is not None
        else "; name it with --step-col"
    )
    if len(names) == 1 and any(sep in names[0] for sep in (";", "|")):
        sep = ";" if ";" in names[0] else "|"
        hint = (
            f"; the header looks {sep!r}-separated, and lrlaw reads comma- or tab-separated "
            "tables: convert the separators first"
        )
    raise DataError(
        f"{where}: no step column (looked for {', '.join(STEP_NAMES)}); columns found: "
        f"{_listing(names)}{hint}"
    )


def _runs_from_frame(frame, pos, pos_kind: str, path: Path, fmt: str, options: ReadOptions):
    """Split a table into runs (``run`` column or W&B panel layout) of lazily converted columns."""
    source = str(path)
    if len(frame) == 0:
        raise DataError(f"{path}: no data rows (only a header); expected rows of step, loss")
    cols = list(frame.columns)
    step_name, step_label, steps = _x_axis(cols, lambda c: frame[c], pos, pos_kind, source, options)
    panel = _wandb_panel_runs(cols, step_name)
    if panel is not None:
        runs = []
        for run, metrics in panel.items():
            columns = {
                metric: Column(metric, col, frame[col], pos, pos_kind, source, steps, step_label)
                for metric, col in metrics.items()
            }
            runs.append(
                RunLog(run, source, "W&B CSV", columns, pos_kind, len(panel) > 1, tuple(cols))
            )
        return runs
    skip = {step_name} if step_label == step_name else set()  # a token x axis stays a column
    run_col = options.run_col if options.run_col in cols else None
    if run_col is None:
        groups = {path.stem: None}
    else:
        skip.add(run_col)
        names = frame[run_col].astype(str).str.strip().to_numpy()
        groups = {n: np.flatnonzero(names == n) for n in dict.fromkeys(names)}
    runs = []
    for run, idx in groups.items():
        columns = {}
        for c in cols:
            if c in skip:
                continue
            if idx is None:
                raw, p, s = frame[c], pos, steps
            else:
                raw, p, s = frame[c].iloc[idx].reset_index(drop=True), pos[idx], steps[idx]
            columns[c] = Column(c, c, raw, p, pos_kind, source, s, step_label)
        runs.append(RunLog(run, source, fmt, columns, pos_kind, len(groups) > 1, tuple(cols)))
    return runs


# --------------------------------------------------------------------------- #
# JSON: W&B exports (rows or sections), Hugging Face trainer_state, dicts of lists
# --------------------------------------------------------------------------- #


def _read_json(path: Path, options: ReadOptions) -> list[RunLog]:
    raw = path.read_bytes()
    try:
        data = json.loads(raw)  # UTF-8, or UTF-16/32 (told by json itself)
    except ValueError as exc:
        if b"\0" in raw[:8192] and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            _unicode_text(path, "JSON")  # a binary file: says so
        if isinstance(exc, UnicodeDecodeError):
            raise DataError(_not_utf8_message(path, "JSON")) from None
        raise DataError(f"{path}: not valid JSON: {_first_line(exc)}") from None
    del raw
    source = str(path)
    if isinstance(data, dict) and isinstance(data.get("log_history"), list):
        frame, pos = _records_frame(path, data["log_history"], "log_history")
        return _runs_from_frame(frame, pos, "entry", path, "Hugging Face JSON", options)
    if isinstance(data, dict) and "history" in data:
        body, prefix = data["history"], "history"
    else:
        body, prefix = data, ""
    if isinstance(body, list):
        frame, pos = _records_frame(path, body, prefix or "the list")
        return _runs_from_frame(frame, pos, "entry", path, "JSON", options)
    if isinstance(body, dict) and body:
        values = list(body.values())
        if all(isinstance(v, dict) for v in values):
            sections = body  # W&B export: {"train": {"iter": [...], ...}, "val": {...}}
        elif any(isinstance(v, list) for v in values):
            sections = {"": {k: v for k, v in body.items() if isinstance(v, list)}}
        else:
            sections = None
        if sections is not None:
            return [_run_from_sections(path, sections, prefix, options)]
    raise DataError(
        f"{source}: unrecognised JSON layout; expected a list of logged rows, a W&B export "
        "{'history': rows or {section: {'iter': [...], column: [...]}}}, a Hugging Face "
        "trainer_state.json ('log_history') or a dict of equal-length lists"
    )


def _run_from_sections(path: Path, sections: dict, prefix: str, options) -> RunLog:
    """One run from sections of lists, each section with its own step list."""
    source = str(path)
    counts: dict[str, int] = {}
    for sec in sections.values():
        for key, values in sec.items():
            if isinstance(values, list):
                counts[key] = counts.get(key, 0) + 1
    columns: dict[str, Column] = {}
    for sec_name, sec in sections.items():
        lists = {k: v for k, v in sec.items() if isinstance(v, list)}
        base = ".".join(p for p in (prefix, sec_name) if p)
        keys = list(lists)
        step_key = (
            options.step_col if options.step_col in lists else _find(keys, (*STEP_NAMES, "Step"))
        )
        step_label = f"{base}.{step_key}" if base else str(step_key)

        def steps(label=step_label, base=base, key=step_key, lists=lists) -> np.ndarray:
            raw = lists.get(key) if key is not None else None
            if raw is None:
                raise DataError(
                    f"{source}: section '{base or '(top level)'}' has no step list (looked for "
                    f"{', '.join(STEP_NAMES)}); name it with --step-col"
                )
            return _steps_from_column(raw, label, np.arange(1, len(raw) + 1), "entry", source)

        for key, values in lists.items():
            if key == step_key:
                continue
            name = key if counts[key] == 1 else f"{sec_name}/{key}"
            label = f"{base}.{key}" if base else key
            pos = np.arange(1, len(values) + 1)
            columns[name] = Column(name, label, values, pos, "entry", source, steps, step_label)
    return RunLog(path.stem, source, "W&B JSON", columns, "entry")


# --------------------------------------------------------------------------- #
# TensorBoard
# --------------------------------------------------------------------------- #


def _read_tensorboard(path: Path) -> list[RunLog]:
    """Scalars of TensorBoard event files with tensorboard's own reader (EventAccumulator)."""
    source = str(path)
    if path.is_dir():
        # Look before needing the extra: a folder without event files is no TensorBoard log.
        folders = sorted({f.parent for f in path.rglob("*tfevents*") if f.is_file()})
        if not folders:
            raise DataError(
                f"{path}: a folder with no TensorBoard event files (events.out.tfevents.*) in "
                "it; expected a log file (.csv, .tsv, .parquet, .jsonl, .json) or a folder of "
                "TensorBoard event files"
            )
        targets = [(f, "" if f == path else f.relative_to(path).as_posix()) for f in folders]
        name = path.resolve().name
    else:
        targets = [(path, "")]
        name = path.resolve().parent.name
    try:
        from tensorboard.backend.event_processing import event_accumulator as ea
        from tensorboard.util import tensor_util
    except ImportError:
        raise LrlawError(
            f"{path}: reading TensorBoard event files needs the optional extra 'tensorboard': "
            "pip install 'lrlaw[tensorboard]'"
        ) from None
    columns: dict[str, Column] = {}
    for target, prefix in targets:
        acc = ea.EventAccumulator(str(target), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
        try:
            acc.Reload()
        except Exception as exc:
            raise DataError(
                f"{target}: cannot be read as TensorBoard events: {_first_line(exc)}"
            ) from None
        tags = acc.Tags()
        series: dict[str, tuple[list[int], list[float]]] = {}
        for tag in tags.get("scalars", []):
            events = acc.Scalars(tag)
            series[tag] = ([e.step for e in events], [e.value for e in events])
        for tag in tags.get("tensors", []):
            if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
                continue
            events = acc.Tensors(tag)
            values = [tensor_util.make_ndarray(e.tensor_proto) for e in events]
            if all(np.size(v) == 1 for v in values):
                series[tag] = ([e.step for e in events], [float(np.ravel(v)[0]) for v in values])
        for tag, (steps, values) in series.items():
            full = f"{prefix}/{tag}" if prefix else tag
            step_arr = np.asarray(steps, dtype=np.int64)
            pos = np.arange(1, len(values) + 1)
            if np.any(step_arr < 0):
                i = int(np.flatnonzero(step_arr < 0)[0])
                raise DataError(
                    f"{target}: column '{full}', event {i + 1}: expected a step >= 0, "
                    f"got {steps[i]}"
                )
            raw = np.asarray(values, dtype=np.float64)
            columns[full] = Column(full, full, raw, pos, "event", source, step_arr, "event step")
    if not columns:
        raise DataError(f"{path}: no scalar values in the TensorBoard event file(s)")
    return [RunLog(name, source, "TensorBoard", columns, "event")]


# --------------------------------------------------------------------------- #
# Cells to numbers
# --------------------------------------------------------------------------- #


def to_float(raw, label: str, pos, pos_kind: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Cells as float64 and a mask of cells without a value; anything non-numeric is an error.

    Empty cells, ``None``/``null`` and the texts ``na``, ``null``, ``none`` are
    missing (NaN, masked); ``nan``/``inf`` texts and NaN numbers are values
    (NaN/inf, not masked, so cleaning can count them).  Vectorised; only
    unusual cells are looked at one by one.
    """
    if isinstance(raw, _NumberCells):  # a plain table's cells: numbers already
        return raw.values.copy(), raw.missing.copy()
    import pandas as pd

    s = raw if isinstance(raw, pd.Series) else pd.Series(raw, dtype=object)
    n = len(s)
    if n == 0:
        return np.zeros(0), np.zeros(0, bool)
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        _not_a_number(s, 0, label, pos, pos_kind, where)
    if pd.api.types.is_numeric_dtype(dtype):
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, np.isnan(values)
    fast = _arrow_floats(s)
    if fast is not None:
        return fast
    text_dtype = pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)
    objects = None if text_dtype else s.to_numpy(dtype=object)
    if objects is not None:
        bools = np.fromiter((type(x) is bool for x in objects), bool, n)
        if bools.any():
            _not_a_number(s, int(np.flatnonzero(bools)[0]), label, pos, pos_kind, where)
    try:
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        values = np.full(n, np.nan)
    values = np.array(values, dtype=np.float64)
    missing = np.zeros(n, dtype=bool)
    nan_idx = np.flatnonzero(np.isnan(values))
    if nan_idx.size == 0:
        return values, missing
    if text_dtype:
        low = s.iloc[nan_idx].fillna("").astype(str).str.strip().str.lower().to_numpy()
        is_missing = np.isin(low, _MISSING_TEXT)
        is_nan = low == "nan"
    else:
        sub = objects[nan_idx]
        is_missing = np.fromiter(
            (
                x is None
                or x is pd.NA
                or (isinstance(x, str) and x.strip().lower() in _MISSING_TEXT)
                for x in sub
            ),
            bool,
            len(sub),
        )
        is_nan = np.fromiter(
            (
                (isinstance(x, float) and x != x)
                or (isinstance(x, str) and x.strip().lower() == "nan")
                for x in sub
            ),
            bool,
            len(sub),
        )
    missing[nan_idx[is_missing]] = True
    for i in nan_idx[~(is_missing | is_nan)]:
        x = s.iloc[i]
        try:
            values[i] = float(x.strip()) if isinstance(x, str) else float(x)
        except (TypeError, ValueError):
            _not_a_number(s, int(i), label, pos, pos_kind, where)
    return values, missing


def _arrow_floats(s) -> tuple[np.ndarray, np.ndarray] | None:
    """Text cells held by pyarrow, cast to float64 in one call when every cell is a number
    (about 30x faster than ``pd.to_numeric``); ``None`` when any cell is not."""
    arr = getattr(s.array, "_pa_array", None)
    if arr is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        cast = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    missing = np.asarray(cast.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    values = np.array(cast.to_numpy(zero_copy_only=False), dtype=np.float64)  # writable copy
    values[missing] = np.nan
    return values, missing


def _not_a_number(s, i: int, label: str, pos, pos_kind: str, where: str):
    x = s.iloc[i]
    shown = repr(x.strip()) if isinstance(x, str) else repr(x)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise DataError(
        f"{where}: column '{label}', {pos_kind} {pos[i]}: expected a number, got {shown}"
    )


# --------------------------------------------------------------------------- #
# Choosing the columns, cleaning them
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, eq=False)
class Selection:
    """The columns of a run used for a curve.

    ``loss_kind`` is ``"validation"``, ``"training"`` or ``""`` (a plain
    ``loss`` column, or one named by the user); ``other_loss`` is a loss of
    the other kind that the log also has (for the summary line).
    """

    loss: Column
    loss_kind: str
    lr: Column | None = None
    tokens: Column | None = None
    other_loss: Column | None = None
    note: str = ""  # how the loss column was chosen, where that is not by its name


def _kind_of(name: str) -> str:
    low = name.lower()
    if low in (n.lower() for n in VAL_LOSS_NAMES):
        return "validation"
    if low != "loss" and low in (n.lower() for n in TRAIN_LOSS_NAMES):
        return "training"
    return ""


def select_columns(run: RunLog, options: ReadOptions | None = None) -> Selection:
    """Find the loss, learning-rate and token-count columns of a run (see module doc).

    Raises:
        DataError: no loss column (the message lists the columns found), or a
            column named in ``options`` does not exist.
    """
    options = options or ReadOptions()
    names = list(run.columns)
    where = f"{run.source}: run {run.name!r}"

    def named(name: str, option: str) -> Column:
        found = name if name in run.columns else _find(names, (name,))
        if found is None:
            raise DataError(
                f"{where}: no column {name!r} ({option}); columns found: "
                f"{_listing(run.names_found())}"
            )
        return run.columns[found]

    other, note = None, ""
    if options.loss_col is not None:
        loss = named(options.loss_col, "--loss-col")
        kind = _kind_of(loss.name)
    else:
        val = _find(names, VAL_LOSS_NAMES)
        train = _find(names, TRAIN_LOSS_NAMES)
        if options.loss_kind == "auto" and val and train and not _has_finite(run.columns[val]):
            val = None  # an evaluation column with no value (a W&B export's empty eval/loss)
        wanted = {"auto": val or train, "val": val, "train": train}[options.loss_kind]
        if wanted is None and options.loss_kind == "auto" and _tensorboard_export(run):
            wanted, note = "Value", _TB_EXPORT_NOTE
        if wanted is None:
            what = {"auto": "loss", "val": "validation-loss", "train": "training-loss"}
            looked = {
                "auto": (*VAL_LOSS_NAMES, *TRAIN_LOSS_NAMES),
                "val": VAL_LOSS_NAMES,
                "train": TRAIN_LOSS_NAMES,
            }[options.loss_kind]
            raise DataError(
                f"{where}: no {what[options.loss_kind]} column (looked for {', '.join(looked)}); "
                f"columns found: {_listing(run.names_found())}; name it with --loss-col"
            )
        loss = run.columns[wanted]
        kind = _kind_of(wanted)
        alt = train if wanted == val else val
        other = run.columns[alt] if alt is not None else None
    lr = named(options.lr_col, "--lr-col") if options.lr_col is not None else None
    if lr is None:
        found = _find(names, LR_NAMES)
        lr = run.columns[found] if found is not None else None
    if options.tokens_col is not None:
        tokens = named(options.tokens_col, "--tokens-col")
    else:
        found = _find(names, TOKEN_NAMES)
        tokens = run.columns[found] if found is not None else None
    return Selection(loss, kind, lr, tokens, other, note)


#: The columns of TensorBoard's "Download CSV" of one scalar chart (besides its step).
_TB_EXPORT_COLUMNS = ("Wall time", "Value")
_TB_EXPORT_NOTE = (
    "a TensorBoard scalar export (Wall time, Step, Value): its Value taken as the loss; "
    "--loss-col names another"
)


def _tensorboard_export(run: RunLog) -> bool:
    """Whether the log is TensorBoard's CSV download of one scalar: exactly the columns
    ``Wall time``, ``Step``, ``Value`` (the step column read as the steps)."""
    return (
        sorted(run.columns) == sorted(_TB_EXPORT_COLUMNS)
        and run.columns["Value"].step_label.lower() == "step"
    )


def _has_finite(col: Column) -> bool:
    """Whether a column has at least one finite value (cells that fail to parse count as
    values here; they are reported when the column is read)."""
    try:
        _, values, missing, _ = col.entries()
    except DataError:
        return True
    return bool(np.any(~missing & np.isfinite(values)))


def _checked(run: RunLog, col: Column, role: str) -> tuple[np.ndarray, ...]:
    """Entries of a column with the range check of its role (loss > 0, lr >= 0, tokens >= 0)."""
    steps, values, missing, pos = col.entries()
    has = ~missing
    if role == "loss":
        bad = has & np.isfinite(values) & (values <= 0)
        expected = "a finite loss > 0"
        # Above MAX_LOSS (1e10) a value is no loss (lrlaw.curves.MAX_LOSS): say so here,
        # naming the cell, before it overflows the metrics.
        if not bad.any() and np.any(has & np.isfinite(values) & (values > MAX_LOSS)):
            bad = has & np.isfinite(values) & (values > MAX_LOSS)
            expected = (
                f"a loss <= {MAX_LOSS:g} (a loss in nats is below ~20, a perplexity below ~1e6)"
            )
    elif role == "lr":
        bad = has & (np.isinf(values) | (values < 0))
        expected = "a finite learning rate >= 0"
    else:
        bad = has & (np.isinf(values) | (values < 0))
        expected = "a finite token count >= 0"
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{run.where}: column '{col.label}', {col.pos_kind} {pos[i]}: expected {expected}, "
            f"got {col.show(i)}"
        )
    return steps, values, missing, pos


def _clean(
    run: RunLog,
    col: Column,
    role: str,
    options: ReadOptions,
    averaging: tuple[str, float] | None = None,
) -> Series:
    steps, values, missing, pos = _checked(run, col, role)
    series = clean_series(
        steps,
        values,
        missing,
        pos,
        label=col.label,
        where=run.where,
        pos_kind=col.pos_kind,
        sort_steps=options.sort_steps,
        step_label=col.step_label,
    )
    if averaging is None:
        return series
    # every step with an entry (a NaN one too) ended the stretch its value averaged
    return place_averages(series, averaging, np.unique(np.asarray(steps)[~missing]))


#: The step column of the Hugging Face ``Trainer``'s W&B logger.
_HF_WANDB_STEP = "train/global_step"


def _loss_averaging(
    run: RunLog, sel: Selection, options: ReadOptions
) -> tuple[tuple[str, float] | None, str]:
    """How the chosen loss was averaged (``options.loss_average``, or for ``"auto"``
    the known logger's habit), and a phrase saying so for the summary line."""
    text = options.loss_average.strip().lower()
    if text != "auto":
        spec = parse_averaging(text)
        if spec is None:
            return None, ""
        what = {
            "since-last": "the mean since the previous log",
            "window": f"the mean of the last {spec[1]:g} steps",
            "ema": f"an EMA of decay {spec[1]:g} per step",
        }[spec[0]]
        return spec, f"{what}, as --loss-average says: placed at the centre of its steps"
    hf_json = run.fmt == "Hugging Face JSON" and sel.loss.name == "loss"
    hf_wandb = sel.loss.step_label == _HF_WANDB_STEP and sel.loss.name == "train/loss"
    # The Trainer's TensorBoardCallback writes every logged key with a "train/" prefix at
    # the global step: its training loss comes with "train/epoch" (Trainer.log adds the
    # epoch to every log) and "train/learning_rate" (checked in transformers'
    # integration_utils.py).  fairseq's "train/loss", the one other log seen with these
    # tags, is a mean since the previous log too.
    hf_tb = (
        run.fmt == "TensorBoard"
        and sel.loss.name == "train/loss"
        and {"train/epoch", "train/learning_rate"} <= set(run.columns)
    )
    # Its log_history as a table (a CSV of trainer_state.json's entries) or through its
    # MLflow logger: the Trainer's own keys, "loss" beside "epoch" and "learning_rate".
    # (Keras's CSVLogger has the same columns; its per-epoch loss is a mean since the
    # previous log as well.)
    hf_table = sel.loss.name == "loss" and {"epoch", "learning_rate"} <= set(run.columns)
    if hf_json or hf_wandb or hf_tb or hf_table:
        return ("since-last", 0.0), (
            "the Hugging Face Trainer's mean since the previous log: placed at the centre of "
            "its steps; --loss-average none keeps it at its step"
        )
    return None, ""


def prepare_run(
    run: RunLog, options: ReadOptions | None = None, selection: Selection | None = None
) -> CleanRun:
    """Select and clean the loss, lr and token columns of a run (no smoothing/resampling yet).

    Raises:
        DataError: a bad cell (naming file, column, position and expectation),
            steps going backwards, or a loss column without a finite value.
    """
    options = options or ReadOptions()
    sel = selection or select_columns(run, options)
    averaging, why = _loss_averaging(run, sel, options)
    loss = _clean(run, sel.loss, "loss", options, averaging)
    if loss.step.size == 0:
        r = loss.report
        _, _, missing, pos = sel.loss.entries()
        rows = pos[~missing]
        if r.entries == 0:
            raise DataError(
                f"{run.source}: run {run.name!r}: column '{sel.loss.label}' has no values; "
                "expected at least one finite loss > 0"
            )
        span = (
            f"{sel.loss.pos_kind}s {rows[0]}-{rows[-1]}"
            if rows.size > 1
            else (f"{sel.loss.pos_kind} {rows[0]}")
        )
        raise DataError(
            f"{run.source}: run {run.name!r}: column '{sel.loss.label}' has no finite values: "
            f"all {r.entries} ({span}) are NaN/inf; expected at least one finite loss > 0"
        )
    lr = _clean(run, sel.lr, "lr", options) if sel.lr is not None else None
    tokens = _clean(run, sel.tokens, "tokens", options) if sel.tokens is not None else None
    kind = f" ({sel.loss_kind})" if sel.loss_kind else ""
    if sel.note:
        kind += f" ({sel.note})"
    if sel.other_loss is not None:
        flag = "train" if sel.loss_kind == "validation" else "val"
        kind = (
            f" ({sel.loss_kind or 'chosen'}; {_kind_of(sel.other_loss.name) or 'another'} loss "
            f"'{sel.other_loss.label}' also logged: --loss-kind {flag} uses it)"
        )
    head = [f"{run.fmt}, step '{sel.loss.step_label}'"]
    if averaging is not None:
        kind += f" (each value {why})"
    parts = [(f"loss '{sel.loss.label}'{kind}", loss)]
    if lr is not None:
        parts.append((f"lr '{sel.lr.label}'", lr))
    else:
        head.append("no lr column")
    if tokens is not None:
        parts.append((f"tokens '{sel.tokens.label}'", tokens))
    return CleanRun(
        name=run.name,
        source=run.source,
        pos_kind=run.pos_kind,
        loss=loss,
        lr=lr,
        tokens=tokens,
        loss_kind=sel.loss_kind,
        notes=(", ".join(head), *summarise_reports(parts)),
        columns=tuple(run.columns),
        loss_average=averaging,
    )


def finish_run(run: CleanRun, options: ReadOptions | None = None) -> CleanRun:
    """Smooth (if asked) and resample the loss of a cleaned (and joined) run."""
    options = options or ReadOptions()
    loss, notes = run.loss, list(run.notes)
    values = loss.value
    spec = parse_smoothing(options.smooth)
    if spec is not None:
        values = smooth(values, spec)
        notes.append(f"loss smoothed ({options.smooth.strip()})")
    steps, values, counts = resample_counts(loss.step, values, options.max_points)
    if steps.size < loss.step.size:
        notes.append(
            f"{loss.step.size} losses averaged into {steps.size} points in step bins "
            f"(max points {options.max_points})"
        )
        at = np.clip(np.searchsorted(loss.step, steps), 0, loss.step.size - 1)
        base = None if loss.from_base is None else loss.from_base[at]
        loss = replace(
            loss, step=steps, value=values, pos=loss.pos[at], from_base=base, count=counts
        )
    elif spec is not None:
        loss = replace(loss, value=values)
    return replace(run, loss=loss, notes=tuple(notes))


# --------------------------------------------------------------------------- #
# Public conveniences
# --------------------------------------------------------------------------- #


def read_log(
    path: str | os.PathLike,
    options: ReadOptions | None = None,
    *,
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a training log into a canonical :class:`pandas.DataFrame`.

    Columns ``run, step, loss, lr`` (``lr`` NaN when the log has none), then
    ``tokens`` when the log has a token count, then the ``extra`` columns
    (by their name in the log, e.g. ``"grad_norm"``).  One row per step that
    has any of them, sorted by run (file order) and step; NaN where a column
    has no value at that step.  Cleaned as described in
    :mod:`lrlaw.io.cleaning` (repeated steps: the last wins; NaN/inf losses
    dropped); with the default ``options`` nothing is smoothed or resampled.
    ``frame.attrs["summary"]`` holds one summary line per run.

    Args:
        path: a log file (or TensorBoard folder) in any supported format.
        options: column names and cleaning (default: detect every column,
            no smoothing, no resampling).
        extra: more columns to include, cleaned the same way.
    """
    import pandas as pd

    options = options or ReadOptions(max_points=None)
    frames, summary = [], {}
    for run in read_runs(path, options):
        clean = finish_run(prepare_run(run, options), options)
        series: dict[str, tuple[np.ndarray, np.ndarray]] = {
            "loss": (clean.loss.step, clean.loss.value)
        }
        if clean.lr is not None:
            series["lr"] = (clean.lr.step, clean.lr.value)
        if clean.tokens is not None:
            series["tokens"] = (clean.tokens.step, clean.tokens.value)
        for name in extra:
            s = _series(run, name, options)
            series[name] = (s.step, s.value)
        steps = union_sorted(*(s for s, _ in series.values()))
        table: dict[str, Any] = {"run": run.name, "step": steps}
        for key in ("loss", "lr", "tokens", *extra):
            if key not in series and key in ("loss", "lr"):
                table[key] = np.full(steps.size, np.nan)
            elif key in series:
                s, v = series[key]
                col = np.full(steps.size, np.nan)
                col[np.searchsorted(steps, s)] = v
                table[key] = col
        frames.append(pd.DataFrame(table))
        summary[run.name] = clean.summary()
    out = pd.concat(frames, ignore_index=True)
    out.attrs["summary"] = summary
    return out


def _series(run: RunLog, name: str, options: ReadOptions) -> Series:
    names = list(run.columns)
    found = name if name in run.columns else _find(names, (name,))
    if found is None:
        raise DataError(
            f"{run.source}: run {run.name!r}: no column {name!r}; columns found: "
            f"{_listing(run.names_found())}"
        )
    col = run.columns[found]
    steps, values, missing, pos = col.entries()
    return clean_series(
        steps,
        values,
        missing,
        pos,
        label=col.label,
        where=run.where,
        pos_kind=col.pos_kind,
        sort_steps=options.sort_steps,
        step_label=col.step_label,
    )


def read_series(
    path: str | os.PathLike,
    name: str,
    *,
    run: str | None = None,
    options: ReadOptions | None = None,
) -> pd.Series:
    """One logged column of a log as a :class:`pandas.Series` indexed by step.

    For example ``read_series("stable-124m-lr0.001.json", "grad_norm")`` gives
    the gradient norms of a W&B export.  Cleaned like every column: for a
    repeated step (resumed run) the last entry wins, steps ascend, NaN/inf
    values are dropped.  ``run`` picks a run in a file that holds several.

    Raises:
        DataError: no such column (the message lists the columns found), or no
            such run.
    """
    import pandas as pd

    options = options or ReadOptions(max_points=None)
    runs = read_runs(path, options)
    if run is not None:
        chosen = [r for r in runs if r.name == run]
        if not chosen:
            raise DataError(f"{path}: no run {run!r}; runs: {', '.join(r.name for r in runs)}")
    elif len(runs) > 1:
        raise DataError(
            f"{path}: holds {len(runs)} runs ({', '.join(r.name for r in runs)}); "
            "pick one with run="
        )
    else:
        chosen = runs
    s = _series(chosen[0], name, options)
    return pd.Series(s.value, index=pd.Index(s.step, name="step"), name=name)
