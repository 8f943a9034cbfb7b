"""Reading training logs and building curves: readers for every log format, the
canonical table, cleaning and resampling, schedule resolution.

Modules: :mod:`~lrlaw.io.readers` (CSV/TSV, parquet, JSONL, W&B exports,
TensorBoard, HF ``trainer_state.json``), :mod:`~lrlaw.io.remote` (``wandb:`` /
``mlflow:`` runs), :mod:`~lrlaw.io.table` (the strict curve table),
:mod:`~lrlaw.io.cleaning` (resumed runs, gaps, smoothing, resampling),
:mod:`~lrlaw.io.load` (:func:`load_curves`).  Atomic writes live in the base
module :mod:`lrlaw.output` and are re-exported here.

Layer 2: imports :mod:`lrlaw.schedules` and the base modules.
"""

from lrlaw.io.cleaning import (
    DEFAULT_MAX_POINTS as DEFAULT_MAX_POINTS,
    GAP_FACTOR as GAP_FACTOR,
    CleanRun as CleanRun,
    Series as Series,
    SeriesReport as SeriesReport,
    bin_edges as bin_edges,
    clean_series as clean_series,
    find_gaps as find_gaps,
    join_base as join_base,
    parse_smoothing as parse_smoothing,
    resample as resample,
    resample_counts as resample_counts,
    smooth as smooth,
    summarise_reports as summarise_reports,
    union_sorted as union_sorted,
)
from lrlaw.io.load import (
    curve_from_table as curve_from_table,
    interpolation_error as interpolation_error,
    load_curves as load_curves,
    malformed_spec_message as malformed_spec_message,
    parse_schedule_assignments as parse_schedule_assignments,
    read_schedules_file as read_schedules_file,
)
from lrlaw.io.readers import (
    LR_NAMES as LR_NAMES,
    STEP_NAMES as STEP_NAMES,
    TOKEN_NAMES as TOKEN_NAMES,
    TRAIN_LOSS_NAMES as TRAIN_LOSS_NAMES,
    VAL_LOSS_NAMES as VAL_LOSS_NAMES,
    Column as Column,
    ReadOptions as ReadOptions,
    RunLog as RunLog,
    Selection as Selection,
    finish_run as finish_run,
    is_remote as is_remote,
    log_format as log_format,
    prepare_run as prepare_run,
    read_csv_frame as read_csv_frame,
    read_log as read_log,
    read_parquet_frame as read_parquet_frame,
    read_runs as read_runs,
    read_series as read_series,
    read_text as read_text,
    select_columns as select_columns,
    to_float as to_float,
)
from lrlaw.io.remote import (
    read_mlflow as read_mlflow,
    read_remote as read_remote,
    read_wandb as read_wandb,
)
from lrlaw.io.table import (
    RunTable as RunTable,
    numeric_column as numeric_column,
    read_frame as read_frame,
    read_table as read_table,
    show_cell as show_cell,
)
from lrlaw.output import (
    atomic_output as atomic_output,
    check_output as check_output,
    write_text_atomic as write_text_atomic,
)
