"""Loss curves: observed losses plus the full per-step learning-rate schedule.

A :class:`Curve` is what every law consumes: the steps with an observed
loss, the losses, and the learning rate at *every* step from 0 to at least
the last observed step (the areas need the whole schedule).

:func:`schedule_from_table` turns the ``step``/``lr`` columns of a log into
that per-step array:

- rows give the LR at some steps; between two listed steps the LR is
  interpolated linearly (a file that lists the LR at every step therefore
  gives the exact schedule);
- the listed LRs must start at step 0 -- lrlaw never guesses the warmup.
  When a log starts later (the Multi-Power Law curves start right after a
  2160-step warmup), pass a schedule spec instead, or ``warmup=W``: a linear
  warmup from 0 at step 0 to the first listed LR at step ``W``, held at that
  LR until the first listed step;
- the listed LRs must reach the last step with a loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lrlaw.errors import DataError

__all__ = ["MAX_LOSS", "Curve", "detect_warmup", "schedule_from_table"]

#: Largest loss lrlaw accepts.  A language-model loss in nats is below ~20 (about
#: log V, V the vocabulary, at initialisation: 12.5 for V = 256k); a perplexity
#: (exp of it) is about V there, below ~1e6.  1e10 leaves four orders of magnitude
#: above that, and keeps squared errors far from float64 overflow: a larger value
#: is a unit mix-up or a corrupt cell, not a loss.
MAX_LOSS = 1e10


@dataclass(frozen=True, eq=False)
class Curve:
    """One training run: observed losses and its per-step LR schedule.

    Attributes:
        name: run name (the ``run`` column, or the file stem).
        steps: int64 steps with an observed loss, strictly increasing.
        loss: float64 losses at ``steps`` (all finite and > 0).
        lr: float64 learning rate at every step ``0..len(lr)-1``; covers ``steps``.
        warmup: number of warmup steps; metrics and fits use steps >= warmup by default.
        source: where the curve came from (file path), for messages.
        schedule: how ``lr`` was obtained (a spec string, or a description).
        meta: anything else a reader recorded (the read summary line, ...).
        counts: how many logged values each loss averages (a resampling bin's size);
            ``None`` means one each.  The fit uses it for the noise of each point
            (:mod:`lrlaw.fitting.weighting`).
    """

    name: str
    steps: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    warmup: int = 0
    source: str = ""
    schedule: str = ""
    meta: dict = field(default_factory=dict)
    counts: np.ndarray | None = None

    def __post_init__(self) -> None:
        steps = np.asarray(self.steps)
        loss = np.asarray(self.loss, dtype=np.float64)
        lr = np.asarray(self.lr, dtype=np.float64)
        where = f"{self.source + ': ' if self.source else ''}run {self.name!r}"
        if steps.ndim != 1 or loss.shape != steps.shape:
            raise DataError(f"{where}: steps and loss must be 1-D of equal length")
        if steps.size == 0:
            raise DataError(f"{where}: no observed loss")
        if not np.all(np.isfinite(loss)) or np.any(loss <= 0):
            raise DataError(f"{where}: losses must be finite and > 0")
        if np.any(loss > MAX_LOSS):
            i = int(np.argmax(loss > MAX_LOSS))
            raise DataError(
                f"{where}: loss {loss[i]:g} at step {int(steps[i])} is above {MAX_LOSS:g}, "
                "not a training loss (a loss in nats is below ~20, a perplexity below ~1e6)"
            )
        if np.any(np.diff(steps) <= 0):
            raise DataError(f"{where}: steps must be strictly increasing")
        if steps[0] < 0:
            raise DataError(f"{where}: steps must be >= 0")
        if lr.ndim != 1 or lr.size <= steps[-1]:
            raise DataError(
                f"{where}: the schedule covers steps 0..{lr.size - 1} "
                f"but losses go to step {int(steps[-1])}"
            )
        if not np.all(np.isfinite(lr)) or np.any(lr < 0):
            raise DataError(f"{where}: learning rates must be finite and >= 0")
        if self.counts is not None:
            counts = np.asarray(self.counts, dtype=np.float64)
            if counts.shape != steps.shape or not np.all(counts >= 1):
                raise DataError(f"{where}: counts must be >= 1, one per observed loss")
            object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "steps", steps.astype(np.int64))
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "lr", lr)

    @property
    def total_steps(self) -> int:
        """Last step the schedule defines (``len(lr) - 1``)."""
        return self.lr.size - 1

    def window(self, min_step: int | None = None) -> np.ndarray:
        """Boolean mask of observed points used for fitting and metrics.

        Default: steps at or after the end of warmup (and >= 1, where S1 > 0).
        """
        start = self.warmup if min_step is None else min_step
        return self.steps >= max(start, 1)

    def subset(self, keep: np.ndarray) -> Curve:
        """The same run with only the observed points where ``keep`` (a boolean mask over
        ``steps``) is True: steps, losses and their ``counts`` together; the schedule and
        everything else unchanged."""
        keep = np.asarray(keep, dtype=bool)
        counts = None if self.counts is None else self.counts[keep]
        return replace(self, steps=self.steps[keep], loss=self.loss[keep], counts=counts)


def detect_warmup(lr: np.ndarray) -> int:
    """End of the initial LR rise: the first step ``i`` with ``lr[i+1] <= lr[i]`` after a rise.

    Returns 0 when the schedule does not start by rising (no warmup).
    """
    lr = np.asarray(lr, dtype=np.float64)
    if lr.size < 2:
        return 0
    not_rising = np.flatnonzero(np.diff(lr) <= 0)
    return int(not_rising[0]) if not_rising.size else lr.size - 1


def schedule_from_table(
    steps: np.ndarray,
    lrs: np.ndarray,
    last_step: int,
    *,
    warmup: int | None = None,
    initial_lr: float | None = None,
    where: str = "",
    column: str = "lr",
) -> np.ndarray:
    """Per-step LR for steps ``0..last_step`` from LRs listed at some steps.

    Linear interpolation between listed steps (exact when every step is
    listed).  When the listed steps start after 0, the start must be
    supplied: ``warmup=W`` is a linear warmup from ``initial_lr`` (default 0)
    at step 0 to the first listed LR at step ``W``, held until the first listed
    step (a ``W`` past the first listed step: the listed LRs rise on to ``W``,
    and the ramp from step 0 reaches the first of them at its own step);
    ``initial_lr`` alone is the LR at step 0, interpolated linearly to the
    first listed LR (W&B logs the LR from its first logging step on).

    Raises:
        DataError: the listed LRs do not cover ``0..last_step``.
    """
    steps = np.asarray(steps, dtype=np.int64)
    lrs = np.asarray(lrs, dtype=np.float64)
    prefix = f"{where}: " if where else ""
    if steps.size == 0:
        raise DataError(f"{prefix}column '{column}' has no values; pass --schedule SPEC")
    if initial_lr is not None and not (np.isfinite(initial_lr) and initial_lr >= 0):
        raise DataError(f"{prefix}--initial-lr {initial_lr}: expected a finite LR >= 0")
    first = int(steps[0])
    if first > 0:
        if warmup is None and initial_lr is None:
            raise DataError(
                f"{prefix}column '{column}' starts at step {first}, so the schedule before it "
                "is unknown; pass --schedule SPEC for this run (or --schedules FILE), "
                "--warmup STEPS for a linear warmup from 0, --initial-lr LR for the LR at "
                "step 0, or --base FILE for a branch resumed from another run's checkpoint"
            )
        if warmup is None:
            head, head_lr = [0], [float(initial_lr)]
        else:
            if warmup < 0:
                raise DataError(f"{prefix}--warmup {warmup}: expected a number of steps >= 0")
            if warmup > first:
                # The warmup goes on past the first listed step (Lightning's or HF's first
                # log of a 500-step warmup at step 49): the listed LRs carry the ramp from
                # there, so only steps 0..first are supplied, linear from the start LR.
                # A listed LR that falls before the warmup's end contradicts it.
                ramp = lrs[: int(np.searchsorted(steps, warmup, side="right"))]
                falls = np.flatnonzero(np.diff(ramp) < 0)
                if falls.size:
                    k = int(falls[0])
                    raise DataError(
                        f"{prefix}--warmup {warmup}: column '{column}' falls before step "
                        f"{warmup} (from {lrs[k]:g} at step {steps[k]} to {lrs[k + 1]:g} at "
                        f"step {steps[k + 1]}), so its warmup ends earlier; pass the number of "
                        f"steps the LR rose for, or --schedule SPEC"
                    )
                warmup = first
            if warmup == 0 and initial_lr is not None:
                raise DataError(
                    f"{prefix}--initial-lr needs a warmup: with --warmup 0 the LR at step 0 "
                    "is the first listed LR"
                )
            start = 0.0 if initial_lr is None else float(initial_lr)
            head = [0] if warmup == 0 else [0, warmup]
            head_lr = [lrs[0]] if warmup == 0 else [start, lrs[0]]
            if warmup == first:
                head, head_lr = head[:-1], head_lr[:-1]
        steps = np.concatenate([np.asarray(head, dtype=np.int64), steps])
        lrs = np.concatenate([np.asarray(head_lr), lrs])
    if steps[-1] < last_step:
        raise DataError(
            f"{prefix}column '{column}' ends at step {int(steps[-1])} but losses go to step "
            f"{last_step}; pass --schedule SPEC or list the lr up to the last step"
        )
    grid = np.arange(max(last_step, int(steps[-1])) + 1)
    return np.interp(grid, steps, lrs)
