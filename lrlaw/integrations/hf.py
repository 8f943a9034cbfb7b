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
The Trainer's training ``loss`` is the mean of the steps since its previous log, so
each is fed at the centre of those steps (``loss_average``;
:func:`lrlaw.io.cleaning.average_centres`), as ``lrlaw fit`` reads a
``trainer_state.json``.  ``loss_key="eval_loss"`` follows the evaluation loss
instead (a value at its step).  A run resumed from a checkpoint (``global_step`` > 0) is
fed the losses of ``state.log_history`` first, so it goes on with its history.
Needs ``pip install 'lrlaw[hf]'``; errors are logged once and never reach the
trainer.
"""

from __future__ import annotations

import math
from typing import Any

from lrlaw.errors import LrlawError
from lrlaw.integrations.base import WatchFeed, as_float, schedule_from_scheduler, start_feed
from lrlaw.watch import Prediction, Watcher

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - exercised by the missing-extra test
    raise LrlawError(
        "lrlaw.integrations.hf needs the optional extra 'hf': pip install 'lrlaw[hf]'"
    ) from None

__all__ = ["LrlawCallback"]


def _schedule_from_args(args: Any, total: int | None) -> Any:
    """The per-step LR the Trainer builds from its arguments (``learning_rate``,
    ``lr_scheduler_type``, ``warmup_steps``/``warmup_ratio``, ``lr_scheduler_kwargs``),
    made exactly as ``Trainer.create_scheduler`` makes it, on a one-parameter optimizer;
    None when that fails (no torch, a scheduler that is not a ``LambdaLR``)."""
    if args is None or total is None:
        return None
    try:
        import torch
        from transformers import get_scheduler

        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=float(args.learning_rate))
        sched = get_scheduler(
            args.lr_scheduler_type,
            optimizer=opt,
            num_warmup_steps=args.get_warmup_steps(total),
            num_training_steps=total,
            scheduler_specific_kwargs=args.lr_scheduler_kwargs,
        )
    except Exception:
        return None
    return schedule_from_scheduler(sched, total)


class LrlawCallback(TrainerCallback):
    """``transformers.TrainerCallback`` feeding a :class:`~lrlaw.watch.Watcher`.

    Args:
        schedule: the run's schedule (spec, Schedule or per-step LRs); None takes
            the Trainer's own: the ``LambdaLR`` passed in ``optimizers=(opt, sched)``,
            or the one the Trainer builds from ``args`` (``lr_scheduler_type``,
            ``warmup_steps``, ``lr_scheduler_kwargs``, made the same way), and where
            neither can be read ahead learns it from the logged ``learning_rate``
            (the run's length: ``total_steps``, else ``state.max_steps``).
        watcher: an existing watcher instead of ``schedule`` and ``options``.
        loss_key: the ``logs`` key of the loss to follow (``"loss"``: training loss).
        lr_key: the ``logs`` key of the LR.
        loss_average: ``"since-last"``: each loss is the mean since the previous log and
            is fed at the centre of those steps; ``"none"``: at its step; ``"auto"``
            (default): ``since-last`` for ``loss_key="loss"`` (what the Trainer logs), else
            ``none``.
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
        loss_average: str = "auto",
        **options: Any,
    ) -> None:
        if loss_average not in ("auto", "none", "since-last"):
            raise LrlawError(
                f"loss_average={loss_average!r}: expected 'auto', 'none' or 'since-last'"
            )
        self._args = (watcher, schedule, prefix, options)
        self.feed: WatchFeed | None = None
        if watcher is not None or schedule is not None:
            self.feed = WatchFeed(watcher, schedule, prefix=prefix, **options)
        self.loss_key, self.lr_key = loss_key, lr_key
        auto = loss_average == "auto"
        self.since_last = loss_average == "since-last" or (auto and loss_key == "loss")
        self._last_log = 0.0  # the Trainer's ``_globalstep_last_logged``
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
        total = getattr(state, "max_steps", 0) or None
        optimizer, scheduler = kwargs.get("optimizer"), kwargs.get("lr_scheduler")
        if self.feed is None:
            watcher, schedule, prefix, options = self._args
            opts = dict(options)
            total = opts.pop("total_steps", None) or total
            if watcher is None and schedule is None:
                if scheduler is not None:  # the user's own (optimizer, scheduler)
                    schedule = schedule_from_scheduler(scheduler, total)
                else:  # the one the Trainer builds from its arguments
                    schedule = _schedule_from_args(args, total)
            self.feed = start_feed(
                (watcher, schedule, prefix, opts), None if schedule is not None else total
            )
        if self.feed is None:
            return
        try:
            step = int(getattr(state, "global_step", 0) or 0)
            self._last_log = float(step)  # the Trainer counts its next mean from here
            if step > 0 and getattr(state, "log_history", None):
                self._replay(state.log_history, step)
            lr = None
            if optimizer is not None:
                lr = as_float(optimizer.param_groups[0]["lr"])
            if lr is not None and self.feed.watcher.lr is None:
                self.feed.watcher.update_lr([step], [lr])  # the learned LR starts here
        except Exception as exc:
            self.feed.warn(f"cannot start from the trainer's state ({type(exc).__name__}: {exc})")

    def _replay(self, history: list[dict[str, Any]], step: int) -> None:
        """A resumed run: feed the losses and LRs that ``state.log_history`` (restored from
        the checkpoint) holds up to ``step``."""
        rows = [r for r in history if isinstance(r.get("step"), int) and r["step"] <= step]
        losses = [(r["step"], r[self.loss_key]) for r in rows if self.loss_key in r]
        lrs = [(r["step"], r[self.lr_key]) for r in rows if self.lr_key in r]
        ok = [(s, y) for s, y in losses if as_float(y) is not None]
        at = [s for s, _ in ok]
        if self.since_last and ok:
            from lrlaw.io.cleaning import average_centres

            logged = sorted({s for s, _ in losses})  # a NaN logged loss ended a stretch too
            centres = average_centres(at, ("since-last", 0.0), logged)
            at = [math.floor(c + 0.5) for c in centres]
        self.feed.watcher.load_state_dict(
            {
                "format": "lrlaw.watch.state/1",
                "steps": at,
                "loss": [as_float(y) for _, y in ok],
                "lr_steps": [s for s, r in lrs if as_float(r) is not None],
                "lr": [as_float(r) for _, r in lrs if as_float(r) is not None],
            }
        )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.feed is None or not logs or self.loss_key not in logs:
            return
        step = getattr(state, "global_step", None)
        at = None
        s = as_float(step)
        if self.since_last and s is not None and math.isfinite(s):
            at = math.floor((self._last_log + 1.0 + s) / 2.0 + 0.5)  # centre of (last, s]
            self._last_log = s
        metrics = self.feed.update(step, logs[self.loss_key], logs.get(self.lr_key), loss_step=at)
        if metrics:
            self.history.append((int(step), metrics))
            try:
                logs.update(metrics)
            except Exception as exc:
                self.feed.warn(f"cannot add the prediction to the logs ({exc})")
