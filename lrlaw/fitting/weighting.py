r"""What each logged point counts for in a fit: span weights, noise, the fit window.

A fit must not depend on how densely a run was logged.  lrlaw's objective is a
Riemann sum of the robust loss over the training steps, not a sum over logged
points::

    J(theta) = sum_i w_i Huber_{delta_i}( log L_obs,i - log L_pred,i(theta) )

- **Span weights** ``w_i``: the number of steps point ``i`` stands for, half the
  interval to each neighbour (:func:`span_weights`).  A run logged every step and
  the same run logged every 100 steps then weight every *stretch of training*
  alike, and a resampling bin (:func:`lrlaw.io.cleaning.resample`) weighs as much as
  the steps it averages, so binning is only a speed-up.  An interval longer than
  :data:`lrlaw.io.cleaning.GAP_FACTOR` times the local median interval (a gap in the
  log) counts as that cap, so the points next to a gap do not speak for the missing
  stretch (intervals that grow steadily, as geometric bins do, are no gaps).
  The weights are scaled to mean 1 over the fitted points, so a log
  with even intervals weighs every point 1, as the unweighted objective of Tissue
  et al. (2024) and Luo et al. (2025).
- **Noise-scaled Huber threshold** ``delta_i = max(delta, 1.345 sigma_i)``: the
  Huber threshold grows with the noise ``sigma_i`` of the point (Huber 1964's
  ``c = 1.345`` keeps 95 % efficiency under Gaussian noise), so noise is fitted
  by least squares and only real outliers get the robust linear branch.  A bin
  mean of ``n`` values has ``sigma_i = sigma / sqrt(n)``; for a clean curve the
  papers' ``delta = 1e-3`` stays the floor.  Without this, a per-step log with 1 %
  noise is fitted by least absolute deviations while its bin means are fitted by
  least squares: binning would change the answer.
- **Noise** ``sigma`` per logged value, estimated from the log itself
  (:func:`noise_level`): the robust spread of each point about the straight line
  through its two neighbours, independent of any law.
- **Start transient** (:func:`start_transient`): the first points of a run that lie
  far from the fitted law (a loss falling from ~10 in the first steps, which no
  law of the forward area describes).  :func:`lrlaw.fitting.core.fit` leaves them out
  and says so; ``min_step`` overrides the choice.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "HUBER_C",
    "TRANSIENT_FLOOR",
    "despiked",
    "huber_thresholds",
    "noise_level",
    "outliers",
    "span_weights",
    "start_transient",
]

#: Huber's tuning constant: 95 % efficiency for Gaussian noise (Huber 1964).
HUBER_C = 1.345
#: A start transient lies at least this far above the law (relative), whatever the noise.
TRANSIENT_FLOOR = 0.01
#: ... and at least this many times the robust residual scale.
TRANSIENT_SCALES = 8.0
#: A start transient ends within this fraction of the window's steps.
TRANSIENT_MAX_SHARE = 0.25


def span_weights(steps: np.ndarray, gap_factor: float | None = None) -> np.ndarray:
    r"""Steps each point stands for: ``w_i = (s_{i+1} - s_{i-1}) / 2`` (one-sided at the ends).

    Each half-interval is capped at half of ``gap_factor`` (default
    :data:`lrlaw.io.cleaning.GAP_FACTOR`) times the local median interval (over 11
    intervals), so a gap in the log does not lend its length to the points beside
    it, while logging that thins out on purpose (geometric bins, evaluations at
    log-spaced steps) keeps its weights.  A single point weighs 1.

    >>> span_weights(np.array([0, 10, 20, 30])).tolist()
    [10.0, 10.0, 10.0, 10.0]
    >>> span_weights(np.array([0, 10, 20, 1000, 1010])).tolist()  # a gap after step 20
    [10.0, 10.0, 30.0, 30.0, 10.0]
    """
    from lrlaw.io import GAP_FACTOR

    s = np.asarray(steps, dtype=np.float64)
    if s.size < 2:
        return np.ones(s.size)
    d = np.diff(s)
    cap = (GAP_FACTOR if gap_factor is None else gap_factor) * _running_median(d, 11)
    half = 0.5 * np.minimum(d, cap)
    w = np.zeros(s.size)
    w[:-1] += half
    w[1:] += half
    w[0] += half[0]  # the end points stand for a full interval on their open side
    w[-1] += half[-1]
    return w


def noise_level(steps: np.ndarray, log_loss: np.ndarray, counts: np.ndarray | None = None) -> float:
    r"""Noise of one logged value, in log-loss units (relative), estimated from the log.

    Each interior point is compared with the straight line through its two
    neighbours, ``e_i = y_i - a y_{i-1} - b y_{i+1}`` with ``a = (s_{i+1} - s_i) /
    (s_{i+1} - s_{i-1})``, ``b = 1 - a``.  For independent noise of ``sigma /
    sqrt(n_i)`` on a point that averages ``n_i`` logged values, ``Var e_i = sigma^2
    (1/n_i + a^2/n_{i-1} + b^2/n_{i+1})``; the estimate is the normalised
    median absolute deviation ``1.4826 median |e_i| / sqrt(...)`` (Hampel 1974), which
    the curvature of a smooth curve and a few spikes barely move.  A smoothed log
    (an EMA written by the trainer) has correlated noise and reads as cleaner than
    it is.  Returns NaN with fewer than 5 points.

    >>> rng = np.random.default_rng(0)
    >>> s = np.arange(20000)
    >>> y = np.log(3 + 5 / np.sqrt(s + 100)) + 0.01 * rng.standard_normal(s.size)
    >>> round(noise_level(s, y), 3)
    0.01
    """
    s = np.asarray(steps, dtype=np.float64)
    y = np.asarray(log_loss, dtype=np.float64)
    if s.size < 5:
        return float("nan")
    n = np.ones(s.size) if counts is None else np.asarray(counts, dtype=np.float64)
    a = (s[2:] - s[1:-1]) / (s[2:] - s[:-2])
    b = 1.0 - a
    e = y[1:-1] - a * y[:-2] - b * y[2:]
    v = 1.0 / n[1:-1] + a * a / n[:-2] + b * b / n[2:]
    return float(1.4826 * np.median(np.abs(e) / np.sqrt(v)))


def huber_thresholds(
    delta: float, noise: float, counts: np.ndarray | None, size: int
) -> np.ndarray:
    """Per-point Huber thresholds ``max(delta, HUBER_C sigma / sqrt(n_i))`` (module docstring)."""
    n = np.ones(size) if counts is None else np.asarray(counts, dtype=np.float64)
    if not np.isfinite(noise):
        return np.full(size, float(delta))
    return np.maximum(float(delta), HUBER_C * noise / np.sqrt(n))


def _robust_scale(r: np.ndarray) -> float:
    """Normalised median absolute deviation about the median."""
    r = np.asarray(r, dtype=np.float64)
    return float(1.4826 * np.median(np.abs(r - np.median(r)))) if r.size else float("nan")


def edge_pad(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """``np.pad(x, (before, after), mode="edge")`` for a non-empty 1-D array, the same
    values in a tenth of the time (``np.pad`` costs ~25 us a call; a fit makes dozens)."""
    x = np.asarray(x)
    if before == 0 and after == 0:
        return x.copy()
    return np.concatenate([np.full(before, x[0], x.dtype), x, np.full(after, x[-1], x.dtype)])


def _running_median(x: np.ndarray, size: int = 5) -> np.ndarray:
    """Running median over ``size`` points (the end values repeated at the edges).

    ``scipy.ndimage.median_filter(x, size, mode="nearest")``, bit for bit for an odd
    ``size`` (the middle value of each window), in numpy: importing scipy.ndimage cost
    a fit 0.15-0.3 s.
    """
    x = np.asarray(x, dtype=np.float64)
    if size % 2 == 0:
        from scipy.ndimage import median_filter

        return median_filter(x, size=size, mode="nearest")
    if x.size == 0:
        return x.copy()
    h = size // 2
    windows = np.lib.stride_tricks.sliding_window_view(edge_pad(x, h, h), size)
    if np.isnan(x).any():
        return np.median(windows, axis=1)
    # the middle value of each odd window: np.median's value, without its overhead
    return np.partition(windows, h, axis=1)[:, h]


def moving_mean(x: np.ndarray, size: int) -> np.ndarray:
    """Centred moving mean over ``size`` points (the end values repeated at the edges).

    ``scipy.ndimage.uniform_filter1d(x, size, mode="nearest")``, bit for bit, in numpy
    (the same running sum: the first window summed in order, then each step's
    difference added, every sum divided by ``size``).
    """
    x = np.asarray(x, dtype=np.float64)
    size = int(size)
    if x.size == 0 or size <= 1:
        return x.copy()
    h = size // 2
    line = edge_pad(x, h, size - 1 - h)
    first = 0.0
    for v in line[:size].tolist():
        first += v
    steps = line[size:] - line[: line.size - size]
    return np.cumsum(np.concatenate([[first], steps])) / size


def start_transient(
    steps: np.ndarray, log_residuals: np.ndarray, noise: np.ndarray | None = None
) -> int:
    r"""Number of leading points that belong to a start transient (0: none).

    A start transient is a stretch at the start of the fit window where the loss
    lies far from the fitted law (above it: a loss falling from ~10; or below it: a
    run without warmup, where ``A S1^-alpha`` shoots up as ``S1 -> 0``).  Far means
    that the absolute running median of the log residuals over 5 points exceeds
    ``max(TRANSIENT_FLOOR, TRANSIENT_SCALES s, 5 sigma_i)``: 1 %, 8 times the robust
    scale ``s`` of all residuals, and 5 times the noise ``sigma_i`` of the point
    (so that noise on sparsely averaged early points is no transient).  The
    transient ends after the last such point within the first
    :data:`TRANSIENT_MAX_SHARE` of the window's steps (a transient can cross the law
    on its way, so the first point near the law is not its end); when points past
    that share are far too, the law misfits the whole curve, which is no
    transient, and nothing is cut.
    """
    s = np.asarray(steps, dtype=np.float64)
    r = np.asarray(log_residuals, dtype=np.float64)
    if r.size < 10:
        return 0
    level = np.full(r.size, max(TRANSIENT_FLOOR, TRANSIENT_SCALES * _robust_scale(r)))
    if noise is not None:
        level = np.maximum(level, 5.0 * np.nan_to_num(np.asarray(noise, dtype=np.float64)))
    far = np.abs(_running_median(r)) > level
    early = s - s[0] <= TRANSIENT_MAX_SHARE * (s[-1] - s[0])
    if not far[0] or (far[~early].any() and far[~early].mean() > 0.05):
        return 0
    end = int(np.flatnonzero(far & early)[-1]) + 1
    # The running median reaches 2 points past the last far point: step back onto it.
    while end > 1 and abs(r[end - 1]) <= level[end - 1]:
        end -= 1
    return end if end < r.size else 0


def outliers(
    log_loss: np.ndarray, log_residuals: np.ndarray, noise: np.ndarray, factor: float = 10.0
) -> np.ndarray:
    r"""Isolated wild points: far from their neighbours *and* from the law.

    Point ``i`` is an outlier when both ``|y_i - med_5(y)_i|`` (its distance from the
    running median of 5 neighbouring log losses) and ``|r_i - med(r)|`` (its log
    residual about the median residual) exceed ``factor max(sigma_i, 1e-3)``, with
    ``sigma_i`` the noise of the point.  A logged 1e30 or a spike to 9.99 on a loss
    of 3.3 is both; a stretch the law misses (the drop after a step decay) is not
    far from its neighbours, and a curve that is merely noisy is not far from
    either.  The fit is robust to outliers through the Huber loss; summary figures
    (R², MAE, WorstE) leave them out and the report lists them.
    """
    y = np.asarray(log_loss, dtype=np.float64)
    r = np.asarray(log_residuals, dtype=np.float64)
    if r.size < 5:
        return np.zeros(r.size, dtype=bool)
    med = _running_median(y)
    level = factor * np.maximum(np.asarray(noise, dtype=np.float64), 1e-3)
    return (np.abs(y - med) > level) & (np.abs(r - np.median(r)) > level)


def despiked(loss: np.ndarray, factor: float = 10.0) -> np.ndarray:
    """``loss`` with isolated wild values replaced by the running median of 5 (for start values).

    A value is wild when its log is more than ``factor`` times ``max(sigma, 1e-3)``
    from the running median of its neighbours (``sigma``: :func:`noise_level` of the
    series, by position).  The laws' start values come from linear least squares on
    the losses, which a single logged 1e30 would otherwise throw off by orders of
    magnitude; the fit itself uses every point, through the robust loss.
    """
    y = np.log(np.asarray(loss, dtype=np.float64))
    if y.size < 5:
        return np.exp(y)
    med = _running_median(y)
    sigma = np.nan_to_num(noise_level(np.arange(y.size), y))
    wild = np.abs(y - med) > factor * max(sigma, 1e-3)
    return np.exp(np.where(wild, med, y))
