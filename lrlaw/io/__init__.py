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

from lrlaw._lazy import attach
from lrlaw.io import remote as _remote  # noqa: F401  (registers the wandb: / mlflow: readers)

#: Public name -> the module that defines it (imported on first use: see lrlaw._lazy).
_EXPORTS = {
    "DEFAULT_MAX_POINTS": "lrlaw.io.cleaning",
    "GAP_FACTOR": "lrlaw.io.cleaning",
    "CleanRun": "lrlaw.io.cleaning",
    "Series": "lrlaw.io.cleaning",
    "SeriesReport": "lrlaw.io.cleaning",
    "bin_edges": "lrlaw.io.cleaning",
    "clean_series": "lrlaw.io.cleaning",
    "find_gaps": "lrlaw.io.cleaning",
    "join_base": "lrlaw.io.cleaning",
    "parse_smoothing": "lrlaw.io.cleaning",
    "resample": "lrlaw.io.cleaning",
    "resample_counts": "lrlaw.io.cleaning",
    "smooth": "lrlaw.io.cleaning",
    "summarise_reports": "lrlaw.io.cleaning",
    "union_sorted": "lrlaw.io.cleaning",
    "curve_from_table": "lrlaw.io.load",
    "interpolation_error": "lrlaw.io.load",
    "load_curves": "lrlaw.io.load",
    "malformed_spec_message": "lrlaw.io.load",
    "parse_schedule_assignments": "lrlaw.io.load",
    "read_schedules_file": "lrlaw.io.load",
    "LR_NAMES": "lrlaw.io.readers",
    "STEP_NAMES": "lrlaw.io.readers",
    "TOKEN_NAMES": "lrlaw.io.readers",
    "TRAIN_LOSS_NAMES": "lrlaw.io.readers",
    "VAL_LOSS_NAMES": "lrlaw.io.readers",
    "Column": "lrlaw.io.readers",
    "ReadOptions": "lrlaw.io.readers",
    "RunLog": "lrlaw.io.readers",
    "Selection": "lrlaw.io.readers",
    "finish_run": "lrlaw.io.readers",
    "is_remote": "lrlaw.io.readers",
    "log_format": "lrlaw.io.readers",
    "prepare_run": "lrlaw.io.readers",
    "read_csv_frame": "lrlaw.io.readers",
    "read_log": "lrlaw.io.readers",
    "read_parquet_frame": "lrlaw.io.readers",
    "read_runs": "lrlaw.io.readers",
    "read_series": "lrlaw.io.readers",
    "read_text": "lrlaw.io.readers",
    "select_columns": "lrlaw.io.readers",
    "to_float": "lrlaw.io.readers",
    "read_mlflow": "lrlaw.io.remote",
    "read_remote": "lrlaw.io.remote",
    "read_wandb": "lrlaw.io.remote",
    "RunTable": "lrlaw.io.table",
    "numeric_column": "lrlaw.io.table",
    "read_frame": "lrlaw.io.table",
    "read_table": "lrlaw.io.table",
    "show_cell": "lrlaw.io.table",
    "atomic_output": "lrlaw.output",
    "check_output": "lrlaw.output",
    "write_text_atomic": "lrlaw.output",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
