"""How --law auto's selection rules compare, on the same cross-validation folds.

For each cell of ``bench_logging.py`` (dataset x logging row) this records, once, the
cross-validation folds of the momentum and effective-LR laws (held-out steps, observed
and predicted losses) under both schemes for two runs (the joint forward split used
until issue 16 and leave-one-tail-out, the default since), and each law's fit to all
the training runs with its predictions of the clean held-out runs.  Then it applies
every selection rule to the same folds and prints, per rule, the cells where auto's
final-loss error on the held-out runs is within 5 % of the better single law's (the
issue's criterion (c)), and the mean and worst ratio to it.

The rules are :func:`lrlaw.fitting.crossval.select_laws` itself with each score
(``mse``, ``final``, ``end``); the prediction of a combination is the weighted mean
of the members' predictions, as in :mod:`lrlaw.fitting.ensemble`.  No bootstrap.

    PYTHONPATH=. python benchmarks/auto_rules.py --record /tmp/auto_rules.jsonl   # ~20 min, 2 cores
    PYTHONPATH=. python benchmarks/auto_rules.py --record /tmp/r.jsonl --datasets 124m --rows clean
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_logging as bl

LAWS = ("momentum", "efflr")
ROWS = (
    "clean",
    "every1",
    "g1%-every10",
    "g1%-every100",
    "g2%-every10",
    "t3-1%-every1",
    "transient",
    "gaps",
    "no-warmup",
)


def _points(fold) -> list[dict]:
    return [
        {
            "name": p["name"],
            "steps": p["steps"].tolist(),
            "observed": p["observed"].tolist(),
            "pred": np.asarray(p["pred"]).tolist(),
        }
        for p in fold.points
    ]


def record_cell(dataset: str, row: str) -> dict:
    """The folds of both schemes and the full fits' held-out predictions of one cell."""
    from lrlaw.fitting.core import fit
    from lrlaw.fitting.crossval import _fold, _forward_split, cross_validate
    from lrlaw.io import load_curves
    from lrlaw.laws import get_law

    t0 = time.perf_counter()
    src, _, held = bl.DATASETS[dataset]
    warm = bl.spec_warmups()
    laws = [get_law(n) for n in LAWS]
    out: dict = {"dataset": dataset, "row": row, "cv": {}, "full": {}}
    with tempfile.TemporaryDirectory() as tmp:
        curves = load_curves(
            bl.make_logs(dataset, bl.ROWS[row], Path(tmp)), schedules_file=bl.SCHEDULES
        )
        cv = cross_validate(curves, laws, bootstrap=0)
        out["cv"][cv.scheme] = {
            n: [p for f in cv.folds if f.law == n for p in _points(f)] for n in LAWS
        }
        if len(curves) == 2:  # the joint forward split, auto's scheme for two runs until issue 16
            split = [_forward_split(c, None) for c in curves]
            heads, held_parts = [h for h, _ in split], [(c, m) for c, (_, m) in zip(curves, split)]
            out["cv"]["forward split"] = {
                law.name: _points(_fold(law, law.name, heads, held_parts, None, 0, 0, 0.9))
                for law in laws
            }
        hcurves = load_curves([src / f"{r}.csv" for r in held], schedules_file=bl.SCHEDULES)
        for law in laws:
            res = fit(curves, law, bootstrap=0)
            per = {}
            for run, hc in zip(held, hcurves):
                steps, loss, _, _ = bl.read_shipped(src / f"{run}.csv")
                m = steps >= bl.score_start(run, int(steps[-1]), warm)
                per[run] = {
                    "y": float(loss[m][-1]),
                    "pred": float(np.asarray(res.predict(hc.lr, steps[m]))[-1]),
                }
            out["full"][law.name] = per
    out["seconds"] = time.perf_counter() - t0
    return out


def _crossval(scheme: str, per_law: dict):
    from lrlaw.fitting.crossval import CrossValidation, Fold, _end_error, _mse
    from lrlaw.fitting.metrics import curve_metrics

    folds = []
    for law, pts in per_law.items():
        for p in pts:
            q = {k: np.asarray(v) if k != "name" else v for k, v in p.items()}
            m = curve_metrics(q["observed"], q["pred"]) | {"mse": _mse(q), "end": _end_error(q)}
            folds.append(Fold(law, (), ({"name": p["name"], "metrics": m},), {}, 0.0, points=(q,)))
    return CrossValidation(scheme, tuple(per_law), tuple(folds), 0.9)


def final_error(cell: dict, weights: dict[str, float]) -> float:
    """Mean over the held-out runs of |sum_k w_k yhat_k - y| / y at the last scored step."""
    runs = cell["full"][LAWS[0]]
    return float(
        np.mean(
            [
                abs(
                    sum(w * cell["full"][law][r]["pred"] for law, w in weights.items())
                    - runs[r]["y"]
                )
                / runs[r]["y"]
                for r in runs
            ]
        )
    )


def _variant(sel: dict, rule: str) -> dict[str, float]:
    """The weights of ``select_laws``'s result ``sel`` under one of main's variants."""
    from lrlaw.fitting.crossval import SELECTION_METRICS

    if rule in SELECTION_METRICS or sel["separated"]:
        return sel["weights"]
    if rule == "lowest mean score alone":
        return {min(sel["mean"], key=sel["mean"].get): 1.0}
    equal = 1.0 / len(LAWS)
    if rule == "equal weights unless separated":
        return dict.fromkeys(LAWS, equal)
    return {law: 0.5 * sel["stacked"].get(law, 0.0) + 0.5 * equal for law in LAWS}


def main(argv=None) -> int:
    from lrlaw.fitting.crossval import select_laws

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--record", type=Path, required=True, help="JSONL of recorded cells (appended; reused)"
    )
    ap.add_argument("--datasets", nargs="+", default=list(bl.DATASETS))
    ap.add_argument("--rows", nargs="+", default=list(ROWS))
    args = ap.parse_args(argv)
    cells = {}
    if args.record.exists():
        for line in args.record.read_text().splitlines():
            c = json.loads(line)
            cells[(c["dataset"], c["row"])] = c
    for ds in args.datasets:
        for row in args.rows:
            if (
                row == "no-warmup" and ds != "124m"
            ):  # the MPL logs start after warmup: = g1%-every10
                continue
            if (ds, row) not in cells:
                cells[(ds, row)] = c = record_cell(ds, row)
                with args.record.open("a") as fh:
                    fh.write(json.dumps(c) + "\n")
                print(f"  recorded {ds} {row} in {c['seconds']:.0f} s", file=sys.stderr, flush=True)
    chosen = [cells[k] for k in cells if k[0] in args.datasets and k[1] in args.rows]
    rules = [("momentum alone", None, None), ("efflr alone", None, None)]
    rules += [
        (f"auto, {m} score", s, m)
        for s in ("forward split", "leave-one-tail-out")
        for m in ("mse", "final", "end")
    ]
    # Variants of the default (end score, leave-one-tail-out) that combine differently
    # when the laws are not separated: equal weights (the "forecast combination puzzle":
    # equal weights often beat estimated ones; Smith & Wallis 2009), stacking weights
    # shrunk halfway to equal, or the lowest mean score alone.
    variants = ("equal weights unless separated", "stacking shrunk 50 % to equal")
    variants += ("lowest mean score alone",)
    rules += [(f"auto, end score, {v}", "leave-one-tail-out", v) for v in variants]
    print("| rule | two runs | cells within 5 % | mean ratio | worst ratio |")
    print("|---|---|---|---|---|")
    for name, scheme, metric in rules:
        ratios = []
        for c in chosen:
            best = min(final_error(c, {law: 1.0}) for law in LAWS)
            if metric is None:
                w = {name.split()[0]: 1.0}
            else:
                key = scheme if scheme in c["cv"] else next(iter(c["cv"]))
                score = metric if metric in ("mse", "final", "end") else "end"
                sel = select_laws(_crossval(key, c["cv"][key]), score)
                w = _variant(sel, metric)
            ratios.append(final_error(c, w) / best)
        r = np.asarray(ratios)
        ok = int(np.sum(r <= 1.05))
        print(f"| {name} | {scheme or ''} | {ok} / {r.size} | {r.mean():.3f} | {r.max():.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
