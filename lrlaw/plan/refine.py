r"""Refined learning-rate schedules from logged gradient norms (Defazio et al. 2023).

Defazio, Cutkosky, Mehta, Mishchenko, "When, Why and How Much? Adaptive
Learning Rate Scheduling by Refinement" (arXiv 2310.07831, 2023), minimise
their last-iterate bound for SGD (see :mod:`lrlaw.laws.convex`) over the
schedule for a given sequence of gradient norms ``G_t``.  The minimiser is

    w_t   = G_t^-2,
    eta_t ∝ w_t * sum_{p>t} w_p          (so eta_T = 0),

computed from the gradient norms of a previous run, median-filtered first
because single-step norms are noisy.  With nearly constant norms this is a
linear decay to zero; norms that fall early give a warmup-like rise, and the
vanishing tail sum ``sum_{p>t} w_p`` gives a rapid anneal at the end.

lrlaw's version (:func:`refine_schedule`), for a run of ``T`` steps, one LR
per step ``t = 0..T``:

1. the logged norms (every few steps) are median-filtered over a window of
   ``width`` times the number of logged points (odd; ``mode="nearest"`` at
   the ends), then interpolated linearly to every step ``0..T`` (the first
   and last logged values are held outside the logged range).  With
   ``total`` different from the last logged step, the logged profile is
   stretched in time: step ``t`` reads the norm logged at ``t * T_log / T``;
2. ``r_t = w_t * sum_{p=t+1..T} w_p`` with ``w_t = G_t^-2`` (a reversed
   cumulative sum; no loop over steps);
3. ``eta_t = peak * r_t / max_{t >= W} r_t`` for ``t >= W`` (``W`` = warmup),
   and for ``t < W`` a linear warmup from ``warmup_start`` at step 0 to
   ``eta_W`` at step ``W``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lrlaw.errors import DataError, LrlawError
from lrlaw.schedules import Schedule, from_array

if TYPE_CHECKING:
    from lrlaw.fitting import FitResult
    from lrlaw.plan.compare import ScheduleComparison

__all__ = [
    "RefinedComparison",
    "RefinedSchedule",
    "compare_refined",
    "grad_norm_per_step",
    "median_smooth",
    "read_grad_norms",
    "refine_schedule",
    "refined_shape",
]


def read_grad_norms(
    path: str | os.PathLike,
    *,
    grad_col: str = "grad_norm",
    step_col: str | None = None,
    run: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Logged gradient norms ``(steps, norms)`` from a training log.

    Any log :mod:`lrlaw.io.readers` reads (CSV/TSV/parquet, JSONL, a W&B JSON export
    such as ``data/schaipp-124m/stable-124m-lr0.001.json``, TensorBoard), through
    :func:`lrlaw.io.readers.read_series`: the column ``grad_col``, its steps found by
    name unless ``step_col`` is given; a resumed run's repeated steps keep the
    last value, NaN/inf entries are dropped.  ``run`` picks a run in a file
    that holds several.

    Raises:
        DataError: no such column or run (the message lists what there is), a
            norm <= 0 (``w_t = G_t^-2`` needs > 0; the message names the step), or
            fewer than two norms.
    """
    from lrlaw.io import ReadOptions, read_series

    options = ReadOptions(step_col=step_col, max_points=None)
    series = read_series(path, grad_col, run=run, options=options)
    steps = series.index.to_numpy(dtype=np.int64)
    norms = series.to_numpy(dtype=np.float64)
    bad = np.flatnonzero(norms <= 0)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: column '{grad_col}', step {int(steps[i])}: expected a gradient norm > 0, "
            f"got {float(norms[i])!r}"
        )
    if steps.size < 2:
        raise DataError(f"{path}: column '{grad_col}' has {steps.size} value(s); need at least 2")
    return steps, norms


def median_smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Running median over ``window`` consecutive values (odd; ends padded with the edge value).

    ``scipy.ndimage.median_filter(values, size=window, mode="nearest")``;
    ``window = 1`` returns the values unchanged.

    Example:
        >>> median_smooth(np.array([1.0, 9.0, 1.0, 1.0, 5.0, 1.0]), 3).tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    from scipy.ndimage import median_filter

    if isinstance(window, bool) or int(window) != window or window < 1 or window % 2 == 0:
        raise LrlawError(f"median window={window!r} must be an odd integer >= 1")
    values = np.asarray(values, dtype=np.float64)
    if window == 1:
        return values.copy()
    return median_filter(values, size=int(window), mode="nearest")


def grad_norm_per_step(steps: np.ndarray, norms: np.ndarray, total: int) -> np.ndarray:
    """Gradient norm at every step ``0..total`` from norms logged at some steps.

    Linear interpolation between logged steps; the first (last) logged value
    is held before (after) the logged range.

    Example:
        >>> grad_norm_per_step(np.array([2, 4]), np.array([1.0, 3.0]), 5).tolist()
        [1.0, 1.0, 1.0, 2.0, 3.0, 3.0]
    """
    steps = np.asarray(steps, dtype=np.float64)
    norms = np.asarray(norms, dtype=np.float64)
    if steps.ndim != 1 or steps.shape != norms.shape or steps.size == 0:
        raise LrlawError("steps and norms must be non-empty 1-D arrays of equal length")
    if np.any(np.diff(steps) <= 0):
        raise LrlawError("the logged steps must be strictly increasing")
    return np.interp(np.arange(int(total) + 1, dtype=np.float64), steps, norms)


def refined_shape(grad_norm: np.ndarray) -> np.ndarray:
    r"""Unnormalised refined schedule ``r_t = w_t * sum_{p=t+1..T} w_p``, ``w_t = G_t^-2``.

    ``grad_norm`` holds ``G_0 .. G_T`` (one per step); ``r_T = 0``.  Defazio et
    al. 2023 (arXiv 2310.07831), the refinement of their last-iterate bound.

    Example:
        >>> refined_shape(np.array([1.0, 1.0, 1.0, 1.0])).tolist()  # constant norms: linear decay
        [3.0, 2.0, 1.0, 0.0]
    """
    g = np.asarray(grad_norm, dtype=np.float64)
    if g.ndim != 1 or g.size < 2:
        raise LrlawError("grad_norm must be a 1-D series of at least two steps")
    bad = np.flatnonzero(~np.isfinite(g) | (g <= 0))
    if bad.size:
        raise LrlawError(
            f"grad_norm[{int(bad[0])}] = {float(g[bad[0]])!r}: expected a finite norm > 0"
        )
    w = g**-2.0
    # sum_{p>t} w_p as a reversed cumulative sum (exclusive of t).
    tail = np.concatenate([np.cumsum(w[::-1])[::-1][1:], [0.0]])
    return w * tail


@dataclass(frozen=True)
class RefinedSchedule:
    """A refined schedule and what it was built from.

    Attributes:
        schedule: the per-step schedule (steps ``0..total``; ``warmup`` and ``peak`` set).
        log_steps: steps of the logged gradient norms.
        log_norms: the logged norms, as read.
        smoothed: the median-filtered norms at ``log_steps``.
        grad_norm: the smoothed norm used at every step ``0..total``.
        window: median-filter window, in logged points.
    """

    schedule: Schedule
    log_steps: np.ndarray
    log_norms: np.ndarray
    smoothed: np.ndarray
    grad_norm: np.ndarray
    window: int

    @property
    def lr(self) -> np.ndarray:
        """Learning rate at every step ``0..total``."""
        return self.schedule.values()


def refine_schedule(
    steps: np.ndarray,
    norms: np.ndarray,
    *,
    peak: float,
    warmup: int = 0,
    warmup_start: float = 0.0,
    width: float = 0.1,
    total: int | None = None,
) -> RefinedSchedule:
    r"""The refined schedule of Defazio et al. (2023) from logged gradient norms.

    ``eta_t = peak * r_t / max_{s>=W} r_s`` for ``t >= W``, with
    ``r_t = w_t sum_{p>t} w_p``, ``w_t = G_t^-2`` (:func:`refined_shape`) and
    ``G`` the median-filtered, interpolated norms; a linear warmup from
    ``warmup_start`` to ``eta_W`` over the first ``W`` steps (see the module
    docstring for every step).

    Args:
        steps: steps at which the norms were logged (strictly increasing, >= 0).
        norms: the logged gradient norms (> 0).
        peak: the largest learning rate after warmup.
        warmup: warmup steps ``W`` (0: none).
        warmup_start: learning rate at step 0 when ``W > 0``.
        width: median-filter window as a fraction of the number of logged
            points (rounded to an odd count; 0 means no smoothing).
        total: run length ``T`` (default: the last logged step); the logged
            profile is stretched to it.

    Raises:
        LrlawError: invalid arguments (a message names the problem).

    Example:
        >>> r = refine_schedule(np.arange(0, 101, 10), np.ones(11), peak=1.0, width=0)
        >>> r.lr[[0, 50, 100]].tolist()  # constant norms: linear decay to 0
        [1.0, 0.5, 0.0]
    """
    steps = np.asarray(steps)
    norms = np.asarray(norms, dtype=np.float64)
    if steps.ndim != 1 or steps.shape != norms.shape or steps.size < 2:
        raise LrlawError("need at least two logged gradient norms (1-D steps and norms)")
    if np.any(np.diff(steps) <= 0) or steps[0] < 0:
        raise LrlawError("the logged steps must be >= 0 and strictly increasing")
    bad = np.flatnonzero(~np.isfinite(norms) | (norms <= 0))
    if bad.size:
        raise LrlawError(
            f"gradient norm {float(norms[bad[0]])!r} at step {int(steps[bad[0]])}: "
            "expected a finite norm > 0"
        )
    if not (np.isfinite(peak) and peak > 0):
        raise LrlawError(f"peak={peak!r} must be a finite learning rate > 0")
    if not (np.isfinite(warmup_start) and 0 <= warmup_start <= peak):
        raise LrlawError(f"warmup_start={warmup_start!r} must be in [0, peak={peak}]")
    if not (np.isfinite(width) and 0 <= width <= 1):
        raise LrlawError(f"width={width!r} must be a fraction in [0, 1]")
    last_logged = int(steps[-1])
    if total is None:
        total = last_logged
    if isinstance(total, bool) or int(total) != total or total < 2:
        raise LrlawError(f"total={total!r} must be an integer >= 2")
    total = int(total)
    if isinstance(warmup, bool) or int(warmup) != warmup or not 0 <= warmup < total:
        raise LrlawError(f"warmup={warmup!r} must be an integer in [0, total={total})")
    warmup = int(warmup)
    window = max(1, round(width * steps.size))
    window += 1 - window % 2  # odd
    window = min(window, steps.size - (1 - steps.size % 2))
    smoothed = median_smooth(norms, window)
    if total == last_logged:
        grad_norm = grad_norm_per_step(steps, smoothed, total)
    else:  # stretch the logged profile: step t reads the log at t * T_log / T
        where = np.arange(total + 1) * (last_logged / total)
        grad_norm = np.interp(where, steps.astype(np.float64), smoothed)
    shape = refined_shape(grad_norm)
    top = float(np.max(shape[warmup:]))
    lr = peak * shape / top
    if warmup > 0:
        lr[:warmup] = warmup_start + (lr[warmup] - warmup_start) * np.arange(warmup) / warmup
    schedule = dataclasses.replace(from_array(lr), warmup=warmup, peak=float(np.max(lr)))
    return RefinedSchedule(
        schedule=schedule,
        log_steps=steps.astype(np.int64),
        log_norms=norms,
        smoothed=smoothed,
        grad_norm=grad_norm,
        window=window,
    )


@dataclass(frozen=True)
class RefinedComparison:
    """Predicted final losses of a refined schedule and of reference schedules.

    ``table`` ranks every schedule when a reference is best (a
    :class:`~lrlaw.plan.compare.ScheduleComparison`, with the compute-to-match of
    each schedule by the rescaled best reference).  When the refined schedule
    is best, the comparison ranks the references only, because an array
    schedule cannot be rescaled: ``refined_loss`` and the gap to the best
    reference are then reported separately (:meth:`text`).
    """

    table: ScheduleComparison
    name: str
    refined_loss: float
    refined_band: tuple[float, float]
    refined_best: bool

    def text(self) -> str:
        """The comparison as text."""
        if not self.refined_best:
            return self.table.table()
        best = self.table.best
        gap = best.final_loss - self.refined_loss
        band = ""
        if self.table.has_band:
            lo, hi = self.refined_band
            band = f" ({100 * self.table.level:.0f} % band {lo:.4f}-{hi:.4f})"
        return (
            f"{self.name}: predicted final loss {self.refined_loss:.4f}{band}; best, "
            f"{gap:.4f} ({100 * gap / best.final_loss:.2f} %) below the best reference "
            f"({best.name}).\nThe references, ranked (a per-step array schedule cannot be "
            f"rescaled, so '{self.name}' is not in the table):\n\n{self.table.table()}"
        )


def compare_refined(
    fit: FitResult,
    refined: Schedule,
    references: dict[str, Schedule],
    *,
    name: str = "refined",
    level: float = 0.9,
) -> RefinedComparison:
    """Rank ``refined`` against ``references`` by the final loss ``fit`` predicts.

    Uses :func:`lrlaw.plan.compare.compare_schedules` (see :class:`RefinedComparison`
    for the case where the refined schedule is best).
    """
    from lrlaw.plan.compare import compare_schedules

    if name in references:
        raise LrlawError(f"schedule name {name!r} is taken by a reference schedule")
    refs = compare_schedules(fit, list(references.values()), level=level, names=list(references))
    final = float(fit.predict(refined.values(), np.array([refined.total]))[0])
    band = (float("nan"), float("nan"))
    if refs.has_band:
        lo, hi = fit.predict_band(refined.values(), np.array([refined.total]), level)
        band = (float(lo[0]), float(hi[0]))
    if final < refs.best.final_loss:
        return RefinedComparison(refs, name, final, band, refined_best=True)
    table = compare_schedules(
        fit, [refined, *references.values()], level=level, names=[name, *references]
    )
    return RefinedComparison(table, name, final, band, refined_best=False)
