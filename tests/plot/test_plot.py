"""Figures a reader does not stumble on: stable run colours, titles that fit, legends that
explain line styles, residual panels that the start transient does not flatten, bands that
do not stack (issue 17, "README and plots")."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from mpl import MPL_TEST, MPL_TRAIN, mpl_curves

from lrlaw import schedules
from lrlaw.fitting import fit
from lrlaw.fitting.evaluate import compare_laws
from lrlaw.plot import (
    RUN_PALETTE,
    band_segments,
    clip_residual_axis,
    plot_fit,
    plot_law_comparison,
    plot_schedules,
    run_colors,
    suptitle,
)

NAMES = [*MPL_TRAIN, *MPL_TEST]


@pytest.fixture(scope="module")
def curves():
    return mpl_curves("25m", NAMES)


@pytest.fixture(scope="module")
def momentum(curves):
    return fit([c for c in curves if c.name in MPL_TRAIN])


def _line_colors(ax) -> dict[str, str]:
    """Colour of each labelled line of ``ax`` (labels without the ' (held out)' suffix)."""
    return {
        ln.get_label().removesuffix(" (held out)"): to_hex(ln.get_color())
        for ln in ax.get_lines()
        if not ln.get_label().startswith("_")
    }


def _legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _residual_axis(fig):
    return next(ax for ax in fig.axes if ax.get_ylabel().startswith("pred - obs"))


# --------------------------------------------------------------------------- colours


def test_run_colors_are_distinct_and_keyed_on_the_name() -> None:
    colors = run_colors(NAMES)
    assert len(set(colors.values())) == len(NAMES) == len(RUN_PALETTE)
    assert run_colors(reversed(NAMES)) == colors  # the order given does not matter
    # More names than the palette: a second round, still a colour for each.
    many = run_colors([f"run{i}" for i in range(2 * len(RUN_PALETTE))])
    assert len(set(many.values())) == len(RUN_PALETTE)


def test_fitted_runs_keep_their_colours_when_held_out_runs_join() -> None:
    alone = run_colors(MPL_TRAIN)
    joined = run_colors(NAMES, first=MPL_TRAIN)
    assert {n: joined[n] for n in MPL_TRAIN} == alone
    # A name keeps the colour of its own slot whenever that slot is free.
    assert (
        run_colors(["cosine_24000"])["cosine_24000"]
        == run_colors(["cosine_24000", "x"])["cosine_24000"]
    )


def test_a_run_has_one_colour_in_every_figure(curves, momentum) -> None:
    train = [c for c in curves if c.name in MPL_TRAIN]
    test = [c for c in curves if c.name in MPL_TEST]
    fit_fig = plot_fit(momentum, train)  # lrlaw fit --plot
    pred_fig = plot_fit(momentum, curves, train=MPL_TRAIN)  # lrlaw predict --plot
    laws = compare_laws(train, test, ["momentum"])
    laws_fig = plot_law_comparison(laws, train, test)  # lrlaw evaluate --train --plot
    lr = {c.name: schedules.from_array(c.lr, spec=c.name) for c in train}
    sched_fig = plot_schedules(lr, fit=momentum)  # the schedule/optimize figures
    in_fit = _line_colors(fit_fig.axes[1])
    in_pred = _line_colors(pred_fig.axes[1])
    in_laws = _line_colors(laws_fig.axes[0])
    in_sched = _line_colors(sched_fig.axes[0])
    for name in MPL_TRAIN:
        assert in_fit[name] == in_pred[name] == in_laws[name] == in_sched[name], name
    for name in MPL_TEST:
        assert in_pred[name] == in_laws[name], name
    assert len(set(in_pred.values())) == len(curves)  # no two runs share one


# --------------------------------------------------------------------------- titles, legends


def _inside(fig) -> bool:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig._suptitle.get_window_extent(canvas.get_renderer())
    return box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height


def test_schedule_plot_title_is_the_whole_spec_and_fits() -> None:
    """``lrlaw schedule --plot`` cut the spec at 57 characters ('decay_start=20000...')."""
    s = schedules.parse_schedule(
        "wsd:peak=3e-4,warmup=2160,total=24000,decay_start=20000,final=3e-5,shape=sqrt"
    )
    fig = plot_schedules([s])
    title = fig._suptitle.get_text()
    assert title.replace("\n", "") == s.spec
    assert "..." not in title
    assert _inside(fig)


def test_long_titles_are_wrapped_inside_the_figure() -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3))
    text = ", ".join(f"param{i}=0.{i}2345" for i in range(20)) + "; shaded: 90 % band"
    suptitle(fig, text)
    assert fig._suptitle.get_text().count("\n") >= 2
    assert fig._suptitle.get_text().replace("\n", "").replace(",", ", ").split() == text.split()
    assert _inside(fig)


def test_laws_plot_legend_says_what_solid_and_dashed_mean(curves) -> None:
    train = [c for c in curves if c.name in MPL_TRAIN]
    test = [c for c in curves if c.name in MPL_TEST[:2]]
    fig = plot_law_comparison(compare_laws(train, test, ["momentum"]), train, test)
    texts = _legend_texts(fig.axes[0])
    assert {"dots: observed", "solid: law, fitted run", "dashed: law, held-out run"} <= set(texts)
    styles = {ln.get_label(): ln.get_linestyle() for ln in fig.axes[0].get_legend().get_lines()}
    assert styles["solid: law, fitted run"] == "-"
    assert styles["dashed: law, held-out run"] == "--"


def test_predict_plot_legend_explains_styles(curves, momentum) -> None:
    by_file = sorted(curves, key=lambda c: c.name)  # as 'lrlaw predict fit.json data/*.csv'
    texts = _legend_texts(plot_fit(momentum, by_file, train=MPL_TRAIN).axes[1])
    assert texts[:3] == ["dots: observed", "solid: law, fitted run", "dashed: law, held-out run"]
    runs = texts[3:]  # fitted runs first, then the held-out ones
    assert runs == [*sorted(MPL_TRAIN), *(f"{n} (held out)" for n in sorted(MPL_TEST))]
    texts = _legend_texts(plot_fit(momentum, curves[:3]).axes[1])
    assert texts[:2] == ["dots: observed", "line: law"]


# --------------------------------------------------------------------------- residual panel


def _noisy_per_step(curve, transient: bool, seed: int = 0):
    """Every step of ``curve``'s range, 1 % noise, optionally a start transient up to 10."""
    grid = np.arange(curve.steps[0], curve.steps[-1] + 1)
    true = np.exp(np.interp(grid, curve.steps, np.log(curve.loss)))
    if transient:
        head = grid - grid[0] < 300
        true[head] += (10 - true[head]) * np.exp(-(grid[head] - grid[0]) / 50)
    rng = np.random.default_rng(seed)
    loss = true * (1 + 0.01 * rng.standard_normal(grid.size))
    return dataclasses.replace(curve, steps=grid, loss=loss, counts=None)


def test_residual_panel_is_not_flattened_by_a_start_transient(curves, momentum) -> None:
    """On a noisy per-step log, one start transient set the panel to +-50 %: the law's
    systematic error (a few tenths of a percent) was a flat line."""
    noisy = [_noisy_per_step(c, transient=True) for c in curves[:2]]
    ax = _residual_axis(plot_fit(momentum, noisy))
    lo, hi = ax.get_ylim()
    assert hi - lo < 10  # the old panel spanned the transient's ~-60 %
    assert lo < 0 < hi
    notes = [t.get_text() for t in ax.texts]
    assert any("clipped" in t and "off-scale" in t for t in notes), notes
    assert "means of" in ax.get_ylabel()  # dense series are drawn as bin means, and it says so
    # Without a transient, nothing is clipped and no note is written.
    clean = [_noisy_per_step(c, transient=False) for c in curves[:2]]
    ax = _residual_axis(plot_fit(momentum, clean))
    assert not ax.texts


def test_clip_residual_axis_keeps_the_robust_range() -> None:
    from matplotlib.figure import Figure

    steps = np.arange(1000)
    rel = np.r_[np.full(20, -80.0), np.random.default_rng(1).normal(0, 0.2, 980)]
    ax = Figure().add_subplot()
    ax.plot(steps, rel)
    off = clip_residual_axis(ax, [(steps, rel)])
    lo, hi = ax.get_ylim()
    assert off >= 20
    assert -2 < lo < -0.4 and 0.4 < hi < 2
    # A panel whose range is not dominated by a few points is left alone.
    ax = Figure().add_subplot()
    assert clip_residual_axis(ax, [(steps, rel[20:].repeat(2)[:1000])]) == 0


# --------------------------------------------------------------------------- bands


def test_band_segments_shade_a_shared_stretch_once() -> None:
    a = schedules.wsd(1e-3, 1000, decay_start=800).values()
    b = schedules.wsd(1e-3, 1000, decay_start=900).values()
    c = schedules.cosine(1e-3, 1000).values()
    seg = band_segments([a, b, c])
    first_ab = int(np.flatnonzero(a != b)[0])
    first_ac = int(np.flatnonzero(a != c)[0])
    # a shades grey up to where b leaves it, then its own colour; b starts there.
    assert seg[0] == (0, first_ab)
    assert seg[1] == (first_ab, first_ab)
    assert seg[2] == (first_ac, first_ac)
    # One schedule alone shades everything in its own colour.
    assert band_segments([a]) == [(0, 0)]
