"""Replay shipped runs as growing logs through lrlaw.watch.Watcher.

For each run and law (momentum, multipower, efflr by default), the losses are fed
in chunks of 4 (as a tailing ``lrlaw watch`` would); at 20, 30, 50, 70 and 90 % of
the run the predicted final loss is compared with the true (last logged) loss.  The
runs: MPL 100M and 25M and the 124M W&B runs (``--quick``: a WSD and a cosine run of
each).  Printed per law: the mean absolute relative error per fraction, the worst
absolute error of any refit after 30 % of the run (``worst>30%``: it catches a
prediction that jumps between the marks, as right after a sudden LR drop), the
fraction of runs whose 90 % band covers the true final loss, the median band width,
the share of predictions flagged "annealing term not yet identified"
(:attr:`lrlaw.watch.Prediction.anneal_identified` is False) and the error of the
others, and the refit latency (median and max per refit, compilation excluded: the
first refit of each law is dropped); then the laws side by side.  A last part times
the refits on a per-step log of 50k steps for each law, and re-reading a 50k-line
CSV with the readers (what ``lrlaw watch`` does on each poll).

    python benchmarks/bench_watch.py [--laws momentum,multipower,efflr] [--quick] [--plot PNG]

``--plot`` draws how the predicted final loss converges: its relative error against the
true final loss after every refit, over the share of the run seen, one line per run
(the first law given; ``docs/watch_convergence.png`` is drawn this way).
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import numpy as np

from lrlaw.io import load_curves
from lrlaw.watch import Watcher

ROOT = Path(__file__).resolve().parent.parent
FRACS = (0.2, 0.3, 0.5, 0.7, 0.9)


#: The shipped runs replayed: MPL 100M and 25M, and the 124M W&B runs (schaipp-124m).
SETS = ("data/mpl/100m", "data/mpl/25m", "data/schaipp-124m/canonical")
#: ``--quick``: per set, one WSD run with a late cooldown and one cosine run.
QUICK = ("wsd_20000_24000", "cosine_24000", "wsd-0.2-linear", "cosine")


def runs(quick: bool):
    for d in SETS:
        for f in sorted(glob.glob(str(ROOT / d / "*.csv"))):
            if quick and Path(f).stem not in QUICK:
                continue
            (c,) = load_curves([f], schedules_file=ROOT / "data/schedules.txt")
            group = "124m" if "schaipp" in d else d.split("/")[-2] + "/" + d.split("/")[-1]
            yield f"{group}/{c.name}", c


def replay(c, law: str):
    w = Watcher(c.lr, law)
    true = float(c.loss[-1])
    out, latencies = {}, []
    marks = list(FRACS)
    last_refits = 0
    worst = 0.0
    trace: list[tuple[float, float, float, float]] = []  # (share, error, lo, hi) per refit
    for i in range(0, len(c.steps), 4):
        p = w.update_many(c.steps[i : i + 4], c.loss[i : i + 4])
        if p.refits > last_refits:
            latencies.append(p.refit_seconds)
            last_refits = p.refits
            trace.append(
                (
                    p.step / c.total_steps,
                    p.final_loss / true - 1,
                    p.final_lo / true - 1,
                    p.final_hi / true - 1,
                )
            )
            if p.step >= 0.3 * c.total_steps:
                worst = max(worst, abs(p.final_loss / true - 1))
        while marks and p.step >= marks[0] * c.total_steps:
            m = marks.pop(0)
            if p.fitted:
                out[m] = (
                    p.final_loss / true - 1,
                    p.final_lo <= true <= p.final_hi,
                    (p.final_hi - p.final_lo) / true,
                    p.anneal_identified is False,
                )
    out["worst"] = worst
    out["trace"] = trace
    return out, latencies[1:], w


def plot_convergence(traces: dict[str, list], law: str, path: Path) -> None:
    """Relative error of the predicted final loss after each refit, per run (atomic write)."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from lrlaw.plot import run_colors

    colors = run_colors(traces)
    fig = Figure(figsize=(11, 5), layout="constrained")
    ax = fig.subplots()
    for name, tr in traces.items():
        if not tr:
            continue
        t = np.array(tr)
        ax.plot(100 * t[:, 0], 100 * t[:, 1], color=colors[name], lw=1.2, label=name)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylim(-4, 4)
    ax.set_xlabel("share of the run seen by the watcher (%)")
    ax.set_ylabel("predicted / true final loss - 1 (%)")
    ax.set_title(
        f"lrlaw watch replay of the shipped runs ({law} law): the predicted final loss "
        "after each refit",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--laws", default="momentum,multipower,efflr")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args()
    laws = args.laws.split(",")
    summary = {}
    for k, law in enumerate(laws):
        rows, lat, traces = [], [], {}
        t_law = time.perf_counter()
        print(f"\nlaw {law}: error of the predicted final loss (%) at a fraction of the run")
        print(
            f"{'run':32s}"
            + "".join(f"{int(100 * f):>10d}%" for f in FRACS)
            + "  worst>30%   refits"
        )
        for name, c in runs(args.quick):
            t0 = time.perf_counter()
            res, latencies, w = replay(c, law)
            lat += latencies
            rows.append(res)
            traces[name] = res.pop("trace")
            cells = "".join(
                f"{100 * res[f][0]:+10.2f}{'' if res[f][1] else '*'}" if f in res else f"{'-':>11s}"
                for f in FRACS
            )
            dt = time.perf_counter() - t0
            print(f"{name:32s}{cells}{100 * res['worst']:11.2f}   {w.refits} ({dt:.0f} s)")
        mae = [np.mean([abs(r[f][0]) for r in rows if f in r]) * 100 for f in FRACS]
        cov = [np.mean([r[f][1] for r in rows if f in r]) * 100 for f in FRACS]
        width = [np.median([r[f][2] for r in rows if f in r]) * 100 for f in FRACS]
        flagged = [np.mean([r[f][3] for r in rows if f in r]) * 100 for f in FRACS]
        mae_id = [
            np.mean([abs(r[f][0]) for r in rows if f in r and not r[f][3]] or [np.nan]) * 100
            for f in FRACS
        ]
        worst = np.mean([r["worst"] for r in rows]) * 100
        print(f"{'mean |error| %':32s}" + "".join(f"{x:11.2f}" for x in mae) + f"{worst:11.2f}")
        print(f"{'90 % band covers the truth %':32s}" + "".join(f"{x:11.0f}" for x in cov))
        print(f"{'median band width %':32s}" + "".join(f"{x:11.2f}" for x in width))
        print(f"{'flagged: anneal not identified %':32s}" + "".join(f"{x:11.0f}" for x in flagged))
        print(f"{'mean |error| % of unflagged':32s}" + "".join(f"{x:11.2f}" for x in mae_id))
        print("(* the band misses the true final loss)")
        med = float(np.median(lat)) if lat else float("nan")
        if lat:
            print(f"refit latency: median {med:.3f} s, max {np.max(lat):.3f} s")
        summary[law] = (mae, cov, width, worst, med, time.perf_counter() - t_law, flagged)
        if args.plot is not None and k == 0:
            plot_convergence(traces, law, args.plot)
            print(f"wrote {args.plot}")
    if len(laws) > 1:
        print("\nside by side: share of predictions flagged 'annealing term not yet identified' %")
        print(f"{'law':12s}" + "".join(f"{int(100 * f):>7d}%" for f in FRACS))
        for law, row in summary.items():
            print(f"{law:12s}" + "".join(f"{x:8.0f}" for x in row[6]))
        print("\nside by side (same runs, one process): mean |error| % of the final loss at")
        print(
            f"{'law':12s}"
            + "".join(f"{int(100 * f):>7d}%" for f in FRACS)
            + "  worst>30%  cover% (20/50/90)  width% (20/50/90)  refit s  total s"
        )
        for law, (mae, cov, width, worst, med, total, _) in summary.items():
            i20, i50, i90 = FRACS.index(0.2), FRACS.index(0.5), FRACS.index(0.9)
            print(
                f"{law:12s}"
                + "".join(f"{x:8.2f}" for x in mae)
                + f"{worst:11.2f}  {cov[i20]:5.0f} {cov[i50]:5.0f} {cov[i90]:5.0f}"
                + f"     {width[i20]:6.2f} {width[i50]:6.2f} {width[i90]:6.2f}"
                + f"  {med:7.3f}  {total:7.0f}"
            )
    # A per-step log of 50k steps.
    (c,) = load_curves(
        [ROOT / "data/schaipp-124m/canonical/wsd-0.2-linear.csv"],
        schedules_file=ROOT / "data/schedules.txt",
    )
    steps = np.arange(1, 50001)
    loss = np.interp(steps, c.steps, c.loss)
    stop = 24000 if args.quick else 30000
    for law in laws:
        w = Watcher(c.lr, law)
        w.update_many(steps[:20000], loss[:20000])  # first fit (compiles)
        w.update_many(steps[20000:20400], loss[20000:20400])  # a warm refit
        t0 = time.perf_counter()
        n, refit_s = 0, []
        for s in range(20400, stop, 100):
            before = w.refits
            p = w.update_many(steps[s : s + 100], loss[s : s + 100])
            n += 1
            if w.refits > before:
                refit_s.append(p.refit_seconds)
        dt = time.perf_counter() - t0
        print(
            f"per-step log, 50k steps, {law}: {n} updates of 100 losses from step 20400 to "
            f"{stop}, {len(refit_s)} refits, {dt / n:.3f} s per update, refit median "
            f"{np.median(refit_s):.3f} s, max {np.max(refit_s):.3f} s"
        )
    import tempfile

    from lrlaw.io.readers import ReadOptions, prepare_run, read_runs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        path.write_text("step,loss\n" + "".join(f"{s},{y:.6f}\n" for s, y in zip(steps, loss)))
        opts = ReadOptions(max_points=None)
        t0 = time.perf_counter()
        for _ in range(5):
            prepare_run(read_runs(path, opts)[0], opts)
        print(f"re-reading a 50k-line CSV: {(time.perf_counter() - t0) / 5:.3f} s per poll")


if __name__ == "__main__":
    main()
