"""A Hugging Face ``Trainer`` callback that predicts the run's final loss as it trains.

>>> from lrlaw.integrations.hf import LrlawCallback                   # doctest: +SKIP
>>> trainer = Trainer(model, args, ...)                               # doctest: +SKIP
>>> LrlawCallback.install(trainer, schedule=trainer_schedule_spec)    # doctest: +SKIP

On each ``on_log`` with a training ``loss`` (and ``learning_rate``) it feeds
``(state.global_step, loss, lr)`` to a :class:`~lrlaw.watch.Watcher` and, after
a refit, adds :meth:`~lrlaw.watch.Prediction.metrics` (``pred/final_loss``,
``pred/final_lo``, ``pred/final_hi``, ...) to the same ``logs`` dict.  The
reporting callbacks (``WandbCallback``, ``TensorBoardCallback``, ``MLflowCallback``)
see those values when this callback comes before them in the trainer's list,
which :meth:`LrlawCallback.install` arranges; ``Trainer(callbacks=[...])`` puts it
after them, and they then miss the values.  ``state.log_history`` is written
before the callbacks run and never holds them; :attr:`LrlawCallback.history` does.
``loss_key="eval_loss"`` follows the
evaluation loss instead.  Needs ``pip install 'lrlaw[hf]'``; errors are logged
once and never reach the trainer.
"""

from __future__ import annotations

from typing import Any

from lrlaw.errors import LrlawError
from lrlaw.integrations.base import WatchFeed, start_feed
from lrlaw.watch import Prediction, Watcher

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - exercised by the missing-extra test
    raise LrlawError(
        "lrlaw.integrations.hf needs the optional extra 'hf': pip install 'lrlaw[hf]'"
    ) from None

__all__ = ["LrlawCallback"]


class LrlawCallback(TrainerCallback):
    """``transformers.TrainerCallback`` feeding a :class:`~lrlaw.watch.Watcher`.

    Args:
        schedule: the run's schedule (spec, Schedule or per-step LRs); None learns
            it from the logged ``learning_rate`` (then give ``total_steps``, or it is
            taken from ``state.max_steps`` at the start of training).
        watcher: an existing watcher instead of ``schedule`` and ``options``.
        loss_key: the ``logs`` key of the loss to follow (``"loss"``: training loss).
        lr_key: the ``logs`` key of the LR.
        prefix: metric name prefix.
        options: passed to :class:`~lrlaw.watch.Watcher`.
    """

    def __init__(
        self,
        schedule: Any = None,
        *,
        watcher: Watcher | None = None,
        loss_key: str = "loss",
        lr_key: str = "learning_rate",
        prefix: str = "pred/",
        **options: Any,
    ) -> None:
        self._args = (watcher, schedule, prefix, options)
        self.feed: WatchFeed | None = None
        if watcher is not None or schedule is not None or "total_steps" in options:
            self.feed = WatchFeed(watcher, schedule, prefix=prefix, **options)
        self.loss_key, self.lr_key = loss_key, lr_key
        #: ``(step, metrics)`` after each refit.
        self.history: list[tuple[int, dict[str, float]]] = []

    @classmethod
    def install(cls, trainer: Any, **kwargs: Any) -> LrlawCallback:
        """Make a callback and put it first in ``trainer``'s callbacks, so the
        reporting callbacks see the ``pred/*`` values it adds to ``logs``."""
        callback = cls(**kwargs)
        trainer.callback_handler.callbacks.insert(0, callback)
        return callback

    @property
    def prediction(self) -> Prediction | None:
        """The latest prediction (None before training starts)."""
        return None if self.feed is None else self.feed.prediction

    def on_train_begin(self, args, state, control, **kwargs):
        if self.feed is None:
            self.feed = start_feed(self._args, getattr(state, "max_steps", 0) or None)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.feed is None or not logs or self.loss_key not in logs:
            return
        step = getattr(state, "global_step", None)
        metrics = self.feed.update(step, logs[self.loss_key], logs.get(self.lr_key))
        if metrics:
            self.history.append((int(step), metrics))
            try:
                logs.update(metrics)
            except Exception as exc:
                self.feed.warn(f"cannot add the prediction to the logs ({exc})")
