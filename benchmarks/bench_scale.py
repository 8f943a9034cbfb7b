"""Scale: a per-step training log of 1M steps loads, cleans and fits in a measured time.

Run from anywhere::

    python benchmarks/bench_scale.py               # 1 000 000 steps (~1 min)
    python benchmarks/bench_scale.py --steps 200000

The script writes one synthetic per-step log (CSV, one row per step:
``step, train/loss, lr``) in a temporary folder: a cosine schedule with a
1000-step linear warmup (peak 1e-3, final 1e-5), the loss from the momentum
law (L0 = 2.8, A = 0.6, alpha = 0.45, C = 0.4, lambda = 0.999) plus Gaussian
noise (sd 0.05, a noisy per-step training loss), every 1000th loss NaN (a
diverged step) and 2000 steps logged twice (a resumed run).  Then, each in a
**fresh Python process** so that the peak memory belongs to that step alone:

1. ``load``: ``lrlaw.io.load_curves`` -- read (pyarrow for large CSVs),
   clean (repeated steps: the last wins; NaN dropped), resample the loss to
   the default 1000 points; the LR is kept at every step (1M values).
2. ``load + fit``: the same, then ``lrlaw.fitting.fit`` (momentum law, no
   bootstrap; the first call includes JIT compilation), then a second, warm
   ``fit`` of the same curve.
3. ``cli``: ``lrlaw fit LOG --bootstrap 0 -q --out FIT`` end to end.

Timing is ``time.perf_counter`` inside the child (one run each: the work is
seconds long; rerun for variance).  Peak memory is the child's peak resident
set size (``ru_maxrss``), printed together with its RSS right after the
imports, so that the increase is what loading and fitting cost.  Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the lrlaw of this checkout (the children run in ROOT too)
TRUTH = {"L0": 2.8, "A": 0.6, "alpha": 0.45, "C": 0.4}

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
from lrlaw.io import load_curves
from lrlaw.fitting import fit
import jax
t_import = time.perf_counter() - t0
def rss_mib():
    # current RSS from /proc (Linux); ru_maxrss is the peak
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20
out = {"import_s": t_import, "rss_after_import_mib": rss_mib()}
path, mode = sys.argv[1], sys.argv[2]
t = time.perf_counter()
(curve,) = load_curves([path])
out["load_s"] = time.perf_counter() - t
out["points"] = int(curve.steps.size)
out["lr_steps"] = int(curve.lr.size)
out["summary"] = curve.meta["summary"]
if mode == "fit":
    t = time.perf_counter()
    result = fit([curve])
    out["fit_cold_s"] = time.perf_counter() - t
    t = time.perf_counter()
    result = fit([curve])
    out["fit_warm_s"] = time.perf_counter() - t
    out["params"] = result.params
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def write_log(path: Path, steps: int, seed: int = 0) -> float:
    """Write the synthetic per-step log; return the seconds it took."""
    import jax

    jax.config.update("jax_enable_x64", True)  # this script's own process only
    from lrlaw.fitting import predict_curve
    from lrlaw.laws import get_law

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    t = np.arange(steps + 1)
    warm = 1000
    p = np.clip((t - warm) / (steps - warm), 0, 1)
    lr = np.where(t < warm, 1e-3 * t / warm, 1e-5 + (1e-3 - 1e-5) * (1 + np.cos(np.pi * p)) / 2)
    params = np.array([TRUTH[k] for k in ("L0", "A", "alpha", "C")])
    loss = np.empty(steps + 1)
    loss[0] = np.nan
    loss[1:] = predict_curve(get_law("momentum"), params, lr, t[1:])
    loss[1:] += rng.normal(scale=0.05, size=steps)
    loss[::1000] = np.nan  # diverged steps
    # a resumed run: the 2000 steps before the middle are logged again (slightly different)
    mid = steps // 2
    again = np.arange(mid - 2000, mid)
    order = np.concatenate([t[:mid], again, t[mid:]])
    values = loss[order]
    values[mid : mid + again.size] += rng.normal(scale=0.05, size=again.size)
    import pandas as pd

    frame = pd.DataFrame({"step": order, "train/loss": values, "lr": lr[order]})
    frame.to_csv(path, index=False, float_format="%.10g", na_rep="nan")
    return time.perf_counter() - t0


def child(path: Path, mode: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# An exit handler, not ``finally``: ``lrlaw.cli.run`` runs the exit handlers, flushes and
# then ends the process with ``os._exit``, so a ``finally`` after it never runs.
CLI = r"""
import atexit, resource, runpy, sys
atexit.register(
    lambda: print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)
)
sys.argv = ["lrlaw", *sys.argv[1:]]
runpy.run_path("cli.py", run_name="__main__")
"""


def cli(path: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``lrlaw fit`` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CLI, "fit", str(path), "--bootstrap", "0", "-q", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(proc.stderr)
    return wall, float(proc.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    args = parser.parse_args()
    load1 = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "per_step.csv"
        write_s = write_log(log, args.steps)
        size = log.stat().st_size / 2**20
        load = child(log, "load")
        full = child(log, "fit")
        cli_s, cli_rss = cli(log, Path(folder) / "fit.json")
    got = full["params"]
    err = max(abs(got[k] - v) / v for k, v in TRUTH.items())
    print(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    machine = f"{platform.platform()}, {os.cpu_count()} CPUs"
    print(f"- machine: {machine}, python {platform.python_version()}")
    print(f"- load average before / after: {load1[0]:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"- log: {args.steps:,} steps, {size:.1f} MiB CSV (written in {write_s:.1f} s)")
    print(f"- read summary: {load['summary'].split(': ', 1)[1]}")
    print()
    print("| step (fresh process each row) | wall time | peak RSS | RSS after imports |")
    print("|---|---|---|---|")
    rss0 = load["rss_after_import_mib"]
    print(f"| import lrlaw, pandas, jax | {load['import_s']:.2f} s | | {rss0:.0f} MiB |")
    print(
        f"| `load_curves`: read + clean + resample ({args.steps:,} rows -> {load['points']} "
        f"points; lr at {load['lr_steps']:,} steps) | {load['load_s']:.2f} s "
        f"| {load['peak_rss_mib']:.0f} MiB | {load['rss_after_import_mib']:.0f} MiB |"
    )
    print(
        f"| `load_curves` + `fit` (momentum, no bootstrap, cold JIT) | "
        f"{full['load_s']:.2f} + {full['fit_cold_s']:.2f} s | {full['peak_rss_mib']:.0f} MiB "
        f"| {full['rss_after_import_mib']:.0f} MiB |"
    )
    print(f"| second `fit` of the same curve (warm) | {full['fit_warm_s']:.2f} s | | |")
    print(f"| `lrlaw fit LOG --bootstrap 0 -q` end to end | {cli_s:.2f} s | {cli_rss:.0f} MiB | |")
    print()
    fitted = ", ".join(f"{k} = {got[k]:.4g}" for k in TRUTH)
    print(f"Fitted {fitted} (true {TRUTH}); max relative error {err:.2%}.")


if __name__ == "__main__":
    main()
