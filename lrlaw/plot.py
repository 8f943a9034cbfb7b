"""Matplotlib figures for fitted laws.

Functions build and return a :class:`matplotlib.figure.Figure` (no pyplot,
no global state, nothing shown): save it with ``fig.savefig(path)`` or let
a notebook display it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lrlaw.curves import Curve
    from lrlaw.fitting import FitResult
    from lrlaw.optimize import OptimizedSchedule
    from lrlaw.schedules import Schedule

__all__ = ["plot_fit", "plot_optimum", "plot_schedules"]


#: Share of each run the loss axis skips at the start: the early transient would
#: otherwise squash the part where schedules differ into the bottom of the panel.
FOCUS_SKIP = 0.15


def focus_top(steps: np.ndarray, loss: np.ndarray) -> float:
    """Highest loss after the first ``FOCUS_SKIP`` of the run: the top of the loss axis."""
    keep = steps >= steps[0] + FOCUS_SKIP * (steps[-1] - steps[0])
    return float(np.max(loss[keep])) if keep.any() else float(np.max(loss))


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
    colors = [f"C{i % 10}" for i in range(len(curves))]
    lo, hi = np.inf, -np.inf
    for c, color in zip(curves, colors):
        held_out = bool(train) and c.name not in train
        style = "--" if held_out else "-"
        label = f"{c.name}{' (held out)' if held_out else ''}"
        grid = np.unique(np.linspace(1, c.steps[-1], 600).astype(np.int64))
        # Fitted runs on top: a held-out run that shares their start (constant_72000
        # and constant_24000) must not hide them.
        z = 2 if held_out else 3
        ax_lr.plot(
            np.arange(c.lr.size)[: c.steps[-1] + 1], c.lr[: c.steps[-1] + 1], style, color=color
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
            ax_err.plot(c.steps[mask], rel, style, color=color, lw=1)
            lo, hi = min(lo, c.loss[mask].min()), max(hi, focus_top(c.steps[mask], c.loss[mask]))
    if np.isfinite(lo):
        pad = 0.08 * (hi - lo)
        ax_loss.set_ylim(lo - pad, hi + 3 * pad)
    ax_err.axhline(0, color="k", lw=0.6)
    ax_lr.set_ylabel("learning rate")
    ax_loss.set_ylabel("loss")
    ax_err.set_ylabel("pred - obs (% of obs)")
    ax_err.set_xlabel("step")
    for ax in (ax_lr, ax_loss, ax_err):
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize=8, ncol=2 if len(curves) > 4 else 1)
    params = ", ".join(f"{k}={v:.4g}" for k, v in fit.params.items())
    band = (
        f"; shaded: {100 * level:.0f} % prediction band"
        if level is not None and fit.uncertainty is not None
        else ""
    )
    fig.suptitle(title or f"{fit.law} law: {params}{band}", fontsize=10)
    return fig


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

    from lrlaw.errors import LrlawError

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
    for i, (name, s) in enumerate(named.items()):
        lr = s.values()
        color = f"C{i % 10}"
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
        title = next(iter(named))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_optimum(
    fit: FitResult,
    result: OptimizedSchedule,
    *,
    references: Mapping[str, Schedule] | None = None,
) -> Figure:
    """The optimised schedule next to reference schedules, and the loss the law predicts.

    ``result`` comes from :func:`lrlaw.optimize.optimize` with ``fit``; the
    references default to the ones it compares with (cosine to peak/10 and
    WSD with a 20 % linear decay to 0, same length, peak and warmup).
    """
    from lrlaw.optimize import reference_schedules

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
