"""Default ``lrlaw fit`` end to end in fresh processes: cold and warm XLA cache.

Issue 16.5 / 18.2.  Runs the command line as a new user would, with the default
options (bands included), in a fresh Python process each time:

* ``momentum``: the quick start's three MPL 100M curves (``--law`` default);
* ``efflr``: three 50k-step 124M runs (stable, cosine, wsd-0.2-linear), ``--law efflr``;
* ``auto``: the same three runs, ``--law auto`` (cross-validates the laws, then fits the
  chosen or combined ones with their default bands);

each with an empty persistent XLA cache (``XDG_CACHE_HOME`` pointed at a new
temporary directory: "cold") and again with the cache that run wrote ("warm"),
plus ``lrlaw --help``.  Prints wall and CPU time (user + sys of the child) per
row, the median of ``--repeats`` runs, and the load average (2 shared cores:
compare rows of one run only)::

    PYTHONPATH=. python benchmarks/bench_defaults.py [--repeats 3] [--laws momentum efflr auto]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEDULES = ROOT / "data" / "schedules.txt"
CASES = {
    "momentum": (
        [
            ROOT / "data" / "mpl" / "100m" / f"{n}.csv"
            for n in ("cosine_24000", "constant_24000", "wsdcon_9")
        ],
        [],
    ),
    "efflr": (
        [
            ROOT / "data" / "schaipp-124m" / "canonical" / f"{n}.csv"
            for n in ("stable", "cosine", "wsd-0.2-linear")
        ],
        ["--law", "efflr"],
    ),
    "auto": (
        [
            ROOT / "data" / "schaipp-124m" / "canonical" / f"{n}.csv"
            for n in ("stable", "cosine", "wsd-0.2-linear")
        ],
        ["--law", "auto"],
    ),
}


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and child CPU time (user + sys) of ``python cli.py ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--laws", nargs="+", default=["momentum", "efflr"], choices=list(CASES))
    opts = parser.parse_args()
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fit.json"
        for law in opts.laws:
            files, extra = CASES[law]
            args = ["fit", *map(str, files), "--schedules", str(SCHEDULES), *extra]
            args += ["--out", str(out)]
            cold, warm = [], []
            for i in range(opts.repeats):
                env = dict(os.environ, XDG_CACHE_HOME=str(Path(tmp) / f"cache-{law}-{i}"))
                env.pop("LRLAW_NO_XLA_CACHE", None)
                cold.append(timed(args, env))
                warm.append(timed(args, env))
            for label, runs in (("cold cache", cold), ("warm cache", warm)):
                rows.append(
                    (
                        f"`lrlaw fit` {law}, 3 curves, defaults, {label}",
                        statistics.median(w for w, _ in runs),
                        statistics.median(c for _, c in runs),
                    )
                )
        helps = [timed(["--help"], dict(os.environ)) for _ in range(max(3, opts.repeats))]
        rows.append(
            (
                "`lrlaw --help`",
                statistics.median(w for w, _ in helps),
                statistics.median(c for _, c in helps),
            )
        )
    load1 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at start {load0}, at end {load1}; median of {opts.repeats} runs")
    print()
    print("| command | wall s | CPU s |")
    print("|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
