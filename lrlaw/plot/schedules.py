"""Figures of schedules: candidate schedules with their predicted curves, the
optimised schedule, the refined schedule, and the run plan.

Imports: :mod:`lrlaw.plot.style`, and the plan layer's results (to draw them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from lrlaw.errors import LrlawError
from lrlaw.plot.style import FOCUS_SKIP, band_segments, focus_top, run_colors, shade_band, suptitle
from lrlaw.schedules import Schedule

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lrlaw.fitting import FitResult
    from lrlaw.plan import OptimizedSchedule, Plan, RefinedSchedule, ScheduleComparison

__all__ = [
    "plot_optimum",
    "plot_plan",
    "plot_refined",
    "plot_schedule_comparison",
    "plot_schedules",
]


def _named(schedules: Mapping[str, Schedule] | Sequence[Schedule]) -> dict[str, Schedule]:
    if isinstance(schedules, Mapping):
        return dict(schedules)
    return {(s.spec if len(s.spec) <= 60 else s.spec[:57] + "..."): s for s in schedules}


def plot_schedules(
    schedules: Mapping[str, Schedule] | Sequence[Schedule],
    *,
    fit: FitResult | None = None,
    title: str | None = None,
) -> Figure:
    """Learning rate against step for one or more schedules; with ``fit``, their predicted loss.

    ``schedules`` maps display names to schedules (or is a sequence, named by
    their specs).  Each schedule is drawn over its steps ``0..total``.  With a
    fitted law, a second panel shows the loss curve the law predicts for each
    schedule (the loss axis starts after the first ``FOCUS_SKIP`` of the
    longest run, where schedules differ).

    Example:
        >>> from lrlaw.schedules import cosine, wsd
        >>> scheds = {"cosine": cosine(3e-4, 1000), "wsd": wsd(3e-4, 1000, decay_frac=0.2)}
        >>> fig = plot_schedules(scheds)
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['learning rate']
    """
    from matplotlib.figure import Figure

    named = _named(schedules)
    if not named:
        raise LrlawError("no schedules to plot")
    for name, s in named.items():
        if s.total is None:
            raise LrlawError(f"schedule {name!r} has no total; give total= to plot it")
    if fit is None:
        fig = Figure(figsize=(7, 3.6), layout="constrained")
        ax_lr, ax_loss = fig.add_subplot(), None
    else:
        fig = Figure(figsize=(8, 6.5), layout="constrained")
        ax_lr, ax_loss = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.8]})
    top, bottom = -np.inf, np.inf
    colors = run_colors(named)
    for name, s in named.items():
        lr = s.values()
        color = colors[name]
        ax_lr.plot(np.arange(lr.size), lr, color=color, lw=1.5, label=name)
        if ax_loss is not None:
            steps = np.unique(np.linspace(1, s.total, 600).astype(np.int64))
            pred = fit.predict(lr, steps)
            ax_loss.plot(steps, pred, color=color, lw=1.5, label=f"{name}: {pred[-1]:.4f}")
            top = max(top, focus_top(steps, pred))
            bottom = min(bottom, float(pred.min()))
    ax_lr.set_ylabel("learning rate")
    ax_lr.grid(alpha=0.3)
    if ax_loss is None:
        ax_lr.set_xlabel("step")
        if len(named) > 1:
            ax_lr.legend(fontsize=9)
    else:
        pad = 0.08 * (top - bottom)
        ax_loss.set_ylim(bottom - pad, top + pad)
        ax_loss.set(xlabel="step", ylabel=f"predicted loss ({fit.law} law)")
        ax_loss.grid(alpha=0.3)
        ax_loss.legend(fontsize=9, title="name: final loss", title_fontsize=9)
    if title is None and len(named) == 1:
        only = schedules[0] if not isinstance(schedules, Mapping) else None
        title = only.spec if only is not None else next(iter(named))
    if title:
        suptitle(fig, title)
    return fig


def plot_optimum(
    fit: FitResult,
    result: OptimizedSchedule,
    *,
    references: Mapping[str, Schedule] | None = None,
) -> Figure:
    """The optimised schedule next to reference schedules, and the loss the law predicts.

    ``result`` comes from :func:`lrlaw.plan.optimal.optimize` with ``fit``; the
    references default to the ones it compares with (cosine to peak/10 and
    WSD with a 20 % linear decay to 0, same length, peak and warmup).
    """
    from lrlaw.plan.references import reference_schedules

    if references is None:
        total = int(result.schedule.total)
        peak = float(result.info.get("peak", np.max(result.schedule.values())))
        references = reference_schedules(total, peak, int(result.info.get("warmup", 0)))
    named = {f"optimum ({result.family})": result.schedule, **references}
    return plot_schedules(
        named,
        fit=fit,
        title=f"Schedule optimised for the {fit.law} law's predicted final loss",
    )


def plot_schedule_comparison(comparison: ScheduleComparison, fit: FitResult) -> Figure:
    """Two panels: the candidates' LR schedules and their predicted loss curves.

    Bands at ``comparison.level`` are shaded when the fit has a bootstrap;
    curves are drawn from step 1 (the laws are undefined at step 0).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 7), layout="constrained")
    ax_lr, ax_loss = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    lo, hi = np.inf, -np.inf
    colors = run_colors(row.name for row in comparison.rows)
    lrs = [s.values() for s in comparison.schedules]
    segments = band_segments(lrs)
    for row, s, lr, segment in zip(comparison.rows, comparison.schedules, lrs, segments):
        color = colors[row.name]
        ax_lr.plot(np.arange(lr.size), lr, color=color, lw=1.3)
        grid = np.unique(np.linspace(1, s.total, 600).astype(np.int64))
        pred = fit.predict(lr, grid)
        label = f"{row.rank}. {row.name}: {row.final_loss:.4f}"
        ax_loss.plot(grid, pred, color=color, lw=1.4, label=label)
        if comparison.has_band:
            band_lo, band_hi = fit.predict_band(lr, grid, comparison.level)
            # a stretch several candidates share is shaded once, in grey
            shade_band(ax_loss, grid, band_lo, band_hi, color, segment, alpha=0.25)
        tail = pred[grid >= max(s.warmup, 1, FOCUS_SKIP * grid[-1])]
        if tail.size:
            lo, hi = min(lo, tail.min()), max(hi, tail.max())
    if np.isfinite(lo):
        pad = 0.08 * (hi - lo) if hi > lo else 0.05
        ax_loss.set_ylim(lo - pad, hi + pad)
    ax_lr.set_ylabel("learning rate")
    ax_loss.set_ylabel("predicted loss")
    ax_loss.set_xlabel("step")
    for ax in (ax_lr, ax_loss):
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize=8, title="rank. name: final loss", title_fontsize=8)
    band = (
        f"; shaded: {100 * comparison.level:.0f} % prediction band (grey where schedules share it)"
        if comparison.has_band
        else ""
    )
    suptitle(fig, f"Schedule comparison ({comparison.law} law){band}")
    return fig


def plot_refined(
    refined: RefinedSchedule,
    references: dict[str, Schedule] | None = None,
    fit: FitResult | None = None,
    *,
    source: str = "",
) -> Figure:
    """Panels: logged and smoothed gradient norms; the refined schedule (and references);
    with ``fit``, the predicted loss curves."""
    from matplotlib.figure import Figure

    from lrlaw.plot.style import run_colors, suptitle

    references = references or {}
    scheds: list[tuple[str, Schedule]] = [("refined", refined.schedule), *references.items()]
    n = 3 if fit is not None else 2
    fig = Figure(figsize=(9, 2.6 * n + 1), layout="constrained")
    axes = fig.subplots(n, 1, sharex=True)
    ax_g, ax_lr = axes[0], axes[1]
    ax_g.plot(
        refined.log_steps, refined.log_norms, ".", ms=2.5, alpha=0.45, color="C7", label="logged"
    )
    smooth = f"median-filtered ({refined.window} points), per step"
    ax_g.plot(
        np.arange(refined.grad_norm.size), refined.grad_norm, color="C0", lw=1.4, label=smooth
    )
    ax_g.set_ylabel("gradient norm")
    ax_g.set_yscale("log")
    ax_g.legend(fontsize=8)
    lo, hi = np.inf, -np.inf
    colors = run_colors(label for label, _ in scheds)
    for k, (label, s) in enumerate(scheds):
        lr = s.values()
        style = "-" if k == 0 else "--"
        width = 1.5 if k == 0 else 1.1
        ax_lr.plot(np.arange(lr.size), lr, style, color=colors[label], lw=width, label=label)
        if fit is not None:
            grid = np.unique(np.linspace(1, s.total, 600).astype(np.int64))
            pred = fit.predict(lr, grid)
            final = float(fit.predict(lr, np.array([s.total]))[0])
            axes[2].plot(
                grid, pred, style, color=colors[label], lw=1.4, label=f"{label}: {final:.4f}"
            )
            tail = pred[grid >= 0.1 * s.total]  # the early transient would squash the rest
            lo, hi = min(lo, tail.min()), max(hi, tail.max())
    ax_lr.set_ylabel("learning rate")
    ax_lr.legend(fontsize=8)
    if fit is not None:
        ax = axes[2]
        if np.isfinite(lo) and hi > lo:
            pad = 0.08 * (hi - lo)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_ylabel("predicted loss")
        ax.legend(fontsize=8, title=f"{fit.law} law: final loss", title_fontsize=8)
    axes[-1].set_xlabel("step")
    for ax in axes:
        ax.grid(alpha=0.3)
    title = "Refined schedule (Defazio et al. 2023)"
    suptitle(fig, f"{title}{f' from {source}' if source else ''}")
    return fig


def plot_plan(plan: Plan, fit: FitResult | None = None) -> Figure:
    """The planned schedules (as they will be run) and their predicted loss curves.

    Top: LR against step of every candidate at the suggested peak.  Bottom
    (with ``fit``): the loss each one is predicted to reach, from step 1
    (bands when the fit has a bootstrap), legend ranked by final loss.  The
    title gives N, D, peak LR, batch and steps.
    """
    from matplotlib.figure import Figure

    from lrlaw.plot.style import band_segments, run_colors, shade_band, suptitle

    predicted = fit is not None and bool(plan.rows)
    fig = Figure(figsize=(9.5, 7.5 if predicted else 4.2), layout="constrained")
    if predicted:
        ax_lr, ax_loss = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    else:
        ax_lr, ax_loss = fig.subplots(1, 1), None
    ranking = {r["name"]: r for r in plan.ranking()}
    names = list(plan.schedules)
    T = plan.steps
    grid = np.unique(np.linspace(1, T, 500).astype(np.int64))
    lo, hi = np.inf, -np.inf
    scale = plan.peak / plan.predict_peak if plan.predict_peak else 1.0
    colors = run_colors(n for n in names if n != "free-form")
    banded = predicted and fit.uncertainty is not None and fit.uncertainty.n_boot > 0  # type: ignore[union-attr]
    segments = dict(zip(names, band_segments([plan.schedules[n].values() for n in names])))
    for name in names:
        color = "k" if name == "free-form" else colors[name]
        style = "--" if name == "free-form" else "-"
        lr = plan.schedules[name].values()
        ax_lr.plot(np.arange(lr.size), lr, style, color=color, lw=1.3, label=name)
        if ax_loss is None:
            continue
        pred_lr = lr / scale
        pred = fit.predict(pred_lr, grid)  # type: ignore[union-attr]
        r = ranking[name]
        label = f"{r['rank']}. {name}: {r['final_loss']:.4f}"
        ax_loss.plot(grid, pred, style, color=color, lw=1.4, label=label)
        if fit.uncertainty is not None and fit.uncertainty.n_boot > 0:  # type: ignore[union-attr]
            b_lo, b_hi = fit.predict_band(pred_lr, grid, plan.level)  # type: ignore[union-attr]
            # a stretch several candidates share is shaded once, in grey
            shade_band(ax_loss, grid, b_lo, b_hi, color, segments[name], alpha=0.25)
        tail = pred[grid >= max(plan.warmup, int(0.4 * T))]
        lo, hi = min(lo, tail.min()), max(hi, tail.max())
    ax_lr.set_ylabel("learning rate")
    ax_lr.grid(alpha=0.3)
    if ax_loss is not None:
        if np.isfinite(lo):
            pad = 0.08 * (hi - lo) if hi > lo else 0.05
            ax_loss.set_ylim(lo - pad, hi + pad)
        where = (
            ""
            if scale == 1.0
            else f" (LRs scaled to the fitted peak {plan.predict_peak:.3g} for prediction)"
        )
        ax_loss.set_ylabel(f"predicted loss ({plan.law} law)")
        ax_loss.set_xlabel("step")
        ax_loss.grid(alpha=0.3)
        ax_loss.legend(fontsize=8, title=f"rank. schedule: final loss{where}", title_fontsize=8)
    else:
        ax_lr.set_xlabel("step")
        ax_lr.legend(fontsize=8)
    suptitle(
        fig,
        f"Plan: N = {plan.N:.3g}, D = {plan.D:.3g} tokens -> peak LR {plan.peak:.3g}, "
        f"batch {plan.batch_seqs} x {plan.seq_len} tokens, {plan.steps} steps "
        f"(warmup {plan.warmup})"
        + (
            f"\nshaded: {100 * plan.level:.0f} % prediction band (grey where schedules share it)"
            if banded
            else ""
        ),
    )
    return fig
