"""Issue 17, found again while checking every item on today's code: what a newcomer still
trips on at the command line.

The items of the issue itself have their regression tests next to the code they cover
(tests/fitting/test_honest_output.py, tests/fitting/test_uncertainty.py,
tests/cli/test_cli.py, tests/plot/); these are the two defects found on the way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run

from lrlaw.fitting import FitResult

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
MPL = DATA / "mpl" / "25m"
SCHEDULES = DATA / "schedules.txt"


def test_predict_into_a_closed_pipe_stops_quietly(tmp_path) -> None:
    """'lrlaw predict FIT -c SPEC --every 1 | head' printed 'error: Broken pipe' after the
    rows head had asked for: the reader going away is not a user error."""
    fit_json = tmp_path / "fit.json"
    FitResult(
        law="momentum", options={"lam": 0.999, "warmup": "signed", "fit_lam": False},
        params={"L0": 2.5, "A": 0.5, "alpha": 0.5, "C": 0.3}, objective=0.0, delta=1e-3,
        n_points=10, converged=True, n_starts=1, n_converged=1, n_near_best=1, num_steps=1,
    ).save(fit_json)  # fmt: skip
    spec = "c=cosine:peak=3e-4,total=24000,warmup=2160"
    proc = subprocess.Popen(
        [sys.executable, "cli.py", "predict", str(fit_json), "-c", spec, "--every", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout.readline() == "run,step,lr,loss,pred\n"
    proc.stdout.close()  # as 'head -1' does: 24001 rows (~1 MB) do not fit in the pipe
    stderr = proc.stderr.read()
    assert proc.wait(timeout=300) == 1
    assert "Broken pipe" not in stderr and "Traceback" not in stderr, stderr
    assert stderr.splitlines() == [
        "pred is empty inside the warmup of c (steps < 2160): the laws describe the loss "
        "after warmup"
    ]


@pytest.fixture(scope="module")
def one_curve_fit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "fit.json"
    r = run("fit", MPL / "cosine_24000.csv", "--schedules", SCHEDULES, "--bootstrap", 0,
            "-q", "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize(
    ("names", "title"),
    [
        (["wsdcon_3"], "held-out metrics on"),
        (["cosine_24000"], "in-sample metrics (the fit was made on these runs) on"),
        (
            ["cosine_24000", "wsdcon_3"],
            "metrics (in sample for cosine_24000, which the fit was made on) on",
        ),
    ],
    ids=["held-out", "fitted", "both"],
)
def test_evaluate_a_saved_fit_says_which_runs_it_was_made_on(one_curve_fit, names, title):
    """'evaluate FIT.json FILES' titled its table 'held-out metrics' also for the runs the
    fit was made on (in-sample metrics, PredE 0.027 % on cosine_24000 next to 0.35 % on the
    held-out wsdcon_3)."""
    files = [MPL / f"{n}.csv" for n in names]
    r = run("evaluate", one_curve_fit, *files, "--schedules", SCHEDULES)
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    assert f"momentum law from {one_curve_fit}: {title} steps after each run's warmup" in first
    r = run("evaluate", one_curve_fit, *files, "--schedules", SCHEDULES, "--json")
    assert r.exit_code == 0, r.output
    runs = json.loads(r.stdout)["runs"]
    assert {x["name"]: x["in_sample"] for x in runs} == {n: n == "cosine_24000" for n in names}
