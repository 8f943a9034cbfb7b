"""Bad input: the corpus of malformed files in tests/bad_inputs, and fuzzing of the readers.

Every case of the corpus goes through the command line and must give exactly
one ``error:`` line on stderr (naming the file, the column, the row and what
was expected, where those apply), exit code 2, and no output file.  The
fuzz tests feed the readers, the schedules file and the spec parser (through
the loader) with arbitrary input: they may only raise an LrlawError.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_user_error, run
from hypothesis import HealthCheck, given, settings, strategies as st

from lrlaw.errors import LrlawError
from lrlaw.fitting import FitResult
from lrlaw.io import load_curves
from lrlaw.io.readers import ReadOptions, read_log

BAD = Path(__file__).resolve().parents[1] / "bad_inputs"
B = str(BAD)

# (id, files, extra arguments, the exact error line with {d} for the corpus folder)
CASES = [
    (
        "empty", ["empty.csv"], [],
        "{d}/empty.csv: empty file; expected a header with columns step, loss",
    ),
    (
        "header-only", ["header_only.csv"], [],
        "{d}/header_only.csv: no data rows (only a header); expected rows of step, loss",
    ),
    (
        "non-numeric-loss", ["non_numeric_loss.csv"], [],
        "{d}/non_numeric_loss.csv: column 'loss', line 4: expected a number, got 'abc'",
    ),
    (
        "non-numeric-step-jsonl", ["non_numeric_step.jsonl"], [],
        "{d}/non_numeric_step.jsonl: column 'step', line 2: expected a number, got 'ten'",
    ),
    (
        "non-integer-step", ["non_integer_step.csv"], [],
        "{d}/non_integer_step.csv: column 'step', line 3: expected an integer >= 0, got '1.5'",
    ),
    (
        "zero-loss", ["zero_loss.csv"], [],
        "{d}/zero_loss.csv: column 'loss', line 3: expected a finite loss > 0, got '0'",
    ),
    (
        "negative-loss", ["negative_loss.csv"], [],
        "{d}/negative_loss.csv: column 'loss', line 4: expected a finite loss > 0, got '-2.5'",
    ),
    (
        "negative-lr", ["negative_lr.csv"], [],
        "{d}/negative_lr.csv: column 'lr', line 3: expected a finite learning rate >= 0, "
        "got '-0.001'",
    ),
    (
        "negative-lr-wandb-json", ["negative_lr_wandb.json"], [],
        "{d}/negative_lr_wandb.json: column 'history.train.train_lr', entry 2: expected a finite "
        "learning rate >= 0, got -0.001",
    ),
    (
        "steps-backwards", ["steps_backwards.csv"], [],
        "{d}/steps_backwards.csv: column 'step', line 5: step goes back to 150 after 200 (line 4) "
        "and step 150 was not logged before; expected increasing steps (a resumed run may repeat "
        "steps it logged before); pass --sort-steps to sort the rows by step",
    ),
    (
        "all-nan", ["all_nan.csv"], [],
        "{d}/all_nan.csv: run 'all_nan': column 'loss' has no finite values: all 3 (lines 2-4) "
        "are NaN/inf; expected at least one finite loss > 0",
    ),
    (
        "single-point", ["single_point.csv"], [],
        "cannot fit {d}/single_point.csv (run 'single_point'): 1 point(s) in the fit window "
        "(steps after warmup); the momentum law has 4 parameters and needs at least 5",
    ),
    (
        "zero-lr", ["zero_lr.csv"], [],
        "cannot fit {d}/zero_lr.csv (run 'zero_lr'): every schedule is zero: the learning rate "
        "must be > 0 somewhere",
    ),
    (
        "mismatched-lengths", ["mismatched_lengths.json"], [],
        "{d}/mismatched_lengths.json: column 'history.val.val_loss', entry 4: the column has 3 "
        "entries but its steps 'history.val.iter' have 4; expected one value per step",
    ),
    (
        "wide-row", ["wide_row.csv"], [],
        "{d}/wide_row.csv: line 3: 4 fields but the header has 3 columns (step, loss, lr); "
        "expected one value per column",
    ),
    (
        "no-loss-column", ["no_loss_column.csv"], [],
        "{d}/no_loss_column.csv: run 'no_loss_column': no loss column (looked for val/loss, "
        "val_loss, eval/loss, eval_loss, validation/loss, validation_loss, valid/loss, "
        "valid_loss, lm loss validation, lm-loss-validation/lm loss validation, "
        "validation/lm_loss, val/lm_loss, eval/lm_loss, loss/val, loss/valid, "
        "loss/validation, loss/eval, metrics/eval/LanguageCrossEntropy, train/loss, "
        "train_loss, train_loss_step, training_loss, train/lm_loss, lm loss, train/CE loss, "
        "train/CrossEntropyLoss, loss_metrics/global_avg_loss, loss/train/total, loss/train, "
        "lm-loss-training/lm loss, lm_loss, loss); "
        "columns found: step, lr, acc; name it with --loss-col",
    ),
    (
        "no-step-column", ["no_step_column.csv"], [],
        "{d}/no_step_column.csv: no step column (looked for step, global_step, "
        "trainer/global_step, train/global_step, iter, iteration, _step); columns found: epoch, "
        "loss, lr; name it with --step-col",
    ),
    (
        "lr-too-short", ["lr_too_short.csv"], [],
        "{d}/lr_too_short.csv: run 'lr_too_short': column 'lr' ends at step 100 but losses go to "
        "step 300; pass --schedule SPEC or list the lr up to the last step",
    ),
    (
        "starts-late", ["starts_late.csv"], [],
        "{d}/starts_late.csv: run 'starts_late': column 'lr' starts at step 50, so the schedule "
        "before it is unknown; pass --schedule SPEC for this run (or --schedules FILE), --warmup "
        "STEPS for a linear warmup from 0, --initial-lr LR for the LR at step 0, or --base FILE "
        "for a branch resumed from another run's checkpoint",
    ),
    (
        "tokens-without-tokens-per-step", ["tokens_not_whole_steps.csv"], [],
        "{d}/tokens_not_whole_steps.csv: no step column (looked for step, global_step, "
        "trainer/global_step, train/global_step, iter, iteration, _step); columns found: tokens, "
        "loss, lr; it has a token count 'tokens': pass --tokens-per-step N to use it as the x axis",
    ),
    (
        "tokens-not-whole-steps", ["tokens_not_whole_steps.csv"], ["--tokens-per-step", "1000"],
        "{d}/tokens_not_whole_steps.csv: column 'tokens', line 4: expected a token count >= 0 "
        "that is a whole number of steps of 1000 tokens (--tokens-per-step), got '1500'",
    ),
    (
        "truncated-json", ["truncated.json"], [],
        "{d}/truncated.json: not valid JSON: Expecting ',' delimiter: line 1 column 56 (char 55)",
    ),
    (
        "bad-jsonl-line", ["bad_line.jsonl"], [],
        "{d}/bad_line.jsonl: line 2: not valid JSON (Expecting value: line 2 column 1 (char 22)); "
        "expected one JSON object per line",
    ),
    (
        "unknown-json-layout", ["unknown_layout.json"], [],
        "{d}/unknown_layout.json: unrecognised JSON layout; expected a list of logged rows, a W&B "
        "export {{'history': rows or {{section: {{'iter': [...], column: [...]}}}}}}, a Hugging "
        "Face trainer_state.json ('log_history') or a dict of equal-length lists",
    ),
    (
        "corrupt-parquet", ["corrupt.parquet"], [],
        "{d}/corrupt.parquet: cannot be read as a table: Could not open Parquet input source "
        "'{d}/corrupt.parquet': Parquet magic bytes not found in footer. Either the file is "
        "corrupted or this is not a parquet file.",
    ),
    (
        "unsupported-type", ["unsupported.xlsx"], [],
        "{d}/unsupported.xlsx: unsupported file type '.xlsx'; expected .csv, .tsv, .parquet, "
        ".jsonl, .json, or TensorBoard event files (a folder or events.out.tfevents.*)",
    ),
    (
        "spec-unknown-key", ["good.csv"], ["--schedules", f"{B}/unknown_key.schedules"],
        "{d}/good.csv: run 'good': invalid schedule spec "
        "'cosine:peak=1e-3,total=2000,warmup=200,decay=0.5': unknown key 'decay' for family "
        "'cosine'; valid keys: peak, total, final, warmup, warmup_start (spec from "
        "{d}/unknown_key.schedules, line 2)",
    ),
    (
        "spec-warmup-longer-than-run",
        ["good.csv"], ["--schedules", f"{B}/warmup_too_long.schedules"],
        "{d}/good.csv: run 'good': invalid schedule spec 'constant:peak=1e-3,warmup=3000,"
        "total=2000': warmup=3000 must be smaller than total=2000 (spec from "
        "{d}/warmup_too_long.schedules, line 2)",
    ),
    (
        "spec-impossible-value",
        ["good.csv"], ["--schedule", "wsd:peak=1e-3,total=2000,decay_start=2500"],
        "{d}/good.csv: run 'good': invalid schedule spec 'wsd:peak=1e-3,total=2000,"
        "decay_start=2500': decay_start=2500 must be in [warmup, total] = [0, 2000]",
    ),
    (
        "spec-disagrees-with-lr", ["good.csv"], ["--schedule", "constant:peak=2e-3,warmup=200"],
        "{d}/good.csv: column 'lr', line 3: lr 0.0005 at step 100 disagrees with schedule "
        "'constant:peak=2e-3,warmup=200' (0.001); fix the spec or drop the column",
    ),
    (
        "missing-loss-kind", ["good.csv"], ["--loss-kind", "val"],
        "{d}/good.csv: run 'good': no validation-loss column (looked for val/loss, val_loss, "
        "eval/loss, eval_loss, validation/loss, validation_loss, valid/loss, valid_loss, lm "
        "loss validation, lm-loss-validation/lm loss validation, validation/lm_loss, "
        "val/lm_loss, eval/lm_loss, loss/val, loss/valid, loss/validation, loss/eval, "
        "metrics/eval/LanguageCrossEntropy); "
        "columns found: step, loss, lr; name it with --loss-col",
    ),
    (
        "branch-after-base", ["cooldown.csv"], ["--base", f"{B}/good.csv"],
        "{d}/cooldown.csv: run 'cooldown' starts at step 2400, after the last step 2000 of its "
        "base run 'good' ({d}/good.csv); expected a base run that reaches the branch point",
    ),
    (
        "bad-smoothing", ["good.csv"], ["--smooth", "ema:1.5"],
        "smoothing 'ema:1.5': expected none, ema:BETA (0 <= BETA < 1) or window:K (an odd K >= 1)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_fit(tmp_path, files, args, expected):
    out, plot = tmp_path / "fit.json", tmp_path / "fit.png"
    result = run("fit", *[BAD / f for f in files], *args, "--out", out, "--plot", plot)
    line = assert_user_error(result)
    assert line == "error: " + expected.format(d=B)
    assert list(tmp_path.iterdir()) == []  # no partial output


def test_every_corpus_file_has_a_case():
    used = {f for _, files, args, _ in CASES for f in files}
    used |= {Path(a).name for _, _, args, _ in CASES for a in args if a.startswith(B)}
    assert sorted(p.name for p in BAD.iterdir()) == sorted(used)


@pytest.fixture(scope="module")
def saved_fit(tmp_path_factory) -> Path:
    """A saved momentum-law result (written, not fitted: the reading errors come first)."""
    result = FitResult(
        law="momentum", options={"lam": 0.999, "warmup": "signed", "fit_lam": False},
        params={"L0": 2.5, "A": 0.5, "alpha": 0.5, "C": 0.3}, objective=0.0, delta=1e-3,
        n_points=10, converged=True, n_starts=1, n_converged=1, n_near_best=1, num_steps=1,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("fit") / "fit.json"
    result.save(path)
    return path


_READING = ("non-numeric-loss", "steps-backwards", "all-nan", "mismatched-lengths", "starts-late")
READING_CASES = [c for c in CASES if c[0] in _READING]


@pytest.mark.parametrize(
    ("files", "args", "expected"), [c[1:] for c in READING_CASES], ids=[c[0] for c in READING_CASES]
)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_bad_input_predict_and_evaluate(tmp_path, saved_fit, command, files, args, expected):
    out = ["--out", tmp_path / "pred.csv"] if command == "predict" else []
    result = run(command, saved_fit, *[BAD / f for f in files], *args, *out)
    line = assert_user_error(result)
    assert line == "error: " + expected.format(d=B)
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_reading_options_reach_evaluate(saved_fit):
    """evaluate takes the same reading options: --sort-steps accepts the unordered log."""
    result = run("evaluate", saved_fit, BAD / "steps_backwards.csv", "--sort-steps", "--json")
    assert result.exit_code == 0, result.output
    (scored,) = json.loads(result.stdout)["runs"]
    assert scored["metrics"]["n"] == 4  # steps 100..300 after sorting (warmup 0, step 0 excluded)


def test_base_file_is_never_overwritten(tmp_path):
    base = tmp_path / "good.csv"
    base.write_bytes((BAD / "good.csv").read_bytes())
    before = base.read_bytes()
    result = run("fit", BAD / "cooldown.csv", "--base", base, "--out", base)
    assert_user_error(result, "refusing to overwrite an input file")
    assert base.read_bytes() == before


# --------------------------------------------------------------------------- #
# Outside reports (issue 16): degraded copies of a shipped curve
# --------------------------------------------------------------------------- #

DATA = Path(__file__).resolve().parents[2] / "data"
COSINE = DATA / "mpl" / "100m" / "cosine_24000.csv"  # header step,lr,loss
SCHEDULES = DATA / "schedules.txt"


def _inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    return folder


def _fit_error(tmp_path: Path, *args: object) -> str:
    """`lrlaw fit` on the args; one error line, nothing written."""
    out = tmp_path / "out"
    out.mkdir()
    result = run("fit", *args, "--schedules", SCHEDULES, "--out", out / "fit.json")
    line = assert_user_error(result)
    assert list(out.iterdir()) == []
    return line


@pytest.mark.parametrize("fast", [False, True], ids=["careful-parser", "large-file-parser"])
def test_row_with_too_few_fields_is_an_error(tmp_path, monkeypatch, fast):
    """Regression: a row with fewer fields than the header was read as a missing loss
    (a row with more fields was already an error)."""
    import lrlaw.io.readers as readers

    if fast:  # files over FAST_CSV_BYTES are parsed with pyarrow first
        monkeypatch.setattr(readers, "FAST_CSV_BYTES", 0)
    lines = COSINE.read_text().splitlines()
    assert lines[0] == "step,lr,loss"
    lines[5] = lines[5].rsplit(",", 1)[0]  # the loss and its separator are lost
    bad = _inputs(tmp_path) / "cosine_24000.csv"
    bad.write_text("\n".join(lines) + "\n")
    assert _fit_error(tmp_path, bad) == (
        f"error: {bad}: line 6: 2 fields but the header has 3 columns (step, lr, loss); "
        "expected one value per column (an empty cell keeps its separator)"
    )
    with pytest.raises(LrlawError, match=r"line 6: 2 fields but the header has 3"):
        from lrlaw.io import read_table

        read_table(bad)  # the canonical-table reader too


def test_rows_with_an_empty_loss_cell_still_read(tmp_path):
    """A row that only gives the LR (``step,lr,`` with the empty loss cell) is no short row."""
    lines = COSINE.read_text().splitlines()
    step, lr, _ = lines[1].split(",")
    extra = [f"{int(step) + k},{lr}," for k in (1, 2)]
    good = _inputs(tmp_path) / "cosine_24000.csv"
    good.write_text("\n".join([lines[0], lines[1], *extra, *lines[2:]]) + "\n")
    frame = read_log(good)
    original = read_log(COSINE)
    assert len(frame) == len(original) + 2
    assert frame["loss"].isna().sum() == 2
    np.testing.assert_array_equal(frame["loss"].dropna(), original["loss"])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-32"])
def test_utf16_log_and_schedules_file_are_read(tmp_path, saved_fit, encoding):
    """Regression: a UTF-16 file gave a raw codec message ('utf-8' codec can't decode byte
    0xff ...); a byte-order mark now tells the encoding and the file is decoded."""
    import codecs

    def encode(text: str) -> bytes:
        if encoding == "utf-16-be-bom":
            return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
        return text.encode(encoding)

    folder = _inputs(tmp_path)
    log, sched = folder / "cosine_24000.csv", folder / "schedules.txt"
    log.write_bytes(encode(COSINE.read_text()))
    sched.write_bytes(encode(SCHEDULES.read_text()))
    pd.testing.assert_frame_equal(read_log(log), read_log(COSINE), check_like=True)
    tables = []
    for source, schedules in ((log, sched), (COSINE, SCHEDULES)):
        out = tmp_path / f"pred-{source.parent.name}.csv"
        result = run("predict", saved_fit, source, "--schedules", schedules, "--out", out)
        assert result.exit_code == 0, result.output
        tables.append(out.read_text())
    assert tables[0] == tables[1]


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        (".csv", "a text table (CSV/TSV)"),
        (".tsv", "a text table (CSV/TSV)"),
        (".jsonl", "JSON lines (one JSON object per line)"),
        (".json", "JSON"),
    ],
)
def test_file_of_nul_bytes_is_binary_not_a_header(tmp_path, suffix, expected):
    """Regression: a file of NUL bytes (a log zeroed by a crash) was 'only a header'."""
    bad = _inputs(tmp_path) / f"cosine_24000{suffix}"
    bad.write_bytes(b"\0" * COSINE.stat().st_size)
    assert _fit_error(tmp_path, bad) == (
        f"error: {bad}: a binary file (NUL byte at offset 0), not {expected}; if it is UTF-16 "
        "text without a byte-order mark, save it as UTF-8"
    )


def test_text_that_is_not_utf8_names_the_line(tmp_path):
    """A Latin-1 file gave the raw codec message; now the line and the fix."""
    lines = COSINE.read_text().splitlines()
    lines = [lines[0] + ",note", *(f"{x}," for x in lines[1:])]
    lines[3] += "café"
    bad = _inputs(tmp_path) / "cosine_24000.csv"
    bad.write_bytes("\n".join(lines).encode("latin-1"))
    assert _fit_error(tmp_path, bad) == (
        f"error: {bad}: line 4: not UTF-8 text (byte 0xe9); expected a text table (CSV/TSV): "
        "save the file as UTF-8"
    )


@pytest.mark.parametrize("extra", [True, False], ids=["tensorboard-installed", "no-extra"])
def test_empty_folder_named_like_a_csv(tmp_path, monkeypatch, extra):
    """Regression: an empty folder x.csv was a TensorBoard folder that needed the extra."""
    import sys

    if not extra:
        monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing", None)
    folder = _inputs(tmp_path) / "cosine_24000.csv"
    folder.mkdir()
    assert _fit_error(tmp_path, folder) == (
        f"error: {folder}: a folder with no TensorBoard event files (events.out.tfevents.*) in "
        "it; expected a log file (.csv, .tsv, .parquet, .jsonl, .json) or a folder of "
        "TensorBoard event files"
    )


# --------------------------------------------------------------------------- #
# Fuzzing: any input gives a curve or an LrlawError, never another exception
# --------------------------------------------------------------------------- #

_CELLS = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "null", "None", "abc", "1e400", "0",
                     "-0", "1_000", "0x10", "True", "\"3\"", "1,5", "  2.5 "]),
    st.text(max_size=4),
)  # fmt: skip
_HEADERS = st.lists(
    st.sampled_from(["step", "loss", "lr", "run", "val/loss", "train/loss", "_step", "tokens",
                     "Step", "learning_rate", "x", ""]),
    min_size=1, max_size=5,
)  # fmt: skip


def _check_curves(curves) -> None:
    for c in curves:
        assert np.all(np.diff(c.steps) > 0)
        assert np.all(np.isfinite(c.loss)) and np.all(c.loss > 0)
        assert np.all(np.isfinite(c.lr)) and np.all(c.lr >= 0)
        assert c.lr.size > c.steps[-1]


def _load(path: Path, **kwargs):
    try:
        curves = load_curves([path], **kwargs)
    except LrlawError:
        return None
    _check_curves(curves)
    return curves


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_HEADERS, st.lists(st.lists(_CELLS, min_size=0, max_size=6), max_size=12), st.booleans())
def test_fuzz_csv_reader(header, rows, sort):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.csv"
        text = ",".join(header) + "\n" + "\n".join(",".join(r) for r in rows)
        path.write_text(text, errors="surrogatepass")
        _load(path, options=ReadOptions(sort_steps=sort), initial_lr=0.0)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".parquet"]))
def test_fuzz_raw_bytes(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            read_log(path)
        except LrlawError:
            pass


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 10**5), st.floats(allow_nan=True),
              st.sampled_from(["step", "iter", "loss", "val_loss", "lr", "train_lr", "x"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.sampled_from(["history", "train", "val", "iter", "step", "_step", "loss",
                                         "val_loss", "train_lr", "lr", "log_history", "x"]),
                        inner, max_size=5),
    ),
    max_leaves=30,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(_JSON)
def test_fuzz_json_reader(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.json"
        path.write_text(json.dumps(data))
        _load(path, warmup=0)
        jsonl = Path(folder) / "fuzz.jsonl"
        rows = data if isinstance(data, list) else [data]
        jsonl.write_text("\n".join(json.dumps(r) for r in rows))
        _load(jsonl)


_SPEC_TOKENS = st.sampled_from(
    ["constant", "cosine", "wsd", "linear", "multistep", "phases", ":", "=", ",", "[", "]", ";",
     "@0", "@100", "peak", "total", "warmup", "final", "decay_start", "decay_frac", "shape",
     "milestones", "values", "warmup_start", "1e-3", "0", "-1", "2000", "3000", "1e400", "nan",
     "exp", "sqrt", "good", "#", " ", "\n"]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(_SPEC_TOKENS, max_size=20).map("".join))
def test_fuzz_spec_and_schedules_file_through_the_loader(text):
    good = BAD / "good.csv"
    _load(good, schedules=[text])
    with tempfile.TemporaryDirectory() as folder:
        sched = Path(folder) / "s.txt"
        sched.write_text("good=" + text)
        _load(good, schedules_file=sched)
