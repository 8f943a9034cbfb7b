"""lrlaw benchmarks: fit time, area throughput, batched areas, CLI start-up.

Run from anywhere (paths are resolved from the repository root)::

    python benchmarks/bench.py            # full run, ~95 s on 2 shared cores
    python benchmarks/bench.py --quick    # fewer repeats, ~40 s

Prints one Markdown table (all figures from this one run) preceded by the
machine description.  Timing: ``time.perf_counter``; each measurement is
warmed up once and the median of ``n`` repeats is reported (``n`` is printed
next to every figure).  JAX results are ``block_until_ready``-ed inside the
timed region.

Sections:

1. Fit of the momentum law to the three Multi-Power-Law 100M curves
   (cosine_24000, constant_24000, wsdcon_9): ``lrlaw.fitting.fit`` (first call in a
   fresh process, i.e. including JIT compilation, and warm calls) against the
   plain numpy/scipy implementation in ``baseline_scipy.py`` (finite-difference
   L-BFGS-B at the plain Huber objective; and L-BFGS-B with the analytic gradient of
   lrlaw's own weighted objective from lrlaw's starts, rows 1g/1h).  Both objectives
   and the held-out mean PredE on the six other 100M curves are printed so that
   one can check that both reach the same optimum.
2. S1 + S2 of one schedule of T = 1e4, 1e5, 1e6 steps: lrlaw's jitted
   ``forward_area`` + ``annealing_area`` vs numpy (Python loop; ``lfilter``),
   in steps/s and as a fraction of a memory-bandwidth bound (the areas read
   8 B and write 16 B per step; bandwidth from a 400 MB ``np.copyto``).
3. 256 schedules of 24 000 steps: ``jax.vmap`` vs a Python loop over the
   jitted single-schedule function (and numpy ``lfilter`` on the 2-D array).
4. CLI: ``lrlaw --help`` and a full ``lrlaw fit`` in cold processes (with its
   defaults and with ``--bootstrap 0``, when the option exists).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# One OpenBLAS thread (set before numpy/scipy load OpenBLAS; inherited by the
# subprocesses).  Only scipy's L-BFGS-B (and lrlaw's tiny lstsq for its starts)
# call BLAS here.  On an idle machine it changes no wall time, but with the
# default two threads the second one spins: L-BFGS-B burns 2x the CPU time and,
# when another process shares the cores, slows down up to 10x.  This favours
# the baseline.  JAX/XLA does not use OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))  # the lrlaw of this checkout, not an installed one

import baseline_scipy as base  # noqa: E402

FIT_RUNS = ("cosine_24000", "constant_24000", "wsdcon_9")
HELDOUT_RUNS = (
    "constant_72000",
    "cosine_72000",
    "wsd_20000_24000",
    "wsdld_20000_24000",
    "wsdcon_3",
    "wsdcon_18",
)
MPL_DIR = ROOT / "data" / "mpl" / "100m"
SCHEDULES = ROOT / "data" / "schedules.txt"
LAM = 0.999
BYTES_PER_STEP = 24  # read lr (8 B), write S1 and S2 (8 B each), float64


# ----------------------------------------------------------------------------- helpers


def bench(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, int]:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), repeats


def bench_interleaved(
    fns: list[Callable[[], object]], repeats: int, warmup: int = 1
) -> tuple[list[dict[str, float]], int]:
    """Like :func:`bench` for several functions, run in turn in every repeat.

    Returns per function the median and minimum wall time and the median CPU
    time of this process (all threads) per call.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, w, c in zip(fns, wall, cpu):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            w.append(time.perf_counter() - t0)
            c.append(time.process_time() - c0)
    stats = [
        {"median": statistics.median(w), "min": min(w), "cpu": statistics.median(c)}
        for w, c in zip(wall, cpu)
    ]
    return stats, repeats


class CpuLoad:
    """CPU time used by *other* processes while the benchmark runs (from /proc/stat)."""

    def __init__(self) -> None:
        self.start = self._snap()

    @staticmethod
    def _snap() -> tuple[float, float, float, float]:
        tick = os.sysconf("SC_CLK_TCK")
        try:
            vals = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except (OSError, ValueError):
            vals = [0] * 8
        vals += [0] * (8 - len(vals))
        busy = (vals[0] + vals[1] + vals[2] + vals[5] + vals[6]) / tick
        steal = vals[7] / tick
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system
        return busy, steal, ours, time.perf_counter()

    def other_fraction(self) -> float:
        """Fraction of all CPUs used by other processes since construction."""
        b0, _, o0, w0 = self.start
        b1, _, o1, w1 = self._snap()
        cores = len(os.sched_getaffinity(0))
        return max(0.0, (b1 - b0) - (o1 - o0)) / (cores * (w1 - w0))

    def report(self) -> str:
        b0, s0, o0, w0 = self.start
        b1, s1, o1, w1 = self._snap()
        cores = len(os.sched_getaffinity(0))
        other = max(0.0, (b1 - b0) - (o1 - o0))
        return (
            f"other processes used {other:.1f} CPU-s of the {cores * (w1 - w0):.0f} available "
            f"({100 * other / (cores * (w1 - w0)):.0f} %) during the run; "
            f"hypervisor steal {s1 - s0:.1f} s; load average at the end "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_rate(x: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def cpuinfo() -> dict[str, str]:
    """The first value of each key in /proc/cpuinfo (empty where it cannot be read)."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            info.setdefault(key.strip(), val.strip())
    except OSError:
        pass
    return info


def machine() -> dict[str, str]:
    import jax
    import scipy

    info = cpuinfo()
    cpu = info.get("model name", "?")
    family, model = info.get("cpu family", ""), info.get("model", "")
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    import lrlaw

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        except OSError:
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "lrlaw")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "lrlaw": f"{lrlaw.__version__}, git {head}"
        + (" + uncommitted changes in lrlaw/" if dirty else ""),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": f"{cpu} (family {family}, model {model})" if family else cpu,
        "ram": ram,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": f"{jax.__version__} (jaxlib {jax.lib.__version__}, backend {jax.default_backend()})",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "(unset)"),
    }


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(self, *cells: object) -> None:
        self.rows.append(tuple(str(c) for c in cells))

    def render(self) -> str:
        head = ("#", "benchmark", "implementation", "result", "lrlaw speed-up", "n", "notes")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- 1. fit

# Run in a fresh interpreter: import, load, first fit (cold JIT), second fit.
# Compile time is attributed per jitted function with jax.monitoring.
_COLD_FIT = r"""
import json, sys, time, collections
t0 = time.perf_counter()
import jax.monitoring as mon
events = collections.defaultdict(float)
names = collections.defaultdict(float)
def listen(event, duration, **kw):
    if not event.startswith("/jax/core/compile/"):
        return
    name = kw.get("fun_name", "?")
    while name.startswith(("jit(", "pjit(")) and name.endswith(")"):
        name = name[name.index("(") + 1 : -1]
    kind = event.rsplit("/", 1)[-1].replace("_duration", "")
    events[kind] += duration
    names[name] += duration
mon.register_event_duration_secs_listener(listen)
from lrlaw.io import load_curves
from lrlaw.fitting import fit
curves = load_curves(sys.argv[1:-1], schedules_file=sys.argv[-1])
t1 = time.perf_counter()
r = fit(curves)
t2 = time.perf_counter()
fit(curves)
t3 = time.perf_counter()
print(json.dumps({"import_load": t1 - t0, "first": t2 - t1, "second": t3 - t2,
                  "objective": r.objective, "events": events, "names": names}))
"""


def cold_fit(files: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _COLD_FIT, *files, str(SCHEDULES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cold fit subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def prede(observed: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - observed) / observed))


#: L-BFGS-B tolerances at which the analytic-gradient baseline reaches lrlaw's optimum
#: (parameters within ~1e-9; scipy's defaults stop ~1e-6 away).
TIGHT = {"ftol": 1e-14, "gtol": 1e-12}


def analytic_inputs(curves: list) -> tuple[list, np.ndarray]:
    """What :func:`baseline_scipy.fit_analytic` needs to minimise lrlaw's own objective:
    per curve (lr, steps, loss, span weights, Huber thresholds) of lrlaw's fit window, and
    lrlaw's starts (natural parameters)."""
    from lrlaw.fitting.core import HUBER_DELTA, _Problem
    from lrlaw.fitting.weighting import despiked
    from lrlaw.laws import get_law

    law = get_law("momentum", lam=LAM)
    problem = _Problem.build(curves, law, None, HUBER_DELTA)
    starts = law.initial_guesses(problem.prepared, [despiked(y) for y in problem.losses])
    out = []
    fitted = [(c, m) for c, m in zip(curves, problem.masks) if m.any()]
    for i, (c, m) in enumerate(fitted):  # curve_of counts the curves with points
        idx = np.flatnonzero(problem.curve_of == i)
        out.append((c.lr, c.steps[m], c.loss[m], problem.weight[idx], problem.thresholds[idx]))
    return out, np.asarray(starts, dtype=np.float64)


def section_fit(table: Table, quick: bool) -> dict[str, float]:
    from lrlaw.fitting import fit
    from lrlaw.io import load_curves

    files = [str(MPL_DIR / f"{r}.csv") for r in FIT_RUNS]
    curves = load_curves(files, schedules_file=SCHEDULES)
    held = load_curves([str(MPL_DIR / f"{r}.csv") for r in HELDOUT_RUNS], schedules_file=SCHEDULES)
    data = [(c.lr, c.steps[c.window()], c.loss[c.window()]) for c in curves]
    n_points = sum(len(d[1]) for d in data)
    data_w, starts_w = analytic_inputs(curves)

    # (a) first call in fresh processes
    n_cold = 1 if quick else 3
    colds = [cold_fit(files) for _ in range(n_cold)]
    first = statistics.median(c["first"] for c in colds)
    c0 = min(colds, key=lambda c: abs(c["first"] - first))  # the median run, for the breakdown
    ev = c0["events"]

    backend = ev.get("backend_compile", 0.0)
    trace = sum(v for k, v in ev.items() if k != "backend_compile")
    by_name = sorted(c0["names"].items(), key=lambda kv: -kv[1])
    top = ", ".join(f"`{k}` {v:.2f} s" for k, v in by_name[:2])
    rest = sum(v for _, v in by_name[2:])
    breakdown = f"{top}, {len(by_name) - 2} other jitted ops {rest:.2f} s"

    # (b) warm calls in this process, interleaved with the baselines (areas
    # included in the timed call) so that load from other processes hits all alike
    result = fit(curves)
    n_rep = 5 if quick else 11
    load = CpuLoad()
    (st_l, st_b, st_f, st_a, st_t), n_warm = bench_interleaved(
        [
            lambda: fit(curves),
            lambda: base.fit(data, LAM, loop=True),
            lambda: base.fit(data, LAM, loop=False),
            lambda: base.fit_analytic(data_w, starts_w),
            lambda: base.fit_analytic(data_w, starts_w, **TIGHT),
        ],
        n_rep,
    )
    n_base = n_rep
    warm, b_loop, b_lf = st_l["median"], st_b["median"], st_f["median"]
    contention = load.other_fraction()

    def extra(st: dict[str, float]) -> str:
        return f"min {fmt_time(st['min'])}, CPU {fmt_time(st['cpu'])}/call"

    areas_loop, n_al = bench(
        lambda: [base.annealing_area_loop(lr) + base.forward_area(lr) for lr, _, _ in data], 5
    )
    bres = base.fit(data, LAM, loop=False)

    # same optimum?  Objectives, lrlaw's parameters under the baseline's objective,
    # and held-out PredE (steps after warmup) on the six other 100M curves.
    p_lr = np.array([result.params[k] for k in ("L0", "A", "alpha", "C")])
    s1 = np.concatenate([base.forward_area(lr)[s] for lr, s, _ in data])
    s2 = np.concatenate([base.annealing_area_lfilter(lr)[s] for lr, s, _ in data])
    logy = np.log(np.concatenate([y for _, _, y in data]))
    obj_lr_in_base = base.objective(p_lr, s1, s2, logy)
    pe_lr, pe_b = [], []
    for c in held:
        s, y = c.steps[c.window()], c.loss[c.window()]
        pe_lr.append(prede(y, result.predict(c, s)))
        ps1 = base.forward_area(c.lr)[s]
        ps2 = base.annealing_area_lfilter(c.lr)[s]
        pe_b.append(prede(y, base.predict(bres["params"], ps1, ps2)))
    pe_lr_m, pe_b_m = float(np.mean(pe_lr)), float(np.mean(pe_b))
    max_rel_param = float(np.max(np.abs(bres["params"] - p_lr) / np.abs(p_lr)))
    ares = [base.fit_analytic(data_w, starts_w), base.fit_analytic(data_w, starts_w, **TIGHT)]

    what = f"fit, 3 MPL-100M curves ({n_points} pts)"
    table.add(
        "1a",
        what + ", first call",
        "lrlaw `fit` in a fresh process",
        fmt_time(first),
        f"{b_loop / first:.2f}×",
        n_cold,
        f"incl. JIT: XLA compile {backend:.2f} s + trace/lower {trace:.2f} s "
        f"(by function, trace + lower + compile: {breakdown}); "
        f"import + load_curves {c0['import_load']:.2f} s "
        f"not included; 2nd call in that process {fmt_time(c0['second'])}",
    )
    table.add(
        "1b",
        what + ", warm",
        "lrlaw `fit`",
        fmt_time(warm),
        "1",
        n_warm,
        f"{extra(st_l)}; {result.n_starts} starts, Levenberg-Marquardt, the starts in turn "
        f"in one compiled loop; best start {result.num_steps} steps; includes per-curve "
        f"metrics; timed interleaved with 1c/1d/1g/1h while other processes used "
        f"{100 * contention:.0f} % of the CPUs",
    )
    table.add(
        "1c",
        what,
        "numpy/scipy, loop S2",
        fmt_time(b_loop),
        f"**{b_loop / warm:.1f}×**",
        n_base,
        f"{extra(st_b)}; min ratio {st_b['min'] / st_l['min']:.1f}×; "
        f"{bres['n_starts']} starts, L-BFGS-B with finite-difference gradients; "
        f"its areas (loop) take {fmt_time(areas_loop)} (n={n_al})",
    )
    table.add(
        "1d",
        what,
        "numpy/scipy, `lfilter` S2",
        fmt_time(b_lf),
        f"{b_lf / warm:.1f}×",
        n_base,
        f"{extra(st_f)}; same, vectorised areas",
    )
    for label, st, res, opts in (
        ("1g", st_a, ares[0], "scipy's default tolerances"),
        ("1h", st_t, ares[1], f"ftol={TIGHT['ftol']:g}, gtol={TIGHT['gtol']:g}"),
    ):
        rel_obj = (res["objective"] - result.objective) / result.objective
        rel_par = float(np.max(np.abs(res["params"] - p_lr) / np.abs(p_lr)))
        table.add(
            label,
            what + ", lrlaw's objective",
            "numpy/scipy, analytic gradient",
            fmt_time(st["median"]),
            f"**{st['median'] / warm:.2f}×** (CPU {st['cpu'] / st_l['cpu']:.2f}×)",
            n_warm,
            f"{extra(st)}; L-BFGS-B ({opts}), `jac=True` with the numpy gradient of "
            f"Σ w_i Huber_δi (`baseline_scipy.weighted_objective_grad`), from lrlaw's "
            f"{len(starts_w)} starts, weights and thresholds (given, not timed); "
            f"{res['nit']} iterations in all; objective {rel_obj:+.1e} rel. to lrlaw's, "
            f"max rel. param diff {rel_par:.1e}",
        )
    table.add(
        "1e",
        "objective Σ Huber(log L − log L̂)",
        "lrlaw / scipy",
        f"{result.objective:.10g} / {bres['objective']:.10g}",
        "",
        "",
        f"rel. diff {abs(result.objective - bres['objective']) / bres['objective']:.1e}; "
        f"lrlaw params under the scipy objective {obj_lr_in_base:.10g}; "
        f"max rel. param diff {max_rel_param:.1e}",
    )
    table.add(
        "1f",
        "held-out mean PredE, 6 other 100M curves",
        "lrlaw / scipy",
        f"{100 * pe_lr_m:.4f} % / {100 * pe_b_m:.4f} %",
        "",
        "",
        f"rel. diff {abs(pe_lr_m - pe_b_m) / pe_b_m:.1e}",
    )
    return {
        "fit_analytic_speedup": st_t["median"] / warm,
        "fit_analytic_cpu_speedup": st_t["cpu"] / st_l["cpu"],
        "fit_warm_speedup": b_loop / warm,
        "fit_min_speedup": st_b["min"] / st_l["min"],
        "fit_cpu_speedup": st_b["cpu"] / st_l["cpu"],
        "fit_first": first,
        "fit_warm": warm,
    }


# ----------------------------------------------------------------------------- 2./3. areas


def cosine_schedule(n: int, peak: float = 3e-4, final: float = 3e-5, warm_frac=0.01):
    """A cosine schedule with linear warmup, ``n`` per-step values."""
    t = np.arange(n, dtype=np.float64)
    w = max(1, int(warm_frac * (n - 1)))
    p = np.clip((t - w) / max(n - 1 - w, 1), 0, 1)
    lr = final + (peak - final) * 0.5 * (1 + np.cos(np.pi * p))
    return np.where(t < w, peak * t / w, lr)


def many_schedules(count: int, n: int, seed: int = 0) -> np.ndarray:
    """``count`` varied schedules (cosine / WSD / step) of ``n`` values each."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    out = np.empty((count, n))
    for k in range(count):
        peak, warm = rng.uniform(1e-4, 1e-3), int(rng.integers(100, 2000))
        final = peak * rng.uniform(0.0, 0.3)
        kind = k % 3
        if kind == 0:
            p = np.clip((t - warm) / (n - 1 - warm), 0, 1)
            lr = final + (peak - final) * 0.5 * (1 + np.cos(np.pi * p))
        elif kind == 1:
            d = int(rng.uniform(0.5, 0.95) * (n - 1))
            q = np.clip((t - d) / (n - 1 - d), 0, 1)
            lr = final + (peak - final) * (1 - q)
        else:
            lr = np.where(t < int(0.6 * n), peak, np.where(t < int(0.85 * n), 0.3 * peak, final))
        out[k] = np.where(t < warm, peak * t / warm, lr)
    return out


def bandwidth(quick: bool) -> tuple[float, int]:
    """Bytes moved per second (read + write) by ``np.copyto`` of a 400 MB float64 array."""
    src = np.ones(50_000_000)
    dst = np.empty_like(src)
    t, n = bench(lambda: np.copyto(dst, src), 3 if quick else 5)
    return 2 * src.nbytes / t, n


def batched(quick: bool) -> dict[str, float]:
    """Row 3's timings in this process: S1 + S2 of 256 schedules x 24 000 steps by
    ``jax.vmap`` of ``areas`` (one jitted call), a Python loop of the jitted one-schedule
    call, and numpy's 2-D ``lfilter``, interleaved (medians)."""
    import jax
    import jax.numpy as jnp

    from lrlaw.laws.areas import areas as lrlaw_areas

    count, n = 256, 24_001
    batch_np = many_schedules(count, n)
    batch = jnp.asarray(batch_np)
    rows = [jnp.asarray(r) for r in batch_np]
    vm = jax.jit(jax.vmap(lrlaw_areas))
    one = jax.jit(lrlaw_areas)

    def run_vmap():
        return jax.block_until_ready(vm(batch))

    def run_loop_jit():
        return jax.block_until_ready([one(r) for r in rows])

    def run_np():
        d = np.zeros_like(batch_np)
        d[:, 1:] = batch_np[:, :-1] - batch_np[:, 1:]
        s1 = np.zeros_like(batch_np)
        s1[:, 1:] = np.cumsum(batch_np[:, 1:], axis=1)
        return s1, np.cumsum(base.lfilter([1.0], [1.0, -LAM], d, axis=1), axis=1)

    _, v2 = run_vmap()
    _, l2 = run_loop_jit()[7]
    agree = float(np.max(np.abs(np.asarray(v2[7]) - np.asarray(l2))))
    reps = 5 if quick else 7
    (st_v, st_l, st_n), n_v = bench_interleaved([run_vmap, run_loop_jit, run_np], reps)
    return {
        "vmap": st_v["median"],
        "loop": st_l["median"],
        "numpy": st_n["median"],
        "n": n_v,
        "agree": agree,
    }


def batched_in_child(quick: bool, tune: bool) -> dict[str, float] | None:
    """:func:`batched` in a fresh process (``--batched-json``), with the command line's
    allocator setting when ``tune``; ``None`` where the child fails or glibc's
    ``mallopt`` is not there."""
    cmd = [sys.executable, os.path.abspath(__file__), "--batched-json"]
    cmd += ["--quick"] * quick + ["--tune-malloc"] * tune
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return res if res.get("tuned") or not tune else None


def section_areas(table: Table, quick: bool) -> dict[str, float]:
    import jax
    import jax.numpy as jnp

    from lrlaw import _native
    from lrlaw.laws.areas import areas as lrlaw_areas_eager

    def areas(lr):
        return lrlaw_areas_eager(lr, LAM)

    def areas_scan(lr):
        return lrlaw_areas_eager(lr, LAM, method="sequential")

    lrlaw_areas = jax.jit(areas)
    lrlaw_scan = jax.jit(areas_scan)
    kernel = "native C loop (XLA FFI)" if _native.available() else "`lax.scan` (no native kernel)"
    bw, n_bw = bandwidth(quick)
    bound = bw / BYTES_PER_STEP
    table.add(
        "2",
        "memory bandwidth",
        "`np.copyto`, 400 MB float64",
        f"{bw / 1e9:.1f} GB/s",
        "",
        n_bw,
        f"read + write bytes; bound for the areas = bandwidth / {BYTES_PER_STEP} B "
        f"= {fmt_rate(bound, 'steps/s')}",
    )
    out: dict[str, float] = {"bound": bound}

    with jax.enable_x64(True):
        for T in (10_000, 100_000, 1_000_000, 10_000_000):
            lr_np = cosine_schedule(T + 1)
            lr = jnp.asarray(lr_np)
            assert lr.dtype == jnp.float64

            def run_lrlaw(lr=lr):
                return jax.block_until_ready(lrlaw_areas(lr))

            def run_scan(lr=lr):
                return jax.block_until_ready(lrlaw_scan(lr))

            s1, s2 = run_lrlaw()
            ref2 = base.annealing_area_lfilter(lr_np)
            ref1 = base.forward_area(lr_np)
            # relative to the largest |value|: S2 crosses zero, so pointwise ratios blow up
            err = float(np.max(np.abs(np.asarray(s2) - ref2)) / np.max(np.abs(ref2)))
            err1 = float(np.max(np.abs(np.asarray(s1) - ref1)) / np.max(np.abs(ref1)))
            out["max_rel_err"] = max(out.get("max_rel_err", 0.0), err, err1)

            def run_lf(lr_np=lr_np):
                return base.forward_area(lr_np), base.annealing_area_lfilter(lr_np)

            def run_eager(lr_np=lr_np):
                return jax.block_until_ready(lrlaw_areas_eager(lr_np, LAM))

            # interleaved: one call of each per repeat, so load hits them alike
            reps = (5 if quick else 7) if T >= 10_000_000 else (5 if quick else 11)
            # sub-millisecond rows: warm each function 10 times, not once, so that the
            # timed calls of the Python paths (eager areas, lfilter's wrapper) run
            # CPython 3.11's specialised bytecode (it specialises after ~8 calls; the
            # first few eager calls at 1e4 take 2-3x the later ones)
            (st_j, st_lf, st_e, st_s), n_j = bench_interleaved(
                [run_lrlaw, run_lf, run_eager, run_scan], reps, warmup=10 if T <= 100_000 else 1
            )
            t_j, t_lf, t_e, t_s = st_j["median"], st_lf["median"], st_e["median"], st_s["median"]
            n_lf = n_j

            def run_loop(lr_np=lr_np):
                return base.forward_area(lr_np), base.annealing_area_loop(lr_np)

            loop_note = ""
            if T >= 1_000_000 and (quick or T > 1_000_000 or out["loop_1e5"] * 10 > 10):
                t_loop, n_loop = out["loop_1e5"] * T / 100_000, 0
                loop_note = f"extrapolated ×{T // 100_000} from T = 1e5; "
            else:
                reps = 5 if T <= 10_000 else (1 if quick or T >= 1_000_000 else 3)
                t_loop, n_loop = bench(run_loop, reps, warmup=1 if T <= 100_000 else 0)
            if T == 100_000:
                out["loop_1e5"] = t_loop
            label = f"S1+S2, one schedule, T = 1e{len(str(T)) - 1}"
            n = T + 1
            r_j, r_lf, r_loop = n / t_j, n / t_lf, n / t_loop
            table.add(
                "2",
                label,
                f"lrlaw jit `areas` ({kernel})",
                f"{fmt_rate(r_j, 'steps/s')} ({fmt_time(t_j)})",
                "1",
                n_j,
                f"{100 * r_j / bound:.1f} % of bandwidth bound; vs lfilter: max rel. err "
                f"S2 {err:.0e}, S1 {err1:.0e}",
            )
            table.add(
                "2",
                label,
                "lrlaw `areas` called eagerly (numpy in)",
                f"{fmt_rate(n / t_e, 'steps/s')} ({fmt_time(t_e)})",
                f"{t_e / t_j:.2f}× the jit call",
                n_j,
                f"{100 * n / t_e / bound:.1f} % of bound; the kernel on the numpy array, "
                "results handed to jax without a copy",
            )
            table.add(
                "2",
                label,
                "lrlaw jit `areas(method='sequential')` (`lax.scan`)",
                f"{fmt_rate(n / t_s, 'steps/s')} ({fmt_time(t_s)})",
                f"{t_s / t_j:.2f}×",
                n_j,
                f"{100 * n / t_s / bound:.1f} % of bound; the pure-JAX kernel (jvp/grad path)",
            )
            table.add(
                "2",
                label,
                "numpy `cumsum` + `lfilter`",
                f"{fmt_rate(r_lf, 'steps/s')} ({fmt_time(t_lf)})",
                f"{r_j / r_lf:.2f}×",
                n_lf,
                f"{100 * r_lf / bound:.1f} % of bound",
            )
            table.add(
                "2",
                label,
                "numpy `cumsum` + Python loop",
                f"{fmt_rate(r_loop, 'steps/s')} ({fmt_time(t_loop)})",
                f"{r_j / r_loop:.0f}×",
                n_loop or "–",
                f"{loop_note}{100 * r_loop / bound:.2f} % of bound",
            )
            out[f"areas_{T}"] = r_j
            out[f"areas_vs_numpy_{T}"] = r_j / r_lf
            out[f"eager_over_jit_{T}"] = t_e / t_j

        # 3. batched: 256 schedules x 24 000 steps, in this process (glibc's default
        # allocator, as a library user's) and in a child process with the allocator
        # setting of the command line (lrlaw._malloc.tune_malloc)
        count, n = 256, 24_001
        b = batched(quick)
        t_v, t_l, t_n, n_v, agree = b["vmap"], b["loop"], b["numpy"], b["n"], b["agree"]
        n_l = n_n = n_v
        tuned = batched_in_child(quick, tune=True)
        label = "S1+S2, 256 schedules × 24 000 steps"
        steps = count * n
        table.add(
            "3",
            label,
            "lrlaw `jax.vmap` (one jit)",
            f"{count / t_v:,.0f} schedules/s ({fmt_time(t_v)})",
            "1",
            n_v,
            f"{fmt_rate(steps / t_v, 'steps/s')}, {100 * steps / t_v / bound:.1f} % of bound",
        )
        table.add(
            "3",
            label,
            "lrlaw jit, Python loop over schedules",
            f"{count / t_l:,.0f} schedules/s ({fmt_time(t_l)})",
            f"{t_l / t_v:.2f}×",
            n_l,
            f"{fmt_rate(steps / t_l, 'steps/s')}, {100 * steps / t_l / bound:.1f} % of bound; "
            f"max |vmap − loop| = {agree:.0e}",
        )
        table.add(
            "3",
            label,
            "numpy `lfilter` on the 2-D array",
            f"{count / t_n:,.0f} schedules/s ({fmt_time(t_n)})",
            f"{t_n / t_v:.2f}×",
            n_n,
            f"{fmt_rate(steps / t_n, 'steps/s')}, {100 * steps / t_n / bound:.1f} % of bound",
        )
        if tuned is not None:
            tv, tl, tn = tuned["vmap"], tuned["loop"], tuned["numpy"]
            for impl, t, ratio in (
                ("lrlaw `jax.vmap`, the command line's allocator", tv, "1"),
                ("lrlaw jit loop, the command line's allocator", tl, f"{tl / tv:.2f}×"),
                ("numpy `lfilter`, the command line's allocator", tn, f"{tn / tv:.2f}×"),
            ):
                table.add(
                    "3t",
                    label,
                    impl,
                    f"{count / t:,.0f} schedules/s ({fmt_time(t)})",
                    ratio,
                    tuned["n"],
                    f"{100 * steps / t / bound:.1f} % of bound; a child process with "
                    "`lrlaw._malloc.tune_malloc()` (glibc's mmap/trim thresholds 256 MiB, "
                    "as `lrlaw` sets them): large outputs reused, not faulted in afresh",
                )
            out["vmap_over_loop_tuned"] = tl / tv
            out["vmap_vs_numpy_tuned"] = tn / tv
        out["vmap_over_loop"] = t_l / t_v
        out["vmap_vs_numpy"] = t_n / t_v
    return out


# ----------------------------------------------------------------------------- 4. CLI


def section_cli(table: Table, quick: bool) -> None:
    # The checkout's CLI (``python cli.py`` puts the repository first on sys.path), not
    # whatever ``lrlaw`` executable is installed: this measures the code in this tree.
    cmd = [sys.executable, str(ROOT / "cli.py")]

    def run(*args: str) -> None:
        out = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            raise RuntimeError(f"lrlaw {args[0]} failed:\n{out.stderr[-3000:]}")

    t_help, n_help = bench(lambda: run("--help"), 3 if quick else 5)
    table.add(
        "4",
        "CLI start-up",
        "`lrlaw --help`",
        fmt_time(t_help),
        "",
        n_help,
        "fresh process each time",
    )
    files = [str(MPL_DIR / f"{r}.csv") for r in FIT_RUNS]
    # fit -q needs --out (it refuses to compute a fit and throw it away)
    fit_out = Path(tempfile.mkdtemp(prefix="lrlaw-bench-")) / "fit.json"
    args = ("fit", *files, "--schedules", str(SCHEDULES), "-q", "--out", str(fit_out))
    # The OS file cache is already warm from section 1 (same imports, same files);
    # every process compiles anew (no persistent JAX compilation cache).
    variants = [(args, "defaults")]
    fit_help = subprocess.run([*cmd, "fit", "--help"], capture_output=True, text=True).stdout
    if "--bootstrap" in fit_help:
        variants = [
            (args, "defaults, i.e. incl. the default bootstrap"),
            ((*args, "--bootstrap", "0"), "no bootstrap: the same work as 1a"),
        ]
    for argv, what in variants:
        t_fit, n_fit = bench(lambda argv=argv: run(*argv), 1 if quick else 3, warmup=0)
        extra = " --bootstrap 0" if "--bootstrap" in argv else ""
        table.add(
            "4",
            "CLI fit, 3 MPL-100M curves",
            f"`lrlaw fit … --schedules data/schedules.txt -q --out FIT{extra}`",
            fmt_time(t_fit),
            "",
            n_fit,
            f"cold process: imports + load + JIT + fit; {what}",
        )


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (< 1 minute)")
    ap.add_argument(
        "--only",
        nargs="+",
        choices=("fit", "areas", "cli"),
        default=("fit", "areas", "cli"),
        help="run only these sections",
    )
    ap.add_argument("--batched-json", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tune-malloc", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.batched_json:  # row 3 in a child process (batched_in_child)
        import jax

        from lrlaw._malloc import tune_malloc

        tuned = tune_malloc() if args.tune_malloc else False
        with jax.enable_x64(True):
            print(json.dumps({**batched(args.quick), "tuned": tuned}))
        return

    t0 = time.perf_counter()
    load = CpuLoad()
    info = machine()
    info["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    table = Table()
    fit_out = section_fit(table, args.quick) if "fit" in args.only else {}
    area_out = section_areas(table, args.quick) if "areas" in args.only else {}
    if "cli" in args.only:
        section_cli(table, args.quick)
    total = time.perf_counter() - t0
    info["contention"] = load.report()

    print(f"## lrlaw benchmarks{' (--quick)' if args.quick else ''}\n")
    for k, v in info.items():
        print(f"- {k}: {v}")
    print(
        "\nMedian of n timed repeats after one warm-up (n = – : extrapolated). "
        "“lrlaw speed-up” = baseline time / lrlaw time in the same row group.\n"
    )
    print(table.render())
    ratios = []
    if fit_out:
        ratios.append(
            f"fit, numpy/scipy (loop) ÷ lrlaw warm = {fit_out['fit_warm_speedup']:.1f}× "
            f"(medians; minima {fit_out['fit_min_speedup']:.1f}×, CPU time "
            f"{fit_out['fit_cpu_speedup']:.1f}×); lrlaw first call ÷ warm = "
            f"{fit_out['fit_first'] / fit_out['fit_warm']:.0f}×"
        )
    if fit_out:
        ratios.append(
            f"numpy/scipy with the analytic gradient at lrlaw's objective (1h) ÷ lrlaw warm = "
            f"{fit_out['fit_analytic_speedup']:.2f}× (CPU time "
            f"{fit_out['fit_analytic_cpu_speedup']:.2f}×; issue 18.3 asks ≥ 2×)"
        )
    if area_out:
        ratios.append(
            "areas ÷ numpy `cumsum` + `lfilter`: "
            + ", ".join(
                f"{area_out[f'areas_vs_numpy_{T}']:.1f}× at 1e{len(str(T)) - 1}"
                for T in (10_000, 100_000, 1_000_000, 10_000_000)
            )
            + f"; at 1e6 {100 * area_out['areas_1000000'] / area_out['bound']:.1f} % of the "
            f"bandwidth bound; eager ÷ jit at 1e6 = {area_out['eager_over_jit_1000000']:.2f}×; "
            f"256 schedules: vmap {area_out['vmap_vs_numpy']:.1f}× the 2-D lfilter, loop ÷ vmap "
            f"= {area_out['vmap_over_loop']:.2f}×"
            + (
                f" (with the command line's allocator setting: vmap "
                f"{area_out['vmap_vs_numpy_tuned']:.1f}× the 2-D lfilter, loop ÷ vmap = "
                f"{area_out['vmap_over_loop_tuned']:.2f}×)"
                if "vmap_over_loop_tuned" in area_out
                else ""
            )
            + f"; max rel. error vs lfilter {area_out['max_rel_err']:.0e}"
        )
    if ratios:
        print("\nKey ratios: " + "; ".join(ratios) + ".")
    print(f"\nTotal benchmark time: {total:.0f} s")


if __name__ == "__main__":
    main()
