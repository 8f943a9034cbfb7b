"""Runs read where they are logged: Weights & Biases and MLflow (optional extras).

A *source* names a run instead of a file:

``wandb:ENTITY/PROJECT/RUN_ID``
    every logged row of the run, at full resolution, from the public API's
    ``Run.scan_history()`` (not ``Run.history()``, which samples at most 500
    rows).  Needs ``pip install 'lrlaw[wandb]'`` and W&B credentials
    (``WANDB_API_KEY`` or ``wandb login``).  The rows become a table like a
    JSONL log: the step is ``trainer/global_step``, ``step`` ... or W&B's own
    ``_step`` (see :data:`lrlaw.io.readers.STEP_NAMES`).
``mlflow:RUN_ID``
    every metric of the run with its full history, from the tracking client's
    ``MlflowClient.get_metric_history`` (each metric with its own steps, like
    TensorBoard tags).  Needs ``pip install 'lrlaw[mlflow]'``; the tracking
    server is the one MLflow itself uses (``MLFLOW_TRACKING_URI``).

Both give :class:`lrlaw.io.readers.RunLog` objects, so the loss and LR columns
are found and cleaned as for any log (:func:`lrlaw.io.readers.prepare_run`), and
``lrlaw fit wandb:...`` or ``lrlaw watch mlflow:...`` work like a file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lrlaw.errors import DataError, LrlawError
from lrlaw.io.readers import REMOTE_READERS

__all__ = [
    "read_mlflow",
    "read_remote",
    "read_wandb",
]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def read_remote(source: str, options: Any = None) -> list:
    """Read the run named by ``source`` (``wandb:ENTITY/PROJECT/RUN_ID`` or ``mlflow:RUN_ID``)."""
    source = str(source)
    if source.startswith("wandb:"):
        return [read_wandb(source[len("wandb:") :], options)]
    if source.startswith("mlflow:"):
        return [read_mlflow(source[len("mlflow:") :])]
    raise LrlawError(f"{source}: expected wandb:ENTITY/PROJECT/RUN_ID or mlflow:RUN_ID")


def read_wandb(path: str, options: Any = None) -> Any:
    """One W&B run, every logged row (``wandb.Api().run(path).scan_history()``).

    ``path`` is ``ENTITY/PROJECT/RUN_ID``.  Rows are read in the order W&B
    returns them (by ``_step``); a row's missing keys are missing values.
    """
    from lrlaw.io.readers import ReadOptions, _records_frame, _runs_from_frame

    source = f"wandb:{path}"
    parts = path.split("/")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise LrlawError(f"{source}: expected wandb:ENTITY/PROJECT/RUN_ID (three parts)")
    try:
        import wandb
    except ImportError:
        raise LrlawError(
            f"{source}: reading W&B runs needs the optional extra 'wandb': "
            "pip install 'lrlaw[wandb]'"
        ) from None
    try:
        run = wandb.Api().run(path)
        rows = [dict(row) for row in run.scan_history()]
    except Exception as exc:
        raise DataError(f"{source}: cannot read the run from W&B: {_first_line(exc)}") from None
    if not rows:
        raise DataError(f"{source}: the run has no logged rows")
    from pathlib import PurePosixPath

    frame, pos = _records_frame(PurePosixPath(source), rows, "history")
    runs = _runs_from_frame(
        frame, pos, "entry", PurePosixPath(source), "W&B", options or ReadOptions()
    )
    if len(runs) != 1:
        raise DataError(f"{source}: the W&B history splits into {len(runs)} runs; expected one")
    return runs[0]


def read_mlflow(run_id: str) -> Any:
    """One MLflow run: each metric's full history (``MlflowClient.get_metric_history``).

    Every metric becomes a column with its own steps; entries are in the
    order of their steps (MLflow returns them by timestamp).
    """
    from lrlaw.io.readers import Column, RunLog

    source = f"mlflow:{run_id}"
    if not run_id.strip():
        raise LrlawError(f"{source}: expected mlflow:RUN_ID")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise LrlawError(
            f"{source}: reading MLflow runs needs the optional extra 'mlflow': "
            "pip install 'lrlaw[mlflow]'"
        ) from None
    try:
        client = MlflowClient()
        run = client.get_run(run_id)
        keys = sorted(run.data.metrics)
        histories = {key: client.get_metric_history(run_id, key) for key in keys}
    except Exception as exc:
        raise DataError(f"{source}: cannot read the run from MLflow: {_first_line(exc)}") from None
    columns = {}
    for key, history in histories.items():
        # Stable sort by step keeps MLflow's timestamp order within a step (the last wins).
        history = sorted(history, key=lambda m: (m.step, m.timestamp))
        steps = np.asarray([m.step for m in history], dtype=np.int64)
        if np.any(steps < 0):
            i = int(np.flatnonzero(steps < 0)[0])
            raise DataError(
                f"{source}: metric '{key}', entry {i + 1}: expected a step >= 0, got {steps[i]}"
            )
        values = np.asarray([m.value for m in history], dtype=np.float64)
        pos = np.arange(1, len(values) + 1)
        columns[key] = Column(key, key, values, pos, "entry", source, steps, "step")
    if not columns:
        raise DataError(f"{source}: the run has no logged metrics")
    name = getattr(run.info, "run_name", None) or run_id
    return RunLog(name, source, "MLflow", columns, "entry")


# lrlaw.io.readers.read_runs dispatches wandb:/mlflow: sources here (lrlaw.io imports this module).
REMOTE_READERS.update(wandb=read_remote, mlflow=read_remote)
