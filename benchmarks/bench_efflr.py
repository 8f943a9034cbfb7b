"""Fit time of the effective-LR law: lrlaw against a plain numpy/scipy implementation.

Run from anywhere (paths are resolved from the repository root)::

    python benchmarks/bench_efflr.py           # ~2 minutes on 2 cores
    python benchmarks/bench_efflr.py --quick   # fewer repeats, capped loop fit: ~50 s

Data: the three Multi-Power-Law 100M curves ``data/mpl/100m/{cosine_24000,
constant_24000,wsdcon_9}.csv`` with their exact schedules from
``data/schedules.txt`` (``lrlaw.io.load_curves(..., schedules_file=...)``),
fitted jointly on lrlaw's fit window (the steps at or after the end of
warmup, ``Curve.window()``); the baseline gets the same arrays (LR per step,
observed steps and losses in the window).  Held out: the six other 100M curves.

Before anything is timed, the baseline's prediction (both recurrences) is
checked against ``lrlaw.fitting.predict_curve`` for the same parameters (the
baseline's 8 starts, on all nine curves): max relative difference < 1e-10,
else the script stops.  The check is repeated for lrlaw's fitted parameters.

What is timed (``time.perf_counter``; the CPU time of the process, all
threads, is printed next to it):

- *lrlaw cold*: ``lrlaw.fitting.fit(curves, "efflr", bootstrap=0)``, the first
  call in a fresh ``python`` subprocess (JAX tracing and compilation included;
  import and loading the curves excluded and printed separately).
- *lrlaw warm*: the median of the next ``n`` identical calls in that subprocess.
- *scipy + numpy, vectorised recurrence*: ``baseline_efflr.fit(data,
  "vectorised")`` -- ``scipy.optimize.least_squares`` (trf, ``loss="huber"``,
  ``f_scale=1e-3``, finite differences, default tolerances) on the
  log-parameters from the baseline's own 8-point start grid, the noise floor
  by the closed form in log space (``np.logaddexp.accumulate``); median of
  ``n`` runs.
- *scipy + numpy, Python loop*: the same with the noise floor as an explicit
  Python loop over the steps (the straightforward version); median of ``n``
  runs, each capped (``--cap`` seconds).  A capped run is extrapolated to the
  number of objective evaluations the vectorised fit needed (same starts,
  predictions equal to ~1e-14) and marked so.

Both parameter vectors are scored with the same numpy functions
(``baseline_efflr.objective`` and ``.predict``), so the objectives and the
held-out mean PredE (mean over the six curves of mean |L - L_pred| / L on
their fit windows) are directly comparable.  ``time / lrlaw warm`` > 1: the
baseline is slower.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline_efflr as base  # noqa: E402
from bench import FIT_RUNS, HELDOUT_RUNS, MPL_DIR, SCHEDULES, CpuLoad, machine  # noqa: E402

AGREE = 1e-10  # max relative difference of the baseline's prediction from lrlaw's

# Fresh interpreter: import + load, first fit (cold JIT), then n warm fits.
_LRLAW = r"""
import json, sys, time
t0 = time.perf_counter()
from lrlaw.io import load_curves
from lrlaw.fitting import fit
n_warm = int(sys.argv[1])
curves = load_curves(sys.argv[2:-1], schedules_file=sys.argv[-1])
t1, c1 = time.perf_counter(), time.process_time()
r = fit(curves, "efflr", bootstrap=0)
t2, c2 = time.perf_counter(), time.process_time()
warm, cpu, same = [], [], True
for _ in range(n_warm):
    c3, t3 = time.process_time(), time.perf_counter()
    r2 = fit(curves, "efflr", bootstrap=0)
    warm.append(time.perf_counter() - t3)
    cpu.append(time.process_time() - c3)
    same = same and r2.params == r.params
print(json.dumps({
    "import_load": t1 - t0, "first": t2 - t1, "cpu_first": c2 - c1, "warm": warm,
    "cpu_warm": cpu, "same": same, "params": [r.params[k] for k in r.params],
    "objective": r.objective, "converged": r.converged, "num_steps": r.num_steps,
    "n_starts": r.n_starts, "n_near_best": r.n_near_best,
}))
"""


def run_lrlaw(files: list[str], n_warm: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _LRLAW, str(n_warm), *files, str(SCHEDULES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"lrlaw subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def agreement(param_sets: np.ndarray, curves) -> dict[str, float]:
    """Max relative difference of the baseline's predictions (both recurrences) from
    ``lrlaw.fitting.predict_curve`` over ``param_sets`` x ``curves``, on each curve's window."""
    from lrlaw.fitting import predict_curve
    from lrlaw.laws import get_law

    law = get_law("efflr")
    worst = {rec: 0.0 for rec in base.NOISE_FLOOR}
    for p in param_sets:
        for c in curves:
            steps = c.steps[c.window()]
            ref = predict_curve(law, p, c.lr, steps)
            for rec in worst:
                diff = np.max(np.abs(base.predict(p, c.lr, steps, rec) / ref - 1))
                worst[rec] = max(worst[rec], float(diff))
    return worst


def check_agreement(label: str, param_sets: np.ndarray, curves) -> str:
    worst = agreement(param_sets, curves)
    text = (
        f"{label}: max relative difference from lrlaw's predict_curve "
        f"{worst['loop']:.1e} (loop), {worst['vectorised']:.1e} (vectorised)"
    )
    print(text, file=sys.stderr, flush=True)
    assert max(worst.values()) < AGREE, f"baseline disagrees with lrlaw ({text})"
    return text


def timed_baseline(data, recurrence: str, repeats: int, cap: float | None) -> dict:
    """Median over ``repeats`` fits; stops repeating after a capped (unfinished) run."""
    walls, cpus, res = [], [], None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        res = base.fit(data, recurrence, deadline=None if cap is None else t0 + cap)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if not res["finished"]:
            break
    res["wall"], res["cpu"], res["n"] = (
        statistics.median(walls),
        statistics.median(cpus),
        len(walls),
    )
    res["walls"] = walls
    return res


def heldout_prede(params: np.ndarray, held) -> float:
    errs = [np.mean(np.abs(base.predict(params, lr, s, "vectorised") - y) / y) for lr, s, y in held]
    return float(np.mean(errs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, loop fit capped")
    parser.add_argument(
        "--cap",
        type=float,
        default=None,
        help="time cap per Python-loop baseline fit in s (default 90, --quick 15)",
    )
    args = parser.parse_args()
    cap = args.cap if args.cap is not None else (15.0 if args.quick else 90.0)
    n_lrlaw, n_vec, n_loop = (2, 1, 1) if args.quick else (3, 3, 3)

    from lrlaw.io import load_curves

    t_start = time.perf_counter()
    load = CpuLoad()
    info = machine()
    info["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    files = [str(MPL_DIR / f"{r}.csv") for r in FIT_RUNS]
    curves = load_curves(files, schedules_file=SCHEDULES)
    held_curves = load_curves(
        [str(MPL_DIR / f"{r}.csv") for r in HELDOUT_RUNS], schedules_file=SCHEDULES
    )
    data = [(c.lr, c.steps[c.window()], c.loss[c.window()]) for c in curves]
    held = [(c.lr, c.steps[c.window()], c.loss[c.window()]) for c in held_curves]
    n_points = sum(len(s) for _, s, _ in data)
    checks = [
        check_agreement("8 baseline starts x 9 curves", base.start_grid(data), curves + held_curves)
    ]

    print("lrlaw (fresh subprocess) ...", file=sys.stderr, flush=True)
    lr = run_lrlaw(files, n_lrlaw)
    p_lrlaw = np.asarray(lr["params"])
    checks.append(check_agreement("lrlaw's fit x 9 curves", p_lrlaw[None], curves + held_curves))
    warm = statistics.median(lr["warm"])

    print("scipy + numpy, vectorised recurrence ...", file=sys.stderr, flush=True)
    vec = timed_baseline(data, "vectorised", n_vec, None)
    print("scipy + numpy, Python loop ...", file=sys.stderr, flush=True)
    loop = timed_baseline(data, "loop", n_loop, cap)
    if not loop["finished"]:
        done = loop["n_eval"]
        loop["wall_est"] = loop["walls"][-1] * vec["n_eval"] / done
        loop["cpu_est"] = loop["cpu"] * vec["n_eval"] / done

    obj_lrlaw = base.objective(p_lrlaw, data)
    pe_lrlaw = heldout_prede(p_lrlaw, held)

    def cells(params: np.ndarray | None) -> list[str]:
        if params is None:
            return ["— (no start finished)", "—"]
        obj = base.objective(params, data)
        pe = pe_lrlaw if params is p_lrlaw else heldout_prede(params, held)
        return [f"{obj:.8e} ({obj / obj_lrlaw - 1:+.1e})", f"{100 * pe:.4f} %"]

    def runs_note(res: dict) -> str:
        runs = res["runs"]
        if not runs:
            return "no start finished"
        evals = "/".join(str(r["n_eval"]) for r in runs)
        status = sorted({r["message"].strip("`").split("`")[0] for r in runs})
        return (
            f"{len(runs)} of {res['n_starts']} starts finished; evaluations per start {evals} "
            f"({res['n_eval']} in all, finite differences included); stopped by "
            f"{', '.join(status)}"
        )

    rows = [
        [
            'lrlaw `fit(curves, "efflr", bootstrap=0)` cold (1st call, JIT incl.)',
            f"{lr['first']:.2f}",
            "1",
            f"{lr['cpu_first']:.1f}",
            *cells(p_lrlaw),
            f"{lr['first'] / warm:.2f}",
            f"{lr['n_starts']} starts in parallel (vmap), Levenberg-Marquardt; best: "
            f"{lr['num_steps']} steps, converged={lr['converged']}, {lr['n_near_best']} starts "
            f"within 1e-6 of the best; lrlaw's own objective {lr['objective']:.8e}; import + "
            f"load {lr['import_load']:.1f} s",
        ],
        [
            "lrlaw warm (same call again)",
            f"{warm:.2f}",
            str(len(lr["warm"])),
            f"{statistics.median(lr['cpu_warm']):.1f}",
            *cells(p_lrlaw),
            "1",
            "runs: "
            + ", ".join(f"{t:.2f}" for t in lr["warm"])
            + " s; "
            + ("same parameters as the cold call" if lr["same"] else "parameters differ!"),
        ],
        [
            "scipy `least_squares` + numpy, vectorised recurrence (`logaddexp.accumulate`)",
            f"{vec['wall']:.2f}",
            str(vec["n"]),
            f"{vec['cpu']:.1f}",
            *cells(vec["params"]),
            f"{vec['wall'] / warm:.2f}",
            runs_note(vec),
        ],
    ]
    if loop["finished"]:
        rows.append(
            [
                "scipy `least_squares` + numpy, Python loop over steps",
                f"{loop['wall']:.2f}",
                str(loop["n"]),
                f"{loop['cpu']:.1f}",
                *cells(loop["params"]),
                f"{loop['wall'] / warm:.2f}",
                runs_note(loop),
            ]
        )
    else:
        rows.append(
            [
                "scipy `least_squares` + numpy, Python loop over steps",
                f"**{loop['wall_est']:.1f} (extrapolated)**",
                "1",
                f"{loop['cpu_est']:.1f} (extrap.)",
                *cells(loop["params"]),
                f"{loop['wall_est'] / warm:.2f} (extrap.)",
                f"capped at {cap:.0f} s after {loop['n_eval']} objective evaluations "
                f"({loop['walls'][-1] / loop['n_eval'] * 1e3:.1f} ms each); extrapolated to the "
                f"{vec['n_eval']} evaluations of the vectorised fit; " + runs_note(loop),
            ]
        )
    total = time.perf_counter() - t_start
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info["contention"] = load.report()
    info["data"] = (
        f"{', '.join(FIT_RUNS)} (MPL 100M), {n_points} points after warmup; "
        f"held out: {', '.join(HELDOUT_RUNS)}"
    )
    info["agreement check"] = "; ".join(checks) + f" (required < {AGREE:g})"
    info["total benchmark time"] = f"{total:.0f} s"

    print(f"## Effective-LR law fit: lrlaw vs numpy/scipy{' (--quick)' if args.quick else ''}\n")
    for k, v in info.items():
        print(f"- {k}: {v}")
    print(
        "\nWall time: median of n runs. Objective: sum Huber(log L - log L_pred), "
        "delta = 1e-3, scored by the same numpy code for every fit (relative to lrlaw's).\n"
    )
    head = (
        "method",
        "wall s",
        "n",
        "CPU s",
        "objective (relative diff. from lrlaw)",
        "held-out mean PredE",
        "time / lrlaw warm",
        "notes",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    fits = [("lrlaw", p_lrlaw), ("scipy, vectorised", vec["params"])]
    if loop["params"] is not None:
        fits.append(("scipy, loop", loop["params"]))
    head = ("fit", *base.PARAM_NAMES, "objective")
    print("\nParameters:\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, p in fits:
        print(
            "| "
            + " | ".join([name, *(f"{v:.6g}" for v in p), f"{base.objective(p, data):.8e}"])
            + " |"
        )


if __name__ == "__main__":
    main()
