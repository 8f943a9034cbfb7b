"""Planning with a fitted law: compare candidate LR schedules before running them.

:func:`compare_schedules` predicts the full loss curve of each candidate
schedule with a fitted law and ranks the candidates by their predicted final
loss (the loss at each schedule's own ``total``; candidates may differ in
length).  For each candidate it also reports the gap to the best one and the
*compute to match*: how many steps the best schedule, stretched or shrunk
with :func:`rescale`, needs to reach that candidate's predicted final loss,
relative to the candidate's own length (``-23 %``: the best schedule gets
there with 23 % fewer steps).  Per-step array schedules and ``phases`` specs
cannot be rescaled: when one ranks best, the best spec schedule is the
reference instead (:attr:`ScheduleComparison.reference`).

Rescaling (:func:`rescale`) keeps the shape of a schedule and changes its
length: every step-count key is multiplied by ``T' / T`` and rounded --
``total``, ``decay_start``, ``milestones``, ``every``, ``step_size``,
``cooldown``, ``cooldown_steps``, ``anneal_steps`` -- while ``warmup``
stays fixed (warmup is set by optimisation stability, not by the budget),
and so do the non-step integers ``batch_size`` and ``tokens_per_step``.
Fractions (``decay_frac``, ``pct_start``) and rates are unchanged, so they
scale implicitly; per-step rates (``exponential``'s ``rate`` per ``every``
steps) therefore keep their meaning per interval.  ``phases`` specs and
open-ended schedules (no ``total``) cannot be rescaled.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw._x64 import with_x64
from lrlaw.errors import LrlawError, ScheduleError
from lrlaw.fitting import extrapolation_warnings
from lrlaw.schedules import Schedule, rescale

if TYPE_CHECKING:
    import pandas as pd

    from lrlaw.fitting import FitResult

__all__ = [
    "ComparisonRow",
    "ScheduleComparison",
    "compare_schedules",
    "final_losses_batched",
]


@dataclass(frozen=True)
class ComparisonRow:
    """One candidate schedule in a :class:`ScheduleComparison`.

    ``match_pct`` is ``100 (T' / total - 1)`` where ``T'`` (``match_steps``,
    fractional: interpolated between the two integer lengths that bracket
    the target) is the length at which the rescaled best schedule predicts
    this row's final loss; negative means the best schedule needs fewer
    steps.  ``None`` when ``T'`` lies outside the search bracket.
    """

    rank: int
    name: str
    spec: str
    total: int
    final_loss: float
    band_lo: float
    band_hi: float
    gap: float
    gap_pct: float
    match_steps: float | None
    match_pct: float | None


@dataclass(frozen=True)
class ScheduleComparison:
    """Candidate schedules ranked by predicted final loss (best first)."""

    rows: tuple[ComparisonRow, ...]
    schedules: tuple[Schedule, ...]  # in the order of ``rows``
    level: float
    has_band: bool
    law: str
    bracket: tuple[float, float]
    #: Name of the schedule rescaled for the compute-to-match column: the best
    #: candidate that can be rescaled (a spec schedule); ``None`` when none can.
    reference: str | None = None
    #: Candidates far outside what the fit saw
    #: (:func:`lrlaw.fitting.diagnostics.extrapolation_warnings`).
    warnings: tuple[str, ...] = ()

    @property
    def best(self) -> ComparisonRow:
        return self.rows[0]

    def to_frame(self) -> pd.DataFrame:
        """One row per candidate (ranked), columns as in :class:`ComparisonRow`."""
        import pandas as pd

        frame = pd.DataFrame([r.__dict__ for r in self.rows])
        return frame.astype({"match_steps": float, "match_pct": float})

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (NaN and missing values become ``None``)."""

        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {
            "law": self.law,
            "level": self.level,
            "best": self.best.name,
            "reference": self.reference,
            "rows": [{k: clean(v) for k, v in r.__dict__.items()} for r in self.rows],
            "warnings": list(self.warnings),
        }

    def table(self) -> str:
        """Plain-text table ranked by predicted final loss."""
        ref = self.reference
        pct = f"{100 * self.level:.0f} %"
        header = ["rank", "schedule", "steps", "final loss"]
        if self.has_band:
            header.append(f"{pct} band")
        header += ["gap", "gap %"] + ([f"{ref} needs"] if ref else [])
        lines = []
        for r in self.rows:
            cells = [str(r.rank), r.name, str(r.total), f"{r.final_loss:.4f}"]
            if self.has_band:
                cells.append(f"{r.band_lo:.4f}-{r.band_hi:.4f}")
            cells += ["-", "-"] if r.rank == 1 else [f"+{r.gap:.4f}", f"+{r.gap_pct:.2f} %"]
            if ref is None:
                pass
            elif r.name == ref:
                cells.append("(best)" if r.rank == 1 else "(reference)")
            else:
                cells.append(
                    "out of range" if r.match_pct is None else f"{r.match_pct:+.1f} % steps"
                )
            lines.append(cells)
        widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]

        def fmt(cells: list[str]) -> str:
            left = {1}
            return "  ".join(
                c.ljust(w) if i in left else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        lo, hi = self.bracket
        note = [
            f"Predicted final loss ({self.law} law) at each schedule's own total; "
            "ranked best first."
        ]
        which = "the best schedule" if ref == self.best.name else "the best spec schedule"
        if ref is None:
            note.append(
                "No compute-to-match column: no candidate is a spec schedule that can be "
                "rescaled (per-step arrays and phases schedules cannot)."
            )
        else:
            note.append(
                f"'{ref} needs': steps {which} ({ref}, rescaled; warmup fixed) needs to "
                "reach that schedule's final loss, relative to that schedule's length "
                f"(negative: fewer steps; searched over {lo:g}x-{hi:g}x)."
            )
        return "\n".join([fmt(header), *(fmt(c) for c in lines), "", *note])


def _lr(schedule: Schedule) -> np.ndarray:
    """``schedule.values()`` (steps ``0..T``), evaluated on a padded grid of steps.

    Schedules hold their final value after ``total``, so evaluating on
    ``bucket(T + 1)`` steps and slicing gives the same values while JAX reuses
    its compiled operations across the lengths tried by the bisection.
    """
    from lrlaw.laws.base import bucket

    n = schedule.total + 1
    return schedule.values(bucket(n, 1024))[:n]


def _final(fit: FitResult, schedule: Schedule) -> float:
    return float(fit.predict(_lr(schedule), np.array([schedule.total]))[0])


@functools.cache
def _final_from_areas(law: Any) -> Any:
    """``law.predict`` on given ``(S1(T), S2(T))`` vectors, jitted."""
    import jax

    return jax.jit(lambda params, s1, s2: law.predict(params, (s1, s2)))


@functools.cache
def _batched_final(law: Any) -> Any:
    """One jitted, vmapped function ``(params, lrs) -> L(T)`` per row (momentum law)."""
    import jax

    from lrlaw.laws.areas import areas_at

    def one(params: Any, lr: Any) -> Any:
        steps = jax.numpy.asarray([lr.shape[0] - 1])
        s1, s2 = areas_at(lr, steps, law.lam, law.warmup)
        return law.predict(params, (s1, s2))[0]

    return jax.jit(jax.vmap(one, in_axes=(None, 0)))


def _batchable(law: Any) -> bool:
    return getattr(law, "name", None) == "momentum" and not getattr(law, "fit_lam", True)


@with_x64
def final_losses_batched(law: Any, params: Any, lrs: Any) -> np.ndarray:
    r"""Predicted loss ``L(T)`` at the last step of each row of ``lrs`` (N x (T + 1)), in
    **one** jitted, vmapped call (momentum law without a fitted ``lam``).

    Momentum law (Tissue et al. 2024, arXiv 2408.11029, eq. 1):
    ``L(T) = L0 + A S1(T)^-alpha - C S2(T)`` with the areas of
    :func:`lrlaw.laws.areas.areas_at` at ``T``, the same values as ``predict_curve(law,
    params, lr, [T])``.  With the native kernel (CPU) the numpy array is handed to
    the C loop as it is (rows in turn, each read once, two numbers written): copying
    a large stack of LRs into a jax array would cost more than the loop itself.
    Otherwise one jitted ``vmap`` of :func:`~lrlaw.laws.areas.areas_at` over the rows.

    Raises:
        LrlawError: another law, or ``lrs`` not a 2-D array of finite LRs >= 0 with
            at least 2 steps (row and step named).
    """
    import jax.numpy as jnp

    if not _batchable(law):
        raise LrlawError(
            f"final_losses_batched supports the momentum law with a fixed lam, not "
            f"{getattr(law, 'name', law)!r} (use lrlaw.plan.optimal.final_losses)"
        )
    arr = np.asarray(lrs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise LrlawError(f"lrs must be a 2-D array with >= 2 steps per row, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise LrlawError(f"schedule {i}, step {j}: lr = {arr[i, j]} (need finite and >= 0)")
    if arr.shape[0] == 0:
        return np.zeros(0)
    from lrlaw import _native

    theta = jnp.asarray(params, jnp.float64)
    from lrlaw.laws.areas import NATIVE_BUILD_MIN_STEPS

    # Compile the native kernel (once per machine) only for work that repays it.
    native = _native.available() if arr.size >= NATIVE_BUILD_MIN_STEPS else _native.built()
    if native and _backend() == "cpu":
        steps = np.array([arr.shape[1] - 1])
        s1, s2 = _native.areas_at_numpy(arr, law.lam, law.warmup == "ignore", steps)
        return np.asarray(
            _final_from_areas(law)(theta, jnp.asarray(s1[:, 0]), jnp.asarray(s2[:, 0]))
        )
    return np.asarray(_batched_final(law)(theta, jnp.asarray(arr)))


def _backend() -> str:
    import jax

    return jax.default_backend()


def _finals(fit: FitResult, schedules: Sequence[Schedule]) -> np.ndarray:
    """``_final`` of every schedule; equal lengths in one vmapped call where the law allows."""
    law = fit.law_object
    if not _batchable(law):
        return np.array([_final(fit, s) for s in schedules])
    out = np.empty(len(schedules))
    by_total: dict[int, list[int]] = {}
    for i, s in enumerate(schedules):
        by_total.setdefault(int(s.total), []).append(i)
    for idx in by_total.values():
        lrs = np.stack([_lr(schedules[i]) for i in idx])
        out[idx] = final_losses_batched(law, fit.param_vector, lrs)
    return out


def _rescalable(schedule: Schedule) -> bool:
    """Whether :func:`rescale` can stretch ``schedule`` (a spec schedule with a total)."""
    try:
        rescale(schedule, int(schedule.total))
    except ScheduleError:
        return False
    return True


def _match_steps(
    fit: FitResult, best: Schedule, target: float, bracket: tuple[float, float], ref: int
) -> float | None:
    """Fractional length ``T'`` at which the rescaled ``best`` predicts ``target``.

    Integer bisection for the smallest ``T'`` in ``[lo, hi]`` (``bracket`` times
    ``ref``) whose predicted final loss is <= ``target``, then linear
    interpolation between ``T' - 1`` and ``T'``.  ``None`` outside the bracket.
    """
    lo = max(best.warmup + 2, math.floor(bracket[0] * ref))
    hi = max(lo + 1, math.ceil(bracket[1] * ref))

    def f(t: int) -> float:
        return _final(fit, rescale(best, t))

    f_lo, f_hi = f(lo), f(hi)
    if not (f_lo > target >= f_hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        f_mid = f(mid)
        if f_mid > target:
            lo, f_lo = mid, f_mid
        else:
            hi, f_hi = mid, f_mid
    return lo + (f_lo - target) / (f_lo - f_hi) if f_lo != f_hi else float(hi)


def compare_schedules(
    fit: FitResult,
    schedules: Sequence[Schedule],
    *,
    level: float = 0.9,
    names: Sequence[str] | None = None,
    bracket: tuple[float, float] = (0.2, 5.0),
) -> ScheduleComparison:
    """Rank ``schedules`` by the final loss ``fit`` predicts for them.

    Args:
        fit: a fitted law (:class:`~lrlaw.fitting.core.FitResult`).
        schedules: candidates; each needs a ``total`` (the final loss is at
            each schedule's own ``total``).
        level: level of the prediction band (used when the fit has a bootstrap;
            otherwise ``band_lo``/``band_hi`` are NaN).
        names: display names (default: ``<family>-<i>``, 1-based).
        bracket: search range of the rescaled best schedule's length, as
            multiples of each other schedule's length.

    Raises:
        LrlawError: no schedules, a schedule without total, bad names or level.
    """
    scheds = list(schedules)
    if not scheds:
        raise LrlawError("no schedules to compare")
    if not 0 < level < 1:
        raise LrlawError(f"level={level} must be in (0, 1)")
    for s in scheds:
        if not isinstance(s, Schedule):
            raise LrlawError(f"expected a Schedule, got {s!r}")
        if s.total is None:
            raise LrlawError(f"schedule {s.spec!r} has no total; give total= to compare it")
    if names is None:
        names = [f"{s.spec.split(':', 1)[0]}-{i}" for i, s in enumerate(scheds, start=1)]
    names = list(names)
    if len(names) != len(scheds):
        raise LrlawError(f"{len(names)} names for {len(scheds)} schedules")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LrlawError(f"schedule name(s) {', '.join(dupes)} appear more than once")

    finals = _finals(fit, scheds)
    has_band = fit.uncertainty is not None and fit.uncertainty.n_boot > 0
    bands = []
    for s in scheds:
        if has_band:
            lo, hi = fit.predict_band(_lr(s), np.array([s.total]), level)
            bands.append((float(lo[0]), float(hi[0])))
        else:
            bands.append((math.nan, math.nan))
    order = np.argsort(finals, kind="stable")
    best_loss = float(finals[order[0]])
    # The compute-to-match reference: the best candidate that can be rescaled
    # (per-step arrays and phases schedules cannot).
    ref_i = next((int(i) for i in order if _rescalable(scheds[i])), None)
    rows = []
    for rank, i in enumerate(order, start=1):
        s, loss = scheds[i], float(finals[i])
        steps: float | None
        if ref_i is None:
            steps = pct = None
        elif i == ref_i:
            steps, pct = float(s.total), 0.0
        else:
            steps = _match_steps(fit, scheds[ref_i], loss, bracket, s.total)
            pct = None if steps is None else 100.0 * (steps / s.total - 1)
        rows.append(
            ComparisonRow(
                rank=rank,
                name=names[i],
                spec=s.spec,
                total=int(s.total),
                final_loss=loss,
                band_lo=bands[i][0],
                band_hi=bands[i][1],
                gap=loss - best_loss,
                gap_pct=100.0 * (loss - best_loss) / best_loss,
                match_steps=steps,
                match_pct=pct,
            )
        )
    return ScheduleComparison(
        rows=tuple(rows),
        schedules=tuple(scheds[i] for i in order),
        level=level,
        has_band=has_band,
        law=fit.law,
        bracket=(float(bracket[0]), float(bracket[1])),
        reference=None if ref_i is None else names[ref_i],
        warnings=tuple(
            w
            for name, s in zip(names, scheds)
            for w in extrapolation_warnings(fit.curves, name, _lr(s), s.total)
        ),
    )
