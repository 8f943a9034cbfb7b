r"""Parameter uncertainty and prediction bands.

Residuals along a loss curve are strongly autocorrelated (a law misses
*trends*, not independent noise), so an i.i.d. bootstrap of points is
over-confident.  lrlaw combines three sources of uncertainty:

1. **Parameter uncertainty: a moving-block bootstrap within every curve**
   (Künsch 1989): each replicate keeps every training curve and draws moving
   blocks of consecutive points inside each one (block length from the
   residuals' integrated autocorrelation time, Sokal 1997), so a replicate
   keeps the correlation structure and fits the same schedules as the fit.
   Every replicate is a weighted refit (weights = how often each point was
   drawn) by one linearised Levenberg-Marquardt step from the best fit
   (Davison & Hinkley 1997, §7.2): with every curve kept, a replicate stays
   close to the best fit, and the step gave the same bands as exact refits
   (``benchmarks/band_methods.py``) at a fraction of their cost.

   Whole curves are *not* resampled.  Until issue 16.4 they were (from three
   curves on), but a draw of three curves can hold no decaying schedule (1 in
   27 on the MPL split), which does not identify the annealing term; the
   band's width then hinged on those few draws (its Monte-Carlo error reached
   50 % of its width on noisy logs, ``benchmarks/band_methods.py``).
   ``resampling="curve+block"`` of :func:`lrlaw.fitting._uncertainty` keeps that
   former scheme for comparison.

2. **Curve-level term: a jackknife over the training curves** (from three
   curves on; Efron & Stein 1981).  The ``k`` refits that each leave one curve
   out predict the new schedule too; their jackknife deviations
   ``+-sqrt(k - 1) (p_(i) - p_bar)`` (:func:`jackknife_deviations`), added to the
   block replicates in balanced turn, carry how much the prediction depends on
   which schedules were fitted.  Each left-out fit keeps at least two curves.
   The standard errors and correlations (:meth:`Uncertainty.stderr`) include the
   same term in parameter space (:meth:`Uncertainty.replicates`).

3. **Out-of-sample law error.**  From three curves on: leave-one-curve-out
   (the refits above predict the curve they left out), pooled with a forward
   split of every curve (fit the first 60 % of each, predict the rest: the only
   check of how the law extrapolates in time when the training curves share
   their length).  With two curves: blocked cross-validation (Roberts et al.
   2017): each tenth of each curve is left out in turn, the other curve kept,
   so no fold asks one schedule alone to identify the law (the forward split
   of a constant + cosine pair hid the cosine's decay and gave a band 15x the
   held-out error).  With one curve: the forward split.  The relative errors
   ``e = (L_obs - L_pred) / L_pred`` measure how far the law misses on points
   it has not seen.  On a noisy log the errors are smoothed along each curve
   until the noise left is below 0.1 % (the band is about the predicted
   curve, not single logged losses).

A prediction band at level ``q`` for a new schedule takes, for every
bootstrap replicate ``b``, the replicate's predicted curve times
``(1 + s |e|_k)`` for 32 evenly spaced quantiles ``|e|_k`` of the pooled
out-of-sample error sizes (each error weighted by the steps it stands for, so
that the quantiles do not depend on how densely a run was logged) and both
signs ``s = +1, -1`` (a whole curve is scaled at once: the law's errors are
systematic along a curve), and reports
the ``(1 - q)/2`` and ``(1 + q)/2`` quantiles of all these curves at each
step.  (Drawing one error per replicate instead left the band at the mercy
of which replicates drew the few large errors: the MPL 100M band covered
73 % or 93 % of the held-out points depending on one replicate.)

Why a random sign: the held-out errors come from a handful of held-out curves
(with one training curve, from one forward split), and along a curve they are
systematic, so they often share one sign.  That sign belongs to the held-out
curves (a forward split's extrapolation undershoots or overshoots as a whole),
not to a new schedule, whose miss may go either way; what carries over is
the size of the miss.  Taking ``|e|`` with both signs treats the errors
as a spread around the prediction (the errors' symmetrised distribution).
Without it, one-signed errors shift the whole band off its prediction (with
one cosine curve, ``pred < pred_lo`` at 161 of 171 steps).

A band always contains the central prediction: where the quantiles of the
replicates miss it (a percentile interval of a skewed or biased bootstrap can
exclude the point estimate; Davison & Hinkley 1997, §5.3), the band is
widened to reach it (:meth:`Uncertainty.band` with ``center``).

Two variants are selectable for comparison (``resampling`` of
:func:`lrlaw.fitting.core._uncertainty`; issue 16 item 4), neither the default.
``"block+horizon"``: the error term is the same at every step of a new schedule,
whatever its horizon, so a prediction 3x past the fitted horizon gets the error
sizes of the forward split (1-1.67x); this variant regresses the forward split's
error sizes on their log distance past the fitted step and adds the fitted growth
past the fitted horizon (:func:`horizon_growth`).  ``"block+deflate"``: each
held-out error series is shrunk by the noise left in it and by the held-out
refit's own estimation variance (:func:`lrlaw.fitting.core._uncertainty`).  On
``benchmarks/band_methods.py`` the growth lifts the MPL 100M band from 66 % to 71 %
coverage (its 72k-step constant run past 2x the horizon from 46 % to 100 %), and the
deflation narrows the sparse noisy logs' bands (8.2-8.7x MAE to 5.7-7.2x), but each
moves as many cells out of the target as into it (benchmarks/README.md).

The calibration (fraction of held-out points inside the 90 % band) is
measured on the Multi-Power-Law curves in ``tests/fitting/test_uncertainty.py`` and
README.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ERROR_QUANTILES",
    "Uncertainty",
    "block_length",
    "bootstrap_weights",
    "horizon_growth",
    "jackknife_deviations",
]

#: Quantiles of the out-of-sample error sizes combined with every replicate (per sign).
ERROR_QUANTILES = 32


def _weighted_quantiles(x: np.ndarray, w: np.ndarray | None, probs: np.ndarray) -> np.ndarray:
    """Quantiles of ``x`` with weights ``w`` (midpoint rule on the sorted cumulative
    weights; ``np.quantile``'s when ``w`` is None)."""
    if w is None:
        return np.quantile(x, probs)
    order = np.argsort(x)
    xs, ws = x[order], np.asarray(w, dtype=np.float64)[order]
    cum = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return np.interp(probs, cum, xs)


@contextlib.contextmanager
def _quiet_non_finite() -> Iterator[None]:
    """Within: no RuntimeWarning for ``inf - inf`` or an all-NaN slice, where the band's
    edges and their Monte-Carlo error are non-finite by design (diverged replicates, or
    steps where every replicate is NaN)."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        yield


def _quantiles(part: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """``np.quantile(part, probs, axis=1)`` (``nanquantile`` where there is a NaN), with
    infinite values handled: linear interpolation between two infinite order statistics
    (or a finite one and an infinite one at weight 0) gives ``inf - inf = nan`` and a
    RuntimeWarning, where the quantile is the lower order statistic (``inf`` when a
    diverged replicate reaches the band's edge, not a NaN edge)."""
    nan = np.isnan(part)
    quantile = np.nanquantile if nan.any() else np.quantile
    with _quiet_non_finite():
        q = np.asarray(quantile(part, probs, axis=1))
        if np.isnan(q).any():
            bad = np.isnan(q) & ~np.all(nan, axis=1)[None, :]
            rows = np.flatnonzero(bad.any(axis=0))
            if rows.size:
                low = np.asarray(quantile(part[rows], probs, axis=1, method="lower"))
                q[:, rows] = np.where(bad[:, rows], low, q[:, rows])
    return q


def block_length(residuals: np.ndarray, rule: str = "sokal") -> int:
    r"""Block length for a moving-block bootstrap of a residual series.

    ``rule="sokal"`` (the default): the integrated autocorrelation time
    ``tau = 1 + 2 sum_k rho_k`` with Sokal's automatic window (stop at the first
    lag ``k >= 5 tau``), rounded and clipped to ``[ceil(n^(1/3)), n // 2]``.
    Source: A. Sokal, "Monte Carlo Methods in Statistical Mechanics" (1997), §3;
    Künsch (1989).

    ``rule="politis-white"``: the automatic block length of Politis & White
    (2004, Econometric Reviews 23:53) with the correction of Patton, Politis &
    White (2009, Econometric Reviews 28:372), for the moving-block (= circular)
    bootstrap: ``b = (2 G^2 / D)^(1/3) n^(1/3)``, ``G = sum_{|k|<=M} l(k/M) |k| R(k)``,
    ``D = 4/3 (sum_{|k|<=M} l(k/M) R(k))^2``, ``l`` the flat-top window
    ``min(1, 2 (1 - |t|))``, ``M = 2 m`` with ``m`` the first lag after which
    ``K = max(5, log10 n)`` autocorrelations lie within ``2 sqrt(log10 n / n)``
    (``M <= sqrt(n) + K``), and ``b <= min(3 sqrt(n), n / 3)``; the same tuning as
    ``arch.bootstrap.optimal_block_length``.  It minimises the MSE of the
    block-bootstrap variance of a mean; for an AR(1) series with coefficient
    ``phi`` it tends to ``(6 phi^2 / (1 - phi^2)^2)^(1/3) n^(1/3)``.

    The fit's bootstrap keeps Sokal's rule.  ``benchmarks/block_length_rules.py``
    measured both: on AR(1) series Politis-White recovers the optimum above
    (phi 0.7, n 10^4: 48 against 48.4) where Sokal's rule sits at its
    ``n^(1/3)`` floor (22); but on the fit's residuals (short, 95-171 points,
    dominated by the law's systematic misfit) its longer blocks (22, 22, 11
    against 11, 15, 5 on the MPL 100M split) made the 90 % band narrower and
    cover 74.3 % of the held-out points, against 93.0 % with Sokal's rule
    (25M: 95.6 % against 94.9 %).  The statistic here is a curve fit, not a
    mean, and the band's calibration is what counts.
    """
    x = np.asarray(residuals, dtype=np.float64)
    n = x.size
    if rule not in ("sokal", "politis-white"):
        raise ValueError(f"rule={rule!r}: use 'sokal' or 'politis-white'")
    if n < 4:
        return 1
    x = x - x.mean()
    spec = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spec * np.conj(spec))[:n]
    if acf[0] <= 0:
        return 1
    if rule == "politis-white":
        acv = acf / n  # R(k) = sum_t x_t x_{t+k} / n
        kn = max(5, int(np.log10(n)))
        m_max = min(int(np.ceil(np.sqrt(n))) + kn, n - 1)
        # |corr| of lag k over the overlapping stretches, as in Patton's code and arch.
        head = np.cumsum(x**2)
        tail = np.cumsum((x**2)[::-1])
        lags = np.arange(m_max + 1)
        v1, v2 = tail[n - lags - 2], head[n - lags - 2]
        rho = np.abs(acf[lags]) / np.sqrt(v1 * v2)
        small = rho < 2 * np.sqrt(np.log10(n) / n)
        first = next((i - kn for i in range(kn, m_max + 1) if small[i - kn : i].all()), None)
        big_m = min(2 * max(first, 1), m_max) if first is not None else m_max
        k = np.arange(1, big_m + 1)
        lam = np.where(k / big_m <= 0.5, 1.0, 2.0 * (1.0 - k / big_m))
        g = 2.0 * np.sum(lam * k * acv[k])
        long_run = acv[0] + 2.0 * np.sum(lam * acv[k])
        if long_run <= 0:
            return 1
        b = (2.0 * g**2 / (4.0 / 3.0 * long_run**2)) ** (1 / 3) * n ** (1 / 3)
        return int(np.clip(round(b), 1, np.ceil(min(3 * np.sqrt(n), n / 3))))
    acf = acf / acf[0]
    tau = 1.0
    for k in range(1, n):
        tau += 2.0 * acf[k]
        if k >= 5.0 * tau:
            break
    low, high = int(np.ceil(n ** (1 / 3))), max(1, n // 2)
    return int(np.clip(round(tau), low, high))


def bootstrap_weights(
    sizes: Sequence[int],
    blocks: Sequence[int],
    n_boot: int,
    rng: np.random.Generator,
    *,
    resample_curves: bool = True,
) -> list[np.ndarray]:
    """Point multiplicities of a two-level (curves, then moving blocks) bootstrap.

    Returns, per curve, an array ``(n_boot, sizes[i])`` of how often each
    point is drawn in each replicate.  Each drawn curve contributes
    ``sizes[i]`` points, made of blocks of ``blocks[i]`` consecutive points
    starting at uniformly drawn positions.
    """
    counts = [np.zeros((n_boot, n)) for n in sizes]
    n_curves = len(sizes)
    for b in range(n_boot):
        picks = rng.integers(0, n_curves, n_curves) if resample_curves else range(n_curves)
        for i in picks:
            n, ell = sizes[i], max(1, min(blocks[i], sizes[i]))
            n_blocks = -(-n // ell)
            starts = rng.integers(0, n - ell + 1, n_blocks)
            idx = (starts[:, None] + np.arange(ell)[None, :]).ravel()[:n]
            np.add.at(counts[i][b], idx, 1.0)
    return counts


def _rms(x: np.ndarray) -> float:
    """Root mean square of finite, non-negative ``x``, scaled by its largest value first, so
    that values above ~1e154 (a replicate diverged at the first steps) give a large
    finite figure, not an overflow to inf."""
    top = float(np.max(x)) if x.size else 0.0
    if top == 0.0 or not np.isfinite(top):
        return top
    return top * float(np.sqrt(np.mean((x / top) ** 2)))


def jackknife_deviations(curve_preds: np.ndarray, n: int) -> np.ndarray:
    r"""The curve-level term of a band: ``n`` rows of jackknife deviations.

    ``curve_preds`` ``(k, n_steps)`` are the predictions of the ``k`` refits that each
    leave one training curve out.  Their jackknife deviations
    ``d_i = +-sqrt(k - 1) (p_(i) - mean_j p_(j))`` (both signs) have the jackknife
    variance ``(k - 1)/k sum_i (p_(i) - p_bar)^2`` of the prediction (Efron & Stein
    1981; Efron & Tibshirani 1993, ch. 11).  Row ``b`` of the result is deviation
    ``b mod 2k``: added to the ``b``-th within-curve bootstrap replicate, the pairs
    sample the sum of the two terms in balanced proportions.
    """
    cp = np.asarray(curve_preds, dtype=np.float64)
    k = cp.shape[0]
    with np.errstate(invalid="ignore"):
        dev = np.sqrt(k - 1.0) * (cp - np.mean(cp, axis=0))
    dev = np.where(np.isfinite(dev), dev, 0.0)  # e.g. step 0, where every prediction is inf
    both = np.concatenate([dev, -dev])
    return both[np.arange(n) % both.shape[0]]


def horizon_growth(
    errors: np.ndarray,
    log_ratios: np.ndarray,
    weights: np.ndarray | None = None,
    horizon: float = float("nan"),
) -> dict[str, float] | None:
    r"""How the out-of-sample error grows with the extrapolation distance.

    ``errors`` are the forward split's relative errors and ``log_ratios`` their
    distances ``x = ln max(1, t / T_fit)`` past the last step ``T_fit`` that the
    split's refit saw.  The size of the error is regressed on ``x`` by weighted least
    squares (``weights``: the steps each error stands for), ``|e| ~ a + b x`` (the
    absolute-residual regression of a variance function: Glejser 1969, JASA 64:316;
    Davidian & Carroll 1987, JASA 82:1079); ``b`` is clipped at 0, so the term never
    shrinks.  :meth:`Uncertainty.band` adds ``b max(0, x(t) - x_bar)`` to every error
    size at a step ``t`` of a new schedule, ``x(t) = ln max(1, t / horizon)``
    (``horizon``: the last step of the full fit, ``x_bar``: the split's mean
    distance, at which its errors already are in the pooled sizes): a linear-in-
    log-horizon extrapolation of the growth the split measured.  For a correctly
    specified power law an error ``dp`` in an exponent ``p`` of ``t^-p`` gives a
    relative error ``dp ln(t / T)`` at ``t`` beyond the error at ``T``, linear in ``x``.
    The growth is added, not multiplied: the pooled sizes also hold the
    leave-one-curve-out errors (another schedule, not a longer one).

    Returns ``{"horizon", "slope" (b), "ref" (x_bar), "span" (the largest x of the
    split)}``, or ``None`` with fewer than 3 errors or distances that do not vary.
    """
    e = np.abs(np.asarray(errors, dtype=np.float64))
    x = np.asarray(log_ratios, dtype=np.float64)
    w = np.ones_like(e) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(e) & np.isfinite(x) & np.isfinite(w) & (w > 0)
    e, x, w = e[ok], x[ok], w[ok]
    if e.size < 3:
        return None
    w = w / w.sum()
    x_bar, e_bar = float(np.dot(w, x)), float(np.dot(w, e))
    var = float(np.dot(w, (x - x_bar) ** 2))
    if not var > 1e-12:
        return None
    slope = float(np.dot(w, (x - x_bar) * (e - e_bar))) / var
    return {
        "horizon": float(horizon),
        "slope": max(0.0, slope),
        "ref": x_bar,
        "span": float(x.max()),
    }


@dataclass(frozen=True)
class Uncertainty:
    """Bootstrap replicates and out-of-sample errors of a fit (see module docstring).

    Attributes:
        scheme: ``"block"`` (moving blocks within every curve, the default) or
            ``"curve+block"`` (whole curves resampled too: fits before issue 16.4).
        params: parameter vectors of the bootstrap replicates with finite refits, shape
            ``(n_boot, n_params)``.
        converged: fraction of replicates whose refit converged.
        blocks: moving-block length per training curve.
        errors: pooled relative errors of the leave-one-curve-out predictions.
        error_source: how ``errors`` were obtained.
        seed: seed of the random draws (resampling and band error draws).
        error_weights: the steps each error stands for (span weights,
            :func:`lrlaw.fitting.weighting.span_weights`), so that the error quantiles do
            not depend on how densely the held-out stretch was logged; ``None``
            (fits saved before lrlaw recorded them): equal weights.
        mc_error: Monte-Carlo error of the 90 % band on the training curves
            (:meth:`mc_error_of`): ``{"level", "edge", "edge_max", "width_share"}``;
            ``None`` when not computed (fewer than 4 replicates, or older fits).
        curve_params: parameters of the leave-one-curve-out refits, ``(k, n_params)``,
            the curve-level (jackknife) term of the band; ``None`` with fewer than
            three curves, and in older fits.
        growth: how the error term grows past the fitted horizon
            (:func:`horizon_growth`: ``{"horizon", "slope", "ref", "span"}``); ``None``
            (scheme ``"block"``, the forward split's distances do not vary, or older
            fits): the same error term at every step.
    """

    scheme: str
    params: np.ndarray
    converged: float
    blocks: dict[str, int]
    errors: np.ndarray
    error_source: str
    seed: int
    error_weights: np.ndarray | None = None
    mc_error: dict[str, float] | None = None
    curve_params: np.ndarray | None = None
    growth: dict[str, float] | None = None

    def __repr__(self) -> str:
        """One line: the scheme and the sizes of the arrays (not their values)."""
        return (
            f"Uncertainty(scheme={self.scheme!r}, n_boot={self.n_boot}, "
            f"converged={self.converged:.3g}, blocks={self.blocks}, "
            f"errors=<{self.errors.size} values>, error_source={self.error_source!r}, "
            f"seed={self.seed})"
        )

    def warnings(self, threshold: float = 0.1) -> list[str]:
        """A warning when more than ``threshold`` (10 %) of the bootstrap refits failed."""
        failed = 1.0 - self.converged
        if not failed > threshold:
            return []
        return [
            f"{100 * failed:.0f} % of the bootstrap refits did not converge; the parameter "
            f"errors and the prediction band use all {self.n_boot} finite replicates, those "
            "stopped by the iteration cap as they stopped (they are the resamples the data "
            "identify worst: leaving them out would make the band too narrow, keeping them may "
            "make it wide); add curves that determine the parameters better"
        ]

    @property
    def n_boot(self) -> int:
        """Number of bootstrap replicates."""
        return int(self.params.shape[0])

    def replicates(self) -> np.ndarray:
        """The parameter replicates with the curve-level term: each block replicate plus
        its jackknife deviation of the leave-one-curve-out parameters (as the band adds
        it to the predictions; :func:`jackknife_deviations`), or the block replicates
        alone without that term."""
        if self.curve_params is None or len(self.curve_params) < 2 or self.n_boot == 0:
            return self.params
        return self.params + jackknife_deviations(self.curve_params, self.n_boot)

    def horizon_growth_at(self, steps: np.ndarray | None) -> np.ndarray | None:
        r"""What the error sizes grow by at each of ``steps``:
        ``slope max(0, ln max(1, t / horizon) - ref)`` from :attr:`growth`
        (:func:`horizon_growth`), or ``None`` (no growth) without a growth estimate or
        without ``steps``."""
        g = self.growth
        if g is None or steps is None or not g["horizon"] > 0:
            return None
        t = np.asarray(steps, dtype=np.float64)
        x = np.log(np.maximum(1.0, t / g["horizon"]))
        return g["slope"] * np.maximum(0.0, x - g["ref"])

    def stderr(self) -> np.ndarray:
        """Bootstrap standard error of each parameter, the curve-level (jackknife) term
        included: the block bootstrap alone shows only the noise within the curves."""
        return np.std(self.replicates(), axis=0, ddof=1)

    def correlations(self) -> np.ndarray:
        """Bootstrap correlation matrix of the parameters (NaN where a parameter is fixed),
        the curve-level term included (:meth:`replicates`)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.corrcoef(self.replicates(), rowvar=False)

    def band(
        self,
        replicate_preds: np.ndarray,
        level: float,
        center: np.ndarray | None = None,
        curve_preds: np.ndarray | None = None,
        steps: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower/upper band from replicate predictions ``(n_boot, n_steps)``.

        Each replicate is scaled by ``1 + s |e|`` for every one of :data:`ERROR_QUANTILES`
        evenly spaced quantiles of ``|e|`` over the out-of-sample errors (weighted by
        the steps each error stands for, ``error_weights``) and both signs ``s`` (see
        the module docstring), and the central ``level`` quantiles
        of all ``n_boot x 2 x ERROR_QUANTILES`` scaled curves are taken.  With
        ``curve_preds`` (the leave-one-curve-out refits' predictions ``(k, n_steps)``)
        each replicate first gets its jackknife deviation (:func:`jackknife_deviations`).  Using the
        quantiles of the errors instead of one random draw per replicate makes the
        band deterministic given the replicates: with one draw each, which of the
        few large errors (after an LR drop) land on which replicates moved the 90 %
        band of the MPL 100M fit between 73 % and 93 % coverage.  With ``center``
        (the fit's own prediction at the same steps) the band is widened where
        needed so that ``lo <= center <= hi``.  With ``steps`` (the steps of the
        columns) and a growth estimate (:attr:`growth`), the error sizes at step ``t``
        are ``|e|_k + g(t)`` (:meth:`horizon_growth_at`): past the fitted horizon the
        error term grows as the forward split measured.
        """
        if not 0 < level < 1:
            raise ValueError(f"level={level} must be in (0, 1)")
        preds = np.asarray(replicate_preds, dtype=np.float64)
        if curve_preds is not None and len(curve_preds) >= 2 and preds.shape[0] > 0:
            preds = preds + jackknife_deviations(curve_preds, preds.shape[0])
        if self.errors.size:
            k = ERROR_QUANTILES
            probs = (np.arange(k) + 0.5) / k
            q = _weighted_quantiles(np.abs(self.errors), self.error_weights, probs)
            sizes = np.concatenate([-q[::-1], q])
            signs = np.concatenate([-np.ones(k), np.ones(k)])
        else:
            sizes = signs = np.zeros(1)
        grow = self.horizon_growth_at(steps) if self.errors.size else None
        if grow is not None and grow.shape != (preds.shape[1],):
            raise ValueError(f"steps: {grow.shape[0]} values for {preds.shape[1]} columns")
        factors = 1.0 + sizes
        probs = [(1 - level) / 2, (1 + level) / 2]
        lo, hi = np.empty(preds.shape[1]), np.empty(preds.shape[1])
        chunk = max(1, 2_000_000 // max(1, preds.shape[0] * factors.size))
        for a in range(0, preds.shape[1], chunk):
            # One row per step (the scaled curves contiguous): the same values and so
            # the same quantiles as along the columns, ~25 % faster; nanquantile only
            # when there is a NaN (without one it gives np.quantile's values).
            if grow is None:
                part = preds.T[a : a + chunk, :, None] * factors[None, None, :]
            else:
                fac = 1.0 + sizes[None, :] + signs[None, :] * grow[a : a + chunk, None]
                part = preds.T[a : a + chunk, :, None] * fac[:, None, :]
            part = part.reshape(part.shape[0], -1)
            lo[a : a + chunk], hi[a : a + chunk] = _quantiles(part, probs)
        if center is not None:
            center = np.asarray(center, dtype=np.float64)
            lo, hi = np.minimum(lo, center), np.maximum(hi, center)
        return lo, hi

    def mc_error_of(
        self,
        replicate_preds: Sequence[np.ndarray],
        level: float = 0.9,
        curve_preds: Sequence[np.ndarray | None] | None = None,
    ) -> dict[str, float] | None:
        r"""Monte-Carlo error of the band edges from a finite number of replicates.

        The replicates are independent draws, so the band built from each half of
        them is an independent estimate with twice the variance of the full band's
        (a quantile's sampling variance is inversely proportional to the sample size).
        For band edges ``q_A, q_B`` of the two halves the standard error of the full
        band's edge is therefore ``|q_A - q_B| / 2`` (the split-half estimate of
        Monte-Carlo error; Efron & Tibshirani 1993, ch. 19, give the delta-method
        variant).  ``replicate_preds``: per curve, the replicates' predictions
        ``(n_boot, n_steps)``.  Returns the root mean square (``edge``) and the largest
        (``edge_max``) over all steps and both edges of that error relative to the
        loss, and its root mean square relative to the band's width (``width_share``),
        or ``None`` with fewer than 4 replicates.
        """
        preds = [np.asarray(p, dtype=np.float64) for p in replicate_preds]
        if not preds or preds[0].shape[0] < 4:
            return None
        half = preds[0].shape[0] // 2
        edges, shares = [], []
        cps = list(curve_preds) if curve_preds is not None else [None] * len(preds)
        for p, cp in zip(preds, cps):
            if p.shape[1] == 0:
                continue
            if cp is not None and len(cp) >= 2:
                p = p + jackknife_deviations(cp, p.shape[0])
            lo, hi = self.band(p, level)
            lo_a, hi_a = self.band(p[:half], level)
            lo_b, hi_b = self.band(p[half : 2 * half], level)
            # inf - inf at steps whose edges are infinite (diverged replicates): NaN,
            # dropped below with the other non-finite steps
            with _quiet_non_finite():
                center = np.abs(np.nanmedian(p, axis=0))
                width = np.maximum(hi - lo, 1e-300)
                for a, b in ((lo_a, lo_b), (hi_a, hi_b)):
                    se = np.abs(a - b) / 2
                    edges.append(se / center)
                    shares.append(se / width)
        if not edges:
            return None
        edge, share = np.concatenate(edges), np.concatenate(shares)
        # Steps where a replicate's prediction is not finite (a diverged replicate at the
        # first steps) have no Monte-Carlo error; they would make every figure nan.
        ok = np.isfinite(edge) & np.isfinite(share)
        if not np.any(ok):
            return None
        edge, share = edge[ok], share[ok]
        return {
            "level": float(level),
            "edge": _rms(edge),
            "edge_max": float(np.max(edge)),
            "width_share": _rms(share),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (see :meth:`from_dict`)."""
        return {
            "scheme": self.scheme,
            "params": self.params.tolist(),
            "converged": self.converged,
            "blocks": dict(self.blocks),
            "errors": self.errors.tolist(),
            "error_source": self.error_source,
            "seed": self.seed,
            "error_weights": None if self.error_weights is None else self.error_weights.tolist(),
            "mc_error": self.mc_error,
            "curve_params": None if self.curve_params is None else self.curve_params.tolist(),
            "growth": self.growth,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Uncertainty:
        """Inverse of :meth:`to_dict`."""
        return cls(
            scheme=str(data["scheme"]),
            params=np.asarray(data["params"], dtype=np.float64),
            converged=float(data["converged"]),
            blocks={str(k): int(v) for k, v in data["blocks"].items()},
            errors=np.asarray(data["errors"], dtype=np.float64),
            error_source=str(data["error_source"]),
            seed=int(data["seed"]),
            error_weights=(
                None
                if data.get("error_weights") is None
                else np.asarray(data["error_weights"], dtype=np.float64)
            ),
            mc_error=(
                None
                if data.get("mc_error") is None
                else {str(k): float(v) for k, v in data["mc_error"].items()}
            ),
            curve_params=(
                None
                if data.get("curve_params") is None
                else np.asarray(data["curve_params"], dtype=np.float64)
            ),
            growth=(
                None
                if data.get("growth") is None
                else {str(k): float(v) for k, v in data["growth"].items()}
            ),
        )
