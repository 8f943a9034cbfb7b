"""Schedule optimisation time (``lrlaw.optimize``) for 24k- and 100k-step runs.

Run from anywhere::

    python benchmarks/bench_optimize.py          # ~2 min on 2 shared cores

For each law (the published Multi-Power-Law 100M parameters, and the momentum
law fitted to the MPL 100M curves cosine_24000 + constant_24000 + wsdcon_9)
and each run length T, it times

* ``family="free"``: the whole per-step schedule after warmup, Adam through
  ``jax.grad`` in one jitted ``while_loop`` that stops at convergence
  (default ``iters=10_000`` cap, ``tol=1e-7``);
* ``family="wsd"``: the vmapped grid (decay fraction x shape x final LR)
  plus the bounded scalar refinements.

"first" is the first call in this process (includes XLA compilation); "warm"
is a second identical call.  Also printed: Adam steps taken, the predicted
final loss and the gain over cosine (to peak/10) and WSD-20 %.  Peak 3e-4,
warmup 2160 steps (the MPL setting).
"""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from lrlaw.fitting import fit
from lrlaw.laws import MultiPowerLaw
from lrlaw.optimize import optimize

MPL_100M = np.array([2.651, 0.601, 0.453, 437.9, 2.132, 0.598, 0.655])
PEAK, WARMUP = 3e-4, 2160


def main() -> None:
    from mpl import MPL_TRAIN, mpl_curves

    momentum = fit(mpl_curves("100m", MPL_TRAIN), bootstrap=0)
    models = [
        ("multipower (published 100M)", MultiPowerLaw(), MPL_100M),
        ("momentum (fit, MPL 100M)", momentum, None),
    ]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print()
    print(
        "| law | T | family | first (s) | warm (s) | Adam steps | final loss "
        "| gain vs cosine | gain vs WSD-20% |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name, model, params in models:
        for total in (24_000, 100_000):
            for family in ("free", "wsd"):
                times = []
                for _ in range(2):
                    t0 = time.perf_counter()
                    res = optimize(model, total, PEAK, WARMUP, params=params, family=family)
                    times.append(time.perf_counter() - t0)
                steps = res.info.get("iters", "-")
                print(
                    f"| {name} | {total} | {family} | {times[0]:.1f} | {times[1]:.1f} | {steps} "
                    f"| {res.loss:.5f} | {res.gain_over_cosine:+.5f} | {res.gain_over_wsd:+.5f} |"
                )


if __name__ == "__main__":
    main()
