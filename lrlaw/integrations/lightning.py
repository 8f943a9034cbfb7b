"""A Lightning callback that predicts the run's final loss as it trains.

>>> from lrlaw.integrations.lightning import LrlawLightningCallback   # doctest: +SKIP
>>> trainer = lightning.Trainer(callbacks=[LrlawLightningCallback(spec)])  # doctest: +SKIP

After each training batch (every ``every`` optimizer steps) it reads the loss
(``outputs["loss"]``, a tensor ``outputs``, or ``trainer.callback_metrics[loss_key]``)
and the LR of the first optimizer's first parameter group, feeds
``(trainer.global_step, loss, lr)`` to a :class:`~lrlaw.watch.Watcher`, and
after a refit logs :meth:`~lrlaw.watch.Prediction.metrics` with
``pl_module.log_dict`` (``pred/final_loss``, ...), so every Lightning logger
(W&B, TensorBoard, CSV, MLflow) records them.  Works with ``lightning`` or
``pytorch_lightning``; needs ``pip install 'lrlaw[lightning]'``.  Errors are
logged once and never reach the trainer.
"""

from __future__ import annotations

from typing import Any

from lrlaw.errors import LrlawError
from lrlaw.integrations.base import WatchFeed, as_float, start_feed
from lrlaw.watch import Prediction, Watcher

try:
    from lightning.pytorch import Callback
except ImportError:
    try:
        from pytorch_lightning import Callback
    except ImportError:
        raise LrlawError(
            "lrlaw.integrations.lightning needs the optional extra 'lightning': "
            "pip install 'lrlaw[lightning]'"
        ) from None

__all__ = ["LrlawLightningCallback"]


class LrlawLightningCallback(Callback):
    """Lightning ``Callback`` feeding a :class:`~lrlaw.watch.Watcher`.

    Args:
        schedule: the run's schedule (spec, Schedule or per-step LRs); None learns
            it from the optimizer's LR (the run's length from ``trainer.max_steps``).
        watcher: an existing watcher instead of ``schedule`` and ``options``.
        loss_key: the ``callback_metrics`` key used when the step returns no loss.
        every: feed every this many optimizer steps (``.item()`` waits for the device).
        prefix: metric name prefix.
        options: passed to :class:`~lrlaw.watch.Watcher`.
    """

    def __init__(
        self,
        schedule: Any = None,
        *,
        watcher: Watcher | None = None,
        loss_key: str = "train_loss",
        every: int = 1,
        prefix: str = "pred/",
        **options: Any,
    ) -> None:
        super().__init__()
        if every < 1:
            raise LrlawError(f"every={every}: expected an integer >= 1")
        self._args = (watcher, schedule, prefix, options)
        self.feed: WatchFeed | None = None
        if watcher is not None or schedule is not None or "total_steps" in options:
            self.feed = WatchFeed(watcher, schedule, prefix=prefix, **options)
        self.loss_key, self.every = loss_key, int(every)
        self._last_step = -1

    @property
    def prediction(self) -> Prediction | None:
        """The latest prediction (None before training starts)."""
        return None if self.feed is None else self.feed.prediction

    def on_train_start(self, trainer, pl_module) -> None:
        if self.feed is None:
            total = getattr(trainer, "max_steps", -1)
            self.feed = start_feed(self._args, total if total and total > 0 else None)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.feed is None:
            return
        step = int(trainer.global_step)
        if step == self._last_step or step % self.every:
            return  # gradient accumulation: one loss per optimizer step
        self._last_step = step
        loss = None
        if isinstance(outputs, dict):
            loss = outputs.get("loss")
        elif outputs is not None:
            loss = outputs
        if as_float(loss) is None:
            loss = trainer.callback_metrics.get(self.loss_key)
        if loss is None:
            self.feed.warn(
                f"no loss at step {step} (outputs, or callback_metrics[{self.loss_key!r}])"
            )
            return
        lr = None
        try:
            lr = trainer.optimizers[0].param_groups[0]["lr"]
        except (AttributeError, IndexError, KeyError, TypeError):
            pass
        metrics = self.feed.update(step, loss, lr)
        if metrics:
            try:
                pl_module.log_dict(metrics, on_step=True, on_epoch=False)
            except Exception as exc:
                self.feed.warn(f"cannot log the prediction ({type(exc).__name__}: {exc})")
