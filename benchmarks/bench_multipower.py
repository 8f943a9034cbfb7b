"""Fit time of the Multi-Power Law: lrlaw against a plain numpy/scipy implementation.

Run from anywhere (paths are resolved from the repository root)::

    python benchmarks/bench_multipower.py           # 25m and 100m: ~5 minutes on 2 cores
    python benchmarks/bench_multipower.py --quick   # 25m only: ~2.5 minutes

Data: the three Multi-Power-Law curves ``data/mpl/{size}/{cosine_24000,
constant_24000,wsdcon_9}.csv`` with their exact schedules from
``data/schedules.txt`` (``lrlaw.io.load_curves(..., schedules_file=...)``),
fitted jointly on the points after warmup.  Held out: the six other curves of
the same size.

What is timed (``time.perf_counter``, one measurement each; the CPU time of the
process, all threads, is printed next to it):

- *lrlaw cold*: ``lrlaw.fitting.fit(curves, "multipower")``, the first call in a
  fresh ``python`` subprocess (so it includes JAX's tracing and compilation;
  importing and loading the curves is excluded and printed separately).
- *lrlaw warm*: the second, identical call in that same subprocess.
- *scipy L-BFGS-B*: ``baseline_multipower.fit`` -- a numpy prediction (Python
  loop over observed steps, vectorised over all ``k <= t``), the same log-Huber
  objective (delta = 1e-3), ``scipy.optimize.minimize(method="L-BFGS-B")`` with
  bounds > 0, finite-difference gradients and scipy's *default* options, from
  the same six starts lrlaw uses (``MultiPowerLaw.initial_guesses`` on lrlaw's
  prepared problem, computed in the subprocess after the timed calls and not
  counted in either time); best kept.
- *scipy L-BFGS-B, tight*: the same from the one start the default run found
  best, with ``ftol=1e-15, gtol=1e-12`` and an iteration cap (``--tight-maxiter``,
  default 300; 0 skips this row), to show what it takes scipy to reach lrlaw's
  optimum.  Its notes give the time at which an objective evaluation first came
  within 0.1 % of lrlaw's objective.

Both parameter vectors are scored with the same numpy functions
(``baseline_multipower.objective`` and ``.predict``), so the objectives and the
held-out mean PredE (mean over the six curves of mean |L - L_pred| / L, steps
after warmup) are directly comparable.  Ratios are baseline time / lrlaw time.

OPENBLAS_NUM_THREADS=1 is set (as in ``bench.py``): only scipy's L-BFGS-B uses
BLAS here, and a second spinning OpenBLAS thread only slows it down when other
processes share the cores.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline_multipower as base  # noqa: E402
from bench import FIT_RUNS, HELDOUT_RUNS, SCHEDULES, cpuinfo  # noqa: E402

TARGET = 1e-3  # "reached lrlaw's optimum": objective within 0.1 % of lrlaw's

# Fresh interpreter: import + load, first fit (cold JIT), second fit (warm), then
# (untimed) lrlaw's starts for the baseline.
_LRLAW = r"""
import json, sys, time
t0 = time.perf_counter()
from lrlaw.io import load_curves
from lrlaw.fitting import fit
curves = load_curves(sys.argv[1:-1], schedules_file=sys.argv[-1])
t1, c1 = time.perf_counter(), time.process_time()
r = fit(curves, "multipower")
t2, c2 = time.perf_counter(), time.process_time()
r2 = fit(curves, "multipower")
t3, c3 = time.perf_counter(), time.process_time()
from lrlaw._x64 import x64
from lrlaw.fitting.core import _Problem
from lrlaw.laws import get_law
law = get_law("multipower")
with x64():
    problem = _Problem.build(curves, law, None)
    starts = law.initial_guesses(problem.prepared, problem.losses)
print(json.dumps({
    "import_load": t1 - t0, "first": t2 - t1, "second": t3 - t2,
    "cpu_first": c2 - c1, "cpu_second": c3 - c2,
    "params": r.param_vector.tolist(), "params2": r2.param_vector.tolist(),
    "objective": r.objective, "converged": r.converged, "num_steps": r.num_steps,
    "n_starts": r.n_starts, "n_near_best": r.n_near_best, "starts": starts.tolist(),
}))
"""


def run_lrlaw(files: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _LRLAW, *files, str(SCHEDULES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"lrlaw subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def heldout_prede(params: np.ndarray, held: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    errs = [np.mean(np.abs(base.predict(params, lr, s) - y) / y) for lr, s, y in held]
    return float(np.mean(errs))


def machine() -> dict[str, str]:
    cpu = cpuinfo().get("model name", "?")

    def version(pkg: str) -> str:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    import scipy

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": f"{version('jax')} (jaxlib {version('jaxlib')})",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "lrlaw": version("lrlaw"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "(unset)"),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def timed_baseline(data, starts, options=None) -> dict:
    history: list[tuple[float, float]] = []
    c0, t0 = time.process_time(), time.perf_counter()
    res = base.fit(data, starts, options=options, history=history)
    res["wall"], res["cpu"] = time.perf_counter() - t0, time.process_time() - c0
    res["history"] = [(t - t0, f) for t, f in history]
    return res


def first_within(history: list[tuple[float, float]], target: float) -> float | None:
    return next((t for t, f in history if f <= target), None)


def bench_size(size: str, args: argparse.Namespace) -> tuple[list[list[str]], list[str]]:
    from lrlaw.io import load_curves

    folder = ROOT / "data" / "mpl" / size
    files = [str(folder / f"{r}.csv") for r in FIT_RUNS]
    curves = load_curves(files, schedules_file=SCHEDULES)
    held_curves = load_curves(
        [str(folder / f"{r}.csv") for r in HELDOUT_RUNS], schedules_file=SCHEDULES
    )
    data = [(c.lr, c.steps[c.window()], c.loss[c.window()]) for c in curves]
    held = [(c.lr, c.steps[c.window()], c.loss[c.window()]) for c in held_curves]
    n_points = sum(len(s) for _, s, _ in data)
    print(f"[{size}] lrlaw (fresh subprocess) ...", file=sys.stderr, flush=True)
    lr = run_lrlaw(files)
    starts = np.asarray(lr["starts"])
    p_lrlaw = np.asarray(lr["params"])
    obj_lrlaw = base.objective(p_lrlaw, data)
    target = obj_lrlaw * (1 + TARGET)
    print(f"[{size}] scipy L-BFGS-B, default options ...", file=sys.stderr, flush=True)
    options = None if args.maxiter is None else {"maxiter": args.maxiter}
    b = timed_baseline(data, starts, options)
    tight = None
    if args.tight_maxiter > 0:
        print(f"[{size}] scipy L-BFGS-B, tight ...", file=sys.stderr, flush=True)
        best_start = int(np.argmin([r["objective"] for r in b["runs"]]))
        tight = timed_baseline(
            data,
            starts[best_start : best_start + 1],
            {"ftol": 1e-15, "gtol": 1e-12, "maxiter": args.tight_maxiter},
        )
        tight["start"] = best_start
    pe_lrlaw = heldout_prede(p_lrlaw, held)

    def row(method, wall, cpu, params, ratio, notes):
        obj = base.objective(params, data)
        pe = pe_lrlaw if params is p_lrlaw else heldout_prede(params, held)
        rel = f"{100 * (obj / obj_lrlaw - 1):+.2f} %"
        return [
            size,
            method,
            f"{wall:.1f}",
            f"{cpu:.1f}",
            f"{obj:.5e} ({rel})",
            f"{100 * pe:.3f} %",
            ratio,
            notes,
        ]

    def ratio(wall: float) -> str:
        return f"{wall / lr['second']:.2f}× / {wall / lr['first']:.2f}×"

    def runs_note(res: dict) -> str:
        its = "/".join(str(r["nit"]) for r in res["runs"])
        fev = sum(r["nfev"] for r in res["runs"])
        msgs = sorted({r["message"] for r in res["runs"]})
        reached = first_within(res["history"], target)
        when = (
            f"within 0.1 % of lrlaw's objective after {reached:.1f} s"
            if reached is not None
            else "never within 0.1 % of lrlaw's objective"
        )
        return f"iterations {its}, {fev} evaluations; {'; '.join(msgs)}; {when}"

    same = np.allclose(lr["params"], lr["params2"], rtol=1e-9)
    rows = [
        row(
            "lrlaw `fit` cold (1st call, JIT incl.)",
            lr["first"],
            lr["cpu_first"],
            p_lrlaw,
            "—",
            f"{lr['n_starts']} starts screened, best polished: {lr['num_steps']} LM steps, "
            f"converged={lr['converged']}; import + load {lr['import_load']:.1f} s",
        ),
        row(
            "lrlaw `fit` warm (2nd call)",
            lr["second"],
            lr["cpu_second"],
            p_lrlaw,
            "—",
            "same parameters as the cold call" if same else "parameters differ from cold call!",
        ),
        row(
            f"scipy L-BFGS-B, default options, {b['n_starts']} starts",
            b["wall"],
            b["cpu"],
            b["params"],
            ratio(b["wall"]),
            (f"maxiter={args.maxiter}; " if args.maxiter is not None else "") + runs_note(b),
        ),
    ]
    if tight is not None:
        rows.append(
            row(
                f"scipy L-BFGS-B, ftol=1e-15, gtol=1e-12, maxiter={args.tight_maxiter}, "
                f"1 start (#{tight['start'] + 1})",
                tight["wall"],
                tight["cpu"],
                tight["params"],
                ratio(tight["wall"]),
                runs_note(tight),
            )
        )
    fits = [("lrlaw", p_lrlaw), ("scipy default", b["params"])]
    if tight is not None:
        fits.append(("scipy tight", tight["params"]))
    params = [
        [size, name, *(f"{v:.5g}" for v in p), f"{base.objective(p, data):.5e}"] for name, p in fits
    ]
    params.append(
        [
            size,
            f"scipy default, objective per start ({n_points} points)",
            *([""] * len(base.PARAM_NAMES)),
            ", ".join(f"{r['objective']:.4e}" for r in b["runs"]),
        ]
    )
    return rows, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="25m curves only")
    parser.add_argument(
        "--maxiter", type=int, default=None, help="L-BFGS-B iteration cap (default run)"
    )
    parser.add_argument(
        "--tight-maxiter",
        type=int,
        default=300,
        help="iteration cap of the tight-tolerance scipy run (0: skip it)",
    )
    args = parser.parse_args()
    t_start = time.perf_counter()
    info = machine()
    sizes = ("25m",) if args.quick else ("25m", "100m")
    rows, params = [], []
    for size in sizes:
        r, p = bench_size(size, args)
        rows += r
        params += p
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info["total benchmark time"] = f"{time.perf_counter() - t_start:.0f} s"

    print("## Multi-Power-Law fit: lrlaw vs numpy/scipy\n")
    for k, v in info.items():
        print(f"- {k}: {v}")
    print()
    head = (
        "size",
        "method",
        "wall s",
        "CPU s",
        "objective (numpy; vs lrlaw)",
        "held-out mean PredE",
        "baseline/lrlaw (warm / cold)",
        "notes",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    head = ("size", "fit", *base.PARAM_NAMES, "objective")
    print("\nParameters:\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for p in params:
        print("| " + " | ".join(p) + " |")


if __name__ == "__main__":
    main()
