"""Tests for lrlaw.io: reading curve tables, resolving schedules, atomic outputs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from lrlaw.curves import schedule_from_table
from lrlaw.errors import DataError, LrlawError, ScheduleError
from lrlaw.io import (
    atomic_output,
    load_curves,
    read_schedules_file,
    read_table,
    write_text_atomic,
)
from lrlaw.schedules import parse_schedule

DATA = Path(__file__).resolve().parents[2] / "data"
MPL_FILES = sorted(p.relative_to(DATA).as_posix() for p in DATA.glob("mpl/*/*.csv"))
CANONICAL_FILES = sorted(
    p.relative_to(DATA).as_posix() for p in DATA.glob("schaipp-124m/canonical/*.csv")
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def in_file(path: Path, pattern: str) -> str:
    """Regex for a message that starts with the file path and then matches ``pattern``."""
    return re.escape(str(path)) + r": .*" + pattern


# --------------------------------------------------------------------------- #
# read_table: valid tables
# --------------------------------------------------------------------------- #


def test_read_table_canonical_csv(tmp_path):
    path = write(tmp_path, "run1.csv", "step,loss,lr\n0,4.0,0.1\n10,3.5,0.2\n20,3.0,0.05\n")
    (table,) = read_table(path)
    assert table.name == "run1"
    assert table.source == str(path)
    assert table.step.dtype == np.int64
    np.testing.assert_array_equal(table.step, [0, 10, 20])
    np.testing.assert_array_equal(table.loss, [4.0, 3.5, 3.0])
    np.testing.assert_array_equal(table.lr, [0.1, 0.2, 0.05])
    np.testing.assert_array_equal(table.line, [2, 3, 4])
    assert table.loc(1) == "line 3"


def test_read_table_without_lr_and_with_spaces_and_crlf(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_bytes(b"step, loss\r\n0, 4.0\r\n5, 3.5\r\n")
    (table,) = read_table(path)
    assert table.lr is None
    np.testing.assert_array_equal(table.step, [0, 5])
    np.testing.assert_array_equal(table.loss, [4.0, 3.5])


def test_read_table_run_column_keeps_order_of_first_appearance(tmp_path):
    text = "run,step,loss,lr\nzeta,0,4,1\nalpha,0,5,2\nzeta,1,3,1\nalpha,2,4,2\nalpha,3,3.5,2\n"
    path = write(tmp_path, "both.csv", text)
    tables = read_table(path)
    assert [t.name for t in tables] == ["zeta", "alpha"]
    zeta, alpha = tables
    np.testing.assert_array_equal(zeta.step, [0, 1])
    np.testing.assert_array_equal(zeta.loss, [4.0, 3.0])
    np.testing.assert_array_equal(zeta.line, [2, 4])
    np.testing.assert_array_equal(alpha.step, [0, 2, 3])
    np.testing.assert_array_equal(alpha.lr, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(alpha.line, [3, 5, 6])


def test_read_table_tsv(tmp_path):
    path = write(tmp_path, "tab.tsv", "step\tloss\tlr\n0\t4.0\t0.1\n1\t3.0\t0.2\n")
    (table,) = read_table(path)
    assert table.name == "tab"
    np.testing.assert_array_equal(table.step, [0, 1])
    np.testing.assert_array_equal(table.loss, [4.0, 3.0])
    np.testing.assert_array_equal(table.lr, [0.1, 0.2])


def test_read_table_parquet(tmp_path):
    frame = pd.DataFrame(
        {
            "run": ["b", "b", "a", "a"],
            "step": [0, 1, 0, 2],
            "loss": [3.0, 2.0, np.nan, 1.5],
            "lr": [1.0, 1.0, 1.0, 0.5],
        }
    )
    path = tmp_path / "runs.parquet"
    frame.to_parquet(path)
    b, a = read_table(path)
    assert (b.name, a.name) == ("b", "a")
    np.testing.assert_array_equal(a.step, [0, 2])
    np.testing.assert_array_equal(a.loss, [np.nan, 1.5])
    np.testing.assert_array_equal(a.lr, [1.0, 0.5])
    # parquet positions are 1-based data rows, not file lines
    np.testing.assert_array_equal(a.line, [3, 4])
    assert a.loc(0) == "row 3"


def test_read_table_keeps_schedule_only_rows(tmp_path):
    path = write(tmp_path, "sched.csv", "step,lr,loss\n0,0.1,4.0\n5,0.2,\n10,0.3,3.0\n15,0.1,\n")
    (table,) = read_table(path)
    np.testing.assert_array_equal(table.step, [0, 5, 10, 15])
    np.testing.assert_array_equal(table.loss, [4.0, np.nan, 3.0, np.nan])
    np.testing.assert_array_equal(table.lr, [0.1, 0.2, 0.3, 0.1])


# --------------------------------------------------------------------------- #
# read_table: bad inputs, one DataError naming file, column, line, expectation
# --------------------------------------------------------------------------- #

BAD_CSV = [
    ("empty-file", "", r"empty file; expected a header with columns step, loss"),
    ("header-only", "step,loss,lr\n", r"no data rows \(only a header\)"),
    (
        "missing-loss",
        "step,lr\n0,0.1\n",
        r"no column 'loss'; columns found: step, lr; expected step, loss",
    ),
    (
        "non-numeric-step",
        "step,loss,lr\n0,3,1\nx,2,1\n",
        r"column 'step', line 3: expected a number, got 'x'",
    ),
    (
        "non-numeric-loss",
        "step,loss,lr\n0,3,1\n1,2.5,1\n2,abc,1\n",
        r"column 'loss', line 4: expected a number, got 'abc'",
    ),
    (
        "non-numeric-lr",
        "step,loss,lr\n0,3,1\n1,2,foo\n",
        r"column 'lr', line 3: expected a number, got 'foo'",
    ),
    (
        "non-integer-step",
        "step,loss\n0,3\n1.5,2\n",
        r"column 'step', line 3: expected an integer >= 0, got '1.5'",
    ),
    (
        "negative-step",
        "step,loss\n-1,3\n0,2\n",
        r"column 'step', line 2: expected an integer >= 0, got '-1'",
    ),
    (
        "empty-step",
        "step,loss\n0,3\n,2\n",
        r"column 'step', line 3: expected an integer >= 0, got ''",
    ),
    (
        "zero-loss",
        "step,loss\n0,3\n1,0\n",
        r"column 'loss', line 3: expected a finite loss > 0, got '0'",
    ),
    (
        "negative-loss",
        "step,loss\n0,3\n1,2\n2,-2\n",
        r"column 'loss', line 4: expected a finite loss > 0, got '-2'",
    ),
    (
        "inf-loss",
        "step,loss\n0,3\n1,inf\n",
        r"column 'loss', line 3: expected a finite loss > 0, got 'inf'",
    ),
    (
        "negative-lr",
        "step,loss,lr\n0,3,1\n1,2,-1e-4\n",
        r"column 'lr', line 3: expected a finite learning rate >= 0, got '-1e-4'",
    ),
    (
        "inf-lr",
        "step,loss,lr\n0,3,inf\n",
        r"column 'lr', line 2: expected a finite learning rate >= 0, got 'inf'",
    ),
    (
        "steps-backwards",
        "step,loss\n0,3\n5,2\n3,1\n",
        r"column 'step', line 4: step goes back to 3 after 5 \(line 3\); "
        r"expected strictly increasing steps",
    ),
    (
        "duplicate-step",
        "step,loss\n0,3\n5,2\n5,1\n",
        r"column 'step', line 4: step repeats 5 after 5 \(line 3\); expected strictly increasing",
    ),
    (
        "steps-backwards-within-run",
        "run,step,loss\na,0,3\nb,0,3\na,5,2\nb,1,2\na,4,1\n",
        r"column 'step', line 6: step goes back to 4 after 5 \(line 4\); "
        r"expected strictly increasing steps within run 'a'",
    ),
    (
        "run-without-loss",
        "run,step,loss,lr\na,0,3,1\nb,0,,1\nb,1,,1\n",
        r"run 'b': column 'loss' has no values",
    ),
]


@pytest.mark.parametrize(("text", "pattern"), [c[1:] for c in BAD_CSV], ids=[c[0] for c in BAD_CSV])
def test_read_table_bad_csv(tmp_path, text, pattern):
    path = write(tmp_path, "curve.csv", text)
    with pytest.raises(DataError, match=in_file(path, pattern)):
        read_table(path)


BAD_PARQUET = [
    (
        "negative-loss",
        {"step": [0, 1, 2], "loss": [3.0, 2.0, -1.0]},
        r"column 'loss', row 3: expected a finite loss > 0",
    ),
    (
        "non-integer-step",
        {"step": [0.0, 1.5], "loss": [3.0, 2.0]},
        r"column 'step', row 2: expected an integer >= 0",
    ),
    (
        "duplicate-step",
        {"step": [0, 1, 1], "loss": [3.0, 2.0, 1.0]},
        r"column 'step', row 3: step repeats 1 after 1 \(row 2\)",
    ),
    (
        "non-numeric-lr",
        {"step": [0, 1], "loss": [3.0, 2.0], "lr": ["0.1", "x"]},
        r"column 'lr', row 2: expected a number, got 'x'",
    ),
]


@pytest.mark.parametrize(
    ("columns", "pattern"), [c[1:] for c in BAD_PARQUET], ids=[c[0] for c in BAD_PARQUET]
)
def test_read_table_bad_parquet(tmp_path, columns, pattern):
    path = tmp_path / "curve.parquet"
    pd.DataFrame(columns).to_parquet(path)
    with pytest.raises(DataError, match=in_file(path, pattern)):
        read_table(path)


def test_read_table_unsupported_suffix(tmp_path):
    path = write(tmp_path, "curve.json", '{"step": [0]}')
    with pytest.raises(DataError, match=in_file(path, r"unsupported file type '\.json'; expected")):
        read_table(path)


def test_read_table_missing_file(tmp_path):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(DataError, match=in_file(path, "no such file")):
        read_table(path)


def test_read_table_corrupt_parquet(tmp_path):
    path = write(tmp_path, "curve.parquet", "this is not parquet")
    with pytest.raises(DataError, match=in_file(path, "cannot be read as a table")):
        read_table(path)


def test_read_table_line_number_after_blank_line(tmp_path):
    path = write(tmp_path, "curve.csv", "step,loss\n0,3\n\n1,abc\n")
    with pytest.raises(DataError, match=in_file(path, r"column 'loss', line 4:")):
        read_table(path)


def test_read_table_rejects_rows_wider_than_header(tmp_path):
    path = write(tmp_path, "curve.csv", "step,loss\n0,10,4\n1,20,5\n")
    with pytest.raises(DataError, match=in_file(path, r"line 2")):
        read_table(path)


def test_read_table_rejects_rows_narrower_than_header(tmp_path, data_dir):
    """Regression: a row with fewer fields than the header read as a missing value."""
    lines = (data_dir / "mpl/100m/wsdcon_3.csv").read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0]
    path = write(tmp_path, "wsdcon_3.csv", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=in_file(path, r"line 3: 2 fields but the header has 3")):
        read_table(path)


def test_read_table_on_a_folder_says_folder(tmp_path):
    """Regression: a folder named x.csv was 'no such file'."""
    path = tmp_path / "curve.csv"
    path.mkdir()
    with pytest.raises(DataError, match=in_file(path, r"a folder, not a table")):
        read_table(path)


def test_read_table_rejects_huge_step(tmp_path):
    path = write(tmp_path, "curve.csv", "step,loss\n99999999999999999999,2\n")
    with (
        np.errstate(invalid="ignore"),
        pytest.raises(
            DataError, match=in_file(path, r"column 'step', line 2: expected an integer")
        ),
    ):
        read_table(path)


# --------------------------------------------------------------------------- #
# Schedules from the lr column
# --------------------------------------------------------------------------- #


def test_lr_at_every_step_is_used_exactly(tmp_path):
    lrs = [0.1, 0.2, 0.3, 0.25, 0.125]
    rows = "".join(f"{s},{4.0 - 0.1 * s},{lr!r}\n" for s, lr in enumerate(lrs))
    path = write(tmp_path, "every.csv", "step,loss,lr\n" + rows)
    (curve,) = load_curves([path])
    np.testing.assert_array_equal(curve.lr, lrs)
    assert curve.schedule == "lr column (every step)"
    np.testing.assert_array_equal(schedule_from_table(np.arange(5), np.array(lrs), 4), lrs)


def test_sparse_lr_is_interpolated_linearly(tmp_path):
    path = write(tmp_path, "sparse.csv", "step,loss,lr\n0,5,0\n10,4,1.0\n20,3,0.5\n")
    (curve,) = load_curves([path])
    assert curve.lr.size == 21
    assert curve.lr[5] == pytest.approx(0.5, rel=1e-15)
    assert curve.lr[15] == pytest.approx(0.75, rel=1e-15)
    np.testing.assert_allclose(curve.lr[:11], np.linspace(0.0, 1.0, 11), rtol=1e-15)
    assert "interpolation" in curve.schedule


def test_log_starting_late_needs_schedule_or_warmup(tmp_path):
    path = write(tmp_path, "late.csv", "step,loss,lr\n10,5,1.0\n20,4,0.5\n")
    with pytest.raises(DataError, match=in_file(path, r"starts at step 10")) as info:
        load_curves([path])
    assert "--schedule" in str(info.value)
    assert "--warmup" in str(info.value)


@pytest.mark.parametrize("warmup", [0, 4, 10])
def test_warmup_supplies_missing_start(tmp_path, warmup):
    path = write(tmp_path, "late.csv", "step,loss,lr\n10,5,1.0\n20,4,0.5\n")
    (curve,) = load_curves([path], warmup=warmup)
    assert curve.warmup == warmup
    assert curve.lr.size == 21
    if warmup:
        np.testing.assert_allclose(curve.lr[: warmup + 1], np.linspace(0.0, 1.0, warmup + 1))
    np.testing.assert_array_equal(curve.lr[warmup:11], 1.0)  # held until the first listed step
    np.testing.assert_allclose(curve.lr[10:], np.linspace(1.0, 0.5, 11), rtol=1e-15)
    assert f"linear warmup over {warmup} steps" in curve.schedule


def test_warmup_past_the_first_listed_step_ramps_to_it(tmp_path):
    """A 500-step warmup whose LR is first logged at step 49 (Lightning's and HF's first
    log): ``--warmup 500`` used to be refused ("must be between 0 and the first step with
    an lr (49)"); the listed LRs carry the ramp from step 49, steps 0-49 rise linearly
    from 0 to the first of them, and the curve's warmup is the 500 steps given."""
    rows = "".join(f"{s},{6 - s / 1000:.4f},{1e-3 * min(1.0, (s + 1) / 500):.6g}\n" for s in
                   range(49, 2000, 50))  # fmt: skip
    path = write(tmp_path, "late.csv", "step,loss,lr\n" + rows)
    (curve,) = load_curves([path], warmup=500)
    assert curve.warmup == 500
    assert "from step 0 to the first listed lr (step 49) supplied, a 500-step warmup" in (
        curve.schedule
    )
    np.testing.assert_allclose(curve.lr[:50], np.linspace(0.0, 1e-4, 50), rtol=1e-12)
    np.testing.assert_allclose(curve.lr[499], 1e-3, rtol=1e-12)
    # a warmup past the first listed step that the log itself contradicts is an error
    path = write(tmp_path, "late2.csv", "step,loss,lr\n10,5,1.0\n20,4,0.5\n30,3,0.4\n")
    falls = r"--warmup 25: column 'lr' falls before step 25 \(from 1 at step 10 to 0.5 at step 20\)"
    with pytest.raises(DataError, match=in_file(path, falls)):
        load_curves([path], warmup=25)
    (short,) = load_curves([path], warmup=11)  # the peak between two listed steps
    (at_first,) = load_curves([path], warmup=10)
    np.testing.assert_array_equal(short.lr, at_first.lr)


def test_lr_ending_before_last_loss_raises(tmp_path):
    path = write(tmp_path, "short.csv", "step,loss,lr\n0,5,1.0\n10,4,0.5\n20,3,\n")
    with pytest.raises(
        DataError, match=in_file(path, r"column 'lr' ends at step 10 but losses go to step 20")
    ):
        load_curves([path])


def test_lr_beyond_last_loss_extends_the_schedule(tmp_path):
    path = write(tmp_path, "tail.csv", "step,loss,lr\n0,5,1\n10,4,1\n30,,0.5\n")
    (curve,) = load_curves([path])
    np.testing.assert_array_equal(curve.steps, [0, 10])
    assert curve.total_steps == 30
    assert curve.lr[20] == pytest.approx(0.75)


def test_no_lr_column_and_no_spec_raises(tmp_path):
    path = write(tmp_path, "nolr.csv", "step,loss\n0,5\n10,4\n")
    with pytest.raises(DataError, match=in_file(path, r"no 'lr' column; pass --schedule")):
        load_curves([path])


def test_empty_lr_column_and_no_spec_raises(tmp_path):
    path = write(tmp_path, "emptylr.csv", "step,loss,lr\n0,5,\n10,4,\n")
    with pytest.raises(DataError, match=in_file(path, r"column 'lr' has no values.*--schedule")):
        load_curves([path])


def test_spec_schedule_is_float64_without_global_x64(data_dir):
    """The CLI runs without the global x64 flag; spec LRs must still be float64."""
    spec = read_schedules_file(data_dir / "schedules.txt")["cosine_24000"]
    with jax.enable_x64(False):
        (curve,) = load_curves(
            [data_dir / "mpl/100m/cosine_24000.csv"], schedules_file=data_dir / "schedules.txt"
        )
    assert curve.lr[2160] == 3e-4
    reference = parse_schedule(spec).values(curve.lr.size)  # float64 (conftest sets x64)
    np.testing.assert_allclose(curve.lr, reference, rtol=1e-14, atol=0)


# --------------------------------------------------------------------------- #
# Schedule specs
# --------------------------------------------------------------------------- #

TWO_RUNS = "run,step,loss\nb,0,5\nb,10,4\na,0,5\na,20,3\n"


def test_bare_specs_go_to_runs_in_order(tmp_path):
    path = write(tmp_path, "two.csv", TWO_RUNS)
    b, a = load_curves([path], ["constant:peak=1.0", "cosine:peak=2.0,total=20"])
    assert (b.name, b.schedule) == ("b", "constant:peak=1.0")
    assert (a.name, a.schedule) == ("a", "cosine:peak=2.0,total=20")
    np.testing.assert_array_equal(b.lr, 1.0)
    np.testing.assert_array_equal(a.lr, parse_schedule("cosine:peak=2.0,total=20").values())


def test_bare_specs_across_files(tmp_path):
    p1 = write(tmp_path, "one.csv", "step,loss\n0,5\n10,4\n")
    p2 = write(tmp_path, "two.csv", "step,loss\n0,5\n10,4\n")
    one, two = load_curves([p1, p2], ["constant:peak=1.0", "constant:peak=2.0"])
    assert (one.name, one.lr[0]) == ("one", 1.0)
    assert (two.name, two.lr[0]) == ("two", 2.0)


def test_named_specs(tmp_path):
    path = write(tmp_path, "two.csv", TWO_RUNS)
    b, a = load_curves([path], ["a=constant:peak=1.0", "b = cosine:peak=2.0,total=20"])
    assert a.schedule == "constant:peak=1.0"
    assert b.schedule == "cosine:peak=2.0,total=20"


def test_named_and_bare_specs_mix(tmp_path):
    path = write(tmp_path, "two.csv", TWO_RUNS)
    b, a = load_curves([path], ["a=constant:peak=1.0", "cosine:peak=2.0,total=20"])
    assert a.schedule == "constant:peak=1.0"
    assert b.schedule == "cosine:peak=2.0,total=20"


def test_mapping_of_specs(tmp_path):
    path = write(tmp_path, "two.csv", TWO_RUNS)
    b, a = load_curves([path], {"a": "constant:peak=1.0", "b": "constant:peak=2.0"})
    assert (a.lr[0], b.lr[0]) == (1.0, 2.0)


def test_mapping_with_unknown_run_raises(tmp_path):
    path = write(tmp_path, "two.csv", TWO_RUNS)
    specs = {"a": "constant:peak=1.0", "b": "constant:peak=1.0", "typo": "constant:peak=2.0"}
    with pytest.raises(LrlawError, match="typo"):
        load_curves([path], specs)


@pytest.mark.parametrize("count", [1, 3])
def test_wrong_number_of_bare_specs_raises(tmp_path, count):
    path = write(tmp_path, "two.csv", TWO_RUNS)
    with pytest.raises(
        LrlawError,
        match=rf"{count} unnamed --schedule value\(s\) for 2 run\(s\) without one \(b, a\)",
    ):
        load_curves([path], ["constant:peak=1.0"] * count)


def test_named_spec_for_unknown_run_raises(tmp_path):
    path = write(tmp_path, "two.csv", TWO_RUNS)
    with pytest.raises(LrlawError, match=r"no run named 'x'; runs: b, a"):
        load_curves([path], ["x=constant:peak=1.0", "constant:peak=1.0"])


def test_bad_spec_names_file_and_run(tmp_path):
    path = write(tmp_path, "one.csv", "step,loss\n0,5\n10,4\n")
    with pytest.raises(
        ScheduleError, match=in_file(path, r"run 'one': invalid schedule spec .*unknown family")
    ):
        load_curves([path], ["bogus:peak=1"])


def test_spec_disagreeing_with_lr_column_raises(tmp_path):
    path = write(tmp_path, "w.csv", "step,loss,lr\n0,5,0\n10,4,1.0\n20,3,0.7\n")
    with pytest.raises(
        DataError,
        match=in_file(
            path, r"column 'lr', line 4: lr 0\.7 at step 20 disagrees with schedule 'constant:"
        ),
    ):
        load_curves([path], ["constant:peak=1.0,warmup=10"])


def test_spec_agreeing_with_lr_column_wins_over_it(tmp_path):
    path = write(tmp_path, "w.csv", "step,loss,lr\n0,5,0\n10,4,1.0\n20,3,1.0\n")
    (curve,) = load_curves([path], ["constant:peak=1.0,warmup=10"])
    assert curve.schedule == "constant:peak=1.0,warmup=10"
    assert curve.warmup == 10
    np.testing.assert_allclose(curve.lr[:11], np.linspace(0.0, 1.0, 11))


def test_spec_shorter_than_the_log_holds_final_value(tmp_path):
    path = write(tmp_path, "long.csv", "step,loss\n0,5\n10,4\n30,3\n")
    (curve,) = load_curves([path], ["cosine:peak=1.0,total=20,final=0.1"])
    assert curve.total_steps == 30
    np.testing.assert_allclose(curve.lr[20:], 0.1, rtol=1e-12)
    np.testing.assert_array_equal(curve.steps, [0, 10, 30])


def test_schedules_file_on_shipped_curve(data_dir):
    specs = read_schedules_file(data_dir / "schedules.txt")
    (curve,) = load_curves(
        [data_dir / "mpl/100m/cosine_24000.csv"], schedules_file=data_dir / "schedules.txt"
    )
    assert curve.name == "cosine_24000"
    assert curve.warmup == 2160
    assert curve.total_steps == 24000
    expected = parse_schedule(specs["cosine_24000"]).values(curve.lr.size)
    np.testing.assert_array_equal(curve.lr, expected)
    assert curve.schedule == parse_schedule(specs["cosine_24000"]).spec


def test_explicit_spec_takes_precedence_over_schedules_file(tmp_path):
    path = write(tmp_path, "one.csv", "step,loss\n0,5\n10,4\n")
    sched = write(tmp_path, "s.txt", "# comment\n\none=constant:peak=2.0  # trailing\n")
    (curve,) = load_curves([path], schedules_file=sched)
    assert curve.lr[0] == 2.0
    (curve,) = load_curves([path], ["constant:peak=1.0"], schedules_file=sched)
    assert curve.lr[0] == 1.0


def test_malformed_schedules_file_names_line(tmp_path):
    path = write(tmp_path, "one.csv", "step,loss\n0,5\n10,4\n")
    sched = write(tmp_path, "s.txt", "# header\none=constant:peak=2.0\nconstant:peak=1.0\n")
    with pytest.raises(DataError, match=in_file(sched, r"line 3: expected RUN=SPEC")):
        load_curves([path], schedules_file=sched)


def test_schedules_file_not_utf8_or_binary(tmp_path, data_dir):
    """Regression: a schedules file that is not UTF-8 raised a raw UnicodeDecodeError."""
    text = (data_dir / "schedules.txt").read_text()
    sched = tmp_path / "s.txt"
    sched.write_bytes(("# café\n" + text).encode("latin-1"))
    with pytest.raises(DataError, match=in_file(sched, r"line 1: not UTF-8 text \(byte 0xe9\)")):
        read_schedules_file(sched)
    sched.write_bytes(b"\0" * 64)
    with pytest.raises(DataError, match=in_file(sched, r"a binary file \(NUL byte at offset 0\)")):
        read_schedules_file(sched)
    sched.write_bytes(text.encode("utf-16"))
    assert read_schedules_file(sched) == read_schedules_file(data_dir / "schedules.txt")


def test_missing_schedules_file(tmp_path):
    path = write(tmp_path, "one.csv", "step,loss\n0,5\n10,4\n")
    with pytest.raises(DataError, match="no such file"):
        load_curves([path], schedules_file=tmp_path / "nope.txt")


def test_duplicate_run_names_across_files_are_qualified_by_their_folders(tmp_path):
    """Two files of one name in two folders are two runs, named after their folders (it
    used to be an error); the same file twice still is one."""
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    p1 = write(tmp_path / "x", "same.csv", "step,loss,lr\n0,5,1\n")
    p2 = write(tmp_path / "y", "same.csv", "step,loss,lr\n0,5,1\n")
    assert [c.name for c in load_curves([p1, p2])] == ["x/same", "y/same"]
    with pytest.raises(LrlawError, match=r"run name\(s\) same appear more than once"):
        load_curves([p1, p1])


# --------------------------------------------------------------------------- #
# The shipped data
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", MPL_FILES)
def test_shipped_mpl_curves_load_with_schedules_file(data_dir, name):
    specs = read_schedules_file(data_dir / "schedules.txt")
    path = data_dir / name
    # load_curves checks the file's lr column against the spec (1% of peak)
    (curve,) = load_curves([path], schedules_file=data_dir / "schedules.txt")
    table = read_table(path)[0]
    assert curve.warmup == 2160
    np.testing.assert_allclose(curve.lr[table.step], table.lr, rtol=1e-12)
    np.testing.assert_array_equal(curve.lr, parse_schedule(specs[path.stem]).values(curve.lr.size))


def test_shipped_mpl_curves_need_a_schedule(data_dir):
    with pytest.raises(DataError, match="--warmup"):
        load_curves([data_dir / MPL_FILES[0]])


@pytest.mark.parametrize("name", CANONICAL_FILES)
def test_shipped_canonical_curves_load_from_lr_column(data_dir, name):
    path = data_dir / name
    (curve,) = load_curves([path])
    (table,) = read_table(path)
    assert "interpolation" in curve.schedule
    np.testing.assert_array_equal(table.step[:2], [0, 50])
    np.testing.assert_array_equal(curve.lr[table.step], table.lr)
    assert curve.total_steps == 50000
    assert curve.steps[-1] == 49800
    assert curve.warmup == 300
    specs = read_schedules_file(data_dir / "schedules.txt")
    if path.stem in specs:
        (with_spec,) = load_curves([path], schedules_file=data_dir / "schedules.txt")
        assert with_spec.schedule == parse_schedule(specs[path.stem]).spec
        last = curve.steps[-1]
        np.testing.assert_allclose(with_spec.lr[: last + 1], curve.lr[: last + 1], atol=2e-5)


def test_every_canonical_curve_but_cosine_has_a_spec(data_dir):
    specs = read_schedules_file(data_dir / "schedules.txt")
    stems = {Path(n).stem for n in CANONICAL_FILES}
    assert len(stems) == 5
    assert stems - set(specs) == {"cosine"}


# --------------------------------------------------------------------------- #
# Atomic outputs
# --------------------------------------------------------------------------- #


def test_write_text_atomic_writes_and_replaces(tmp_path):
    out = tmp_path / "out.txt"
    write_text_atomic(out, "first\n")
    assert out.read_text() == "first\n"
    write_text_atomic(out, "second\n")
    assert out.read_text() == "second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_output_yields_temp_in_same_folder(tmp_path):
    out = tmp_path / "out.bin"
    with atomic_output(out) as tmp:
        assert tmp.parent == tmp_path
        assert tmp != out
        tmp.write_bytes(b"\x00\x01")
        assert not out.exists()
    assert out.read_bytes() == b"\x00\x01"
    assert not tmp.exists()


def test_refuses_to_overwrite_an_input(tmp_path):
    src = write(tmp_path, "in.csv", "step,loss\n0,1\n")
    with pytest.raises(LrlawError, match="refusing to overwrite an input file"):
        write_text_atomic(src, "boom", inputs=[src])
    assert src.read_text() == "step,loss\n0,1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize("spelling", ["./in.csv", "sub/../in.csv", "link.csv", "ABS"])
def test_refuses_input_under_another_spelling(tmp_path, monkeypatch, spelling):
    src = write(tmp_path, "in.csv", "step,loss\n0,1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(src)
    monkeypatch.chdir(tmp_path)
    target = str(src) if spelling == "ABS" else spelling
    with pytest.raises(LrlawError, match="refusing to overwrite an input file"):
        with atomic_output(target, inputs=["in.csv"]) as tmp:
            tmp.write_text("boom")
    assert src.read_text() == "step,loss\n0,1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "link.csv", "sub"]


def test_no_file_left_when_block_raises(tmp_path):
    out = tmp_path / "out.csv"
    with pytest.raises(RuntimeError, match="inside"):
        with atomic_output(out) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("inside")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_untouched_when_block_raises(tmp_path):
    out = write(tmp_path, "out.csv", "old\n")
    with pytest.raises(RuntimeError):
        with atomic_output(out) as tmp:
            tmp.write_text("new")
            raise RuntimeError("inside")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_missing_parent_folder_raises(tmp_path):
    out = tmp_path / "missing" / "out.csv"
    with pytest.raises(LrlawError, match=r"folder .*missing does not exist"):
        write_text_atomic(out, "x")
    assert list(tmp_path.iterdir()) == []


def test_output_mode_follows_umask(tmp_path):
    umask = os.umask(0o022)
    try:
        out = tmp_path / "out.txt"
        write_text_atomic(out, "x")
        assert out.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


def test_spec_ending_before_the_last_logged_loss_raises(tmp_path):
    """Regression: a spec decaying to 0 whose total ends before the last logged loss was
    accepted and the LR taken as 0 for the rest of the run (a fit then doubled C without a
    warning).  A spec with a positive final LR holds it past its total, as before."""
    path = tmp_path / "run.csv"
    steps = np.arange(0, 20_001, 500)
    path.write_text("step,loss\n" + "".join(f"{s},{3 + 1 / (1 + s)}\n" for s in steps))
    with pytest.raises(DataError, match=r"run.csv.*up to step 20000, past .*LR is 0"):
        load_curves([path], schedules=["cosine:peak=3e-4,total=10000,warmup=500"])
    (curve,) = load_curves([path], schedules=["cosine:peak=3e-4,total=20000,warmup=500"])
    assert curve.lr.size == 20_001


def test_sparse_nonlinear_lr_column_warns_in_the_summary(tmp_path):
    """Regression: an LR column logged every 1000 steps through an exponential cooldown was
    interpolated linearly without a word (the fit then missed held-out runs by 0.6 % PredE).
    The read summary now warns and points to --schedule; a kink at a logged step (warmup end,
    decay start) or a densely logged decay does not warn."""
    t = np.arange(0, 20_001)
    lr = np.where(t < 16_000, 3e-4, 3e-4 * 0.01 ** ((t - 16_000) / 4000)) * np.minimum(t / 500, 1)
    loss = 3 + 1 / np.sqrt(1 + t)

    def write_every(name: str, every: int) -> Path:
        path = tmp_path / name
        rows = "".join(f"{s},{float(loss[s])!r},{float(lr[s])!r}\n" for s in t[::every])
        path.write_text("step,loss,lr\n" + rows)
        return path

    (sparse,) = load_curves([write_every("sparse.csv", 1000)])
    assert re.search(r"warning: the lr column is not linear .*--schedule SPEC", sparse.schedule)
    (dense,) = load_curves([write_every("dense.csv", 50)])
    assert "warning" not in dense.schedule
    # a step decay (drops at 8000 and 12025, between two logged steps) only moves a drop
    # within one logging interval: no warning (was "9 % of the peak off")
    lr = 3e-4 * np.where(t < 8000, 1.0, np.where(t < 12_025, 0.3, 0.1)) * np.minimum(t / 500, 1)
    (steps,) = load_curves([write_every("multistep.csv", 50)])
    assert "warning" not in steps.schedule


def test_warmup_hidden_in_the_first_lr_interval_warns(tmp_path):
    """A 500-step warmup with the lr logged every 2000 steps: interpolation spreads it over
    2000 steps (a fit then got alpha 0.25 instead of 0.5); the summary says so."""
    t = np.arange(0, 20_001)
    lr = 3e-4 * np.minimum(t / 500, 1.0)
    loss = 3 + 1 / np.sqrt(1 + t)
    rows = "".join(
        f"{s},{float(loss[s])!r}," + (f"{float(lr[s])!r}" if s % 2000 == 0 else "") + "\n"
        for s in t[::50]
    )
    path = tmp_path / "warm.csv"
    path.write_text("step,loss,lr\n" + rows)
    (curve,) = load_curves([path])
    assert re.search(
        r"warning: the lr rises from 0 at step 0 to 0.0003 at step 2000", curve.schedule
    )
