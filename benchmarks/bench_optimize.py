"""Schedule optimisation time (``lrlaw.plan.optimal``) against scipy L-BFGS-B and the old Adam.

Run from anywhere::

    python benchmarks/bench_optimize.py            # ~3 min on 2 shared cores
    python benchmarks/bench_optimize.py --quick    # fewer repeats, no MPL 100k row

Table 1, free-form schedule of the momentum law fitted to the MPL 100M curves
(cosine_24000 + constant_24000 + wsdcon_9), T = 20 000 and 100 000 steps, peak
3e-4, warmup 2160, monotone, final LR >= 0.  Side by side, interleaved in every
repeat (median of n warm calls after one warm-up):

* lrlaw ``optimize(family="free")``: L-BFGS (``lrlaw.plan._lbfgs``, float64, one jitted
  loop) on the closed-form final loss, gradient by ``jax.grad``; the timed call
  includes the two reference losses and building the Schedule.
* scipy ``minimize(method="L-BFGS-B")`` on the same logit parameterisation
  and the same start, with a numpy objective and its analytic gradient
  (below; no lrlaw code), ``gtol=ftol=1e-14``, ``maxiter=10000``.
* the former lrlaw optimiser, Adam (``baseline_adam.py``), at its defaults.

Every final loss is evaluated by ``lrlaw.plan.optimal.final_loss``.

Table 2: first (compile) and warm call of ``family="free"`` and ``"wsd"`` for
the published Multi-Power-Law 100M parameters and the momentum fit (as before).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy.optimize import minimize

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))  # the lrlaw of this checkout, not an installed one

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from lrlaw.fitting import fit  # noqa: E402
from lrlaw.laws import MultiPowerLaw  # noqa: E402
from lrlaw.plan.optimal import _free_lr, _free_start, _init_logits, final_loss, optimize  # noqa: E402

MPL_100M = np.array([2.651, 0.601, 0.453, 437.9, 2.132, 0.598, 0.655])
PEAK, WARMUP = 3e-4, 2160


def start(total: int) -> tuple[np.ndarray, np.ndarray]:
    """Warmup head and the initial logits: lrlaw's own start (WSD-like, 20 % decay)."""
    head, init = _free_start(total, PEAK, WARMUP, 0.0)
    return head, _init_logits(init, PEAK, 0.0, True)


def scipy_momentum(theta: np.ndarray, lam: float, head: np.ndarray, z0: np.ndarray):
    """L-BFGS-B on the momentum law's closed-form final loss, numpy value and gradient.

    lr = [head, peak * exp(cumsum(log_sigmoid(z)))];
    L = L0 + A S1^-alpha - C S2, S1 = sum_{i>=1} lr_i, S2 = sum_k d_k w_k with
    d_k = lr_{k-1} - lr_k (lr_{-1} = 0) and w_k = (1 - lam^(n-k)) / (1 - lam)."""
    l0, a, alpha, c = theta[:4]
    w_head = len(head)
    n = w_head + z0.size
    w = -np.expm1((n - np.arange(n)) * np.log(lam)) / (1 - lam)
    dw = np.append(w[1:], 0.0) - w  # dS2 / dlr_j = w_{j+1} - w_j

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        ls = -np.logaddexp(0.0, -z)  # log_sigmoid
        frac = np.exp(np.cumsum(ls))
        lr = np.concatenate([head, PEAK * frac])
        d = np.concatenate([[-lr[0]], lr[:-1] - lr[1:]])
        s1 = lr[1:].sum()
        loss = l0 + a * s1**-alpha - c * np.dot(d, w)
        g_lr = -c * dw
        g_lr[1:] += -a * alpha * s1 ** (-alpha - 1)
        g_c = g_lr[w_head:] * PEAK * frac
        g_ls = np.cumsum(g_c[::-1])[::-1]
        return loss, g_ls / (1.0 + np.exp(z))  # d log_sigmoid / dz = sigmoid(-z)

    r = minimize(
        fun,
        z0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 10_000, "gtol": 1e-14, "ftol": 1e-14},
    )
    return r


def table1(momentum, quick: bool) -> None:
    from baseline_adam import _adam_free

    law = momentum.law_object
    theta = np.asarray(momentum.param_vector, dtype=np.float64)
    reps = 3 if quick else 5
    print("### Free-form optimum, momentum law (fit to MPL 100M), warm calls\n")
    print(
        "| T | implementation | time | lrlaw speed-up | iterations | predicted final loss "
        "| loss − lrlaw | n |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for total in (20_000, 100_000):
        head, z0 = start(total)
        with jax.enable_x64(True):  # float64 arrays (created outside, they would be float32)
            hj, zj, tj = jnp.asarray(head), jnp.asarray(z0), jnp.asarray(theta)

        def run_lrlaw(total=total):
            return optimize(momentum, total, PEAK, WARMUP)

        def run_scipy(head=head, z0=z0):
            return scipy_momentum(theta, law.lam, head, z0)

        def run_adam(tj=tj, zj=zj, hj=hj):
            with jax.enable_x64(True):
                out = _adam_free(law, tj, zj, hj, PEAK, 0.0, PEAK, 0.1, True, 10_000, 1e-7)
                return jax.block_until_ready(out)

        fns = {"lrlaw": run_lrlaw, "scipy": run_scipy, "adam": run_adam}
        outs = {k: f() for k, f in fns.items()}  # warm-up (compiles)
        times: dict[str, list[float]] = {k: [] for k in fns}
        for i in range(reps):
            for k, f in fns.items():
                if k == "adam" and i >= 2:  # slow: 2 repeats are enough
                    continue
                t0 = time.perf_counter()
                outs[k] = f()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        res = outs["lrlaw"]
        with jax.enable_x64(True):
            lr_adam = np.asarray(_free_lr(outs["adam"][0], hj, PEAK, 0.0, PEAK, True))
        lr_scipy = np.concatenate(
            [head, PEAK * np.exp(np.cumsum(-np.logaddexp(0.0, -outs["scipy"].x)))]
        )
        losses = {
            "lrlaw": res.loss,
            "scipy": final_loss(law, theta, lr_scipy),
            "adam": final_loss(law, theta, lr_adam),
        }
        iters = {
            "lrlaw": res.info["iters"],
            "scipy": outs["scipy"].nit,
            "adam": int(outs["adam"][2]),
        }
        names = {
            "lrlaw": "lrlaw `optimize` (L-BFGS, jit)",
            "scipy": "scipy L-BFGS-B, numpy analytic gradient",
            "adam": "former lrlaw Adam (jit while_loop)",
        }
        speedup = {k: "1" if k == "lrlaw" else f"{med[k] / med['lrlaw']:.1f}×" for k in fns}
        for k in fns:
            print(
                f"| {total} | {names[k]} | {med[k]:.3f} s | "
                f"{speedup[k]} | {iters[k]} | "
                f"{losses[k]:.10f} | {losses[k] - losses['lrlaw']:+.1e} | {len(times[k])} |"
            )
        sys.stdout.flush()
    print()


def table2(momentum, quick: bool) -> None:
    models = [
        ("multipower (published 100M)", MultiPowerLaw(), MPL_100M),
        ("momentum (fit, MPL 100M)", momentum, None),
    ]
    print("### First and warm call, free form and WSD family\n")
    print(
        "| law | T | family | first (s) | warm (s) | L-BFGS steps | final loss "
        "| gain vs cosine | gain vs WSD-20% |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name, model, params in models:
        for total in (24_000, 100_000):
            if quick and total > 24_000 and params is not None:
                continue
            for family in ("free", "wsd"):
                times = []
                for _ in range(2):
                    t0 = time.perf_counter()
                    res = optimize(model, total, PEAK, WARMUP, params=params, family=family)
                    times.append(time.perf_counter() - t0)
                steps = res.info.get("iters", "-")
                print(
                    f"| {name} | {total} | {family} | {times[0]:.2f} | {times[1]:.2f} | {steps} "
                    f"| {res.loss:.5f} | {res.gain_over_cosine:+.5f} | {res.gain_over_wsd:+.5f} |"
                )
                sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no MPL 100k rows")
    args = ap.parse_args()
    from bench import cpuinfo
    from mpl import MPL_TRAIN, mpl_curves

    info = cpuinfo()
    print("## lrlaw optimize benchmark" + (" (--quick)" if args.quick else "") + "\n")
    print(f"- cpu: {info.get('model name', '?')}, {len(os.sched_getaffinity(0))} cores")
    print(f"- jax {jax.__version__}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    momentum = fit(mpl_curves("100m", MPL_TRAIN), bootstrap=0)
    table1(momentum, args.quick)
    table2(momentum, args.quick)
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
