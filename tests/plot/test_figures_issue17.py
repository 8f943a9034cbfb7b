"""Issue 17, "in pred.png one run (constant_24000) is hidden under another": in every panel
of the predict and laws figures, the fitted runs are drawn above the held-out ones.

constant_72000 (held out) repeats constant_24000 (fitted) up to step 24000, in its
schedule, its observed loss, its prediction and its errors, so whichever is drawn last
hides the other there.  The loss panel of ``plot_fit`` already put the fitted runs on top;
its schedule and residual panels, and every panel of ``plot_law_comparison``, drew them in
file order, and the held-out constant_72000 covered constant_24000 completely.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from mpl import mpl_curves

from lrlaw.fitting import FitResult
from lrlaw.fitting.evaluate import compare_laws
from lrlaw.plot import plot_fit, plot_law_comparison, run_colors

TRAIN = ("constant_24000", "cosine_24000")
HELD_OUT = ("constant_72000", "wsd_20000_24000")


@pytest.fixture(scope="module")
def curves():
    # File order, as 'lrlaw predict fit.json data/mpl/100m/*.csv' reads them: the
    # held-out constant_72000 comes after constant_24000.
    return mpl_curves("100m", sorted(TRAIN + HELD_OUT))


def _momentum() -> FitResult:
    """A momentum-law result written down (the figures' drawing order needs no fit)."""
    return FitResult(
        law="momentum", options={"lam": 0.999, "warmup": "signed", "fit_lam": False},
        params={"L0": 2.69, "A": 0.553, "alpha": 0.524, "C": 0.475}, objective=0.0,
        delta=1e-3, n_points=10, converged=True, n_starts=1, n_converged=1, n_near_best=1,
        num_steps=1,
    )  # fmt: skip


def _zorders(ax, colors: dict[str, str], names) -> list[float]:
    """zorder of every line of ``ax`` drawn in the colour of one of ``names``."""
    wanted = {colors[n] for n in names}
    return [ln.get_zorder() for ln in ax.get_lines() if to_hex(ln.get_color()) in wanted]


def _fitted_on_top(fig, colors: dict[str, str]) -> None:
    for k, ax in enumerate(fig.axes):
        fitted, held = _zorders(ax, colors, TRAIN), _zorders(ax, colors, HELD_OUT)
        assert fitted and held, (k, ax.get_ylabel())
        assert min(fitted) > max(held), (k, ax.get_ylabel(), fitted, held)


def test_predict_figure_draws_the_fitted_runs_on_top_in_every_panel(curves) -> None:
    fig = plot_fit(_momentum(), curves, train=TRAIN, level=None)
    assert [ax.get_ylabel().split()[0] for ax in fig.axes] == ["learning", "loss", "pred"]
    _fitted_on_top(fig, run_colors([c.name for c in curves], first=TRAIN))


def test_laws_figure_draws_the_fitted_runs_on_top_in_every_panel(curves) -> None:
    train = [c for c in curves if c.name in TRAIN]
    test = [c for c in curves if c.name in HELD_OUT]
    comparison = compare_laws(train, test, ["momentum"])
    # The same order as the CLI passes them: the training runs first.
    fig = plot_law_comparison(comparison, train, test)
    colors = run_colors([c.name for c in curves], first=TRAIN)
    _fitted_on_top(fig, colors)
    # the fitted constant_24000 is where constant_72000 would hide it: the same values
    (loss_ax, _) = fig.axes
    by_color = {
        to_hex(ln.get_color()): ln for ln in loss_ax.get_lines() if ln.get_label()[0] != "_"
    }
    short, long = by_color[colors["constant_24000"]], by_color[colors["constant_72000"]]
    x, y = short.get_xdata(), short.get_ydata()
    after = x >= 3000  # past the warmup, where the two grids' interpolation agrees
    np.testing.assert_allclose(
        np.interp(x[after], long.get_xdata(), long.get_ydata()), y[after], rtol=1e-4
    )


def test_schedule_comparison_bands_have_visible_edges() -> None:
    """Issue 17, "the 90 % band is nearly invisible": plot_fit drew its band with edges, but
    the compare and plan figures still shaded it at alpha 0.15 without edges, so the band
    of a schedule close to a fitted run (a constant LR, fitted on constant_24000) and the
    grey stretch the schedules share did not show.  Every part of every band now has an
    upper and a lower edge line at the band's values."""
    from lrlaw import schedules
    from lrlaw.fitting import fit
    from lrlaw.plan import compare_schedules
    from lrlaw.plot import band_segments, plot_schedule_comparison

    fitted = fit(mpl_curves("100m", TRAIN), bootstrap=8, seed=0)
    cands = [
        schedules.parse_schedule(s)
        for s in (
            "constant:peak=3e-4,total=24000,warmup=2160",
            "wsd:peak=3e-4,total=24000,decay_start=20000,final=3e-5,warmup=2160",
        )
    ]
    comparison = compare_schedules(fitted, cands, names=["constant", "wsd"])
    fig = plot_schedule_comparison(comparison, fitted)
    ax = fig.axes[1]
    assert ax.get_ylabel() == "predicted loss"
    colors = run_colors(["constant", "wsd"])
    segments = band_segments([s.values() for s in cands])
    for (start, own), s, name in zip(segments, cands, ["constant", "wsd"], strict=True):
        grid = np.unique(np.linspace(1, s.total, 600).astype(np.int64))
        lo, hi = fitted.predict_band(s.values(), grid, 0.9)
        for shade, first in ((colors[name], own), ("#808080", start)):
            if shade == "#808080" and start == own:
                continue  # nothing shared to shade grey
            lines = [ln for ln in ax.get_lines() if to_hex(ln.get_color()) == shade]
            for edge in (lo, hi):
                assert any(
                    ln.get_xdata()[-1] >= first
                    and np.allclose(ln.get_ydata(), np.interp(ln.get_xdata(), grid, edge))
                    for ln in lines
                ), (name, shade)


@pytest.mark.slow
def test_landscape_title_says_what_every_mark_is() -> None:
    """'Look at each figure': the landscape's title named the star only; the dashed black
    curve (the fitted quadratic surface) and the dotted line were left to guess."""
    from lrlaw.plan import fit_hparams, read_grid
    from lrlaw.plot import plot_landscape

    grid = read_grid(Path(__file__).resolve().parents[2] / "data/steplaw/dense_lr_bs_loss.csv")
    hp = fit_hparams(grid, n_boot=20)
    fig = plot_landscape(grid, hp)
    title = " ".join(fig._suptitle.get_text().split())
    dashed = [
        ln
        for ax in fig.axes
        for ln in ax.get_lines()
        if ln.get_linestyle() == "--" and to_hex(ln.get_color()) == "#000000"
    ]
    assert dashed  # the quadratic surface is drawn ...
    assert "dashed: fitted quadratic surface at the optimal batch size" in title  # ... and named
    assert "star and dotted line: located optimum" in title
    assert "coloured by batch size" in title
    assert ("red: optimum not located" in title) == (not all(c.located for c in hp.cells))
