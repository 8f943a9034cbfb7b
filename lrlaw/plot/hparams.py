"""Figures of the hyper-parameter laws: the loss landscape over peak LR and batch
size, and the fitted optimal-LR / batch-size power laws.

Imports: :mod:`lrlaw.plot.style`, and :mod:`lrlaw.plan.hparams`'s results.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lrlaw.plan import PUBLISHED
from lrlaw.plot.style import suptitle

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lrlaw.plan import CellOptimum, Grid, HParamFit

__all__ = [
    "plot_landscape",
    "plot_power_laws",
]


def plot_landscape(grid: Grid, fit: HParamFit) -> Figure:
    """Loss against LR in every cell, one line per batch size, with the located optimum.

    One panel per ``(N, D)`` cell (rows: N; columns: D).  Lines: measured
    losses against LR, coloured by batch size; star and dotted line: the
    located optimum (for ``"quadratic"``, the dashed black line is the fitted
    surface at the optimal batch).  Cells whose optimum is not located are
    titled in red.  The y range shows the near-optimal region; diverged runs
    lie above it.
    """
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    Ns = sorted({c.N for c in fit.cells})
    rows = {n: [c for c in fit.cells if c.N == n] for n in Ns}
    ncols = max(len(v) for v in rows.values())
    fig = Figure(figsize=(3.6 * ncols + 1.4, 2.9 * len(Ns) + 0.9), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(Ns), ncols, squeeze=False))
    norm = LogNorm(grid.batch.min(), grid.batch.max())
    cmap = "viridis"
    idx = {(n, d): i for n, d, i in grid.cells()}
    seq = grid.seq_len if grid.batch_unit == "sequences" else None
    for r, n in enumerate(Ns):
        for k in range(ncols):
            ax = axes[r, k]
            if k >= len(rows[n]):
                ax.set_visible(False)
                continue
            c = rows[n][k]
            i = idx[(c.N, c.D)]
            lr, b, loss = grid.lr[i], grid.batch[i], grid.loss[i]
            for bv in np.unique(b):
                m = b == bv
                o = np.argsort(lr[m])
                ax.plot(lr[m][o], loss[m][o], "-o", ms=2.5, lw=1, color=_cmap(cmap, norm(bv)))
            if c.quad is not None and c.located:
                lo, hi = c.quad["lr_fitted"]
                xs = np.exp(np.linspace(np.log(lo), np.log(hi), 60))
                ax.plot(xs, c.quad_loss(xs, np.full_like(xs, c.batch)), "k--", lw=0.9)
            color = "k" if c.located else "red"
            ax.axvline(c.lr, color=color, ls=":", lw=0.9)
            ax.plot([c.lr], [c.loss], "*", color=color, ms=11, mec="w", mew=0.6, zorder=5)
            ax.set_xscale("log")
            span = 4 * max(fit.settings.get("window", 0.02), 0.01) * c.best_loss
            ax.set_ylim(c.best_loss - 0.15 * span, c.best_loss + span)
            status = "" if c.located else f" - NOT LOCATED ({c.status})"
            ax.set_title(f"N={c.N:.3g}, D={c.D:.3g}{status}", fontsize=10, color=color)
            ax.tick_params(labelsize=9)
            ax.grid(alpha=0.3)
            if r == len(Ns) - 1 or k >= len(rows.get(Ns[min(r + 1, len(Ns) - 1)], [])):
                ax.set_xlabel("learning rate", fontsize=10)
            if k == 0:
                ax.set_ylabel("final loss", fontsize=10)
    from matplotlib.cm import ScalarMappable

    sm = ScalarMappable(norm=norm, cmap=cmap)
    label = "batch size (tokens" + (f" = sequences × {seq})" if seq else ")")
    cb = fig.colorbar(sm, ax=axes.ravel().tolist(), shrink=0.6, pad=0.01)
    cb.set_label(label, fontsize=10)
    # Say what every mark is: the dashed surface was drawn without a word in the title.
    marks = "star and dotted line: located optimum"
    if any(c.quad is not None and c.located for c in fit.cells):
        marks += "; dashed: fitted quadratic surface at the optimal batch size"
    if not all(c.located for c in fit.cells):
        marks += "; red: optimum not located"
    suptitle(
        fig,
        f"Loss landscape per cell ({fit.settings['method']}); lines: measured runs, "
        f"coloured by batch size; {marks}",
        fontsize=12,
    )
    return fig


def plot_power_laws(fit: HParamFit, *, published: bool = True) -> Figure:
    """The fitted LR and batch laws against the located per-cell optima.

    Left: optimal LR against the law's last variable (D by default), points
    and law lines coloured by the other variable (N); right: optimal batch
    (tokens) likewise.  Error-free points are the located optima; crosses are
    cells whose optimum was not located (not fitted).  With ``published``,
    the Step-Law law is drawn dashed when the form matches.
    """
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, 2)
    pub = PUBLISHED["step-law"]
    for ax, lf, attr, pl in (
        (axes[0], fit.lr, "lr", pub.lr),
        (axes[1], fit.batch, "batch", pub.batch),
    ):
        form = lf.form
        xvar = form[-1]
        group = form[0] if len(form) == 2 else None

        def val(c: CellOptimum, var: str) -> float:
            return {"N": c.N, "D": c.D, "C": 6.0 * c.N * c.D}[var]

        ok = [c for c in fit.cells if c.located]
        bad = [c for c in fit.cells if not c.located]
        gvals = sorted({val(c, group) for c in fit.cells}) if group else [None]
        norm = LogNorm(min(gvals), max(gvals) * 1.0001) if group else None
        for g in gvals:
            color = _cmap("plasma", 0.85 * norm(g)) if group else "C0"
            sel = [c for c in ok if group is None or val(c, group) == g]
            if sel:
                ax.plot(
                    [val(c, xvar) for c in sel],
                    [getattr(c, attr) for c in sel],
                    "o",
                    color=color,
                    ms=6,
                    label=f"{group}={g:.3g}" if group else "cell optima",
                )
            xs_cells = [val(c, xvar) for c in fit.cells if group is None or val(c, group) == g]
            xs = np.geomspace(min(xs_cells) / 1.3, max(xs_cells) * 1.3, 50)
            kw = {xvar: xs}
            if group:
                kw[group] = np.full_like(xs, g)
            at = [{k: v[j] for k, v in kw.items()} for j in range(xs.size)]
            ax.plot(xs, [lf.law(**a) for a in at], "-", color=color, lw=1.3)
            if published and pl is not None and set(pl.exponents) == set(form):
                ax.plot(xs, [pl(**a) for a in at], "--", color=color, lw=0.9, alpha=0.7)
        if bad:
            ax.plot(
                [val(c, xvar) for c in bad],
                [getattr(c, attr) for c in bad],
                "x",
                color="red",
                ms=7,
                label="not located (not fitted)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        unit = {"N": "parameters", "D": "tokens", "C": "FLOPs"}[xvar]
        ax.set_xlabel(f"{xvar} ({unit})")
        ax.set_ylabel("optimal learning rate" if attr == "lr" else "optimal batch size (tokens)")
        lo, hi = lf.ci.get(xvar, (math.nan, math.nan))
        ax.set_title(
            f"{lf.law.formula()}\n{xvar} exponent {100 * lf.level:.0f} % interval "
            f"[{lo:.3f}, {hi:.3f}]",
            fontsize=9,
        )
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9)
    note = "solid: fitted law; dashed: Step-Law (Li et al. 2025)" if published else "lines: fit"
    fig.suptitle(f"Optimal hyper-parameters: per-cell optima and power laws ({note})", fontsize=10)
    return fig


def _cmap(name: str, value: float):
    import matplotlib

    return matplotlib.colormaps[name](value)
