"""Matplotlib figures for fitted laws.

Functions build and return a :class:`matplotlib.figure.Figure` (no pyplot,
no global state, nothing shown): save it with ``fig.savefig(path)`` or let
a notebook display it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D


__all__ = [
    "RUN_PALETTE",
    "band_mask",
    "band_segments",
    "clip_residual_axis",
    "draw_residuals",
    "fitted_first",
    "focus_top",
    "residual_label",
    "run_colors",
    "shade_band",
    "style_legend",
    "suptitle",
]

#: Qualitative palette for runs and schedules: matplotlib's tab10 without its grey
#: (grey is kept for neutral marks: logged points, reference lines).
RUN_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
)


def run_colors(names: Iterable[str], *, first: Iterable[str] = ()) -> dict[str, str]:
    """A colour per run name that stays the same from one figure to the next.

    Each name prefers the palette slot ``crc32(name) mod len(RUN_PALETTE)``, so a
    run keeps its colour in every figure that shows it (fit, predict, laws,
    compare, plan, optimize, refine).  Two names of one figure never share a
    colour while the palette lasts: names are placed in order (those in
    ``first`` first, e.g. the fitted runs, then the rest, each group sorted), and
    a name whose slot is taken takes the next free one.  Listing the fitted runs
    in ``first`` keeps their colours when held-out runs join them.

    Example:
        >>> a = run_colors(["cosine_24000", "wsd"])
        >>> b = run_colors(["wsd", "cosine_24000", "constant_24000"], first=["cosine_24000"])
        >>> a["cosine_24000"] == b["cosine_24000"]
        True
    """
    names = list(dict.fromkeys(names))
    head = set(first)
    order = sorted(n for n in names if n in head) + sorted(n for n in names if n not in head)
    k = len(RUN_PALETTE)
    taken: set[int] = set()
    colors: dict[str, str] = {}
    for name in order:
        if len(taken) == k:  # palette used up: start a second round
            taken.clear()
        slot = zlib.crc32(name.encode()) % k
        while slot in taken:
            slot = (slot + 1) % k
        taken.add(slot)
        colors[name] = RUN_PALETTE[slot]
    return colors


#: Share of each run the loss axis skips at the start: the early transient would
#: otherwise squash the part where schedules differ into the bottom of the panel.
FOCUS_SKIP = 0.15


def suptitle(fig: Figure, text: str, *, fontsize: float = 10) -> None:
    """``fig.suptitle(text)``, broken into lines that fit the figure's width.

    Long titles (a schedule spec, a law's parameters) would run past both edges
    of the figure; this breaks them after commas, semicolons or spaces, using a
    width of ``0.58 * fontsize`` points per character (DejaVu Sans averages ~0.55).
    """
    width_pt = fig.get_figwidth() * 72 * 0.96
    per_line = max(20, int(width_pt / (0.58 * fontsize)))
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for token in re.findall(r"[^,; ]*[,; ]?", paragraph):
            if line and len(line) + len(token.rstrip()) > per_line:
                lines.append(line.rstrip())
                line = ""
            line += token
        lines.append(line.rstrip())
    fig.suptitle("\n".join(lines), fontsize=fontsize)


def style_legend(*, held_out: bool, observed: bool = True) -> list[Line2D]:
    """Legend entries (black proxies) for what the line styles of a loss panel mean.

    Dots are observed losses, solid lines the law's prediction for a fitted run,
    dashed lines (with ``held_out``) its prediction for a held-out run.
    """
    from matplotlib.lines import Line2D

    items = []
    if observed:
        items.append(Line2D([], [], ls="", marker=".", color="0.3", label="dots: observed"))
    fitted = "solid: law, fitted run" if held_out else "line: law"
    items.append(Line2D([], [], ls="-", color="0.3", label=fitted))
    if held_out:
        items.append(Line2D([], [], ls="--", color="0.3", label="dashed: law, held-out run"))
    return items


def fitted_first(handles: Sequence[Line2D]) -> list[Line2D]:
    """Legend handles with the fitted runs before the held-out ones (labels ``... (held out)``)."""
    return sorted(handles, key=lambda h: str(h.get_label()).endswith("(held out)"))


#: Windows with more points than this get binned means in the residual panel (a
#: 9-inch panel is ~800 pixels wide: beyond ~600 points per run, lines overplot).
DENSE_RESIDUALS = 600
#: Number of bins a dense residual series is averaged into.
RESIDUAL_BINS = 80


def draw_residuals(
    ax: Axes, steps: np.ndarray, rel: np.ndarray, color: str, style: str, *, zorder: float = 2
) -> int:
    """Draw one run's relative errors; dense series as faint points plus binned means.

    A per-step log gives thousands of residuals whose noise hides the law's
    systematic error; above ``DENSE_RESIDUALS`` points every point is drawn
    faint and the line is the mean of ``RESIDUAL_BINS`` bins of consecutive
    points.  ``zorder`` is the line's (the figures put fitted runs above held-out
    ones).  Returns the bin size (1 when every point is on the line).
    """
    if rel.size <= DENSE_RESIDUALS:
        ax.plot(steps, rel, style, color=color, lw=1, zorder=zorder)
        return 1
    ax.plot(steps, rel, ".", color=color, ms=1, alpha=0.2, zorder=1)
    chunks = np.array_split(np.arange(rel.size), RESIDUAL_BINS)
    ax.plot(
        [steps[c].mean() for c in chunks],
        [rel[c].mean() for c in chunks],
        style,
        color=color,
        lw=1.2,
        zorder=zorder,
    )
    return int(np.ceil(rel.size / RESIDUAL_BINS))


def clip_residual_axis(
    ax: Axes, series: Sequence[tuple[np.ndarray, np.ndarray]], *, ratio: float = 3.0
) -> int:
    """Clip a residual panel to its robust range when the start transient would flatten it.

    ``series`` holds each run's ``(steps, rel)`` over its fit window.  The robust
    range spans the 0.5-99.5 % quantiles of the errors after the first
    ``FOCUS_SKIP`` of each window, padded by 15 % and always including 0.  The
    axis is clipped to it only when the full range is more than ``ratio`` times
    wider, and a note on the panel says so.  Returns the number of points off-scale.
    """
    tails = [r[s >= s[0] + FOCUS_SKIP * (s[-1] - s[0])] for s, r in series if r.size]
    tail = np.concatenate([t for t in tails if t.size]) if any(t.size for t in tails) else None
    if tail is None:
        return 0
    every = np.concatenate([r for _, r in series])
    lo, hi = np.quantile(tail, [0.005, 0.995])
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.15 * (hi - lo) if hi > lo else 0.05
    lo, hi = lo - pad, hi + pad
    if every.max() - every.min() <= ratio * (hi - lo):
        return 0
    ax.set_ylim(lo, hi)
    off = int(np.sum((every < lo) | (every > hi)))
    ax.text(
        0.01,
        0.04,
        f"clipped to the errors after the first {100 * FOCUS_SKIP:.0f} % of each run "
        f"({off} point(s) off-scale)",
        transform=ax.transAxes,
        fontsize=7,
        color="0.25",
        bbox={"fc": "white", "ec": "none", "alpha": 0.7, "pad": 1.5},
    )
    return off


def band_segments(lrs: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """Where each schedule's band is shaded: ``(start, own)`` steps per schedule.

    The laws are causal: two schedules with the same LR up to step ``d`` have the
    same prediction and band up to ``d``.  Shading each band in full stacks the
    stretch several candidates share (the stable phase of WSD runs) into a
    darker band of a mixed colour.  Instead schedule ``k`` shades
    ``[start, own)`` in neutral grey, where ``start`` is the last step it still
    equals an earlier schedule (0 when none) and ``own`` the last step it equals
    (to 1e-9 relative)
    any other, and shades ``[own, total]`` in its own colour.
    """

    def common(a: np.ndarray, b: np.ndarray) -> int:
        n = min(a.size, b.size)
        diff = np.flatnonzero(~np.isclose(a[:n], b[:n], rtol=1e-9, atol=0.0))
        return int(diff[0]) if diff.size else n

    out = []
    for k, lr in enumerate(lrs):
        shared = [common(lr, other) for j, other in enumerate(lrs) if j != k]
        start = max((common(lr, other) for other in lrs[:k]), default=0)
        out.append((start, max(shared, default=0)))
    return out


def shade_band(
    ax: Axes,
    grid: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    color: str,
    segment: tuple[int, int],
    alpha: float,
) -> None:
    """Fill one schedule's band over ``segment`` (from :func:`band_segments`): grey, then colour.

    Each part is a filled area plus thin edge lines in the same colour: a band only a
    few tenths of a percent of the loss wide (a schedule close to a fitted run) is
    otherwise a faint smear under its line, and a grey shared stretch disappears.
    """
    start, own = segment
    shared = band_mask(grid, start) & ~band_mask(grid, own + 1)
    mine = band_mask(grid, own)
    for part, shade in ((shared, "0.5"), (mine, color)):
        if not part.any():
            continue
        ax.fill_between(grid[part], lo[part], hi[part], color=shade, alpha=alpha, lw=0)
        for edge in (lo, hi):
            ax.plot(grid[part], edge[part], color=shade, lw=0.5, alpha=0.8)


def band_mask(grid: np.ndarray, start: int) -> np.ndarray:
    """Grid points at or after ``start``, plus the one before it (no gap at the seam)."""
    first = max(int(np.searchsorted(grid, start)) - 1, 0)
    return np.arange(grid.size) >= first


def focus_top(steps: np.ndarray, loss: np.ndarray) -> float:
    """Highest loss after the first ``FOCUS_SKIP`` of the run: the top of the loss axis."""
    keep = steps >= steps[0] + FOCUS_SKIP * (steps[-1] - steps[0])
    return float(np.max(loss[keep])) if keep.any() else float(np.max(loss))


def residual_label(binned: int) -> str:
    """Y label of a residual panel; says when dense series are drawn as bin means."""
    label = "pred - obs (% of obs)"
    return f"{label}\nlines: means of ~{binned} points" if binned > 1 else label
