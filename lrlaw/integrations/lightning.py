"""A Lightning callback that predicts the run's final loss as it trains.

>>> from lrlaw.integrations.lightning import LrlawLightningCallback   # doctest: +SKIP
>>> trainer = lightning.Trainer(callbacks=[LrlawLightningCallback(spec)])  # doctest: +SKIP

After each optimizer step (every ``every`` of them) it feeds ``(trainer.global_step,
loss, lr)`` to a :class:`~lrlaw.watch.Watcher`:

- ``loss`` is the mean training loss of the step's micro-batches.  Lightning hands
  ``on_train_batch_end`` the step's loss divided by ``accumulate_grad_batches``, so
  the callback multiplies it back and averages over the micro-batches of the step;
  where the step returns no loss it reads ``trainer.callback_metrics[loss_key]``.
- ``lr`` is the first optimizer's first parameter group's LR, read after the step
  (as the trainers log it).

Without a ``schedule`` the callback takes the whole per-step LR from the first LR
scheduler when it is a ``LambdaLR`` (what HF's ``get_scheduler`` and most warmup /
decay lambdas give; :func:`~lrlaw.integrations.base.schedule_from_scheduler`), and
otherwise learns it from the optimizer's LR (recorded from step 0, at the start of
training).  The run's length is ``trainer.max_steps``, or
``trainer.estimated_stepping_batches`` when the run is set by epochs.

Once fitted, it logs :meth:`~lrlaw.watch.Prediction.metrics` (``pred/final_loss``,
``pred/final_lo``, ``pred/final_hi``, ...) with ``pl_module.log_dict`` at every step
it feeds, so the trainer's loggers (W&B, TensorBoard, CSV, MLflow) record the current
prediction at their own pace (``log_every_n_steps``) next to the loss, and
``trainer.callback_metrics`` holds it (for ``EarlyStopping`` or ``ModelCheckpoint``).
The losses and LRs seen are saved in the trainer's checkpoints
(:meth:`LrlawLightningCallback.state_dict`), so a run resumed with ``ckpt_path``
(``global_step`` > 0) goes on with its whole history.

In a multi-process run (DDP: ``devices=2``, ``strategy="ddp"``...) only the
global-zero process builds the watcher, fits and logs the prediction (its loss,
not the mean over processes; ``log_dict(..., rank_zero_only=True)``); the others
do nothing, and the loggers write from global zero only, as Lightning's do.  The
``pred/*`` metrics are then in global zero's ``callback_metrics`` only: do not
monitor them with ``EarlyStopping`` or ``ModelCheckpoint`` in such a run (the
other processes lack the key; with ``ModelCheckpoint(monitor="pred/final_loss")``
a two-process CPU run hung; the callback warns when it sees such a monitor).
Works with ``lightning`` or ``pytorch_lightning``; needs ``pip install
'lrlaw[lightning]'``.  Errors are logged once and never reach the trainer.
"""

from __future__ import annotations

import math
from typing import Any

from lrlaw.errors import LrlawError
from lrlaw.integrations.base import (
    WatchFeed,
    as_float,
    log,
    schedule_from_scheduler,
    start_feed,
)
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


def _first_lr(trainer: Any) -> float | None:
    try:
        return as_float(trainer.optimizers[0].param_groups[0]["lr"])
    except (AttributeError, IndexError, KeyError, TypeError):
        return None


def _monitors(trainer: Any, prefix: str) -> list[str]:
    """The callbacks of a multi-process run that monitor one of the prediction's metrics
    (``monitor`` starting with ``prefix``), as ``"Name(monitor=...)"``; those metrics
    exist on the global-zero process only (see the module docstring)."""
    if int(getattr(trainer, "world_size", 1) or 1) <= 1:
        return []
    out = []
    for cb in getattr(trainer, "callbacks", None) or ():
        key = getattr(cb, "monitor", None)
        if isinstance(key, str) and key.startswith(prefix):
            out.append(f"{type(cb).__name__}(monitor={key!r})")
    return out


def _total_steps(trainer: Any) -> int | None:
    total = getattr(trainer, "max_steps", -1)
    if total is None or total <= 0:
        try:
            total = trainer.estimated_stepping_batches
        except Exception:
            return None
    return int(total) if total is not None and math.isfinite(total) and total > 0 else None


class LrlawLightningCallback(Callback):
    """Lightning ``Callback`` feeding a :class:`~lrlaw.watch.Watcher`.

    Args:
        schedule: the run's schedule (spec, Schedule or per-step LRs); None takes it
            from the trainer's ``LambdaLR`` scheduler, or learns it from the
            optimizer's LR (see the module docstring).
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
        if watcher is not None or schedule is not None:
            self.feed = WatchFeed(watcher, schedule, prefix=prefix, **options)
        self.loss_key, self.every = loss_key, int(every)
        self._last_step: int | None = None
        self._micro: list[float] = []  # losses of the micro-batches of the current step
        self._restore: dict[str, Any] | None = None

    @property
    def prediction(self) -> Prediction | None:
        """The latest prediction (None before training starts)."""
        return None if self.feed is None else self.feed.prediction

    # ------------------------------------------------------------------ hooks
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        step = int(getattr(trainer, "global_step", 0) or 0)
        self._last_step, self._micro = step, []
        if not getattr(trainer, "is_global_zero", True):
            return  # only the global-zero process watches (the others feed nothing)
        for name in _monitors(trainer, self._args[2]):
            log.warning(
                "lrlaw: %s in a %d-process run: the prediction is logged by the global-zero "
                "process only, the other processes lack that key (a run can hang)",
                name,
                int(trainer.world_size),
            )
        if self.feed is None:
            watcher, schedule, prefix, options = self._args
            total = options.get("total_steps") or _total_steps(trainer)
            opts = {k: v for k, v in options.items() if k != "total_steps"}
            if schedule is None and watcher is None:
                configs = getattr(trainer, "lr_scheduler_configs", None) or ()
                sched = getattr(configs[0], "scheduler", None) if configs else None
                schedule = schedule_from_scheduler(sched, total)
            self.feed = start_feed(
                (watcher, schedule, prefix, opts), None if schedule is not None else total
            )
        if self.feed is None:
            return
        if self._restore is not None:
            self._load(self._restore)
            self._restore = None
        lr = _first_lr(trainer)
        if lr is not None and self.feed.watcher.lr is None:
            self.feed.watcher.update_lr([step], [lr])  # the learned LR starts here

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.feed is None or not getattr(trainer, "is_global_zero", True):
            return
        try:
            self._batch_end(trainer, pl_module, outputs)
        except Exception as exc:  # never stop the training run
            self.feed.warn(f"watch callback failed ({type(exc).__name__}: {exc})")

    def state_dict(self) -> dict[str, Any]:
        """The watcher's losses and LRs (:meth:`lrlaw.watch.Watcher.state_dict`), saved
        in the trainer's checkpoints."""
        if self.feed is None:
            return {}
        return {"watch": self.feed.watcher.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take back the losses and LRs of a checkpoint (applied when training starts)."""
        watch = state_dict.get("watch") if isinstance(state_dict, dict) else None
        if watch:
            self._restore = watch

    # ------------------------------------------------------------------ internals
    def _load(self, state: dict[str, Any]) -> None:
        try:
            self.feed.watcher.load_state_dict(state)
        except Exception as exc:
            self.feed.warn(f"cannot restore the watch state ({type(exc).__name__}: {exc})")

    def _batch_end(self, trainer: Any, pl_module: Any, outputs: Any) -> None:
        step = int(trainer.global_step)
        stepped = self._last_step is not None and step != self._last_step
        target = step if stepped else step + 1  # the optimizer step this micro-batch is of
        if target % self.every == 0:
            self._collect(trainer, outputs)
        if not stepped:
            return  # gradient accumulation: the optimizer has not stepped yet
        self._last_step = step
        losses, self._micro = self._micro, []
        if step % self.every:
            return
        if not losses:
            self.feed.warn(
                f"no loss at step {step} (outputs, or callback_metrics[{self.loss_key!r}])"
            )
            return
        self.feed.update(step, sum(losses) / len(losses), _first_lr(trainer))
        metrics = self.feed.prediction.metrics(self.feed.prefix)
        if metrics:
            try:
                # Logged from this process only: rank_zero_only, as Lightning asks of
                # metrics that the other processes of a multi-process run do not log.
                pl_module.log_dict(metrics, on_step=True, on_epoch=False, rank_zero_only=True)
            except Exception as exc:
                self.feed.warn(f"cannot log the prediction ({type(exc).__name__}: {exc})")

    def _collect(self, trainer: Any, outputs: Any) -> None:
        """Add this micro-batch's loss (undoing Lightning's ``1 / accumulate_grad_batches``)."""
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        value = as_float(loss)
        if value is not None:
            value *= max(int(getattr(trainer, "accumulate_grad_batches", 1) or 1), 1)
        else:
            value = as_float(getattr(trainer, "callback_metrics", {}).get(self.loss_key))
        if value is not None:
            self._micro.append(value)
