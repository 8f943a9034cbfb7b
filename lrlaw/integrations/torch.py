"""A plain training loop's helper: ``WatchLoop.update(step, loss, lr)`` after each step.

Needs no extra: ``loss`` may be a float or a tensor (read with ``.item()``,
which waits for the device, so feed it at the pace you log, e.g. every 10
steps).  Call :meth:`WatchLoop.update` once per optimizer step, with the step's
mean loss when gradients are accumulated over micro-batches.  The schedule may be
the loop's own ``LambdaLR`` (with ``total_steps``).  The writer is anything with
``add_scalar(tag, value, step)`` (``torch.utils.tensorboard.SummaryWriter``, tensorboardX,
``tensorboard.summary.Writer``) or a callable ``writer(metrics, step)``
(e.g. ``lambda m, s: wandb.log(m, step=s)``).

Examples:
    >>> from lrlaw.integrations.torch import WatchLoop                 # doctest: +SKIP
    >>> watch = WatchLoop("cosine:peak=3e-4,total=24000,warmup=2160,final=3e-5",
    ...                   writer=SummaryWriter("runs/x"))               # doctest: +SKIP
    >>> for step, batch in enumerate(loader):                           # doctest: +SKIP
    ...     loss = train_step(batch)
    ...     watch.update(step, loss, optimizer.param_groups[0]["lr"])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lrlaw.errors import LrlawError
from lrlaw.integrations.base import WatchFeed, schedule_from_scheduler
from lrlaw.watch import Prediction, Watcher

__all__ = ["WatchLoop"]


class WatchLoop:
    """Feed a hand-written loop's losses to a :class:`~lrlaw.watch.Watcher`.

    Args:
        schedule: the run's schedule (spec, Schedule or per-step LRs), or the loop's
            torch ``LambdaLR`` scheduler with ``total_steps`` (its LRs are read ahead,
            :func:`~lrlaw.integrations.base.schedule_from_scheduler`); None learns it
            from the ``lr`` given to :meth:`update` (then give ``total_steps``).
        writer: where to log the prediction after each refit (see the module
            docstring), or None.
        watcher: an existing watcher instead of ``schedule`` and ``options``.
        prefix: metric name prefix.
        options: passed to :class:`~lrlaw.watch.Watcher` (``law``,
            ``target_loss``, ``what_if``, ``total_steps``, ...).
    """

    def __init__(
        self,
        schedule: Any = None,
        *,
        writer: Any = None,
        watcher: Watcher | None = None,
        prefix: str = "pred/",
        **options: Any,
    ) -> None:
        if schedule is not None and hasattr(schedule, "step") and hasattr(schedule, "optimizer"):
            lr = schedule_from_scheduler(schedule, options.get("total_steps"))
            if lr is None:
                raise LrlawError(
                    f"schedule: cannot read the LRs ahead from a {type(schedule).__name__} "
                    "(only LambdaLR-style schedulers, with total_steps=N); give the "
                    "schedule's spec or per-step LRs, or schedule=None and total_steps=N "
                    "to learn it from the lr passed to update()"
                )
            schedule = lr
            options.pop("total_steps")
        self.feed = WatchFeed(watcher, schedule, prefix=prefix, **options)
        if writer is not None and not (hasattr(writer, "add_scalar") or callable(writer)):
            raise TypeError(
                "writer: expected an object with add_scalar(tag, value, step) "
                "or a callable writer(metrics, step)"
            )
        self.writer = writer

    @property
    def prediction(self) -> Prediction:
        """The latest prediction (:class:`~lrlaw.watch.Prediction`)."""
        return self.feed.prediction

    def update(self, step: int, loss: Any, lr: Any = None) -> Prediction:
        """Feed the loss of ``step``; after a refit, log the new metrics to the writer.

        Never raises: problems are logged once (logger ``lrlaw.integrations``)."""
        metrics = self.feed.update(step, loss, lr)
        if metrics and self.writer is not None:
            self._write(metrics, int(step))
        return self.feed.prediction

    def _write(self, metrics: dict[str, float], step: int) -> None:
        write: Callable[..., Any]
        try:
            if hasattr(self.writer, "add_scalar"):
                write = self.writer.add_scalar
                for name, value in metrics.items():
                    write(name, value, step)
            else:
                self.writer(metrics, step)
        except Exception as exc:
            self.feed.warn(f"writing the prediction failed ({type(exc).__name__}: {exc})")
