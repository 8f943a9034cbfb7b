"""Replay shipped runs as growing logs through lrlaw.watch.Watcher.

For each run and law, the losses are fed in chunks of 4 (as a tailing
``lrlaw watch`` would); at 10, 20, 30, 50 and 75 % of the run the predicted
final loss is compared with the true (last logged) loss.  Printed: the mean
absolute relative error per fraction, the worst absolute error of any refit
after 30 % of the run (``worst>30%``: it catches a prediction that jumps
between the marks, as right after a sudden LR drop), the fraction of runs whose 90 % band
covers the true final loss, and the refit latency (median and max per refit,
compilation excluded: the first refit of each law is dropped).  A last part
times one refit on a per-step log of 50k steps, and re-reading a 50k-line
CSV with the readers (what ``lrlaw watch`` does on each poll).

    python benchmarks/bench_watch.py [--laws momentum,efflr] [--quick]
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
FRACS = (0.1, 0.2, 0.3, 0.5, 0.75)


def runs(quick: bool):
    files = sorted(glob.glob(str(ROOT / "data/mpl/100m/*.csv")))
    files += sorted(glob.glob(str(ROOT / "data/schaipp-124m/canonical/*.csv")))
    if quick:
        files = files[::3]
    for f in files:
        (c,) = load_curves([f], schedules_file=ROOT / "data/schedules.txt")
        yield Path(f).parent.name + "/" + c.name, c


def replay(c, law: str):
    w = Watcher(c.lr, law)
    true = float(c.loss[-1])
    out, latencies = {}, []
    marks = list(FRACS)
    last_refits = 0
    worst = 0.0
    for i in range(0, len(c.steps), 4):
        p = w.update_many(c.steps[i : i + 4], c.loss[i : i + 4])
        if p.refits > last_refits:
            latencies.append(p.refit_seconds)
            last_refits = p.refits
            if p.step >= 0.3 * c.total_steps:
                worst = max(worst, abs(p.final_loss / true - 1))
        while marks and p.step >= marks[0] * c.total_steps:
            m = marks.pop(0)
            if p.fitted:
                out[m] = (p.final_loss / true - 1, p.final_lo <= true <= p.final_hi)
    out["worst"] = worst
    return out, latencies[1:], w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--laws", default="momentum")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    for law in args.laws.split(","):
        rows, lat = [], []
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
            cells = "".join(
                f"{100 * res[f][0]:+10.2f}{'' if res[f][1] else '*'}" if f in res else f"{'-':>11s}"
                for f in FRACS
            )
            dt = time.perf_counter() - t0
            print(f"{name:32s}{cells}{100 * res['worst']:11.2f}   {w.refits} ({dt:.0f} s)")
        mae = [np.mean([abs(r[f][0]) for r in rows if f in r]) * 100 for f in FRACS]
        cov = [np.mean([r[f][1] for r in rows if f in r]) * 100 for f in FRACS]
        worst = np.mean([r["worst"] for r in rows]) * 100
        print(f"{'mean |error| %':32s}" + "".join(f"{x:11.2f}" for x in mae) + f"{worst:11.2f}")
        print(f"{'90 % band covers the truth %':32s}" + "".join(f"{x:11.0f}" for x in cov))
        print("(* the band misses the true final loss)")
        if lat:
            print(f"refit latency: median {np.median(lat):.3f} s, max {np.max(lat):.3f} s")
    # A per-step log of 50k steps.
    (c,) = load_curves(
        [ROOT / "data/schaipp-124m/canonical/wsd-0.2-linear.csv"],
        schedules_file=ROOT / "data/schedules.txt",
    )
    steps = np.arange(1, 50001)
    loss = np.interp(steps, c.steps, c.loss)
    w = Watcher(c.lr)
    w.update_many(steps[:20000], loss[:20000])  # first fit (compiles)
    w.update_many(steps[20000:20400], loss[20000:20400])  # a warm refit
    t0 = time.perf_counter()
    n = 0
    for s in range(20400, 30000, 100):
        p = w.update_many(steps[s : s + 100], loss[s : s + 100])
        n += 1
    dt = time.perf_counter() - t0
    print(
        f"\nper-step log, 50k steps: {n} updates of 100 losses from step 20400 to 30000, "
        f"{w.refits - 2} refits, {dt / n:.3f} s per update, last refit {p.refit_seconds:.3f} s"
    )
    import tempfile

    from lrlaw.readers import ReadOptions, prepare_run, read_runs

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
