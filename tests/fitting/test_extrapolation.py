"""Warnings for schedules far outside what a fit saw.

(:func:`lrlaw.fitting.diagnostics.extrapolation_warnings`)
"""

from __future__ import annotations

import numpy as np
from mpl import mpl_curves

from lrlaw.fitting import fit
from lrlaw.fitting.diagnostics import extrapolation_warnings
from lrlaw.plan.compare import compare_schedules
from lrlaw.schedules import parse_schedule


def test_candidate_at_100x_the_fitted_peak_lr_warns(mpl_100m_fit) -> None:
    ok = parse_schedule("cosine:peak=3e-4,total=24000,final=3e-5,warmup=2160")
    far = parse_schedule("cosine:peak=3e-2,total=24000,final=3e-5,warmup=2160")
    cmp = compare_schedules(mpl_100m_fit, [ok, far], names=["ok", "far"])
    assert len(cmp.warnings) == 1 and cmp.warnings[0].startswith("far: its peak LR 0.03")
    assert cmp.to_dict()["warnings"] == list(cmp.warnings)
    assert not compare_schedules(mpl_100m_fit, [ok]).warnings


def test_fit_at_a_scaled_lr_warns_for_a_real_lr(mpl_100m_fit) -> None:
    fitted = [dict(c, peak_lr=30.0) for c in mpl_100m_fit.curves]  # an lr column logged x 1e5
    lr = parse_schedule("cosine:peak=3e-4,total=24000,warmup=2160").values()
    (w,) = extrapolation_warnings(fitted, "run", lr)
    assert "far outside the fitted runs' (30..30)" in w


def test_length_far_beyond_the_fitted_runs_warns(mpl_100m_fit) -> None:
    assert not extrapolation_warnings(mpl_100m_fit.curves, "x", np.full(72_001, 3e-4))  # 3x: fine
    (w,) = extrapolation_warnings(mpl_100m_fit.curves, "x", np.full(200_001, 3e-4))
    assert "runs to step 200000" in w
    assert not extrapolation_warnings([{"name": "old fit"}], "x", np.full(10, 1.0))


def test_predict_and_evaluate_warn_on_the_command_line(mpl_100m_fit, tmp_path) -> None:
    from cli_helpers import run
    from mpl import DATA

    fit_file = tmp_path / "fit.json"
    mpl_100m_fit.save(fit_file)
    sched = DATA / "schedules.txt"
    far = "far=cosine:peak=3e-2,total=24000,final=3e-5,warmup=2160"
    res = run("predict", fit_file, "-c", far, "-c", "near=cosine:peak=3e-4,total=24000")
    assert res.exit_code == 0, res.output
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1 and "far: its peak LR 0.03" in warned[0]
    # Runs from the fit are not extrapolations; a 3x longer run is not far either.
    runs = [DATA / "mpl/100m" / f"{n}.csv" for n in ("cosine_24000", "cosine_72000")]
    res = run("evaluate", fit_file, *runs, "--schedules", sched)
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr


def test_plot_fit_draws_fitted_runs_on_top_and_a_visible_band() -> None:
    """Issue 17: in pred.png constant_24000 hid under constant_72000 (same start), and the
    band (alpha 0.15, no edges) was nearly invisible."""
    from lrlaw.plot import plot_fit

    curves = mpl_curves("100m", ["constant_24000", "constant_72000"])
    result = fit(curves[:1], bootstrap=5)
    fig = plot_fit(result, curves, train=["constant_24000"], level=0.9)
    ax_loss = fig.axes[1]
    z = {line.get_label(): line.get_zorder() for line in ax_loss.get_lines()}
    assert z["constant_24000"] > z["constant_72000 (held out)"]
    band = [c for c in ax_loss.collections if c.get_alpha()]
    assert band and min(c.get_alpha() for c in band) >= 0.3
    assert len(ax_loss.get_lines()) == 2 * 4  # per run: points, prediction, two band edges
