"""Issue 17: results that were wrong or misleading, each rebuilt from shipped data.

A saved fit scored on its own window, predict's rows at the logged steps, parameters
the curves do not determine, predictions inside a warmup, failing bootstrap refits,
absurd losses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lrlaw.fitting import FitResult, fit
from lrlaw.io import load_curves
from lrlaw.report import report_dict, report_html

DATA = Path(__file__).resolve().parent.parent / "data"
SCHEDULES = DATA / "schedules.txt"
MIN_STEP = 2000


def test_unidentified_parameter_has_no_error_figure(tmp_path) -> None:
    """Issue 17.4: a constant-LR run alone printed 'C 5.2e-15 ± 3.01e-19 (0.0 %)' next to
    the warning 'C is not identified'.  Report, HTML and JSON say 'not identified'."""
    curves = load_curves([DATA / "mpl" / "25m" / "constant_24000.csv"], schedules_file=SCHEDULES)
    result = fit(curves, bootstrap=20)
    assert any(w.startswith("C is not identified") for w in result.warnings)
    (line,) = [x for x in result.report().splitlines() if x.startswith("  C ")]
    assert "not identified" in line and "±" not in line
    assert "<td>C</td>" in report_html(result) and "not identified" in report_html(result)
    assert result.unidentified == ["C"]
    d = report_dict(result)
    assert d["unidentified"] == ["C"] and d["stderr"]["C"] is None
    assert d["stderr"]["alpha"] > 0
    assert np.isnan(result.stderr["C"])
    path = tmp_path / "fit.json"
    result.save(path)
    assert json.loads(path.read_text())["unidentified"] == ["C"]
    assert FitResult.load(path).unidentified == ["C"]


def test_many_failed_bootstrap_refits_warn() -> None:
    """Issue 17.6: 28 % of the bootstrap refits failed (report: 'converged 72 %') without a
    warning.  Above 10 % the fit warns, and the band uses only the converged replicates."""
    curves = load_curves(
        [DATA / "mpl" / "25m" / f"{n}.csv" for n in ("cosine_24000", "constant_24000")],
        schedules_file=SCHEDULES,
    )
    result = fit(curves, bootstrap=25, seed=0)
    u = result.uncertainty
    assert u.converged < 0.9
    (msg,) = [w for w in result.warnings if "bootstrap refits did not converge" in w]
    assert msg.startswith(f"{100 * (1 - u.converged):.0f} % of the bootstrap refits")
    assert "too narrow" in msg and f"from the {u.n_boot} that did" in msg
    assert u.n_boot == round(25 * u.converged)
    assert f"warning: {msg}" in result.report()
