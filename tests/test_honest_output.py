"""Issue 17: results that were wrong or misleading, each rebuilt from shipped data.

A saved fit scored on its own window, predict's rows at the logged steps, parameters
the curves do not determine, predictions inside a warmup, failing bootstrap refits,
absurd losses.
"""

from __future__ import annotations

from pathlib import Path

from lrlaw.fitting import fit
from lrlaw.io import load_curves

DATA = Path(__file__).resolve().parent.parent / "data"
SCHEDULES = DATA / "schedules.txt"
MIN_STEP = 2000


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
