"""How much the effective-LR law's relaxation clock ``q`` moves held-out predictions.

Run from anywhere (paths are resolved from the repository root)::

    python benchmarks/efflr_clock.py                    # ~15 min on 2 shared cores
    python benchmarks/efflr_clock.py --datasets 124m    # ~5 min

For every shipped dataset's ``split`` (as in ``crossval_laws.py``: MPL, fit
``cosine_24000``, ``constant_24000``, ``wsdcon_9``; 124M, fit ``stable`` and
``cosine``) and ``q`` in 0, 1/4, 1/2, 3/4, 1, ``EffectiveLRLaw(q=q)`` is

* cross-validated on the training runs alone (what ``--law auto`` can see:
  leave-one-curve-out on three runs, a joint forward split on two), and
* fitted on the training runs and scored on the held-out runs,

and the held-out runs are also scored with the mean of the ``q = 0, 1/2, 1``
predictions (an average over the clock).  ``q = 0`` relaxes the noise floor per
step (the momentum law's clock), ``q = 1`` per unit of LR area (SGD on a
quadratic).  Prints Markdown tables: mean PredE and final-loss error in %, and
the signed final-loss error (predicted minus observed, in % of the observed) of
every held-out run.  No bootstrap (bands play no part here).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import machine
from crossval_laws import DATASETS, _curves

QS = (0.0, 0.25, 0.5, 0.75, 1.0)
AVERAGED = (0.0, 0.5, 1.0)


def run(dataset: str) -> None:
    """Print the tables of one dataset's split."""
    from lrlaw.fitting import fit
    from lrlaw.fitting.crossval import cross_validate
    from lrlaw.laws import EffectiveLRLaw

    curves = _curves(dataset)
    train = DATASETS[dataset][2]
    fit_on = [c for c in curves if c.name in train]
    held = [c for c in curves if c.name not in train]
    rows, preds = [], {}
    for q in QS:
        start = time.perf_counter()
        law = EffectiveLRLaw(q=q)
        inner = cross_validate(fit_on, [law], bootstrap=0).summary()["efflr"]
        result = fit(fit_on, law, bootstrap=0)
        preds[q] = [np.asarray(result.predict(c.lr, c.steps[c.window(None)])) for c in held]
        rows.append((f"q = {q:g}", inner, preds[q], time.perf_counter() - start))
        print(f"  {dataset} q={q:g}: {rows[-1][3]:.0f} s", file=sys.stderr, flush=True)
    mean = [np.mean([preds[q][i] for q in AVERAGED], axis=0) for i in range(len(held))]
    rows.append(("mean over q = 0, 1/2, 1", None, mean, float("nan")))

    def rel(pred: np.ndarray, c: object) -> np.ndarray:
        obs = c.loss[c.window(None)]  # type: ignore[attr-defined]
        return (pred - obs) / obs

    print(f"\n## {dataset}: fit {', '.join(train)}; predict {', '.join(c.name for c in held)}\n")
    print(
        "| clock | inner CV PredE % | inner CV final % | held-out PredE % | held-out final % "
        "| fits, s |"
    )
    print("|---|---|---|---|---|---|")
    for label, inner, pred, seconds in rows:
        errs = [rel(p, c) for p, c in zip(pred, held)]
        prede = 100 * np.mean([np.mean(np.abs(e)) for e in errs])
        final = 100 * np.mean([abs(e[-1]) for e in errs])
        i_pe = "-" if inner is None else f"{100 * inner['prede']:.3f}"
        i_fe = "-" if inner is None else f"{100 * inner['final']:.3f}"
        secs = "-" if not np.isfinite(seconds) else f"{seconds:.0f}"
        print(f"| {label} | {i_pe} | {i_fe} | {prede:.3f} | {final:.3f} | {secs} |")
    print("\nSigned final-loss error, % (predicted minus observed):\n")
    print("| clock | " + " | ".join(c.name for c in held) + " |")
    print("|---|" + "---|" * len(held))
    for label, _, pred, _ in rows:
        cells = [f"{100 * rel(p, c)[-1]:+.3f}" for p, c in zip(pred, held)]
        print(f"| {label} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=None)
    args = ap.parse_args()
    print("# efflr_clock: held-out predictions of EffectiveLRLaw(q) for each relaxation clock\n")
    for key, value in machine().items():
        print(f"- {key}: {value}")
    start = time.perf_counter()
    for dataset in args.datasets or list(DATASETS):
        run(dataset)
    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
