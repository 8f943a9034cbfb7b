"""Block length of the fit's moving-block bootstrap: Sokal's rule (lrlaw's) against the
standard automatic rule of Politis & White (2004) with the Patton-Politis-White (2009)
correction, both in ``lrlaw.fitting.uncertainty.block_length``.

Part 1, AR(1) series with a known optimum: for the MSE-optimal block of the moving-block
bootstrap variance of a mean, ``b* = (6 phi^2 / (1 - phi^2)^2)^(1/3) n^(1/3)``; median
and range over ``--seeds`` series.

Part 2, what the fit uses it for: the band calibration of ``benchmarks/calibration.py``
(momentum law, MPL paper split, ``--boot`` replicates) with each rule, and the block
lengths each rule gives the three fitted curves' residuals.

Run: ``PYTHONPATH=. python benchmarks/block_length_rules.py [--seeds 20] [--boot 200]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

import lrlaw.fitting.core
from lrlaw.fitting import fit
from lrlaw.fitting.uncertainty import block_length
from lrlaw.io import load_curves

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import FIT_RUNS as TRAIN, HELDOUT_RUNS as TEST  # noqa: E402

RULES = ("sokal", "politis-white")


def ar1(phi: float, n: int, seed: int) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal(n + 500)
    return lfilter([1.0], [1.0, -phi], e)[500:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--sizes", default="25m,100m")
    args = ap.parse_args()

    print("AR(1): block length, median [min, max] over", args.seeds, "series\n")
    print("| phi | n | b* (theory) | politis-white | sokal |")
    print("|---|---|---|---|---|")
    for phi, n in ((0.5, 1000), (0.5, 5000), (0.7, 10000), (0.9, 20000)):
        theory = (6 * phi**2 / (1 - phi**2) ** 2) ** (1 / 3) * n ** (1 / 3)
        cells = []
        for rule in ("politis-white", "sokal"):
            b = [block_length(ar1(phi, n, s), rule) for s in range(args.seeds)]
            cells.append(f"{np.median(b):.0f} [{min(b)}, {max(b)}]")
        print(f"| {phi} | {n} | {theory:.1f} | {cells[0]} | {cells[1]} |")

    sched = ROOT / "data" / "schedules.txt"
    print(f"\nmomentum law, {args.boot} replicates: held-out points inside the 90 % band\n")
    print("| model | rule | blocks (fitted curves) | points inside | band width |")
    print("|---|---|---|---|---|")
    original = lrlaw.fitting.core.block_length
    for size in args.sizes.split(","):
        folder = ROOT / "data" / "mpl" / size
        train = load_curves([folder / f"{n}.csv" for n in TRAIN], schedules_file=sched)
        test = load_curves([folder / f"{n}.csv" for n in TEST], schedules_file=sched)
        for rule in RULES:
            used: list[int] = []

            def rule_fn(r, rule=rule, used=used):
                used.append(original(r, rule))
                return used[-1]

            lrlaw.fitting.core.block_length = rule_fn
            try:
                result = fit(train, "momentum", bootstrap=args.boot, seed=0)
            finally:
                lrlaw.fitting.core.block_length = original
            inside = total = 0
            widths = []
            for c in test:
                lo, hi = result.predict_band(c.lr, c.steps, 0.9)
                hit = (c.loss >= lo) & (c.loss <= hi)
                inside, total = inside + int(hit.sum()), total + hit.size
                widths.append(np.mean((hi - lo) / c.loss))
            blocks = ", ".join(map(str, used[: len(train)]))
            print(
                f"| {size} | {rule} | {blocks} | {100 * inside / total:.1f} % "
                f"| {100 * np.mean(widths):.2f} % |"
            )


if __name__ == "__main__":
    main()
