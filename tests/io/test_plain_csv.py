"""The pandas-free reader of plain CSV/TSV tables (lrlaw.io.readers._plain_table, issue 18.2):
the same columns, cell texts, values, line numbers and messages as the pandas reader, and
every unusual file left to pandas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lrlaw.io.readers as readers
from lrlaw.errors import DataError
from lrlaw.io.readers import ReadOptions, read_csv_frame, read_runs, to_float

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    [*(ROOT / "data" / "mpl").rglob("*.csv"), *(ROOT / "data" / "schaipp-124m").rglob("*.csv")]
)


def _same_as_pandas(path: Path, sep: str = ",") -> None:
    plain = readers._plain_table(path, sep, ReadOptions())
    assert plain is not None
    table, lines = plain
    frame, frame_lines = read_csv_frame(path, sep)
    assert table.columns == list(frame.columns)
    assert len(table) == len(frame)
    np.testing.assert_array_equal(lines, frame_lines)
    for name in table.columns:
        assert table[name].texts == list(frame[name])
        v_plain, m_plain = to_float(table[name], name, lines, "line", str(path))
        v_pandas, m_pandas = to_float(frame[name], name, lines, "line", str(path))
        np.testing.assert_array_equal(m_plain, m_pandas)
        np.testing.assert_array_equal(np.isnan(v_plain), np.isnan(v_pandas))
        ok = ~np.isnan(v_pandas)
        assert v_plain[ok].tobytes() == v_pandas[ok].tobytes()  # bit for bit


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_csvs_read_without_pandas_as_with_it(path):
    _same_as_pandas(path)


_NUMBER = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(1e-8, 1e8).map(lambda x: f"{x:.4e}"),
    st.floats(0, 1).map(lambda x: f"{x:.6f}".lstrip("0")),  # ".5"
    st.integers(0, 999).map(lambda n: f"{n}."),  # "3."
    st.just("-0"),
    st.just(""),  # a missing value
)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 4),
    cells=st.lists(st.lists(_NUMBER, min_size=4, max_size=4), min_size=1, max_size=12),
    sep=st.sampled_from([",", "\t"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
)
def test_random_plain_tables_read_as_with_pandas(
    tmp_path_factory, width, cells, sep, newline, final_newline
):
    rows = [row[:width] for row in cells]
    rows = [r if any(r) else ["1", *r[1:]] for r in rows]  # a row of empty cells is blank
    names = ["step", "loss", "lr", "tokens"][:width]
    text = newline.join([sep.join(names), *(sep.join(r) for r in rows)])
    path = tmp_path_factory.mktemp("plain") / "log.csv"
    path.write_bytes((text + (newline if final_newline else "")).encode())
    _same_as_pandas(path, sep)


@pytest.mark.parametrize(
    "text",
    [
        "step,loss\n0, 4.0\n",  # a space in a cell
        "step,loss\n0,4.0 \n",
        'step,"loss"\n0,4.0\n',  # quotes
        'step,loss\n0,"4.0"\n',
        "step,loss\n0,nan\n",  # nan / inf / text
        "step,loss\n0,inf\n",
        "step,loss\n0,abc\n",
        "step,loss\n0,+4\n",
        "step,loss\n0,1e999\n",  # not finite
        "step,loss\n0,4\n\n10,3\n",  # a blank line
        "step,loss\n0,4\n,\n",  # a row of empty cells
        "step,loss\n0,4\n\n",  # a blank last line
        "step,loss\n0,4,1\n",  # more or fewer fields than the header
        "step,loss,lr\n0,4\n",
        "step,step\n0,4\n",  # duplicate or empty names
        "step,\n0,4\n",
        "\ufeffstep,loss\n0,4\n",  # a byte-order mark
        "step,loss\r0,4\r",  # old Mac line ends
        "step,loss\n",  # only a header
        "step,loss,run\n0,4,1\n",  # a run column (several runs)
    ],
)
def test_unusual_tables_are_left_to_pandas(tmp_path, text):
    path = tmp_path / "log.csv"
    path.write_bytes(text.encode())
    assert readers._plain_table(path, ",", ReadOptions()) is None


@pytest.mark.parametrize("last", ["nan", "4.0 ", "abc", "4,5", "1e", "-", "."])
def test_a_late_unusual_cell_is_found_without_backtracking(tmp_path, last):
    """A long table of integer steps whose last row is unusual: the regular expression
    fails in linear time (an ambiguous number pattern backtracked exponentially in the
    rows before, hanging lrlaw watch on a log with a NaN)."""
    rows = "".join(f"{2176 + 128 * i},{3 + 1 / (i + 1):.4f}\n" for i in range(5000))
    path = tmp_path / "log.csv"
    path.write_text(f"step,loss\n{rows}99999,{last}\n")
    assert readers._plain_table(path, ",", ReadOptions()) is None
    path.write_text(f"step,loss\n{rows}")
    assert readers._plain_table(path, ",", ReadOptions()) is not None


def test_large_files_are_left_to_pandas(tmp_path, monkeypatch):
    path = tmp_path / "log.csv"
    path.write_text("step,loss\n0,4\n10,3\n")
    assert readers._plain_table(path, ",", ReadOptions()) is not None
    monkeypatch.setattr(readers, "PLAIN_CSV_BYTES", 10)
    assert readers._plain_table(path, ",", ReadOptions()) is None


@pytest.mark.parametrize(
    "rows",
    [
        "-10,4,1e-3",  # a negative step
        "10.5,4,1e-3",  # a fractional step
        "1e17,4,1e-3",  # a step beyond 2**53
        "10,-4,1e-3",  # a negative loss
        "10,0,1e-3",
    ],
)
def test_messages_about_plain_cells_are_the_pandas_readers(tmp_path, monkeypatch, rows):
    from lrlaw.io import load_curves

    path = tmp_path / "log.csv"
    path.write_text(f"step,loss,lr\n0,5,1e-3\n{rows}\n20,3,1e-3\n")
    assert readers._plain_table(path, ",", ReadOptions()) is not None
    messages = []
    for plain in (True, False):
        if not plain:
            monkeypatch.setattr(readers, "_plain_table", lambda *a: None)
        with pytest.raises(DataError) as err:
            load_curves([path])
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert str(path) in messages[0] and "line 3" in messages[0]


def test_plain_runs_equal_pandas_runs(tmp_path, monkeypatch):
    path = tmp_path / "log.csv"
    path.write_text("step,loss,lr\n0,5,\n10,4.5,1e-3\n20,,1e-3\n30,4,5e-4\n")
    (plain,) = read_runs(path)
    monkeypatch.setattr(readers, "_plain_table", lambda *a: None)
    (careful,) = read_runs(path)
    assert (plain.name, plain.fmt, plain.header) == (careful.name, careful.fmt, careful.header)
    for name in ("loss", "lr"):
        for a, b in zip(plain.columns[name].entries(), careful.columns[name].entries()):
            np.testing.assert_array_equal(a, b)
        assert plain.columns[name].show(2) == careful.columns[name].show(2)


def test_reading_plain_csvs_does_not_import_pandas():
    files = [str(ROOT / "data" / "mpl" / "100m" / f"{n}.csv") for n in ("cosine_24000", "wsdcon_9")]
    schedules = str(ROOT / "data" / "schedules.txt")
    code = (
        "import sys\n"
        "import lrlaw.cli, lrlaw.fitting\n"
        "from lrlaw.io import load_curves\n"
        f"load_curves({files!r}, schedules_file={schedules!r})\n"
        "print(sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
