"""Prediction throughput for many candidate schedules: vmapped lrlaw vs one at a time vs numpy.

Run from anywhere (paths are resolved from the repository root)::

    python benchmarks/bench_predict.py            # full run, ~1 min on 2 shared cores
    python benchmarks/bench_predict.py --quick    # fewer repeats, N = 16 and 256 only, ~35 s
    (section (c) adds 1,000 schedules of 100k steps; 250 with --quick)

Prints one Markdown table preceded by the machine description (as ``bench.py``).

Candidates: N = 16, 256, 1024 schedules of T = 24 000 steps (24 001 values
``eta_0 .. eta_T``), built with :mod:`lrlaw.schedules` and stacked: in turn a
cosine to a random final LR, a WSD (random decay fraction 5-50 %, random decay
shape, random final LR) and a three-level multistep decay, each with a random
peak in [1.5e-4, 6e-4] and a linear warmup of 100-2500 steps.

(a) Final loss ``L(T)`` of every candidate, for two laws:

- momentum law (Tissue et al. 2024), parameters fitted in this run by
  ``lrlaw.fitting.fit`` to the three MPL 100M training curves
  (cosine_24000, constant_24000, wsdcon_9; lam = 0.999, signed warmup);
- multi-power law (Luo et al. 2025) with the published 100M parameters
  ``[2.651, 0.601, 0.453, 437.9, 2.132, 0.598, 0.655]``.

Three implementations of the same number:

- ``lrlaw.plan.optimal.final_losses`` (one jitted ``vmap`` over chunks of 32 rows);
- a Python loop over the public one-at-a-time ``lrlaw.fitting.predict_curve(law,
  params, lr, [T])``;
- a plain numpy transcription of the law's ``L(T)``, vectorised over blocks of
  32 rows (momentum: ``S1 = sum eta_1..T``, ``S2 = sum_k d_k (1 - lam^(T-k+1)) /
  (1 - lam)``; multi-power: ``L0 + A P_T^-alpha - B sum_k d_k (1 - (1 + C
  eta_k^-gamma (P_T - P_{k-1}))^-beta)``).

``predict_curve`` of the multi-power law costs ~0.1 s per call here, so for
N > 32 its loop is timed on the first 32 candidates and its rate extrapolated
(marked in the table); its "max |diff|" then covers those 32.

(b) Full curves of the momentum law at 1000 steps (24, 48, ..., 24 000) for
256 schedules: ``jax.vmap`` over ``lrlaw.laws.areas.forward_area`` +
``annealing_area`` and the law's formula, in one ``jit`` (all 256 rows at once,
and in chunks of 32 rows), against a Python loop over ``predict_curve(law,
params, lr, steps)``.

(c) Issue 18.4: the momentum law's final loss of 1,000 candidate schedules of
100 000 steps (250 with ``--quick``) in **one** vmapped call
(``lrlaw.plan.compare.final_losses_batched``, the native ``areas_at`` at T; and
``lrlaw.plan.optimal.final_losses(..., chunk=N)``, the closed form in XLA), against
a numpy loop over the schedules (the numpy transcription one row at a time)
and the numpy transcription in blocks of 32 rows.

Timing: ``time.perf_counter``; every measurement is warmed up once (compiles)
and the median of ``n`` repeats is reported; the implementations of one row
group are timed interleaved (in turn in every repeat) so that load from other
processes hits them alike -- except the capped multi-power loop, timed right
after the other two.  JAX results are ``block_until_ready``-ed (the
functions return numpy arrays).  Everything in float64.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# One OpenBLAS thread, before numpy loads OpenBLAS (as in bench.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import FIT_RUNS, MPL_DIR, SCHEDULES, CpuLoad, fmt_time, machine  # noqa: E402

T = 24_000
COUNTS = (16, 256, 1024)
CHUNK = 32
LOOP_CAP = 32  # multi-power predict_curve loop: timed on at most this many schedules
MPL_100M = np.array([2.651, 0.601, 0.453, 437.9, 2.132, 0.598, 0.655])
CURVE_STEPS = np.arange(1, 1001) * (T // 1000)  # 24, 48, ..., 24 000


# ----------------------------------------------------------------------------- helpers


def timed(
    fns: list[Callable[[], object]], repeats: int, warmup: bool = True
) -> list[tuple[float, int]]:
    """Median wall time of each function over ``repeats`` interleaved calls, after one warm-up
    call each (``warmup=False``: the caller has just made it)."""
    for fn in fns if warmup else ():
        fn()  # compiles
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [(statistics.median(ts), repeats) for ts in times]


def candidates(count: int, total: int = T, seed: int = 0) -> np.ndarray:
    """``count`` varied cosine / WSD / multistep schedules from lrlaw.schedules, stacked."""
    from lrlaw import schedules

    rng = np.random.default_rng(seed)
    rows = []
    for k in range(count):
        peak = float(rng.uniform(1.5e-4, 6e-4))
        warm = int(rng.integers(100, 2500))
        final = float(peak * rng.uniform(0.0, 0.3))
        kind = k % 3
        if kind == 0:
            s = schedules.cosine(peak, total, final=final, warmup=warm)
        elif kind == 1:
            shape = str(rng.choice(schedules.WSD_SHAPES))
            if shape == "exp":
                final = max(final, 0.01 * peak)
            frac = float(rng.uniform(0.05, 0.5))
            s = schedules.wsd(peak, total, decay_frac=frac, final=final, shape=shape, warmup=warm)
        else:
            m1 = int(rng.uniform(0.4, 0.7) * total)
            m2 = int(rng.uniform(0.75, 0.95) * total)
            factor = float(rng.uniform(0.1, 0.5))
            s = schedules.multistep(
                peak, milestones=[m1, m2], factor=factor, total=total, warmup=warm
            )
        rows.append(s.values())
    return np.stack(rows)


def numpy_momentum(lrs: np.ndarray, params: np.ndarray, lam: float) -> np.ndarray:
    """Plain numpy L(T) of the momentum law (signed LR changes), blocks of CHUNK rows."""
    l0, a, alpha, c = params[:4]
    n = lrs.shape[1]
    k = np.arange(1, n)
    weight = (1.0 - lam ** (n - k)) / (1.0 - lam)  # (1 - lam^(T-k+1)) / (1 - lam), T = n - 1
    out = np.empty(lrs.shape[0])
    for i in range(0, lrs.shape[0], CHUNK):
        blk = lrs[i : i + CHUNK]
        s1 = blk[:, 1:].sum(axis=1)
        s2 = (blk[:, :-1] - blk[:, 1:]) @ weight
        out[i : i + CHUNK] = l0 + a * s1**-alpha - c * s2
    return out


def numpy_multipower(lrs: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Plain numpy L(T) of the multi-power law, blocks of CHUNK rows."""
    l0, a, alpha, b, c, beta, gamma = params
    out = np.empty(lrs.shape[0])
    for i in range(0, lrs.shape[0], CHUNK):
        blk = lrs[i : i + CHUNK]
        cum = np.cumsum(blk, axis=1)
        p_t = cum[:, -1]
        d = blk[:, :-1] - blk[:, 1:]  # eta_{k-1} - eta_k, k = 1..T
        area = p_t[:, None] - cum[:, :-1]  # S_k(T) = P_T - P_{k-1}
        eta = np.maximum(blk[:, 1:], 1e-12 * blk.max(axis=1, keepdims=True))
        g = 1.0 - (1.0 + c * eta**-gamma * area) ** -beta
        out[i : i + CHUNK] = l0 + a * p_t**-alpha - b * np.sum(d * g, axis=1)
    return out


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} schedules/s"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}×" if x < 10 else f"{x:.0f}×"


def fmt_diff(x: float) -> str:
    return f"{x:.1e}"


class Table:
    HEAD = (
        "#",
        "benchmark",
        "N",
        "implementation",
        "throughput (time per call)",
        "speed-up of lrlaw vmap",
        "max abs diff vs lrlaw",
        "n",
        "notes",
    )

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(self, *cells: object) -> None:
        self.rows.append(tuple(str(c) for c in cells))

    def render(self) -> str:
        lines = ["| " + " | ".join(self.HEAD) + " |", "|" + "---|" * len(self.HEAD)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- (a)


def section_final(
    table: Table, lrs_all: np.ndarray, models: list, counts: tuple[int, ...], quick: bool
) -> dict[str, float]:
    from lrlaw.fitting import predict_curve
    from lrlaw.plan.optimal import final_losses

    reps = 3 if quick else 5
    summary: dict[str, float] = {}
    for label, law, theta in models:
        if law.name == "momentum":
            assert law.warmup == "signed" and not law.fit_lam
            np_fn = lambda lrs, theta=theta, law=law: numpy_momentum(lrs, theta, law.lam)  # noqa: E731
            cap = None
        else:
            np_fn = lambda lrs, theta=theta: numpy_multipower(lrs, theta)  # noqa: E731
            cap = LOOP_CAP
        loop_cache: tuple[float, int, float] | None = None  # (seconds per schedule, n, diff)
        for count in counts:
            lrs = np.ascontiguousarray(lrs_all[:count])
            sub = lrs if cap is None else lrs[: min(cap, count)]

            def run_vmap(lrs=lrs, law=law, theta=theta):
                return final_losses(law, lrs, params=theta, chunk=CHUNK)

            def run_loop(sub=sub, law=law, theta=theta):
                steps = np.array([T])
                return np.array([predict_curve(law, theta, lr, steps)[0] for lr in sub])

            def run_np(lrs=lrs, np_fn=np_fn):
                return np_fn(lrs)

            ref = run_vmap()
            d_np = float(np.max(np.abs(run_np() - ref)))
            time_loop = loop_cache is None or sub.shape[0] == count
            if time_loop:  # this call is also the loop's warm-up
                d_loop = float(np.max(np.abs(run_loop() - ref[: sub.shape[0]])))
            if time_loop and cap is not None:
                # the slow loop gets fewer repeats: time it separately
                (t_v, n_v), (t_n, n_n) = timed([run_vmap, run_np], reps, warmup=False)
                ((t_l, n_l),) = timed([run_loop], 1 if quick else 3, warmup=False)
            elif time_loop:
                timings = timed([run_vmap, run_np, run_loop], reps, warmup=False)
                (t_v, n_v), (t_n, n_n), (t_l, n_l) = timings
            else:
                (t_v, n_v), (t_n, n_n) = timed([run_vmap, run_np], reps, warmup=False)
            if time_loop:
                per, n_loop_s = t_l / sub.shape[0], n_l
                if sub.shape[0] < count:
                    loop_cache = (per, n_l, d_loop)
            else:
                per, n_loop_s, d_loop = loop_cache  # type: ignore[misc]
            t_loop = per * count
            partial = sub.shape[0] < count
            what = f"final loss L(T), {label}"
            table.add(
                "a",
                what,
                count,
                f"lrlaw `final_losses` (vmap, chunks of {CHUNK})",
                f"{rate(count, t_v)} ({fmt_time(t_v)})",
                "1",
                "0",
                n_v,
                f"predicted L(T) {ref.min():.4f} … {ref.max():.4f}"
                + (f"; {count} rows padded to {CHUNK}" if count % CHUNK else ""),
            )
            table.add(
                "a",
                what,
                count,
                "loop over `predict_curve(law, params, lr, [T])`",
                f"{rate(count, t_loop)} ({fmt_time(t_loop)})",
                f"**{fmt_ratio(t_loop / t_v)}**",
                fmt_diff(d_loop),
                n_loop_s,
                (
                    f"timed on the first {min(cap or count, count)} schedules, ×{count} "
                    f"extrapolated ({fmt_time(per)} per call"
                    + ("; the measurement of the row above)" if not time_loop else ")")
                    if partial
                    else f"{fmt_time(per)} per call"
                ),
            )
            table.add(
                "a",
                what,
                count,
                f"numpy transcription (blocks of {CHUNK} rows)",
                f"{rate(count, t_n)} ({fmt_time(t_n)})",
                fmt_ratio(t_n / t_v),
                fmt_diff(d_np),
                n_n,
                "",
            )
            summary[f"{law.name}_{count}_loop"] = t_loop / t_v
            summary[f"{law.name}_{count}_numpy"] = t_n / t_v
    return summary


# ----------------------------------------------------------------------------- (b)


def section_curves(table: Table, lrs_all: np.ndarray, model, quick: bool) -> dict[str, float]:
    import jax
    import jax.numpy as jnp

    from lrlaw.fitting import predict_curve
    from lrlaw.laws.areas import annealing_area, forward_area

    label, law, theta = model
    count = 256
    lrs = np.ascontiguousarray(lrs_all[:count])
    steps = CURVE_STEPS
    reps = 3 if quick else 5

    with jax.enable_x64(True):
        steps_j = jnp.asarray(steps)
        theta_j = jnp.asarray(theta)

        def curve(lr):
            s1 = forward_area(lr)[steps_j]
            s2 = annealing_area(lr, law.lam, law.warmup)[steps_j]
            l0, a, alpha, c = theta_j[0], theta_j[1], theta_j[2], theta_j[3]
            return l0 + a * s1**-alpha - c * s2

        vm = jax.jit(jax.vmap(curve))

        def run_vmap():
            return np.asarray(jax.block_until_ready(vm(jnp.asarray(lrs))))

        def run_chunks():
            parts = [vm(jnp.asarray(lrs[i : i + CHUNK])) for i in range(0, count, CHUNK)]
            return np.concatenate([np.asarray(jax.block_until_ready(p)) for p in parts])

        def run_loop():
            return np.stack([predict_curve(law, theta, lr, steps) for lr in lrs])

        ref = run_loop()  # the warm-up calls
        d_v = float(np.max(np.abs(run_vmap() - ref)))
        d_c = float(np.max(np.abs(run_chunks() - ref)))
        timings = timed([run_vmap, run_chunks, run_loop], reps, warmup=False)
        (t_v, n_v), (t_c, n_c), (t_l, n_l) = timings

    what = f"full curve at {steps.size} steps, {label}"
    table.add(
        "b",
        what,
        count,
        "`jax.vmap` of `forward_area` + `annealing_area` + formula, one jit, all rows",
        f"{rate(count, t_v)} ({fmt_time(t_v)})",
        "1",
        fmt_diff(d_v),
        n_v,
        "diff vs the loop",
    )
    table.add(
        "b",
        what,
        count,
        f"same jit, chunks of {CHUNK} rows",
        f"{rate(count, t_c)} ({fmt_time(t_c)})",
        fmt_ratio(t_c / t_v),
        fmt_diff(d_c),
        n_c,
        "diff vs the loop",
    )
    table.add(
        "b",
        what,
        count,
        "loop over `predict_curve(law, params, lr, steps)`",
        f"{rate(count, t_l)} ({fmt_time(t_l)})",
        f"**{fmt_ratio(t_l / t_v)}**",
        "0",
        n_l,
        f"{fmt_time(t_l / count)} per call",
    )
    return {"curves_loop": t_l / t_v, "curves_chunks": t_l / t_c}


# ----------------------------------------------------------------------------- main


# ----------------------------------------------------------------------------- (c)

BIG_T = 100_000


def section_big(table: Table, model, quick: bool) -> dict[str, float]:
    """(c) Issue 18.4: final losses of 1,000 schedules of 100k steps in one vmapped call."""
    from lrlaw.plan.compare import final_losses_batched
    from lrlaw.plan.optimal import final_losses

    label, law, theta = model
    count = 250 if quick else 1000
    t0 = time.perf_counter()
    lrs = candidates(count, total=BIG_T, seed=1)
    t_build = time.perf_counter() - t0

    def run_vmap():  # one jitted vmap call; native areas at T only
        return final_losses_batched(law, theta, lrs)

    def run_closed():  # one jitted vmap call of the closed-form L(T)
        return final_losses(law, lrs, params=theta, chunk=count)

    def run_np_loop():
        return np.array([numpy_momentum(lr[None], theta, law.lam)[0] for lr in lrs])

    def run_np_blocks():
        return numpy_momentum(lrs, theta, law.lam)

    ref = run_vmap()
    d_loop = float(np.max(np.abs(run_np_loop() - ref)))
    d_blk = float(np.max(np.abs(run_np_blocks() - ref)))
    d_cl = float(np.max(np.abs(run_closed() - ref)))
    fns = [run_vmap, run_closed, run_np_loop, run_np_blocks]
    (t_v, n_v), (t_c, n_c), (t_l, n_l), (t_b, n_b) = timed(fns, 5, False)
    what = f"final loss L(T), {label}, T = {BIG_T:,}"
    mb = lrs.nbytes / 1e6
    table.add(
        "c",
        what,
        count,
        "lrlaw `planning.final_losses_batched`, one vmapped call",
        f"{rate(count, t_v)} ({fmt_time(t_v)})",
        "1",
        "0",
        n_v,
        f"{mb:.0f} MB of LRs; `areas_at(lr, [T])` (native loop, reads each row once); "
        f"candidates built in {t_build:.1f} s (not timed)",
    )
    table.add(
        "c",
        what,
        count,
        "lrlaw `optimize.final_losses(chunk=N)`, one vmapped call",
        f"{rate(count, t_c)} ({fmt_time(t_c)})",
        fmt_ratio(t_c / t_v),
        fmt_diff(d_cl),
        n_c,
        "closed form S2(T) = sum_k d_k (1 - lam^(T-k+1)) / (1 - lam), in XLA",
    )
    table.add(
        "c",
        what,
        count,
        "numpy loop over schedules (one row at a time)",
        f"{rate(count, t_l)} ({fmt_time(t_l)})",
        f"**{fmt_ratio(t_l / t_v)}**",
        fmt_diff(d_loop),
        n_l,
        "",
    )
    table.add(
        "c",
        what,
        count,
        f"numpy transcription (blocks of {CHUNK} rows)",
        f"{rate(count, t_b)} ({fmt_time(t_b)})",
        fmt_ratio(t_b / t_v),
        fmt_diff(d_blk),
        n_b,
        "",
    )
    return {
        "big_np_loop": t_l / t_v,
        "big_np_blocks": t_b / t_v,
        "big_closed": t_c / t_v,
        "big_count": count,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, N = 16 and 256 (~40 s)")
    args = ap.parse_args()

    from lrlaw.fitting import fit
    from lrlaw.io import load_curves
    from lrlaw.laws import MultiPowerLaw

    t0 = time.perf_counter()
    load = CpuLoad()
    info = machine()
    info["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    counts = COUNTS[:2] if args.quick else COUNTS

    curves = load_curves([MPL_DIR / f"{r}.csv" for r in FIT_RUNS], schedules_file=SCHEDULES)
    momentum = fit(curves, bootstrap=0)
    mom_theta = np.asarray(momentum.param_vector, dtype=np.float64)
    t_build = time.perf_counter()
    lrs_all = candidates(max(counts))
    t_build = time.perf_counter() - t_build
    models = [
        ("momentum (fit to MPL 100M)", momentum.law_object, mom_theta),
        ("multi-power (published 100M)", MultiPowerLaw(), MPL_100M),
    ]
    info["momentum parameters"] = (
        ", ".join(f"{k} = {v:.5g}" for k, v in momentum.params.items())
        + f" (fit in this run to {', '.join(FIT_RUNS)}; lam = {momentum.law_object.lam})"
    )
    info["multi-power parameters"] = "published MPL 100M " + str(MPL_100M.tolist())
    info["candidates"] = (
        f"{max(counts)} schedules × {T + 1} values (cosine / WSD / multistep), built with "
        f"lrlaw.schedules in {t_build:.1f} s"
    )

    table = Table()
    out = section_final(table, lrs_all, models, counts, args.quick)
    out.update(section_curves(table, lrs_all, models[0], args.quick))
    out.update(section_big(table, models[0], args.quick))
    total = time.perf_counter() - t0
    info["contention"] = load.report()

    print(
        f"## lrlaw prediction throughput for many schedules{' (--quick)' if args.quick else ''}\n"
    )
    for k, v in info.items():
        print(f"- {k}: {v}")
    print(
        "\nMedian of n timed repeats after one warm-up; implementations of a row group timed "
        "interleaved (the capped multi-power loop right after). “speed-up of lrlaw vmap” = "
        "that row's time / the vmapped lrlaw time (< 1: lrlaw is slower).\n"
    )
    print(table.render())
    n = max(counts)
    print(
        f"\nKey ratios at N = {n} (time of the other implementation / time of lrlaw's vmap): "
        f"loop over `predict_curve` {fmt_ratio(out[f'momentum_{n}_loop'])} (momentum), "
        f"{fmt_ratio(out[f'multipower_{n}_loop'])} (multi-power); numpy "
        f"{fmt_ratio(out[f'momentum_{n}_numpy'])} (momentum), "
        f"{fmt_ratio(out[f'multipower_{n}_numpy'])} (multi-power); full curves, 256 × 1000 "
        f"steps: loop / vmap {fmt_ratio(out['curves_loop'])}, loop / chunked vmap "
        f"{fmt_ratio(out['curves_chunks'])}; {out['big_count']} schedules × {BIG_T:,} steps in "
        f"one vmapped call: numpy loop / lrlaw {fmt_ratio(out['big_np_loop'])}, numpy blocks / "
        f"lrlaw {fmt_ratio(out['big_np_blocks'])}, closed form in XLA / lrlaw "
        f"{fmt_ratio(out['big_closed'])}."
    )
    print(f"\nTotal benchmark time: {total:.0f} s")


if __name__ == "__main__":
    main()
