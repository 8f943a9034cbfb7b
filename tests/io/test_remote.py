"""Runs read from W&B and MLflow (lrlaw.io.remote), through the readers' dispatch.

MLflow is tested against a real local file store (the tracking client of
``mlflow-skinny``; skipped without it).  W&B cannot be reached from the tests:
its third-party ``wandb.Api`` is replaced by a fake that serves recorded rows
in the layout ``Run.scan_history()`` returns (a dict per logged row with W&B's
``_step``, ``_runtime``, ``_timestamp`` and the keys the HF ``WandbCallback``
logs: ``train/loss``, ``train/learning_rate``, ``train/global_step``; eval rows
hold only ``eval/loss``), with the values of a shipped run.  lrlaw's own code is
not mocked.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_user_error, run

from lrlaw.errors import DataError, LrlawError
from lrlaw.io import load_curves, read_schedules_file
from lrlaw.io.readers import ReadOptions, is_remote, prepare_run, read_runs

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "data" / "schedules.txt"
SPECS = read_schedules_file(SCHEDULES)
NAME = "cosine_24000"


def _curve():
    (c,) = load_curves([ROOT / "data" / "mpl" / "100m" / f"{NAME}.csv"], schedules_file=SCHEDULES)
    return c


def _recorded_rows(c) -> list[dict]:
    rows, t0 = [], 1.7e9
    for i, (s, y) in enumerate(zip(c.steps.tolist(), c.loss.tolist())):
        rows.append(
            {
                "_step": 2 * i,
                "_runtime": 0.5 * s,
                "_timestamp": t0 + 0.5 * s,
                "train/global_step": s,
                "train/loss": y,
                "train/learning_rate": float(c.lr[s]),
            }
        )
        if i % 10 == 9:  # an evaluation row: only its own keys (W&B rows are sparse)
            rows.append({"_step": 2 * i + 1, "train/global_step": s, "eval/loss": y + 0.01})
    return rows


class _FakeRun:
    def __init__(self, rows):
        self._rows = rows

    def scan_history(self, keys=None, page_size=1000):
        yield from (dict(r) for r in self._rows)

    def history(self, *args, **kwargs):  # the sampled history must not be used
        raise AssertionError("history() samples at most 500 rows; use scan_history()")


@pytest.fixture
def fake_wandb(monkeypatch):
    """``wandb.Api`` serving recorded rows for ENT/PROJ/RUN (any other path: not found)."""
    runs: dict[str, list[dict]] = {}

    class Api:
        def run(self, path):
            if path not in runs:
                raise ValueError(f"Could not find run {path}")
            return _FakeRun(runs[path])

    module = sys.modules.get("wandb")
    if module is None:
        try:
            import wandb as module
        except ImportError:
            module = types.ModuleType("wandb")
            monkeypatch.setitem(sys.modules, "wandb", module)
    monkeypatch.setattr(module, "Api", Api, raising=False)
    return runs


def test_wandb_run_reads_every_row(fake_wandb):
    c = _curve()
    fake_wandb["ent/proj/abc123"] = _recorded_rows(c)
    assert is_remote("wandb:ent/proj/abc123") and not is_remote("wandb.csv")
    (log,) = read_runs("wandb:ent/proj/abc123")
    assert log.name == "abc123" and log.fmt == "W&B"
    # These rows are a Hugging Face Trainer's (train/global_step, train/loss), whose loss is
    # the mean since the previous log: by default placed at the centre of those steps.
    auto = prepare_run(log, ReadOptions(loss_kind="train", max_points=None))
    np.testing.assert_array_equal(auto.loss.step[1:], (c.steps[:-1] + 1 + c.steps[1:] + 1) // 2)
    clean = prepare_run(log, ReadOptions(loss_kind="train", max_points=None, loss_average="none"))
    np.testing.assert_array_equal(clean.loss.step, c.steps)
    np.testing.assert_allclose(clean.loss.value, c.loss)
    np.testing.assert_allclose(clean.lr.value, c.lr[c.steps])
    # By default the validation loss is used, at the eval rows' global steps.
    val = prepare_run(log, ReadOptions(max_points=None))
    assert val.loss.step.size == len(c.steps) // 10


def test_wandb_source_works_in_fit(fake_wandb, tmp_path):
    c = _curve()
    fake_wandb["ent/proj/abc123"] = _recorded_rows(c)
    out = tmp_path / "fit.json"
    result = run(
        "fit", "wandb:ent/proj/abc123", "--schedule", SPECS[NAME], "--out", out,
        "--loss-kind", "train",
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert out.exists()


def test_wandb_errors(fake_wandb, monkeypatch):
    with pytest.raises(LrlawError, match=r"expected wandb:ENTITY/PROJECT/RUN_ID"):
        read_runs("wandb:proj/abc")
    with pytest.raises(DataError, match=r"wandb:ent/proj/nope: cannot read the run from W&B"):
        read_runs("wandb:ent/proj/nope")
    fake_wandb["ent/proj/empty"] = []
    with pytest.raises(DataError, match="no logged rows"):
        read_runs("wandb:ent/proj/empty")
    monkeypatch.setitem(sys.modules, "wandb", None)  # the extra is not installed
    with pytest.raises(LrlawError, match=r"pip install 'lrlaw\[wandb\]'"):
        read_runs("wandb:ent/proj/abc")
    assert_user_error(run("fit", "wandb:ent/proj/abc"), "lrlaw[wandb]")


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow >= 3.x warns off file stores
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    exp = client.create_experiment("lrlaw-test")
    c = _curve()
    rid = client.create_run(exp, run_name=NAME).info.run_id
    metrics = [
        Metric("train_loss", y, 1000 + i, s) for i, (s, y) in enumerate(zip(c.steps, c.loss))
    ]
    metrics += [Metric("lr", float(c.lr[s]), 1000 + i, int(s)) for i, s in enumerate(c.steps)]
    # Step 2176 logged once more, before the others (earlier timestamp): a run restarted
    # from scratch; the later entry wins.
    metrics.append(Metric("train_loss", 9.0, 500, int(c.steps[0])))
    for i in range(0, len(metrics), 900):
        client.log_batch(rid, metrics=metrics[i : i + 900])
    return mlflow, rid, c


def test_mlflow_run_from_a_file_store(mlflow_store, tmp_path):
    _, rid, c = mlflow_store
    (log,) = read_runs(f"mlflow:{rid}")
    assert log.name == NAME and log.fmt == "MLflow" and set(log.columns) == {"train_loss", "lr"}
    clean = prepare_run(log, ReadOptions(max_points=None))
    np.testing.assert_array_equal(clean.loss.step, c.steps)
    # The extra step-2176 entry has the earliest timestamp: the logged value wins.
    np.testing.assert_allclose(clean.loss.value, c.loss)
    np.testing.assert_allclose(clean.lr.value, c.lr[c.steps])
    out = tmp_path / "fit.json"
    result = run("fit", f"mlflow:{rid}", "--schedule", SPECS[NAME], "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    snap = tmp_path / "watch"
    result = run(
        "watch", f"mlflow:{rid}", "--schedule", SPECS[NAME], "--idle", "0.5",
        "--interval", "0.1", "--out", snap,
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert "reached the schedule's last step" in result.stderr or "no new losses" in result.stderr
    assert (snap / "prediction.png").exists()


def test_mlflow_errors(mlflow_store, monkeypatch):
    with pytest.raises(DataError, match=r"mlflow:0123abc: cannot read the run from MLflow"):
        read_runs("mlflow:0123abc")
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(LrlawError, match=r"pip install 'lrlaw\[mlflow\]'"):
        read_runs("mlflow:0123abc")
