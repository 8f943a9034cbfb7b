"""The part every callback shares: feed a :class:`~lrlaw.watch.Watcher`, never raise."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from lrlaw.watch import Prediction, Watcher

__all__ = ["WatchFeed", "as_float", "schedule_from_scheduler"]

log = logging.getLogger("lrlaw.integrations")


def as_float(value: Any) -> float | None:
    """A Python float from a number, a 0-d/1-element array or tensor (``.item()``); None
    when it is missing or not a number."""
    if value is None:
        return None
    try:
        if hasattr(value, "detach"):  # a torch tensor: off the graph first
            value = value.detach()
        if hasattr(value, "item"):
            value = value.item()
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def schedule_from_scheduler(scheduler: Any, total_steps: int | None) -> np.ndarray | None:
    """The per-step LR of steps ``0..total_steps`` of a torch ``LambdaLR``-style scheduler
    (what HF's ``get_scheduler`` and most hand-written warmup/decay lambdas return):
    ``lr[k] = base_lrs[0] * lr_lambdas[0](k)``, the LR of the first parameter group
    after ``k`` scheduler steps (as the trainers log it at global step ``k``).

    None when ``scheduler`` has no ``lr_lambdas``/``base_lrs`` (e.g. ``OneCycleLR``,
    ``SequentialLR``; the watcher then learns the LR from the updates), when
    ``total_steps`` is unknown, or when a lambda fails or gives a non-finite or
    negative LR.  The lambdas are called once per step; they must not depend on
    state (HF's and ``functools.partial`` ones do not).
    """
    lambdas = getattr(scheduler, "lr_lambdas", None)
    base = getattr(scheduler, "base_lrs", None)
    if not lambdas or not base or total_steps is None or not 1 <= total_steps < 1 << 31:
        return None
    try:
        fn, peak = lambdas[0], float(base[0])
        lr = np.array([peak * float(fn(k)) for k in range(int(total_steps) + 1)])
    except Exception:
        return None
    if not np.all(np.isfinite(lr)) or np.any(lr < 0) or not np.any(lr > 0):
        return None
    return lr


def start_feed(
    args: tuple[Watcher | None, Any, str, dict[str, Any]], total_steps: int | None
) -> WatchFeed | None:
    """The :class:`WatchFeed` a callback deferred to the start of training (``args`` =
    ``(watcher, schedule, prefix, options)``, ``total_steps`` from the trainer); None,
    with one logged warning, where it cannot start: a callback never raises into the
    trainer."""
    watcher, schedule, prefix, options = args
    try:
        return WatchFeed(watcher, schedule, prefix=prefix, total_steps=total_steps, **options)
    except Exception as exc:
        log.warning("lrlaw: cannot start watching (%s: %s)", type(exc).__name__, exc)
        return None


class WatchFeed:
    """Feeds losses to a watcher; returns the new metrics after each refit; never raises.

    Args:
        watcher: the :class:`~lrlaw.watch.Watcher` to feed; or None to build one from
            ``schedule`` and ``watcher_options``.
        schedule: the run's schedule (spec, :class:`~lrlaw.schedules.Schedule` or
            per-step LRs) when ``watcher`` is None; None learns it from the LRs fed.
        prefix: name prefix of the logged metrics.
        watcher_options: passed to :class:`~lrlaw.watch.Watcher`.
    """

    def __init__(
        self,
        watcher: Watcher | None = None,
        schedule: Any = None,
        *,
        prefix: str = "pred/",
        **watcher_options: Any,
    ) -> None:
        if watcher is None:
            watcher = Watcher(schedule, **watcher_options)
        elif schedule is not None or watcher_options:
            raise TypeError("give a watcher or its schedule and options, not both")
        self.watcher = watcher
        self.prefix = prefix
        self._refits = 0
        self._said: set[str] = set()

    @property
    def prediction(self) -> Prediction:
        """The watcher's latest prediction."""
        return self.watcher.prediction

    def warn(self, message: str) -> None:
        """Log ``message`` as a warning, once."""
        if message not in self._said:
            self._said.add(message)
            log.warning("lrlaw: %s", message)

    def update(
        self, step: Any, loss: Any, lr: Any = None, *, loss_step: int | None = None
    ) -> dict[str, float]:
        """Feed one loss; the metrics to log when a refit happened (else ``{}``).

        ``lr`` is the LR at ``step``; ``loss_step`` (default ``step``) is the step the
        loss is compared with the law at (the centre of the steps a logged mean averages).
        """
        step_f, loss_f, lr_f = as_float(step), as_float(loss), as_float(lr)
        if step_f is None or not math.isfinite(step_f):
            self.warn(f"step {step!r} is not a number; loss not fed")
            return {}
        if loss_f is None:
            self.warn(f"loss {loss!r} at step {step_f:g} is not a number; skipped")
            return {}
        try:
            if loss_step is None:
                pred = self.watcher.update(int(step_f), loss_f, lr_f)
            else:
                if lr_f is not None:
                    self.watcher.update_lr([int(step_f)], [lr_f])
                pred = self.watcher.update(int(loss_step), loss_f, None)
        except Exception as exc:  # never stop the training run
            self.warn(f"watch update failed ({type(exc).__name__}: {exc}); keeping the last one")
            return {}
        if pred.error:
            self.warn(f"refit failed: {pred.error}; keeping the last prediction")
        if pred.deviation is not None and pred.deviation.active:
            self.warn(f"deviation: {pred.deviation.describe()}")
        if pred.refits == self._refits:
            return {}
        self._refits = pred.refits
        return pred.metrics(self.prefix)
