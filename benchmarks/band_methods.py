"""Which resampling gives a 90 % band that is calibrated *and* sharp (issue 16.4).

Fits the training logs of ``bench_logging.py``'s datasets and rows (the shipped
files, and degraded copies: denser, noisier, sparser) in-process with
``lrlaw.fitting.fit`` and the default bootstrap, once per band method, and scores
the band on the clean held-out curves exactly as ``bench_logging.py`` does
(steps >= max(warmup, 10 % of the run); coverage of the 90 % band, mean width
over the mean absolute error).  Targets: coverage 80-95 %, width/MAE <= 6.

    PYTHONPATH=. python benchmarks/band_methods.py [--methods block curve+block]
        [--datasets mpl-25m mpl-100m 124m] [--rows clean every10 g1%-every10]
        [--law momentum] [--bootstrap 200] [--by-horizon]

Prints one Markdown table: a line per (dataset, row, method) with coverage,
width/MAE, the band's Monte-Carlo error (split halves) and the fit + band time.
``--by-horizon`` adds, per cell, each held-out run's coverage, error and width in
bins of the step over the last fitted step (within the fitted horizon, up to 2x,
beyond).

``--cv``: the cross-validation folds instead (``crossval_laws.py``'s ``loco``
scheme): every shipped run of each dataset in turn is predicted by a fit of all
the others; their means per dataset, the folds on target, then coverage and
width/MAE per fold.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_logging as bl

from lrlaw import fitting
from lrlaw.fitting import core
from lrlaw.io import load_curves

METHODS = core.RESAMPLING_METHODS


def held_out(dataset: str) -> list[tuple[object, np.ndarray, np.ndarray]]:
    """(curve with its schedule, scored steps, losses) of every held-out run."""
    src, _, held = bl.DATASETS[dataset]
    warmups = bl.spec_warmups()
    out = []
    for run in held:
        steps, loss, _, _ = bl.read_shipped(src / f"{run}.csv")
        (curve,) = load_curves([src / f"{run}.csv"], schedules_file=bl.SCHEDULES)
        m = steps >= bl.score_start(run, int(steps[-1]), warmups)
        out.append((curve, steps[m], loss[m]))
    return out


def score(result, tests) -> dict[str, float]:
    per = []
    for curve, steps, y in tests:
        lo, hi = result.predict_band(curve.lr, steps, 0.9)
        pred = result.predict(curve.lr, steps)
        per.append(bl.score_curve(y, pred, lo, hi))
    return bl.mean_scores(per)


#: Bins of ``--by-horizon``: the step over the last fitted step (``t / T``).
HORIZON_BINS = ((0.0, 1.0), (1.0, 2.0), (2.0, np.inf))


def by_horizon(result, tests, horizon: int) -> list[str]:
    """``--by-horizon``: per held-out run and bin of ``t / T`` (``T`` the last fitted
    step; :data:`HORIZON_BINS`), the points, coverage, mean |error| and mean band width
    (both % of the loss) and the forward area ``S1 = sum of the LRs`` over the training
    runs' largest, as table rows."""
    rows = []
    for curve, steps, y in tests:
        lo, hi = result.predict_band(curve.lr, steps, 0.9)
        pred = result.predict(curve.lr, steps)
        ratio = steps / horizon
        s1 = np.cumsum(curve.lr)[steps]
        inside = (lo <= y) & (y <= hi)
        for a, b in HORIZON_BINS:
            m = (ratio > a) & (ratio <= b)
            if not m.any():
                continue
            rows.append(
                f"| {curve.name} | ({a:g}, {b:g}] | {int(m.sum())} | {100 * inside[m].mean():.1f} "
                f"| {100 * np.mean(np.abs(pred[m] - y[m]) / y[m]):.3f} "
                f"| {100 * np.mean((hi[m] - lo[m]) / y[m]):.3f} "
                f"| {s1[m].min():.3g}-{s1[m].max():.3g} |"
            )
    return rows


def cv_folds(methods, datasets, law, n_boot) -> None:
    """Leave-one-run-out folds over every shipped run of each dataset."""
    original = core._uncertainty
    warmups = bl.spec_warmups()
    print(f"# {law.name}, {n_boot} replicates; leave-one-run-out folds")
    print(
        "| dataset | method | folds | cover % (mean) | folds on 80-95 % | folds on both "
        "targets | width/MAE (mean width / mean MAE) | width/MAE (median of folds) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for ds in datasets:
        src, train, held = bl.DATASETS[ds]
        runs = [*train, *held]
        curves = load_curves([src / f"{r}.csv" for r in runs], schedules_file=bl.SCHEDULES)
        for method in methods:
            covers, ratios, widths, maes = [], [], [], []
            for i, run in enumerate(runs):
                core._uncertainty = functools.partial(original, resampling=method)
                try:
                    result = fitting.fit(curves[:i] + curves[i + 1 :], law, bootstrap=n_boot)
                finally:
                    core._uncertainty = original
                steps, loss, _, _ = bl.read_shipped(src / f"{run}.csv")
                m = steps >= bl.score_start(run, int(steps[-1]), warmups)
                s = score(result, [(curves[i], steps[m], loss[m])])
                covers.append(s["cover"])
                ratios.append(s["width_mae"])
                widths.append(s["width_abs"])
                maes.append(s["mae"])
            ok = sum(0.8 <= c <= 0.95 for c in covers)
            both = sum(0.8 <= c <= 0.95 and r <= 6 for c, r in zip(covers, ratios))
            print(
                f"| {ds} | {method} | {len(runs)} | {100 * np.mean(covers):.1f} | {ok} | {both} "
                f"| {np.mean(widths) / np.mean(maes):.2f} | {np.median(ratios):.2f} |",
                flush=True,
            )
            print(
                "|  | per fold |  | "
                + " ".join(f"{r}:{100 * c:.0f}%/{w:.1f}x" for r, c, w in zip(runs, covers, ratios))
                + " |  |  |  |  |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--datasets", nargs="+", default=list(bl.DATASETS), choices=list(bl.DATASETS))
    ap.add_argument(
        "--rows", nargs="+", default=["clean", "every10", "g1%-every10", "g1%-every100"]
    )
    ap.add_argument("--law", default="momentum")
    ap.add_argument("--bootstrap", type=int, default=None)
    ap.add_argument("--cv", action="store_true", help="leave-one-run-out folds instead")
    ap.add_argument(
        "--by-horizon",
        action="store_true",
        help="also coverage per held-out run and bin of step / last fitted step",
    )
    args = ap.parse_args()
    from lrlaw.laws import get_law

    law = get_law(args.law)
    n_boot = law.default_bootstrap if args.bootstrap is None else args.bootstrap
    if args.cv:
        cv_folds(args.methods, args.datasets, law, n_boot)
        return
    original = core._uncertainty
    print(f"# {args.law}, {n_boot} replicates; held-out scores as bench_logging.py")
    print("| dataset | row | method | cover % | width % | width/MAE | MC err/width | s |")
    print("|---|---|---|---|---|---|---|---|")
    summary: dict[str, list[tuple[float, float]]] = {m: [] for m in args.methods}
    detail: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for ds in args.datasets:
            tests = held_out(ds)
            for row in args.rows:
                paths = bl.make_logs(ds, bl.ROWS[row], Path(tmp) / ds / row.replace("%", "pct"))
                curves = load_curves(paths, schedules_file=bl.SCHEDULES)
                for method in args.methods:
                    core._uncertainty = functools.partial(original, resampling=method)
                    try:
                        t0 = time.perf_counter()
                        result = fitting.fit(curves, law, bootstrap=n_boot, seed=0)
                        sec = time.perf_counter() - t0
                    finally:
                        core._uncertainty = original
                    s = score(result, tests)
                    mc = (result.uncertainty.mc_error or {}).get("width_share", float("nan"))
                    summary[method].append((s["cover"], s["width_mae"]))
                    if args.by_horizon:
                        horizon = max(int(c.steps[-1]) for c in curves)
                        s1 = max(float(np.sum(c.lr[: int(c.steps[-1]) + 1])) for c in curves)
                        detail.append(
                            f"\n{ds}, {row}, {method}: last fitted step T = {horizon}, "
                            f"largest training S1 = {s1:.3g}\n\n| run | t / T | points "
                            "| cover % | mean abs error % | width % | S1 |\n"
                            "|---|---|---|---|---|---|---|"
                        )
                        detail += by_horizon(result, tests, horizon)
                    ok = 0.8 <= s["cover"] <= 0.95 and s["width_mae"] <= 6
                    print(
                        f"| {ds} | {row} | {method} | {100 * s['cover']:.1f} | "
                        f"{100 * s['width']:.2f} | {s['width_mae']:.2f} | {mc:.2f} | {sec:.1f} |"
                        + ("" if ok else " miss"),
                        flush=True,
                    )
    print("\n".join(detail))
    print()
    for m, v in summary.items():
        hits = sum(0.8 <= c <= 0.95 and w <= 6 for c, w in v)
        cov = np.array([c for c, _ in v])
        wm = np.array([w for _, w in v])
        print(
            f"# {m}: {hits}/{len(v)} cells on target; coverage median {100 * np.median(cov):.1f} %"
            f" (min {100 * cov.min():.1f}), width/MAE median {np.median(wm):.2f}"
            f" (max {wm.max():.2f})"
        )


if __name__ == "__main__":
    main()
