"""Multi-Power-Law fits with merged LR changes (the default) against the exact sum.

Run from anywhere (paths are resolved from the repository root)::

    python benchmarks/bench_merge.py           # MPL 100M split and the 124M pair, ~6 min
    python benchmarks/bench_merge.py --quick   # MPL 100M split only, ~1 min

A decay changes the LR at every step, and the multi-power law's loss-drop term
sums over every change.  ``MultiPowerLaw(merge_tol=0.2)`` (the default) merges
consecutive changes into blocks evaluated at their centroid;
``MultiPowerLaw(merge_tol=0)`` sums them exactly.  For each fit problem, both
laws are fitted with ``lrlaw.fitting.fit`` in one fresh ``python`` subprocess
each, twice (*cold*: the first call, JIT compilation included; *warm*: the
second, identical call), timed with ``time.perf_counter``.

Fit problems (curves with their exact schedules from ``data/schedules.txt``):

- ``mpl-100m``: the paper split of Luo et al. (2025): fit ``cosine_24000,
  constant_24000, wsdcon_9`` (24k steps), predict the six other runs.
- ``124m``: fit the 124M ``stable`` and ``cosine`` runs (50k steps, Schaipp et
  al. 2025), predict the three cooldowns.

Printed per problem and law: the number of LR changes evaluated (summed over
the fitted curves), cold and warm wall time, the objective, the held-out mean
PredE, and for the merged fit the largest relative difference between its
held-out predictions and those of the exact fit.  Ratios are exact / merged,
from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import FIT_RUNS, HELDOUT_RUNS, MPL_DIR, SCHEDULES  # noqa: E402

_CANON = ROOT / "data" / "schaipp-124m" / "canonical"
PROBLEMS = {
    "mpl-100m": (
        [MPL_DIR / f"{r}.csv" for r in FIT_RUNS],
        [MPL_DIR / f"{r}.csv" for r in HELDOUT_RUNS],
    ),
    "124m": (
        [_CANON / f"{r}.csv" for r in ("stable", "cosine")],
        [_CANON / f"{r}.csv" for r in ("wsd-0.2-linear", "wsd-0.2-sqrt", "wsd-0.994-linear")],
    ),
}

_CHILD = r"""
import json, sys, time
import numpy as np
from lrlaw.io import load_curves
from lrlaw.fitting import fit, predict_curve
from lrlaw.laws import MultiPowerLaw
spec = json.loads(sys.argv[1])
train = load_curves(spec["train"], schedules_file=spec["schedules"])
held = load_curves(spec["held"], schedules_file=spec["schedules"])
law = MultiPowerLaw(merge_tol=spec["merge_tol"])
changes = sum(int(np.count_nonzero(law.prepare(c.lr, c.steps)["d_k"])) for c in train)
t0 = time.perf_counter()
r = fit(train, law)
t1 = time.perf_counter()
r = fit(train, law)
t2 = time.perf_counter()
exact = MultiPowerLaw(merge_tol=0.0)
preds, prede = [], []
for c in held:
    m = c.window()
    p = predict_curve(exact, r.param_vector, c.lr, c.steps[m])
    preds.append(p.tolist())
    prede.append(float(np.mean(np.abs(c.loss[m] - p) / c.loss[m])))
print(json.dumps({"changes": changes, "cold": t1 - t0, "warm": t2 - t1,
                  "objective": r.objective, "params": r.param_vector.tolist(),
                  "prede": float(np.mean(prede)), "preds": preds}))
"""


def run(problem: str, merge_tol: float) -> dict:
    train, held = PROBLEMS[problem]
    spec = {
        "train": [str(p) for p in train],
        "held": [str(p) for p in held],
        "schedules": str(SCHEDULES),
        "merge_tol": merge_tol,
    }
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)], capture_output=True, text=True, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the MPL 100M split only")
    args = parser.parse_args()
    problems = ("mpl-100m",) if args.quick else ("mpl-100m", "124m")
    start = time.perf_counter()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    for problem in problems:
        res = {}
        for tol in (0.0, 0.2):
            print(f"[{problem}] merge_tol={tol} ...", file=sys.stderr, flush=True)
            res[tol] = run(problem, tol)
        exact, merged = res[0.0], res[0.2]
        diff = max(
            float(np.max(np.abs(np.array(a) - np.array(b)) / np.array(b)))
            for a, b in zip(merged["preds"], exact["preds"])
        )
        for tol, r in res.items():
            rows.append(
                [
                    problem,
                    f"merge_tol={tol}",
                    str(r["changes"]),
                    f"{r['cold']:.1f}",
                    f"{r['warm']:.1f}",
                    f"{r['objective']:.6e}",
                    f"{100 * r['prede']:.3f} %",
                    "—"
                    if tol == 0.0
                    else f"{exact['cold'] / r['cold']:.1f}× / {exact['warm'] / r['warm']:.1f}×",
                    "—" if tol == 0.0 else f"{diff:.1e}",
                ]
            )
    print("## Multi-power law: merged LR changes vs the exact sum\n")
    print(f"- cores: {len(os.sched_getaffinity(0))}; load average at start: {load}")
    print(f"- total benchmark time: {time.perf_counter() - start:.0f} s\n")
    head = (
        "problem",
        "law",
        "LR changes evaluated",
        "cold s",
        "warm s",
        "objective",
        "held-out PredE",
        "exact/merged (cold / warm)",
        "max rel. diff of held-out predictions",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
