"""Figures of fitted laws: observed against fitted curves with bands and residuals.

:func:`plot_fit` draws one fit (``lrlaw fit --plot``); :func:`plot_law_comparison`
draws several laws fitted on the same runs, scored on held-out runs
(``lrlaw evaluate --train ... --plot``).

Imports: :mod:`lrlaw.plot.style`, and the fitting layer's results (to draw them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lrlaw.errors import LrlawError
from lrlaw.plot.style import (
    clip_residual_axis,
    draw_residuals,
    fitted_first,
    focus_top,
    residual_label,
    run_colors,
    style_legend,
    suptitle,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lrlaw.curves import Curve
    from lrlaw.fitting import FitResult, LawComparison

__all__ = [
    "plot_fit",
    "plot_law_comparison",
]


def plot_fit(
    fit: FitResult,
    curves: Sequence[Curve],
    *,
    train: Sequence[str] = (),
    title: str | None = None,
    level: float | None = 0.9,
) -> Figure:
    """Observed vs predicted loss curves, their relative errors, and the schedules.

    Three stacked panels sharing the step axis: learning rate; loss (observed
    as dots, the law's prediction at every step as a line; curves named in
    ``train`` drawn solid, held-out curves dashed); relative error of the
    prediction in percent, over each curve's fit window (after warmup).  When
    the fit has a bootstrap, the prediction band at ``level`` is shaded.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 8.5), layout="constrained")
    ax_lr, ax_loss, ax_err = fig.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2.6, 1.2]}
    )
    colors = run_colors([c.name for c in curves], first=train)
    lo, hi = np.inf, -np.inf
    residuals: list[tuple[np.ndarray, np.ndarray]] = []
    binned = 1
    for c in curves:
        color = colors[c.name]
        held_out = bool(train) and c.name not in train
        style = "--" if held_out else "-"
        label = f"{c.name}{' (held out)' if held_out else ''}"
        grid = np.unique(np.linspace(1, c.steps[-1], 600).astype(np.int64))
        # Fitted runs on top, in every panel: a held-out run that shares their start
        # (constant_72000 and constant_24000) must not hide them.
        z = 2 if held_out else 3
        ax_lr.plot(
            np.arange(c.lr.size)[: c.steps[-1] + 1],
            c.lr[: c.steps[-1] + 1],
            style,
            color=color,
            zorder=z,
        )
        mask = c.window(fit.min_step)
        ax_loss.plot(c.steps, c.loss, ".", color=color, ms=2.5, alpha=0.45, zorder=z)
        ax_loss.plot(
            grid, fit.predict(c.lr, grid), style, color=color, lw=1.4, label=label, zorder=z
        )
        if level is not None and fit.uncertainty is not None:
            # A visible band: a filled area plus thin edges (the band is often only
            # a few tenths of a percent of the loss wide).
            band_lo, band_hi = fit.predict_band(c.lr, grid, level)
            ax_loss.fill_between(grid, band_lo, band_hi, color=color, alpha=0.3, lw=0)
            for edge in (band_lo, band_hi):
                ax_loss.plot(grid, edge, color=color, lw=0.5, alpha=0.8, zorder=z)
        if mask.any():
            pred = fit.predict(c.lr, c.steps[mask])
            rel = 100 * (pred - c.loss[mask]) / c.loss[mask]
            binned = max(binned, draw_residuals(ax_err, c.steps[mask], rel, color, style, zorder=z))
            residuals.append((c.steps[mask], rel))
            lo, hi = min(lo, c.loss[mask].min()), max(hi, focus_top(c.steps[mask], c.loss[mask]))
    if np.isfinite(lo):
        pad = 0.08 * (hi - lo)
        ax_loss.set_ylim(lo - pad, hi + 3 * pad)
    ax_err.axhline(0, color="k", lw=0.6)
    clip_residual_axis(ax_err, residuals)
    ax_lr.set_ylabel("learning rate")
    ax_loss.set_ylabel("loss")
    ax_err.set_ylabel(residual_label(binned))
    ax_err.set_xlabel("step")
    for ax in (ax_lr, ax_loss, ax_err):
        ax.grid(alpha=0.3)
    handles = style_legend(held_out=any(c.name not in train for c in curves) and bool(train))
    handles += fitted_first(ax_loss.get_legend_handles_labels()[0])
    ax_loss.legend(handles=handles, fontsize=8, ncol=2 if len(handles) > 5 else 1)
    params = ", ".join(f"{k}={v:.4g}" for k, v in fit.params.items())
    band = (
        f"; shaded: {100 * level:.0f} % prediction band"
        if level is not None and fit.uncertainty is not None
        else ""
    )
    suptitle(fig, title or f"{fit.law} law: {params}{band}")
    return fig


def plot_law_comparison(
    comparison: LawComparison,
    train: Sequence[Curve],
    test: Sequence[Curve],
    *,
    title: str | None = None,
) -> Figure:
    """Observed vs predicted curves, one column of panels per law.

    Top row: loss (observed as dots, the law's prediction at every step as a line;
    training runs solid, held-out runs dashed; the legend says so).  Bottom row:
    relative error of the prediction, ``100 (pred - obs) / obs``, over each run's
    window (dense logs as bin means, clipped to the robust range when the start
    transient would flatten the panel: :func:`lrlaw.plot.clip_residual_axis`).
    Axes are shared across laws, every run has the same colour in every panel and
    in the other figures (:func:`lrlaw.plot.run_colors`), and each column's title
    gives the law and its held-out mean PredE.

    ``train`` and ``test`` are the curves the comparison was computed on (they hold
    the schedules needed to predict).
    """
    from matplotlib.figure import Figure

    from lrlaw.plot.style import (
        clip_residual_axis,
        draw_residuals,
        fitted_first,
        residual_label,
        run_colors,
        style_legend,
        suptitle,
    )

    curves = [*train, *test]
    missing = sorted(
        set(comparison.train) - {c.name for c in train}
        | set(comparison.test) - {c.name for c in test}
    )
    if missing:
        raise LrlawError(f"curves missing for run(s) {', '.join(missing)} of the comparison")
    n = len(comparison.laws)
    fig = Figure(figsize=(1.0 + 4.6 * n, 7.0), layout="constrained")
    axes = fig.subplots(
        2, n, sharex=True, sharey="row", squeeze=False, gridspec_kw={"height_ratios": [2.4, 1]}
    )
    colors = run_colors([c.name for c in curves], first=comparison.train)
    held_out = {c.name for c in test}
    windows = {c.name: c.window(comparison.min_step) for c in curves}
    lo = min((c.loss[windows[c.name]].min() for c in curves if windows[c.name].any()), default=0)
    hi = max(
        (
            focus_top(c.steps[windows[c.name]], c.loss[windows[c.name]])
            for c in curves
            if windows[c.name].any()
        ),
        default=1,
    )
    residuals: list[tuple[np.ndarray, np.ndarray]] = []
    binned = 1
    for j, score in enumerate(comparison.laws):
        ax_loss, ax_err = axes[0, j], axes[1, j]
        for c in curves:
            color, style = colors[c.name], "--" if c.name in held_out else "-"
            label = f"{c.name}{' (held out)' if c.name in held_out else ''}"
            grid = np.unique(np.linspace(1, c.steps[-1], 600).astype(np.int64))
            # Training runs on top, as in plot_fit: constant_72000 (held out) would
            # otherwise hide constant_24000, whose curve it repeats up to step 24000.
            z = 2 if c.name in held_out else 3
            ax_loss.plot(c.steps, c.loss, ".", color=color, ms=2.5, alpha=0.45, zorder=z)
            ax_loss.plot(
                grid,
                score.fit.predict(c.lr, grid),
                style,
                color=color,
                lw=1.3,
                label=label,
                zorder=z,
            )
            mask = windows[c.name]
            if mask.any():
                pred = score.fit.predict(c.lr, c.steps[mask])
                rel = 100 * (pred - c.loss[mask]) / c.loss[mask]
                binned = max(
                    binned, draw_residuals(ax_err, c.steps[mask], rel, color, style, zorder=z)
                )
                residuals.append((c.steps[mask], rel))
        ax_err.axhline(0, color="k", lw=0.6)
        ax_loss.set_title(
            f"{score.label} law: held-out mean PredE {100 * score.mean['prede']:.3f} %",
            fontsize=10,
        )
        ax_err.set_xlabel("step")
        for ax in (ax_loss, ax_err):
            ax.grid(alpha=0.3)
    pad = 0.08 * (hi - lo)
    axes[0, 0].set_ylim(lo - pad, hi + 3 * pad)
    axes[0, 0].set_ylabel("loss (dots: observed, lines: predicted)")
    clip_residual_axis(axes[1, 0], residuals)  # rows share y: one clip for every law
    axes[1, 0].set_ylabel(residual_label(binned))
    handles = style_legend(held_out=bool(held_out))
    handles += fitted_first(axes[0, -1].get_legend_handles_labels()[0])
    axes[0, -1].legend(
        handles=handles, fontsize=7, ncol=2 if len(handles) > 5 else 1, loc="upper right"
    )
    suptitle(fig, title or f"fitted on {', '.join(comparison.train)} (solid); held-out runs dashed")
    return fig
