"""Bootstrap over cells of the hyper-parameter power laws: the former hand-written loop
against ``scipy.stats.bootstrap`` (percentile and BCa), side by side in one run.

The statistic is the log-space OLS fit of ``y = coef * N^a * D^b`` to per-cell optima
(``lrlaw.plan.powerlaws.fit_power_law``).  Each method resamples cells with replacement
(paired: a cell's ``log y`` and variables stay together) and refits.  Two figures:

- time per interval set (``n_boot`` = 1000 refits, median of ``--repeats``);
- ``NaN %``: share of grids where an interval could not be formed (a resample whose
  cells do not determine the law makes scipy's bounds NaN);
- coverage of the true ``(coef, a, b)`` by the 90 % interval over ``--grids``
  synthetic grids: ``N`` on 5 levels, 8 or 17 cells (the Step-Law grid has 17),
  ``y = 2 N^-0.7 D^0.3 exp(sigma z)`` with ``sigma`` = 0.1.  The closer to 90 %, the better.

Run: ``PYTHONPATH=. python benchmarks/bench_hparams_bootstrap.py [--grids 200] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings

import numpy as np
from scipy.stats import bootstrap

from lrlaw.plan.powerlaws import _bootstrap_cells, _ols, _ols_batch

TRUE = np.array([2.0, -0.7, 0.3])  # coef, N exponent, D exponent
NAMES = ["coef", "N", "D"]


def old_loop(design: np.ndarray, logy: np.ndarray, n_boot: int, level: float, seed: int):
    """lrlaw's former percentile bootstrap (hparams.fit_power_law before this change)."""
    rng = np.random.default_rng(seed)
    boot, tries, n = [], 0, logy.size
    while len(boot) < n_boot and tries < 20 * n_boot:
        tries += 1
        idx = rng.integers(0, n, n)
        c = _ols(design[idx], logy[idx])
        if c is not None:
            boot.append(c)
    b = np.array(boot)
    with np.errstate(over="ignore"):
        b[:, 0] = np.exp(b[:, 0])
    lo, hi = np.quantile(b, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return lo, hi


def scipy_percentile(design, logy, n_boot, level, seed):
    """What lrlaw does now (``lrlaw.plan.powerlaws._bootstrap_cells``)."""
    ci, _, _ = _bootstrap_cells(design, logy, NAMES, n_boot=n_boot, level=level, seed=seed)
    return np.array([ci[k][0] for k in NAMES]), np.array([ci[k][1] for k in NAMES])


def _per_resample(design, logy):
    def refit(idx):
        c = _ols(design[idx], logy[idx])
        return np.full(3, np.nan) if c is None else np.r_[np.exp(c[0]), c[1:]]

    return refit


def _scipy(design, logy, n_boot, level, seed, *, method, vectorized):
    if vectorized:

        def refit(idx, axis=-1):
            idx = np.moveaxis(idx, axis, -1)
            return _ols_batch(design[idx], logy[idx])
    else:
        refit = _per_resample(design, logy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap(
            (np.arange(logy.size),),
            refit,
            n_resamples=n_boot,
            vectorized=vectorized,
            confidence_level=level,
            method=method,
            rng=np.random.default_rng(seed),
        )
    return np.asarray(res.confidence_interval.low), np.asarray(res.confidence_interval.high)


METHODS = {
    "hand-written loop (old)": old_loop,
    "scipy percentile, per-resample statistic": functools.partial(
        _scipy, method="percentile", vectorized=False
    ),
    "scipy percentile, batched (new)": scipy_percentile,
    "scipy BCa, batched": functools.partial(_scipy, method="BCa", vectorized=True),
}


def grid(n_cells: int, rng: np.random.Generator, sigma: float = 0.1):
    N = np.repeat([1e8, 2e8, 4e8, 8e8, 1.6e9], int(np.ceil(n_cells / 5)))[:n_cells]
    D = N * rng.uniform(5, 200, n_cells)
    y = TRUE[0] * N ** TRUE[1] * D ** TRUE[2] * np.exp(sigma * rng.standard_normal(n_cells))
    design = np.column_stack([np.ones(n_cells), np.log(N), np.log(D)])
    return design, np.log(y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grids", type=int, default=200, help="synthetic grids per cell count")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats")
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args()
    level = 0.9
    print(f"n_boot {args.n_boot}, level {level}, {args.grids} grids per row\n")
    print(
        f"{'method':<42}{'cells':>6}{'ms / fit':>10}{'NaN %':>8}"
        "  coverage coef / N / D (nominal 90 %), over the intervals formed"
    )
    for n_cells in (8, 17):
        design, logy = grid(n_cells, np.random.default_rng(0))
        for name, method in METHODS.items():
            times = []
            for r in range(args.repeats):
                t = time.perf_counter()
                method(design, logy, args.n_boot, level, r)
                times.append(time.perf_counter() - t)
            rng = np.random.default_rng(1)
            hits, formed = np.zeros(3), np.zeros(3)
            for g in range(args.grids):
                d, ly = grid(n_cells, rng)
                lo, hi = method(d, ly, args.n_boot, level, g)
                ok = np.isfinite(lo) & np.isfinite(hi)
                formed += ok
                hits += ok & (lo <= TRUE) & (TRUE <= hi)
            cov = " / ".join(f"{100 * h / max(f, 1):.1f}" for h, f in zip(hits, formed))
            nan = 100 * (1 - formed.min() / args.grids)
            print(f"{name:<42}{n_cells:>6}{1e3 * np.median(times):>10.1f}{nan:>8.1f}  {cov}")


if __name__ == "__main__":
    main()
