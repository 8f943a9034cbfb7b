"""Calibration of lrlaw's prediction bands on held-out curves.

For each law and each Multi-Power-Law model size, fit the paper's split
(cosine_24000, constant_24000, wsdcon_9) with a bootstrap, then measure on
the six held-out curves the fraction of observed points inside the band at
the given level, and the band's mean width (relative to the loss).

    python benchmarks/calibration.py [--laws momentum,multipower] [--level 0.9] [--boot 200]

Prints a Markdown table.  (The multipower rows take a few minutes: its
held-out refits and its band over 72k-step schedules are expensive.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from lrlaw.fitting import fit
from lrlaw.io import load_curves

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import FIT_RUNS as TRAIN, HELDOUT_RUNS as TEST  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--laws", default="momentum,multipower")
    ap.add_argument("--sizes", default="25m,100m")
    ap.add_argument("--level", type=float, default=0.9)
    ap.add_argument("--boot", type=int, default=200)
    args = ap.parse_args()
    sched = ROOT / "data" / "schedules.txt"
    print(
        f"| law | model | points inside the {100 * args.level:.0f} % band | runs' mean coverage "
        "| band width (mean over runs) | fit + bootstrap s |"
    )
    print("|---|---|---|---|---|---|")
    for law in args.laws.split(","):
        for size in args.sizes.split(","):
            folder = ROOT / "data" / "mpl" / size
            train = load_curves([folder / f"{n}.csv" for n in TRAIN], schedules_file=sched)
            test = load_curves([folder / f"{n}.csv" for n in TEST], schedules_file=sched)
            t0 = time.perf_counter()
            result = fit(train, law, bootstrap=args.boot, seed=0)
            seconds = time.perf_counter() - t0
            inside = total = 0
            per_run, widths = [], []
            for c in test:
                lo, hi = result.predict_band(c.lr, c.steps, args.level)
                hit = (c.loss >= lo) & (c.loss <= hi)
                inside += int(hit.sum())
                total += hit.size
                per_run.append(hit.mean())
                widths.append(np.mean((hi - lo) / c.loss))
            print(
                f"| {law} | {size} | {100 * inside / total:.1f} % | {100 * np.mean(per_run):.1f} % "
                f"| {100 * np.mean(widths):.2f} % | {seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
