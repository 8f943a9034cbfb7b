"""Matplotlib figures.  Every function builds and returns a
:class:`matplotlib.figure.Figure` (no pyplot, no global state, nothing shown).

Modules: :mod:`~lrlaw.plot.style` (colours, bands, legends, residual panels
shared by every figure), :mod:`~lrlaw.plot.fit` (fits and law comparisons),
:mod:`~lrlaw.plot.schedules` (schedules, comparisons, optimum, refinement, plan),
:mod:`~lrlaw.plot.hparams` (the LR x batch-size landscape and power laws).

Layer 6: imports any layer below (it draws their results); nothing below imports it.
"""

from lrlaw.plot.fit import plot_fit as plot_fit, plot_law_comparison as plot_law_comparison
from lrlaw.plot.hparams import plot_landscape as plot_landscape, plot_power_laws as plot_power_laws
from lrlaw.plot.schedules import (
    plot_optimum as plot_optimum,
    plot_plan as plot_plan,
    plot_refined as plot_refined,
    plot_schedule_comparison as plot_schedule_comparison,
    plot_schedules as plot_schedules,
)
from lrlaw.plot.style import (
    RUN_PALETTE as RUN_PALETTE,
    band_mask as band_mask,
    band_segments as band_segments,
    clip_residual_axis as clip_residual_axis,
    draw_residuals as draw_residuals,
    fitted_first as fitted_first,
    focus_top as focus_top,
    residual_label as residual_label,
    run_colors as run_colors,
    shade_band as shade_band,
    style_legend as style_legend,
    suptitle as suptitle,
)
