"""Tests for lrlaw.io.readers and lrlaw.io.cleaning: formats, column detection, cleaning, branch
merging, resampling, and the W&B JSON exports against the canonical CSVs."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import run
from hypothesis import given, settings, strategies as st

from lrlaw.errors import DataError, LrlawError
from lrlaw.fitting import FitResult, fit, predict_curve
from lrlaw.io import load_curves, read_schedules_file
from lrlaw.io.cleaning import (
    CleanRun,
    Series,
    bin_edges,
    clean_series,
    find_gaps,
    join_base,
    parse_smoothing,
    resample,
    smooth,
)
from lrlaw.io.readers import (
    LR_NAMES,
    STEP_NAMES,
    TRAIN_LOSS_NAMES,
    VAL_LOSS_NAMES,
    ReadOptions,
    prepare_run,
    read_log,
    read_runs,
    read_series,
    select_columns,
)
from lrlaw.laws import get_law

DATA = Path(__file__).resolve().parents[2] / "data"
W = DATA / "schaipp-124m"
CANON = W / "canonical"
STABLE = W / "stable-124m-lr0.001.json"
COSINE = W / "cos-zero-124m-lr0.001.json"
COOL_LIN = W / "ann124-0.2-lr0.001.json"
COOL_SQRT = W / "ann124-0.2sqrt-lr0.001.json"
FULL_0994 = W / "ann124-0.994-lr0.001.json"

# --------------------------------------------------------------------------- #
# One synthetic log, written in every format
# --------------------------------------------------------------------------- #

LR_STEPS = np.arange(0, 2001, 10)
LR_VALUES = np.where(
    LR_STEPS < 100, 1e-3 * LR_STEPS / 100, 1e-4 + 0.9e-3 * (1 + np.cos(np.pi * LR_STEPS / 2000)) / 2
)
LOSS_STEPS = np.arange(50, 2001, 50)
LOSS_VALUES = 2.5 + 2.0 / (1.0 + LOSS_STEPS / 300.0) ** 0.5


def _rows() -> list[dict]:
    """One row per step, with the keys each step has (lr every 10, loss every 50)."""
    rows: dict[int, dict] = {}
    for s, v in zip(LR_STEPS, LR_VALUES):
        rows.setdefault(int(s), {})["lr"] = float(v)
    for s, v in zip(LOSS_STEPS, LOSS_VALUES):
        rows.setdefault(int(s), {})["loss"] = float(v)
    return [{"step": s, **rows[s]} for s in sorted(rows)]


def _table(names: dict[str, str]) -> pd.DataFrame:
    rows = _rows()
    return pd.DataFrame(
        {
            names["step"]: [r["step"] for r in rows],
            names["loss"]: [r.get("loss", np.nan) for r in rows],
            names["lr"]: [r.get("lr", np.nan) for r in rows],
        }
    )


def _write_csv(folder: Path) -> Path:
    path = folder / "run.csv"
    _table({"step": "step", "loss": "loss", "lr": "lr"}).to_csv(path, index=False)
    return path


def _write_tsv(folder: Path) -> Path:
    path = folder / "run.tsv"
    _table({"step": "global_step", "loss": "train_loss", "lr": "learning_rate"}).to_csv(
        path, sep="\t", index=False
    )
    return path


def _write_parquet(folder: Path) -> Path:
    path = folder / "run.parquet"
    _table({"step": "iter", "loss": "val/loss", "lr": "train/lr"}).to_parquet(path)
    return path


def _write_jsonl(folder: Path) -> Path:
    path = folder / "run.jsonl"
    lines = []
    for r in _rows():
        rec = {"trainer/global_step": r["step"], "_runtime": 1.5}
        if "loss" in r:
            rec["train/loss"] = r["loss"]
        if "lr" in r:
            rec["train/lr"] = r["lr"]
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_json_rows(folder: Path) -> Path:
    """W&B API history: a list of rows with ``_step`` (and null where absent)."""
    path = folder / "run.json"
    rows = [
        {"_step": r["step"], "val_loss": r.get("loss"), "lr": r.get("lr"), "media": {"x": 1}}
        for r in _rows()
    ]
    path.write_text(json.dumps({"history": rows}))
    return path


def _write_json_columns(folder: Path) -> Path:
    path = folder / "run.json"
    rows = _rows()
    path.write_text(
        json.dumps(
            {
                "step": [r["step"] for r in rows],
                "loss": [r.get("loss") for r in rows],
                "lr": [r.get("lr") for r in rows],
            }
        )
    )
    return path


def _write_wandb_json(folder: Path) -> Path:
    """The sectioned layout of data/schaipp-124m: every section has its own step list."""
    path = folder / "run.json"
    history = {
        "train": {"iter": LR_STEPS.tolist(), "train_lr": LR_VALUES.tolist()},
        "val": {"iter": LOSS_STEPS.tolist(), "val_loss": LOSS_VALUES.tolist()},
        "wa": {"iter": [], "val_loss_wa": []},
    }
    path.write_text(json.dumps({"config": {}, "summary": {}, "history": history}))
    return path


def _write_wandb_csv(folder: Path) -> Path:
    """A W&B panel export: Step, 'RUN - METRIC', 'RUN - METRIC__MIN', 'RUN - METRIC__MAX'."""
    path = folder / "panel.csv"
    rows = _rows()
    table = pd.DataFrame({"Step": [r["step"] for r in rows]})
    loss = [r.get("loss", np.nan) for r in rows]
    table["run - val/loss"] = loss
    table["run - val/loss__MIN"] = loss
    table["run - val/loss__MAX"] = loss
    table["run - train/lr"] = [r.get("lr", np.nan) for r in rows]
    table.to_csv(path, index=False)
    return path


def _write_hf(folder: Path) -> Path:
    """A Hugging Face trainer_state.json: training rows and evaluation rows in log_history."""
    path = folder / "trainer_state.json"
    history = [
        {"step": int(s), "learning_rate": float(v), "loss": 9.0}
        for s, v in zip(LR_STEPS, LR_VALUES)
    ]
    history += [{"step": int(s), "eval_loss": float(v)} for s, v in zip(LOSS_STEPS, LOSS_VALUES)]
    path.write_text(json.dumps({"global_step": 2000, "log_history": history}))
    return path


WRITERS = {
    "csv": _write_csv,
    "tsv": _write_tsv,
    "parquet": _write_parquet,
    "jsonl": _write_jsonl,
    "json-rows": _write_json_rows,
    "json-columns": _write_json_columns,
    "wandb-json": _write_wandb_json,
    "wandb-csv": _write_wandb_csv,
    "huggingface": _write_hf,
}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_every_format_reads_the_same_log(tmp_path, fmt):
    path = WRITERS[fmt](tmp_path)
    frame = read_log(path)
    loss = frame.dropna(subset=["loss"])
    np.testing.assert_array_equal(loss["step"], LOSS_STEPS)
    np.testing.assert_allclose(loss["loss"], LOSS_VALUES, rtol=1e-15)
    lr = frame.dropna(subset=["lr"])
    np.testing.assert_array_equal(lr["step"], LR_STEPS)
    np.testing.assert_allclose(lr["lr"], LR_VALUES, rtol=1e-15)
    (curve,) = load_curves([path])
    np.testing.assert_array_equal(curve.steps, LOSS_STEPS)
    assert curve.lr.size == 2001
    np.testing.assert_allclose(curve.lr[LR_STEPS], LR_VALUES, rtol=1e-15)
    assert curve.lr[5] == pytest.approx(LR_VALUES[1] / 2)  # interpolated between 0 and 10
    assert curve.warmup == 100


def test_format_summary_names_format_and_columns(tmp_path):
    (curve,) = load_curves([_write_wandb_json(tmp_path)])
    summary = curve.meta["summary"]
    assert summary.startswith(
        f"{tmp_path / 'run.json'}: run 'run': W&B JSON, step 'history.val.iter'"
    )
    assert "loss 'history.val.val_loss' (validation): 40 losses" in summary
    assert "lr 'history.train.train_lr': 201 values" in summary
    assert curve.schedule == "history.train.train_lr column (linear interpolation)"


def test_wandb_panel_csv_with_several_runs(tmp_path):
    path = tmp_path / "panel.csv"
    path.write_text(
        '"Step","a - train/loss","a - train/loss__MIN","b - train/loss","b - lr"\n'
        "0,4.0,4.0,5.0,0.1\n10,3.5,3.4,,0.1\n20,3.0,2.9,4.0,0.1\n"
    )
    a, b = read_runs(path)
    assert (a.name, b.name) == ("a", "b")
    assert set(a.columns) == {"train/loss"}
    frame = read_log(path, ReadOptions(max_points=None))
    np.testing.assert_array_equal(frame[frame.run == "b"].dropna(subset=["loss"]).step, [0, 20])
    with pytest.raises(DataError, match=r"run 'a': the file has no 'lr' column"):
        load_curves([path])


# --------------------------------------------------------------------------- #
# Column detection and options
# --------------------------------------------------------------------------- #


def _csv(folder: Path, header: list[str], rows: list[list], name: str = "log.csv") -> Path:
    path = folder / name
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("name", [*STEP_NAMES, "Step", "GLOBAL_STEP"])
def test_step_names_are_detected(tmp_path, name):
    frame = read_log(_csv(tmp_path, [name, "loss", "lr"], [[0, 4, 0.1], [7, 3, 0.1]]))
    np.testing.assert_array_equal(frame["step"], [0, 7])


@pytest.mark.parametrize("name", [*VAL_LOSS_NAMES, *TRAIN_LOSS_NAMES, "Loss"])
def test_loss_names_are_detected(tmp_path, name):
    frame = read_log(_csv(tmp_path, ["step", name, "lr"], [[0, 4, 0.1], [7, 3, 0.1]]))
    np.testing.assert_array_equal(frame["loss"], [4.0, 3.0])


@pytest.mark.parametrize("name", [*LR_NAMES, "LR"])
def test_lr_names_are_detected(tmp_path, name):
    frame = read_log(_csv(tmp_path, ["step", "loss", name], [[0, 4, 0.1], [7, 3, 0.2]]))
    np.testing.assert_array_equal(frame["lr"], [0.1, 0.2])


def test_step_preferred_over_wandb_internal_step(tmp_path):
    path = _csv(
        tmp_path, ["_step", "trainer/global_step", "loss", "lr"], [[0, 0, 4, 1], [1, 50, 3, 1]]
    )
    np.testing.assert_array_equal(read_log(path)["step"], [0, 50])


def test_columns_named_by_options(tmp_path):
    path = _csv(tmp_path, ["t", "y", "eta", "loss"], [[0, 4.0, 0.1, 9], [5, 3.0, 0.2, 9]])
    options = ReadOptions(step_col="t", loss_col="y", lr_col="eta", max_points=None)
    frame = read_log(path, options)
    np.testing.assert_array_equal(frame["step"], [0, 5])
    np.testing.assert_array_equal(frame["loss"], [4.0, 3.0])
    np.testing.assert_array_equal(frame["lr"], [0.1, 0.2])


def test_failed_detection_lists_the_columns(tmp_path):
    path = _csv(tmp_path, ["step", "objective", "eta"], [[0, 4, 0.1]])
    with pytest.raises(DataError) as info:
        load_curves([path])
    msg = str(info.value)
    assert msg.startswith(f"{path}: run 'log': no loss column (looked for val/loss")
    assert "columns found: step, objective, eta; name it with --loss-col" in msg
    path = _csv(tmp_path, ["epoch", "loss"], [[0, 4]], "epochs.csv")
    with pytest.raises(DataError, match=r"no step column .*columns found: epoch, loss; name it"):
        read_log(path)
    with pytest.raises(DataError, match=r"no column 'nope' \(--lr-col\); columns found: step"):
        read_log(_csv(tmp_path, ["step", "loss"], [[0, 4]], "x.csv"), ReadOptions(lr_col="nope"))
    with pytest.raises(DataError, match=r"no column 'nope' \(--tokens-col\)"):
        read_log(tmp_path / "x.csv", ReadOptions(tokens_col="nope"))


def test_validation_loss_is_chosen_and_reported(tmp_path):
    rows = [[s, 4 - s / 100, 5 - s / 100, 0.1] for s in range(0, 101, 10)]
    path = _csv(tmp_path, ["step", "train/loss", "val/loss", "lr"], rows)
    (curve,) = load_curves([path])
    np.testing.assert_allclose(curve.loss, [5 - s / 100 for s in range(0, 101, 10)])
    assert (
        "loss 'val/loss' (validation; training loss 'train/loss' also logged: "
        in (curve.meta["summary"])
    )
    assert "--loss-kind train uses it" in curve.meta["summary"]
    (train,) = load_curves([path], options=ReadOptions(loss_kind="train"))
    np.testing.assert_allclose(train.loss, [4 - s / 100 for s in range(0, 101, 10)])
    assert (
        "loss 'train/loss' (training; validation loss 'val/loss' also logged"
        in (train.meta["summary"])
    )


def test_asking_for_a_missing_loss_kind_fails(tmp_path):
    path = _csv(tmp_path, ["step", "loss", "lr"], [[0, 4, 0.1]])
    with pytest.raises(DataError, match=r"no validation-loss column \(looked for val/loss"):
        read_log(path, ReadOptions(loss_kind="val"))
    with pytest.raises(LrlawError, match="loss kind 'best'"):
        ReadOptions(loss_kind="best")


def test_tokens_as_x_axis(tmp_path):
    rows = [[t, 4 - t / 1e6, 0.1] for t in range(0, 20001, 4096 * 2)]
    path = _csv(tmp_path, ["tokens", "loss", "lr"], rows)
    with pytest.raises(DataError, match=r"token count 'tokens': pass --tokens-per-step N"):
        read_log(path)
    frame = read_log(path, ReadOptions(tokens_per_step=4096, max_points=None))
    np.testing.assert_array_equal(frame["step"], [0, 2, 4])
    np.testing.assert_array_equal(frame["tokens"], [0, 8192, 16384])
    (curve,) = load_curves([path], options=ReadOptions(tokens_per_step=4096))
    assert "step 'tokens / 4096'" in curve.meta["summary"]
    bad = _csv(tmp_path, ["tokens", "loss"], [[0, 4], [5000, 3]], "bad.csv")
    with pytest.raises(
        DataError, match=r"column 'tokens', line 3: .*whole number of steps of 4096"
    ):
        read_log(bad, ReadOptions(tokens_per_step=4096))


def test_tokens_column_is_kept_next_to_steps(tmp_path):
    path = _csv(tmp_path, ["step", "num_tokens", "loss"], [[0, 0, 4], [10, 5120, 3]])
    np.testing.assert_array_equal(read_log(path)["tokens"], [0, 5120])


# --------------------------------------------------------------------------- #
# Cleaning
# --------------------------------------------------------------------------- #


def _series(steps, values, missing=None, sort=False):
    steps = np.asarray(steps)
    values = np.asarray(values, dtype=float)
    missing = np.zeros(steps.size, bool) if missing is None else np.asarray(missing)
    return clean_series(
        steps, values, missing, np.arange(2, steps.size + 2), label="loss", where="f.csv",
        sort_steps=sort, step_label="step",
    )  # fmt: skip


def test_resumed_run_keeps_the_last_value_of_each_step():
    # crash after 40, resumed from the checkpoint at 20: 30 and 40 are logged again
    s = _series([0, 10, 20, 30, 40, 30, 40, 50], [9, 8, 7, 6.0, 5.0, 6.5, 5.5, 4])
    np.testing.assert_array_equal(s.step, [0, 10, 20, 30, 40, 50])
    np.testing.assert_array_equal(s.value, [9, 8, 7, 6.5, 5.5, 4])
    np.testing.assert_array_equal(s.pos, [2, 3, 4, 7, 8, 9])  # positions of the kept entries
    r = s.report
    assert (r.entries, r.repeated, r.restarts, r.reordered, r.kept) == (8, 2, 1, 0, 6)
    assert r.notes("losses") == [
        "2 repeated step(s) after 1 restart(s) (resumed run: kept the last)"
    ]


def test_steps_going_back_to_a_new_step_is_an_error_unless_sorted():
    with pytest.raises(
        DataError,
        match=r"f\.csv: column 'step', line 5: step goes back to 15 after 30 \(line 4\) and step "
        r"15 was not logged before; expected increasing steps .* pass --sort-steps",
    ):
        _series([0, 10, 30, 15, 40], [5, 4, 3, 3.5, 2])
    s = _series([0, 10, 30, 15, 40], [5, 4, 3, 3.5, 2], sort=True)
    np.testing.assert_array_equal(s.step, [0, 10, 15, 30, 40])
    np.testing.assert_array_equal(s.value, [5, 4, 3.5, 3, 2])
    assert s.report.reordered == 1
    assert "1 step(s) out of order (sorted)" in s.report.notes()


def test_nan_and_inf_are_dropped_and_counted_but_missing_cells_are_not():
    s = _series([0, 10, 20, 30, 40], [5, np.nan, np.inf, np.nan, 2], [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(s.step, [0, 40])
    assert (s.report.entries, s.report.nonfinite) == (4, 2)
    assert "2 NaN/inf losses dropped" in s.report.notes("losses")


def test_a_diverged_last_value_of_a_repeated_step_wins():
    s = _series([0, 10, 10], [5, 4, np.nan])
    np.testing.assert_array_equal(s.step, [0])
    assert (s.report.repeated, s.report.nonfinite) == (1, 1)


_ENTRY = st.tuples(
    st.integers(0, 30),
    st.one_of(st.floats(0.1, 10), st.just(np.nan), st.just(np.inf), st.none()),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ENTRY, max_size=40), st.booleans())
def test_clean_series_matches_a_plain_reference(entries, sort):
    """Property: last value per step wins, NaN/inf dropped, backward steps to a new step fail."""
    seen, last, prev, backwards = set(), {}, None, False
    for step, value in entries:
        if value is None:  # a missing cell: no entry at all
            continue
        backwards |= prev is not None and step < prev and step not in seen
        seen.add(step)
        last[step] = value
        prev = step
    steps = np.array([e[0] for e in entries], dtype=np.int64)
    values = np.array([np.nan if e[1] is None else e[1] for e in entries])
    missing = np.array([e[1] is None for e in entries], dtype=bool)
    args = (steps, values, missing, np.arange(steps.size))
    if backwards and not sort:
        with pytest.raises(DataError, match="was not logged before"):
            clean_series(*args, label="loss", where="f")
        return
    got = clean_series(*args, label="loss", where="f", sort_steps=sort)
    expected = sorted((k, v) for k, v in last.items() if np.isfinite(v))
    assert got.step.tolist() == [k for k, _ in expected]
    assert got.value.tolist() == [v for _, v in expected]
    n_values = int((~missing).sum())
    assert got.report.repeated == n_values - len(last)
    assert got.report.nonfinite == sum(not np.isfinite(v) for v in last.values())


def test_gaps_are_found_and_reported():
    assert find_gaps(np.array([0, 10, 20, 30, 40])) == []
    assert find_gaps(np.array([0, 10, 20, 30, 500, 510, 520])) == [(30, 500)]
    s = _series([0, 10, 20, 30, 500, 510], [6, 5, 4, 3, 2, 1])
    assert "1 gap(s) (largest: steps 30-500)" in s.report.notes()


def test_csv_with_resumed_run_nan_and_gap_through_load_curves(tmp_path):
    rows = [[s, 4 - s / 1000, 1e-3] for s in range(0, 301, 50)]
    rows += [[200, 3.9, 1e-3], [250, "nan", 1e-3], [300, 3.7, 1e-3], [2000, 3.0, 1e-3]]
    path = _csv(tmp_path, ["step", "loss", "lr"], rows)
    (curve,) = load_curves([path])
    np.testing.assert_array_equal(curve.steps, [0, 50, 100, 150, 200, 300, 2000])
    np.testing.assert_allclose(curve.loss, [4, 3.95, 3.9, 3.85, 3.9, 3.7, 3.0])
    summary = curve.meta["summary"]
    assert "loss 'loss': 7 losses, 3 repeated step(s) after 1 restart(s)" in summary
    assert "1 NaN/inf losses dropped" in summary
    assert "1 gap(s) (largest: steps 300-2000)" in summary


def test_jsonl_and_trainer_state_count_a_logged_nan_loss_but_not_an_absent_key(tmp_path):
    """A logged ``"loss": NaN`` (a diverged step) is dropped and reported, as in a CSV; a
    line without the key (a line of other metrics) is not.  Both were NaN in pandas' float
    column, and the NaN loss used to be dropped without a word."""
    rows = [{"step": s, "loss": 4 - s / 1000, "lr": 1e-3} for s in range(0, 301, 50)]
    rows[3]["loss"] = float("nan")
    rows.insert(5, {"step": 225, "grad_norm": 0.9})
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (curve,) = load_curves([path])
    np.testing.assert_array_equal(curve.steps, [0, 50, 100, 200, 250, 300])
    assert "1 NaN/inf losses dropped" in curve.meta["summary"]
    state = tmp_path / "trainer_state.json"
    state.write_text(json.dumps({"log_history": rows}))
    (curve,) = load_curves([state])
    # The Trainer's loss is its mean since the previous log, placed at the centre of those
    # steps; the NaN logged at 150 still ended a stretch, so 200's value averages 151-200.
    np.testing.assert_array_equal(curve.steps, [0, 26, 76, 176, 226, 276])
    assert "1 NaN/inf losses dropped" in curve.meta["summary"]
    (curve,) = load_curves([state], options=ReadOptions(loss_average="none"))
    np.testing.assert_array_equal(curve.steps, [0, 50, 100, 200, 250, 300])
    rows[3]["loss"] = 3.85
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (curve,) = load_curves([path])
    assert "NaN" not in curve.meta["summary"] and curve.steps.size == 7


def test_files_of_the_same_name_in_different_folders_get_their_folders_in_the_name(tmp_path):
    """version_0/metrics.csv and version_1/metrics.csv (one folder per run, as Lightning
    writes them) are two runs, named by the folders that tell them apart, and a schedule
    is given to each by that name; the same file twice is still an error."""
    rows = [[s, 4 - s / 1000] for s in range(0, 301, 50)]
    paths = []
    for sub in ("logs/a/version_0", "logs/b/version_0"):
        (tmp_path / sub).mkdir(parents=True)
        paths.append(_csv(tmp_path / sub, ["step", "loss"], rows, name="metrics.csv"))
    specs = ["a/version_0/metrics=constant:peak=1e-3,total=300",
             "b/version_0/metrics=cosine:peak=1e-3,total=300"]  # fmt: skip
    curves = load_curves(paths, specs)
    assert [c.name for c in curves] == [s.split("=")[0] for s in specs]
    assert curves[0].lr[-1] == 1e-3 and curves[1].lr[-1] == 0.0
    with pytest.raises(LrlawError, match="appear more than once"):
        load_curves([paths[0], paths[0]], ["constant:peak=1e-3,total=300"])


def test_an_empty_validation_column_falls_back_to_the_training_loss(tmp_path):
    """A W&B export whose eval/loss column is empty: the training loss is fitted (it
    used to fail with "column 'eval/loss' has no values"); Lightning's train_loss_step is
    a training loss, named as the alternative when the validation loss is chosen."""
    rows = [[s, 4 - s / 1000, None, 1e-3] for s in range(0, 301, 50)]
    path = _csv(tmp_path, ["step", "train/loss", "eval/loss", "lr"], rows)
    (curve,) = load_curves([path])
    assert curve.loss.size == 7 and "loss 'train/loss' (training)" in curve.meta["summary"]
    rows = [
        [s, 4 - s / 1000, 4.1 - s / 1000 if s % 100 == 0 else None, 1e-3] for s in range(0, 301, 50)
    ]
    path = _csv(tmp_path, ["step", "train_loss_step", "val_loss", "lr"], rows, name="pl.csv")
    (curve,) = load_curves([path])
    assert curve.loss.size == 4 and "'train_loss_step' also logged" in curve.meta["summary"]
    (curve,) = load_curves([path], options=ReadOptions(loss_kind="train"))
    assert curve.loss.size == 7


def test_sort_steps_option_through_load_curves(tmp_path):
    path = _csv(tmp_path, ["step", "loss", "lr"], [[0, 5, 1e-3], [20, 3, 1e-3], [10, 4, 1e-3]])
    with pytest.raises(DataError, match=r"column 'step', line 4: step goes back to 10 after 20"):
        load_curves([path])
    (curve,) = load_curves([path], options=ReadOptions(sort_steps=True))
    np.testing.assert_array_equal(curve.steps, [0, 10, 20])
    np.testing.assert_array_equal(curve.lr, 1e-3)


def test_smoothing_matches_numpy_transcriptions():
    rng = np.random.default_rng(0)
    x = 3 + rng.normal(size=200)
    beta = 0.9
    m, ema = 0.0, []
    for t, v in enumerate(x):
        m = beta * m + (1 - beta) * v
        ema.append(m / (1 - beta ** (t + 1)))
    np.testing.assert_allclose(smooth(x, "ema:0.9"), ema, rtol=1e-12)
    window = [x[max(0, i - 3) : i + 4].mean() for i in range(x.size)]
    np.testing.assert_allclose(smooth(x, "window:7"), window, rtol=1e-12)
    np.testing.assert_array_equal(smooth(x, "none"), x)
    assert np.std(np.diff(smooth(x, "window:21"))) < np.std(np.diff(x)) / 5


@pytest.mark.parametrize("bad", ["ema", "ema:1", "ema:-0.1", "window:4", "window:0", "gauss:3"])
def test_bad_smoothing_specs(bad):
    with pytest.raises(LrlawError, match=r"expected none, ema:BETA"):
        parse_smoothing(bad)


def test_resample_matches_a_plain_binning():
    rng = np.random.default_rng(1)
    steps = np.sort(rng.choice(100_000, size=5000, replace=False))
    values = 3 + rng.normal(size=steps.size)
    assert resample(steps, values, 100)[0].size <= 100  # too few for the 5 % cap: geometric
    s, v = resample(steps, values, 400)
    assert s.size <= 400 and np.all(np.diff(s) > 0)
    edges = bin_edges(steps, 400)
    widths = np.diff(edges)
    assert np.all(widths <= np.maximum(0.05 * edges[:-1], 1.0) + 1e-9)  # narrow early on
    late = edges[:-2] >= widths.max() / 0.05  # where 5 % of the step exceeds the width
    assert late.sum() > 10 and np.ptp(widths[:-1][late]) < 1e-6  # equal width there
    expect_s, expect_v = [], []
    for lo, hi in itertools.pairwise(edges):
        inside = (steps >= lo) & (steps < hi)
        if inside.any():
            expect_s.append(round(steps[inside].mean()))
            expect_v.append(values[inside].mean())
    np.testing.assert_array_equal(s, expect_s)
    np.testing.assert_allclose(v, expect_v, rtol=1e-12)
    same_s, same_v = resample(steps[:50], values[:50], 100)
    np.testing.assert_array_equal(same_s, steps[:50])
    np.testing.assert_array_equal(same_v, values[:50])


def test_resampling_a_steep_start_is_unbiased():
    """Regression: equal-width bins of a 200k-step log (every 20 steps) averaged the first
    200 steps, where the loss falls steeply, into one point 27 % off the curve (and across
    the end of the warmup).  Bins early on now span at most 5 % of their step."""
    steps = np.arange(0, 200_001, 20)
    curve = 2.5 + 8.0 * (1.0 + steps / 30.0) ** -0.5
    s, v = resample(steps, curve, 1000)
    assert 900 <= s.size <= 1000
    true = 2.5 + 8.0 * (1.0 + s / 30.0) ** -0.5
    assert np.max(np.abs(v / true - 1)) < 1e-4
    np.testing.assert_array_equal(s[:10], steps[:10])  # the steep start keeps its points


def test_per_step_noisy_training_loss_is_resampled_and_recovers_the_law(tmp_path):
    """A per-step log with noise: bounded fitting points, full schedule, parameters recovered."""
    law = get_law("momentum")
    truth = np.array([2.8, 0.6, 0.45, 0.4])
    rng = np.random.default_rng(2)
    total = 50_000  # the length of the 124M runs: the compiled fit is shared with other tests
    t = np.arange(total + 1)
    warm = np.minimum(t / 500, 1.0)
    decay = 0.1 + 0.45 * (1 + np.cos(np.pi * (t - 500) / (total - 500)))
    schedules = {
        "cos": 1e-3 * warm * np.where(t < 500, 1.0, decay),
        "wsd": 1e-3 * warm * np.where(t < 40_000, 1.0, np.maximum(1 - (t - 40_000) / 1e4, 0.01)),
    }
    paths = []
    for name, lr in schedules.items():
        loss = predict_curve(law, truth, lr, t[1:]) + rng.normal(scale=0.03, size=total)
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"step": t[1:], "train/loss": loss, "lr": lr[1:]}).to_csv(path, index=False)
        paths.append(path)
    curves = load_curves(paths, options=ReadOptions(max_points=250), initial_lr=0.0)
    for c, lr in zip(curves, schedules.values()):
        assert c.steps.size == 250
        np.testing.assert_allclose(c.lr, lr, rtol=1e-12, atol=1e-18)  # every step kept
        assert "50000 losses averaged into 250 points" in c.meta["summary"]
    result = fit(curves, law)
    got = np.array([result.params[k] for k in ("L0", "A", "alpha", "C")])
    np.testing.assert_allclose(got, truth, rtol=0.05)


def test_max_points_none_keeps_every_loss(tmp_path):
    rows = [[s, 4 - s / 1e4, 1e-3] for s in range(0, 3000)]
    path = _csv(tmp_path, ["step", "loss", "lr"], rows)
    (curve,) = load_curves([path], options=ReadOptions(max_points=None))
    assert curve.steps.size == 3000
    (curve,) = load_curves([path])  # default bound
    assert curve.steps.size == 1000


def test_fast_csv_path_matches_the_careful_one(tmp_path, monkeypatch):
    import lrlaw.io.readers as readers

    text = "step, loss,lr\n0, 4.0,\n10,nan,0.1\n20,,0.2\n30,3.5, 0.3\n40,inf,0.3\n"
    path = tmp_path / "log.csv"
    path.write_text(text)
    careful = read_log(path)
    monkeypatch.setattr(readers, "FAST_CSV_BYTES", 0)
    fast = read_log(path)
    pd.testing.assert_frame_equal(careful, fast)
    # a blank line would shift pyarrow's line numbers: the careful parser is used
    path.write_text("step,loss\n0,4\n\n10,abc\n")
    with pytest.raises(DataError, match=r"column 'loss', line 4: expected a number, got 'abc'"):
        read_log(path)


# --------------------------------------------------------------------------- #
# LR before the first logged step; branch merging
# --------------------------------------------------------------------------- #


def test_initial_lr_fills_in_step_zero(tmp_path):
    path = _csv(tmp_path, ["step", "loss", "lr"], [[50, 4, 1e-3], [100, 3, 1e-3]])
    (curve,) = load_curves([path], initial_lr=1e-5)
    np.testing.assert_allclose(curve.lr[:51], np.linspace(1e-5, 1e-3, 51), rtol=1e-14)
    assert curve.warmup == 50
    assert curve.schedule.endswith("lr 1e-05 at step 0 supplied")
    (curve,) = load_curves([path], initial_lr=1e-5, warmup=20)
    np.testing.assert_allclose(curve.lr[:21], np.linspace(1e-5, 1e-3, 21), rtol=1e-14)
    np.testing.assert_array_equal(curve.lr[20:], 1e-3)
    assert curve.warmup == 20
    with pytest.raises(DataError, match=r"--initial-lr needs a warmup"):
        load_curves([path], initial_lr=1e-5, warmup=0)


def _clean(name, loss_steps, loss, lr_steps=None, lr=None, kind="validation"):
    def series(label, s, v):
        s = np.asarray(s)
        return Series(label, s, np.asarray(v, float), np.arange(1, s.size + 1))

    return CleanRun(
        name=name, source=f"{name}.csv", pos_kind="line", loss=series("loss", loss_steps, loss),
        lr=None if lr is None else series("lr", lr_steps, lr), loss_kind=kind,
    )  # fmt: skip


def test_join_base_takes_the_base_before_the_branch_point():
    base = _clean(
        "base", [0, 100, 200, 300], [5, 4, 3, 2.9], [0, 50, 100, 150, 200, 250, 300], [1] * 7
    )
    branch = _clean("cool", [200, 300], [3.0, 2.5], [250, 300], [0.5, 0.0])
    joined = join_base(branch, base, "base")
    np.testing.assert_array_equal(joined.loss.step, [0, 100, 200, 300])
    np.testing.assert_array_equal(joined.loss.value, [5, 4, 3.0, 2.5])  # the branch's 200 wins
    np.testing.assert_array_equal(joined.loss.from_base, [1, 1, 0, 0])
    np.testing.assert_array_equal(joined.lr.step, [0, 50, 100, 150, 200, 250, 300])
    np.testing.assert_array_equal(joined.lr.value, [1, 1, 1, 1, 1, 0.5, 0.0])  # base lr at 200
    assert "joined to base run 'base' (base.csv) at step 200" in joined.notes[-1]
    late = _clean("late", [400], [2.0])
    with pytest.raises(DataError, match=r"starts at step 400, after the last step 300"):
        join_base(late, base, "base")
    train = _clean("t", [200], [3.0], kind="training")
    with pytest.raises(DataError, match=r"logs training loss 'loss' but its base 'base'"):
        join_base(train, base, "base")


def test_base_option_through_load_curves(tmp_path):
    base = _csv(
        tmp_path,
        ["step", "loss", "lr"],
        [[s, 5 - s / 100, 1e-3] for s in range(0, 301, 50)],
        "base.csv",
    )
    cool = _csv(
        tmp_path,
        ["step", "loss", "lr"],
        [[200, 3.0, None], [250, 2.6, 5e-4], [300, 2.2, 0.0]],
        "cool.csv",
    )
    (curve,) = load_curves([cool], base=base)
    np.testing.assert_array_equal(curve.steps, [0, 50, 100, 150, 200, 250, 300])
    np.testing.assert_allclose(curve.loss, [5, 4.5, 4, 3.5, 3.0, 2.6, 2.2])
    np.testing.assert_allclose(curve.lr[[0, 200, 225, 250, 300]], [1e-3, 1e-3, 7.5e-4, 5e-4, 0.0])
    assert "joined to base run 'base'" in curve.meta["summary"]
    # named, with the base file among the inputs (it starts at step 0, so it is not joined)
    b, c = load_curves([base, cool], base=[f"cool={base}"])
    assert b.steps.size == 7 and c.steps.size == 7
    with pytest.raises(LrlawError, match=r"--base for run 'base': it starts at step 0"):
        load_curves([base], base={"base": base})
    with pytest.raises(LrlawError, match=r"no run starts after step 0, so none is joined"):
        load_curves([base], base=base)
    two = tmp_path / "two.csv"
    two.write_text("run,step,loss,lr\na,0,5,1\nb,0,5,1\n")
    with pytest.raises(DataError, match=r"a --base file must hold one run; it holds 2 \(a, b\)"):
        load_curves([cool], base=two)


# --------------------------------------------------------------------------- #
# The 124M W&B exports against the canonical CSVs (data/schaipp-124m)
# --------------------------------------------------------------------------- #


def test_read_series_grad_norm_from_wandb_json():
    grad = read_series(STABLE, "grad_norm")
    raw = json.loads(STABLE.read_text())["history"]["train"]
    last = dict(zip(raw["iter"], raw["grad_norm"]))  # the last entry of a repeated iter wins
    assert grad.index.name == "step"
    assert grad.size == len(last) == 1000
    np.testing.assert_array_equal(grad.index, sorted(last))
    np.testing.assert_array_equal(grad.to_numpy(), [last[s] for s in sorted(last)])
    frame = read_log(STABLE, extra=["grad_norm"])
    np.testing.assert_array_equal(frame.dropna(subset=["grad_norm"])["grad_norm"], grad.to_numpy())
    with pytest.raises(DataError, match=r"no column 'gradnorm'; columns found: .*grad_norm"):
        read_series(STABLE, "gradnorm")


def test_resumed_wandb_run_keeps_the_resumed_values():
    # ann124-0.2sqrt was resumed at 41000: its val loss at 41200 is logged twice and differs
    val = read_series(COOL_SQRT, "val_loss")
    raw = json.loads(COOL_SQRT.read_text())["history"]["val"]
    at = [v for i, v in zip(raw["iter"], raw["val_loss"]) if i == 41200]
    assert len(at) >= 2 and at[0] != at[-1]
    assert val[41200] == at[-1]


CANONICAL_PAIRS = [
    ("stable", [STABLE], None),
    ("cosine", [COSINE], None),
    ("wsd-0.994-linear", [FULL_0994], None),
    ("wsd-0.2-linear", [COOL_LIN], STABLE),
    ("wsd-0.2-sqrt", [COOL_SQRT], STABLE),
]


@pytest.mark.parametrize(
    ("stem", "files", "base"), CANONICAL_PAIRS, ids=[p[0] for p in CANONICAL_PAIRS]
)
def test_wandb_json_gives_the_canonical_curve(stem, files, base):
    (canonical,) = load_curves([CANON / f"{stem}.csv"])
    (direct,) = load_curves(files, initial_lr=1e-5, base=base)
    np.testing.assert_array_equal(direct.steps, canonical.steps)
    np.testing.assert_array_equal(direct.loss, canonical.loss)
    np.testing.assert_array_equal(direct.lr, canonical.lr)
    assert direct.warmup == canonical.warmup


@pytest.fixture(scope="module")
def canonical_fit(tmp_path_factory) -> Path:
    """lrlaw fit on the canonical CSVs of the stable and cosine 124M runs (schedules.txt)."""
    out = tmp_path_factory.mktemp("canonical") / "fit.json"
    result = run(
        "fit", CANON / "stable.csv", CANON / "cosine.csv", "--schedules", DATA / "schedules.txt",
        "--bootstrap", "0", "-q", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _params(path: Path) -> np.ndarray:
    data = json.loads(path.read_text())
    return np.array([data["params"][k] for k in ("L0", "A", "alpha", "C")])


def test_fit_on_wandb_json_equals_fit_on_canonical_csv(tmp_path, canonical_fit):
    """The acceptance check: lrlaw fit on the W&B exports == on the canonical CSVs."""
    direct = tmp_path / "direct.json"
    result = run("fit", STABLE, COSINE, "--initial-lr", "1e-5", "--bootstrap", "0", "--out", direct)
    assert result.exit_code == 0, result.output
    assert "read " in result.stderr and "W&B JSON" in result.stderr
    np.testing.assert_allclose(_params(direct), _params(canonical_fit), rtol=1e-7)
    a, b = FitResult.load(direct), FitResult.load(canonical_fit)
    (held_out,) = load_curves(
        [CANON / "wsd-0.994-linear.csv"], schedules_file=DATA / "schedules.txt"
    )
    np.testing.assert_allclose(a.predict(held_out), b.predict(held_out), rtol=1e-9)


def test_fit_on_wandb_cooldowns_with_base_equals_canonical(tmp_path):
    specs = read_schedules_file(DATA / "schedules.txt")
    direct, canonical = tmp_path / "direct.json", tmp_path / "canonical.json"
    result = run(
        "fit", COOL_LIN, COOL_SQRT, "--base", STABLE, "--initial-lr", "1e-5",
        "--schedule", f"ann124-0.2sqrt-lr0.001={specs['wsd-0.2-sqrt']}",
        "--bootstrap", "0", "--out", direct,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "joined to base run 'stable-124m-lr0.001'" in result.stderr
    result = run(
        "fit", CANON / "wsd-0.2-linear.csv", CANON / "wsd-0.2-sqrt.csv",
        "--schedules", DATA / "schedules.txt", "--bootstrap", "0", "--out", canonical,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(_params(direct), _params(canonical), rtol=1e-7)


def test_predict_with_tokens_per_step_writes_tokens(tmp_path, canonical_fit):
    """A log indexed by tokens (200 sequences x 512 tokens per step) predicts like its steps."""
    table = pd.read_csv(CANON / "stable.csv")
    table.insert(0, "tokens", table.pop("step") * 102_400)
    path = tmp_path / "stable-tokens.csv"
    table.to_csv(path, index=False)
    by_tokens, by_steps = tmp_path / "tokens.csv", tmp_path / "steps.csv"
    spec = read_schedules_file(DATA / "schedules.txt")["stable"]
    result = run(
        "predict", canonical_fit, path, "--tokens-per-step", 102400, "--schedule", spec,
        "--out", by_tokens,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "step 'tokens / 102400'" in result.stderr
    result = run(
        "predict", canonical_fit, CANON / "stable.csv", "--schedule", spec, "--out", by_steps
    )
    assert result.exit_code == 0, result.output
    got, want = pd.read_csv(by_tokens), pd.read_csv(by_steps)
    assert list(got.columns[:3]) == ["run", "step", "tokens"]
    np.testing.assert_array_equal(got["tokens"], got["step"] * 102_400)
    np.testing.assert_array_equal(got["step"], want["step"])
    np.testing.assert_allclose(got["pred"], want["pred"], rtol=1e-12)


def test_cli_column_and_resampling_options(tmp_path, canonical_fit):
    """--step-col/--loss-col/--lr-col name the columns; --max-points 0 keeps every point."""
    table = pd.read_csv(CANON / "cosine.csv").rename(
        columns={"step": "t", "loss": "objective", "lr": "eta"}
    )
    path = tmp_path / "renamed.csv"
    table.to_csv(path, index=False)
    out, want = tmp_path / "pred.csv", tmp_path / "want.csv"
    result = run(
        "predict", canonical_fit, path, "--step-col", "t", "--loss-col", "objective",
        "--lr-col", "eta", "--max-points", 100, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "250 losses averaged into 100 points" in result.stderr
    assert len(pd.read_csv(out)) == 100
    args = ("--step-col", "t", "--loss-col", "objective", "--lr-col", "eta", "--max-points", 0)
    result = run("predict", canonical_fit, path, *args, "--out", out)
    assert result.exit_code == 0, result.output
    run("predict", canonical_fit, CANON / "cosine.csv", "--out", want)
    got, expected = pd.read_csv(out), pd.read_csv(want)
    np.testing.assert_array_equal(got["step"], expected["step"])
    np.testing.assert_allclose(got["pred"], expected["pred"], rtol=1e-12)


def test_cli_default_max_points_is_the_library_default():
    from lrlaw.cli._common import reading_options
    from lrlaw.io.cleaning import DEFAULT_MAX_POINTS

    # --max-points not given: the commands read with ReadOptions' default (predict
    # then keeps every point, see test_honest_output.py)
    @reading_options
    def command(reading=None):
        return reading

    given = command()
    assert given.options.max_points == DEFAULT_MAX_POINTS and not given.max_points_given
    assert command(max_points=0).options.max_points is None
    assert command(max_points=0).max_points_given
    assert ReadOptions().max_points == DEFAULT_MAX_POINTS


# --------------------------------------------------------------------------- #
# TensorBoard (optional extra)
# --------------------------------------------------------------------------- #


def _write_events(folder: Path, scalars: dict[str, list[tuple[int, float]]], tensors=False) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    writer = EventFileWriter(str(folder))
    for tag, points in scalars.items():
        for step, value in points:
            if tensors:  # TF2 style: a scalar tensor with the 'scalars' plugin
                meta = summary_pb2.SummaryMetadata(
                    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
                )
                val = summary_pb2.Summary.Value(
                    tag=tag, metadata=meta, tensor=tensor_util.make_tensor_proto(np.float64(value))
                )
            else:  # PyTorch / tensorboardX style
                val = summary_pb2.Summary.Value(tag=tag, simple_value=value)
            event = event_pb2.Event(
                wall_time=1.0, step=step, summary=summary_pb2.Summary(value=[val])
            )
            writer.add_event(event)
    writer.close()


@pytest.mark.parametrize("tensors", [False, True], ids=["simple-value", "tf2-tensor"])
def test_tensorboard_event_files(tmp_path, tensors):
    pytest.importorskip("tensorboard")
    folder = tmp_path / "myrun"
    folder.mkdir()
    loss = [(int(s), float(v)) for s, v in zip(LOSS_STEPS, LOSS_VALUES)]
    lr = [(int(s), float(v)) for s, v in zip(LR_STEPS, LR_VALUES)]
    _write_events(folder, {"train/loss": loss, "lr-AdamW": lr, "grad_norm": [(1, 0.5)]}, tensors)
    frame = read_log(folder)
    assert set(frame.run) == {"myrun"}
    got = frame.dropna(subset=["loss"])
    np.testing.assert_array_equal(got.step, LOSS_STEPS)
    np.testing.assert_allclose(got.loss, LOSS_VALUES, rtol=1e-6 if not tensors else 1e-15)
    (curve,) = load_curves([folder])
    np.testing.assert_allclose(curve.lr[LR_STEPS], LR_VALUES, rtol=1e-6)
    assert "TensorBoard" in curve.meta["summary"]
    (event_file,) = folder.iterdir()
    assert read_series(event_file, "grad_norm").to_dict() == {1: 0.5}


def test_tensorboard_subfolders_prefix_their_tags(tmp_path):
    pytest.importorskip("tensorboard")
    for sub, value in (("train", 3.0), ("validation", 3.5)):
        (tmp_path / "logs" / sub).mkdir(parents=True)
        _write_events(tmp_path / "logs" / sub, {"epoch_loss": [(0, value + 1), (1, value)]})
    (run_log,) = read_runs(tmp_path / "logs")
    assert set(run_log.columns) == {"train/epoch_loss", "validation/epoch_loss"}
    frame = read_log(
        tmp_path / "logs", ReadOptions(loss_col="validation/epoch_loss", max_points=None)
    )
    np.testing.assert_array_equal(frame["loss"], [4.5, 3.5])


def test_tensorboard_without_the_extra_says_which_to_install(tmp_path, monkeypatch):
    event_file = tmp_path / "events.out.tfevents.123.host"
    event_file.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing", None)
    with pytest.raises(
        LrlawError,
        match=r"needs the optional extra 'tensorboard': pip install 'lrlaw\[tensorboard\]'",
    ):
        read_log(event_file)
    result = run("fit", event_file, "--out", tmp_path / "fit.json")
    assert result.exit_code == 2
    assert "pip install 'lrlaw[tensorboard]'" in result.stderr


def test_semicolon_separated_csv_says_so(tmp_path):
    """Regression: a ';'-separated CSV gave only "no step column ... columns found:
    step;loss;lr"; the error now names the separator."""
    path = tmp_path / "semi.csv"
    path.write_text("step;loss;lr\n0;5;0.001\n10;4;0.001\n")
    with pytest.raises(DataError, match=r"semi.csv: no step column .*looks ';'-separated"):
        read_log(path)


def test_a_tensorboard_scalar_download_is_read_as_the_loss(tmp_path):
    """TensorBoard's "Download CSV" of a loss chart has the columns Wall time, Step, Value.
    It used to stop with "no loss column"; its Value is now taken as the loss, the read
    summary says so, and the curve is the shipped one's (MPL 100M cosine, its schedule
    from the schedules file)."""
    src = pd.read_csv(DATA / "mpl" / "100m" / "cosine_24000.csv")
    tb = pd.DataFrame(
        {"Wall time": 1.7e9 + 0.3 * src["step"], "Step": src["step"], "Value": src["loss"]}
    )
    path = tmp_path / "cosine_24000.csv"
    tb.to_csv(path, index=False)
    sched = DATA / "schedules.txt"
    (curve,) = load_curves([path], schedules_file=sched)
    (want,) = load_curves([DATA / "mpl" / "100m" / "cosine_24000.csv"], schedules_file=sched)
    np.testing.assert_array_equal(curve.steps, want.steps)
    np.testing.assert_array_equal(curve.loss, want.loss)
    np.testing.assert_array_equal(curve.lr, want.lr)
    out = run("fit", path, "--schedules", sched, "--bootstrap", "0", "--out", tmp_path / "f.json")
    assert out.exit_code == 0, out.output
    assert "a TensorBoard scalar export (Wall time, Step, Value): its Value taken as the" in (
        " ".join(out.output.split())
    )
    # a file with more columns than a TensorBoard download is not guessed at
    tb.assign(other=1.0).to_csv(tmp_path / "more.csv", index=False)
    with pytest.raises(DataError, match="no loss column"):
        load_curves([tmp_path / "more.csv"], schedules_file=sched)


@pytest.mark.parametrize(
    ("loss_col", "lr_col", "kind"),
    [
        ("lm loss validation", "learning-rate", "validation"),  # Megatron-LM
        ("train/CE loss", "optim/LR (group 0)", "training"),  # OLMo-core
        ("train/CrossEntropyLoss", "optim/learning_rate_group0", "training"),  # OLMo
        ("loss_metrics/global_avg_loss", "lr", "training"),  # torchtitan
        ("loss/train/total", "lr-DecoupledAdamW/group0", "training"),  # Composer
        ("metrics/eval/LanguageCrossEntropy", "lr-DecoupledAdamW/group0", "validation"),
        ("Loss/train", "lr-AdamW/pg1", "training"),  # PyTorch's TB tutorial, Lightning
    ],
)
def test_other_trainers_column_names_are_found(tmp_path, loss_col, lr_col, kind):
    """Logs from trainers whose metric names lrlaw did not know used to stop with 'no loss
    column' (or 'no lr column'); the shipped MPL 100M cosine under each trainer's names
    reads as the shipped file does."""
    src = pd.read_csv(DATA / "mpl" / "100m" / "cosine_24000.csv")
    path = tmp_path / "cosine_24000.csv"
    src.rename(columns={"loss": loss_col, "lr": lr_col}).to_csv(path, index=False)
    (curve,) = load_curves([path], warmup=2160)  # its first logged step
    (want,) = load_curves([DATA / "mpl" / "100m" / "cosine_24000.csv"], warmup=2160)
    np.testing.assert_array_equal(curve.loss, want.loss)
    np.testing.assert_array_equal(curve.lr, want.lr)
    sel = select_columns(read_runs(path)[0])
    assert sel.loss.name == loss_col and sel.lr.name == lr_col and sel.loss_kind == kind


def test_a_trainers_tensorboard_log_is_read_as_means_since_the_last_log(tmp_path):
    """The Hugging Face Trainer's TensorBoardCallback writes its training loss (a mean since
    the previous log) as "train/loss" beside "train/epoch" and "train/learning_rate".
    --loss-average auto used to read it at the logged step; it now places each value at
    the centre of the steps it averages, as for the Trainer's JSON and W&B logs.  A
    TensorBoard "train/loss" without the Trainer's other tags stays a point value."""
    pytest.importorskip("tensorboard")
    steps = list(range(500, 5001, 500))
    hf = tmp_path / "hf"
    hf.mkdir()
    _write_events(
        hf,
        {
            "train/loss": [(s, 4.0 - s / 10000) for s in steps],
            "train/learning_rate": [(s, 1e-3) for s in steps],
            "train/epoch": [(s, s / 5000) for s in steps],
        },
    )
    (run_log,) = read_runs(hf)
    clean = prepare_run(run_log)
    assert clean.loss_average == ("since-last", 0.0)
    np.testing.assert_array_equal(clean.loss.step, [s - 250 + 1 for s in steps])  # 251, 751, ..
    assert "mean since the previous log" in clean.summary()
    plain = tmp_path / "plain"
    plain.mkdir()
    _write_events(plain, {"train/loss": [(s, 4.0 - s / 10000) for s in steps]})
    clean = prepare_run(read_runs(plain)[0])
    assert clean.loss_average is None
    np.testing.assert_array_equal(clean.loss.step, steps)


def test_a_trainers_log_history_as_a_table_is_read_as_means_since_the_last_log(tmp_path):
    """trainer_state.json's log_history saved as a CSV (or the Trainer's MLflow logger)
    keeps its keys: "loss" beside "epoch" and "learning_rate".  auto places its values
    at the centres of their stretches, as for the JSON; a table with only step and loss
    does not move."""
    steps = np.arange(500, 5001, 500)
    table = pd.DataFrame(
        {"loss": 4.0 - steps / 1e4, "grad_norm": 1.0, "learning_rate": 1e-3,
         "epoch": steps / 5000, "step": steps}
    )  # fmt: skip
    table.to_csv(tmp_path / "log_history.csv", index=False)
    clean = prepare_run(read_runs(tmp_path / "log_history.csv")[0])
    assert clean.loss_average == ("since-last", 0.0)
    np.testing.assert_array_equal(clean.loss.step, steps - 249)
    table[["step", "loss"]].to_csv(tmp_path / "plain.csv", index=False)
    clean = prepare_run(read_runs(tmp_path / "plain.csv")[0])
    assert clean.loss_average is None
    np.testing.assert_array_equal(clean.loss.step, steps)
