"""Progress reporting (lrlaw.progress): what long work reports, and quiet output off a terminal."""

from __future__ import annotations

import io

import numpy as np
import pytest
from mpl import MPL_TRAIN, mpl_curves
from typer.testing import CliRunner

from lrlaw import progress
from lrlaw.cli import app
from lrlaw.fitting import fit
from lrlaw.io import readers
from lrlaw.laws import MultiPowerLaw
from lrlaw.plan.optimal import optimize


class Recorder(progress.Reporter):
    """Keeps every task with its total and the units advanced."""

    def __init__(self) -> None:
        self.tasks: list[dict] = []

    def start(self, description: str, total: int | None) -> int:
        self.tasks.append({"desc": description, "total": total, "steps": [], "open": True})
        return len(self.tasks) - 1

    def advance(self, handle: int, n: int) -> None:
        self.tasks[handle]["steps"].append(n)

    def stop(self, handle: int) -> None:
        self.tasks[handle]["open"] = False

    def named(self, prefix: str) -> dict:
        (task,) = [t for t in self.tasks if t["desc"].startswith(prefix)]
        return task


@pytest.fixture(scope="module")
def train():
    return mpl_curves("25m", MPL_TRAIN)


def test_fit_and_bootstrap_report_every_refit(train) -> None:
    rec = Recorder()
    with progress.use(rec):
        result = fit(train, bootstrap=30, seed=1)
    solve = rec.named("fitting the momentum law")
    assert solve["total"] == 1 and solve["steps"] == [1]
    boot = rec.named("bootstrap: 30 refits + 4 held-out")
    # The 30 replicates are one linearised step each, reported together; then the four
    # held-out refits (three leave-one-curve-out, one forward split) in one solver call.
    assert boot["total"] == 34 and boot["steps"] == [30, 4]
    assert not any(t["open"] for t in rec.tasks)
    assert not progress.active()
    # The reporter only watches: the same fit without one gives the same numbers.
    quiet = fit(train, bootstrap=30, seed=1)
    np.testing.assert_array_equal(quiet.uncertainty.params, result.uncertainty.params)


def test_free_form_optimiser_reports_one_task() -> None:
    """The L-BFGS loop runs compiled; its task advances once, when it has finished."""
    params = np.array([2.651, 0.601, 0.453, 437.9, 2.132, 0.598, 0.655])
    rec = Recorder()
    with progress.use(rec):
        res = optimize(MultiPowerLaw(), 4000, 3e-4, 400, params=params, iters=1000)
        grid = optimize(MultiPowerLaw(), 4000, 3e-4, 400, params=params, family="wsd")
    lbfgs = rec.named("optimising 3600 LRs")
    assert lbfgs["total"] == 1 and lbfgs["steps"] == [1]
    assert res.info["iters"] <= 1000
    wsd = rec.named("wsd grid")
    assert sum(wsd["steps"]) == wsd["total"] > 32 and max(wsd["steps"]) <= 32
    assert grid.loss <= grid.wsd_loss + 1e-12
    # No open task: ticks from the compiled loop go nowhere.
    progress.tick()
    assert len(rec.tasks) == 2


def test_large_files_show_a_spinner(tmp_path, monkeypatch) -> None:
    path = tmp_path / "run.csv"
    path.write_text("step,loss,lr\n" + "".join(f"{i},{3 - i / 1e4},1e-3\n" for i in range(2000)))
    rec = Recorder()
    with progress.use(rec):
        readers.read_runs(path)
        assert rec.tasks == []  # small file: nothing
        monkeypatch.setattr(readers, "LARGE_FILE_BYTES", 1000)
        (run,) = readers.read_runs(path)
    task = rec.named("reading run.csv")
    assert task["total"] is None and not task["open"]
    assert {"loss", "lr"} <= set(run.columns)


def test_bars_draw_on_a_terminal_only() -> None:
    out = io.StringIO()
    with progress.bars(True, out, force_terminal=True):
        assert progress.active()
        with progress.task("crunching", total=3) as t:
            t.advance(3)
    assert "crunching" in out.getvalue()
    assert not progress.active()
    piped = io.StringIO()  # not a terminal: enabled=None means off
    with progress.bars(file=piped):
        assert not progress.active()
        with progress.task("crunching", total=3) as t:
            t.advance(3)
    assert piped.getvalue() == "" and t.done == 3


def test_cli_output_has_no_bar_when_not_a_terminal(tmp_path) -> None:
    from mpl import DATA

    files = [str(DATA / "mpl" / "25m" / f"{n}.csv") for n in MPL_TRAIN]
    args = ["fit", *files, "--schedules", str(DATA / "schedules.txt"), "--bootstrap", "20"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "\x1b[" not in r.output and "bootstrap: 20 refits" not in r.output
    assert not progress.active()


def test_submodules_are_attributes_of_the_package() -> None:
    import lrlaw
    import lrlaw.plot

    assert lrlaw.progress is progress and lrlaw.plot is lrlaw.plot
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        lrlaw.nonsense  # noqa: B018
