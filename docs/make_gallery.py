"""Regenerate the gallery of the docs, ``docs/gallery/*.png``, from the shipped data.

Run from the repository root::

    python docs/make_gallery.py                # all figures
    python docs/make_gallery.py power_laws     # only some (names below)

It takes about two minutes on two CPU cores; the multi-power fit of the law
comparison takes most of it.  Every figure comes from lrlaw's own plotting
functions with the options they take, except the schedule shapes, which no
function draws.  PNGs are written at 100 dpi and reduced to a 256-colour
palette (the figures are flat colours and anti-aliased lines, so this is
visually lossless), which keeps each file well under 150 kB.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's lrlaw, not whichever one is installed
DATA = ROOT / "data"
SCHEDULES = DATA / "schedules.txt"
TRAIN = ["cosine_24000", "constant_24000", "wsdcon_9"]
BASE = "peak=3e-4,warmup=2160,total=24000"
DPI = 100
MAX_BYTES = 150_000


def shrink_png(raw: bytes) -> bytes:
    """``raw`` (PNG bytes) as a 256-colour palette PNG, if that is smaller; else ``raw``."""
    from PIL import Image

    image = Image.open(io.BytesIO(raw)).convert("RGB")
    small = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        small, format="PNG", optimize=True
    )
    return min(raw, small.getvalue(), key=len)


def write_png(data: bytes, path: Path) -> int:
    """Write PNG bytes to ``path`` atomically; return their size."""
    tmp = path.with_suffix(".png.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(data)


def save(fig, path: Path) -> int:
    """Write ``fig`` as a palette PNG (if smaller than the RGBA one); return its size."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return write_png(shrink_png(buf.getvalue()), path)


def _mpl_curves(size: str, names: list[str] | None = None):
    import lrlaw

    paths = sorted((DATA / "mpl" / size).glob("*.csv"))
    if names is not None:
        paths = [p for p in paths if p.stem in names]
    return lrlaw.load_curves([str(p.relative_to(ROOT)) for p in paths], schedules_file=SCHEDULES)


_FIT_100M = None


def _momentum_100m():
    """Momentum law on the MPL 100M training split, 200 bootstrap replicates (shared)."""
    global _FIT_100M
    if _FIT_100M is None:
        import lrlaw

        _FIT_100M = lrlaw.fit(_mpl_curves("100m", TRAIN), "momentum", bootstrap=200)
    return _FIT_100M


def fit_and_predict():
    """Observed vs predicted curves with the 90 % band, and residuals (MPL 100M)."""
    from lrlaw.plot import plot_fit

    held_out = ["wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_18"]
    curves = _mpl_curves("100m", TRAIN + held_out)
    return plot_fit(
        _momentum_100m(),
        curves,
        train=TRAIN,
        title="Momentum law fitted on 3 MPL 100M runs (solid), predicting 4 held-out runs "
        "(dashed); shaded: 90 % prediction band",
    )


def law_comparison():
    """Momentum vs multi-power on the MPL 25M split: held-out curves and errors."""
    from lrlaw.fitting.evaluate import compare_laws
    from lrlaw.plot import plot_law_comparison

    curves = _mpl_curves("25m")
    train = [c for c in curves if c.name in TRAIN]
    test = [c for c in curves if c.name not in TRAIN]
    comparison = compare_laws(train, test, ["momentum", "multipower"])
    return plot_law_comparison(
        comparison,
        train,
        test,
        title="MPL 25M: both laws fitted on cosine_24000, constant_24000, wsdcon_9 (solid); "
        "six held-out runs dashed",
    )


SHAPES = {
    "cosine": "cosine:peak=1,warmup=500,total=10000,final=0.1",
    "wsd (decay shapes)": None,  # drawn from WSD_SHAPES
    "step": "step:peak=1,warmup=500,total=10000,every=2500,factor=0.5",
    "rex": "rex:peak=1,warmup=500,total=10000",
    "onecycle": "onecycle:peak=1,total=10000",
    "inverse_sqrt + cooldown": "inverse_sqrt:peak=1,warmup=500,total=10000,cooldown=2000",
    "cyclic (triangular2)": "cyclic:low=0.1,high=1,step_size=1250,mode=triangular2,total=10000",
    "infinite": "infinite:peak=1,total=10000,warmup=500,cooldown_steps=3000,constant_lr=0.4,"
    "anneal_steps=1500",
    "phases: cosine, re-warmup": "phases:[cosine:peak=1,total=6000,final=0.1,warmup=500@0;"
    "rewarm:peak=0.6,start_lr=0.1,warmup=500,total=4000@6000]",
}
WSD_SHAPES = ["linear", "cosine", "sqrt", "square", "exp"]


def schedule_shapes():
    """Small multiples of the schedule families (peak 1, 10000 steps)."""
    from matplotlib.figure import Figure

    from lrlaw.schedules import parse_schedule

    fig = Figure(figsize=(10, 6.4), layout="constrained")
    axes = fig.subplots(3, 3, sharex=True, sharey=True)
    for ax, (title, spec) in zip(axes.ravel(), SHAPES.items()):
        if spec is None:
            for k, shape in enumerate(WSD_SHAPES):
                final = ",final=0.01" if shape == "exp" else ""
                lr = parse_schedule(
                    f"wsd:peak=1,warmup=500,total=10000,decay_frac=0.3,shape={shape}{final}"
                ).values()
                ax.plot(np.arange(lr.size), lr, color=f"C{k}", lw=1.3, label=shape)
            ax.legend(fontsize=7, loc="lower left", ncol=2)
        else:
            lr = parse_schedule(spec).values()
            ax.plot(np.arange(lr.size), lr, color="C0", lw=1.3)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for ax in axes[:, 0]:
        ax.set_ylabel("LR / peak")
    fig.suptitle(
        "Schedule families (lrlaw.schedules / spec strings; peak 1, 10000 steps)", fontsize=10
    )
    return fig


def schedule_comparison():
    """Candidate 24000-step schedules ranked by the momentum law (MPL 100M fit)."""
    from lrlaw.plan.compare import compare_schedules
    from lrlaw.plan.optimal import optimize
    from lrlaw.plot import plot_schedule_comparison
    from lrlaw.schedules import parse_schedule

    fit = _momentum_100m()
    candidates = {
        "cosine": f"cosine:{BASE},final=3e-5",
        "constant": f"constant:{BASE}",
        "wsd-exp": f"wsd:{BASE},decay_start=20000,final=3e-5,shape=exp",
        "wsd-linear": f"wsd:{BASE},decay_start=20000,final=3e-5,shape=linear",
        "wsd-sqrt": f"wsd:{BASE},decay_frac=0.2,shape=sqrt",
    }
    best = optimize(fit, 24000, 3e-4, 2160, family="wsd").schedule
    comparison = compare_schedules(
        fit,
        [parse_schedule(s) for s in candidates.values()] + [best],
        names=[*candidates, "optimised-wsd"],
    )
    return plot_schedule_comparison(comparison, fit)


_HP = None


def _hparams():
    global _HP
    if _HP is None:
        from lrlaw.plan import fit_hparams, read_grid

        grid = read_grid(DATA / "steplaw" / "dense_lr_bs_loss.csv")
        _HP = grid, fit_hparams(grid)
    return _HP


def lr_landscape():
    """Loss against LR and batch size in four cells of the Step-Law grid.

    The smallest and the largest D of the smallest model and of the
    0.54B-parameter model (the full 17-cell figure is too dense for a README).
    """
    from lrlaw.plot import plot_landscape

    grid, hp = _hparams()
    sizes = sorted({c.N for c in hp.cells})
    keep = []
    for n in (sizes[0], sizes[3]):
        ds = sorted(c.D for c in hp.cells if c.N == n)
        keep += [(n, ds[0]), (n, ds[-1])]
    rows = np.zeros(grid.N.size, dtype=bool)
    for n, d in keep:
        rows |= (grid.N == n) & (grid.D == d)
    sub = dataclasses.replace(
        grid, **{k: getattr(grid, k)[rows] for k in ("N", "D", "lr", "batch", "loss", "line")}
    )
    cells = [c for c in hp.cells if (c.N, c.D) in keep]
    return plot_landscape(sub, dataclasses.replace(hp, cells=cells))


def power_laws():
    """Optimal LR and batch size against D: per-cell optima, fitted and published laws."""
    from lrlaw.plot import plot_power_laws

    return plot_power_laws(_hparams()[1])


FIGURES: dict[str, Callable] = {
    "fit_and_predict": fit_and_predict,
    "law_comparison": law_comparison,
    "schedule_shapes": schedule_shapes,
    "schedule_comparison": schedule_comparison,
    "lr_landscape": lr_landscape,
    "power_laws": power_laws,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"figures to draw: {', '.join(FIGURES)}")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    import os

    os.chdir(ROOT)  # curve sources and figure titles use repository-relative paths
    args.out.mkdir(parents=True, exist_ok=True)
    too_big = []
    for name in args.names or FIGURES:
        size = save(FIGURES[name](), args.out / f"{name}.png")
        print(f"{args.out / name}.png  {size / 1000:.0f} kB")
        if size > MAX_BYTES:
            too_big.append(name)
    if too_big:
        print(f"larger than {MAX_BYTES // 1000} kB: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
