"""Run every lrlaw benchmark in turn and print all their tables.

Run from anywhere (paths are resolved from the repository root)::

    python benchmarks/run_all.py            # ~12 min on 2 shared cores
    python benchmarks/run_all.py --quick    # the scripts' quick modes, ~7 min
    python benchmarks/run_all.py --only bench_predict bench_scale

Each script runs in its own ``python`` process (one after the other, so they do
not compete for the cores; ``PYTHONPATH`` starts with the repository, so they measure
this checkout), with ``--quick`` passed to those that have it
(``bench.py``, ``bench_predict.py``, ``bench_optimize.py``, ``bench_multipower.py``,
``bench_efflr.py``, ``bench_merge.py``).
``bench_scale.py`` (~20 s) has no quick mode and runs in full either way.
Each script's output (its machine header and Markdown tables) is printed
under a heading once it finishes, then a summary of wall times with the load
average after each script, then every script's "Key ratios" line in one list.  A script
that fails is reported with the end of its stderr; the others still run, and the exit status is 1.

Not run (too long): ``crossval_laws.py``, ``calibration.py`` and ``efflr_clock.py``; the footer
gives their commands.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: (script, what it measures, supports --quick)
SCRIPTS = (
    ("bench.py", "fit time, area throughput, batched areas, CLI start-up", True),
    ("bench_predict.py", "prediction throughput for many candidate schedules", True),
    ("bench_optimize.py", "schedule optimisation: L-BFGS vs scipy L-BFGS-B and Adam", True),
    ("bench_multipower.py", "multi-power law fit vs numpy/scipy", True),
    ("bench_efflr.py", "effective-LR law fit vs numpy/scipy", True),
    ("bench_merge.py", "multi-power law: merged LR changes vs the exact sum", True),
    ("bench_scale.py", "a 1M-step per-step log: load, clean, fit", False),
)
NOT_RUN = (
    ("crossval_laws.py", "cross-validated table of every law on every dataset", "--jobs 2"),
    ("calibration.py", "coverage of the bootstrap prediction bands", ""),
    ("efflr_clock.py", "effective-LR law: held-out errors for each relaxation clock q", ""),
)


def demote(text: str) -> str:
    """Markdown headings one level down, so each script's output nests under its heading."""
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick where a script has it")
    ap.add_argument(
        "--only",
        nargs="+",
        metavar="SCRIPT",
        choices=[s[0].removesuffix(".py") for s in SCRIPTS],
        help="run only these (names without .py)",
    )
    args = ap.parse_args()
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    # every script measures this checkout's lrlaw, whatever is installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    chosen = [s for s in SCRIPTS if not args.only or s[0].removesuffix(".py") in args.only]

    start = time.perf_counter()
    print(f"# lrlaw benchmarks: run_all.py{' --quick' if args.quick else ''}\n")
    print(f"- started: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    sys.stdout.flush()
    results = []
    for i, (script, what, has_quick) in enumerate(chosen, 1):
        cmd = [sys.executable, str(HERE / script)] + (
            ["--quick"] if args.quick and has_quick else []
        )
        shown = "python benchmarks/" + " ".join([script, *cmd[2:]])
        print(f"[{i}/{len(chosen)}] {shown} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        ok = proc.returncode == 0
        print(f"      {'done' if ok else 'FAILED'} in {seconds:.0f} s", file=sys.stderr, flush=True)
        print(f"\n## {i}. `{shown}`: {what}\n")
        if proc.stdout.strip():
            print(demote(proc.stdout.rstrip()))
        if not ok:
            tail = "\n".join(proc.stderr.rstrip().splitlines()[-30:])
            print(f"\n**FAILED** (exit status {proc.returncode}); end of its stderr:\n")
            print("```\n" + tail + "\n```")
        sys.stdout.flush()
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        keys = [ln.strip() for ln in proc.stdout.splitlines() if ln.startswith("Key ratios")]
        results.append((shown, seconds, ok, load, keys))

    print("\n## Summary\n")
    print("| script | wall time | status | load average at its end (1, 5, 15 min) |")
    print("|---|---:|---|---|")
    for shown, seconds, ok, load, _ in results:
        print(f"| `{shown}` | {seconds:.0f} s | {'ok' if ok else '**failed**'} | {load} |")
    print(f"| total | {time.perf_counter() - start:.0f} s | | |")
    keyed = [(shown, k) for shown, _, _, _, keys in results for k in keys]
    if keyed:
        print("\n## Key ratios (lrlaw against its baseline, from the tables above)\n")
        for shown, k in keyed:
            print(f"- `{shown}`: {k.removeprefix('Key ratios').lstrip(' :')}")
    print(f"\nLoad average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\nNot run here (too long; run them separately):\n")
    for script, what, extra in NOT_RUN:
        print(f"- `python benchmarks/{script}{' ' + extra if extra else ''}`: {what}")
    return 0 if all(r[2] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
