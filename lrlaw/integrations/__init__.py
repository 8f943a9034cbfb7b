"""Trainer callbacks on top of :class:`lrlaw.watch.Watcher` (optional extras).

- :mod:`lrlaw.integrations.torch`: ``WatchLoop.update(step, loss, lr)`` for a
  hand-written loop, with an optional writer (anything with ``add_scalar``, or a
  callable); needs no extra.
- :mod:`lrlaw.integrations.hf`: ``LrlawCallback``, a ``transformers.TrainerCallback``
  (extra ``lrlaw[hf]``).
- :mod:`lrlaw.integrations.lightning`: ``LrlawLightningCallback``, a Lightning
  ``Callback`` (extra ``lrlaw[lightning]``).

Each feeds the logged loss (and LR) to a :class:`~lrlaw.watch.Watcher` and logs
:meth:`lrlaw.watch.Prediction.metrics` (``pred/final_loss``, ``pred/final_lo``,
``pred/final_hi``, ...) back to the trainer's own logger after each refit, so
they show in W&B or TensorBoard next to the loss.  None of them lets an error
reach the training loop: a failure is logged (``logging``, logger
``lrlaw.integrations``) once per message and the last prediction is kept.
Importing :mod:`lrlaw` or :mod:`lrlaw.watch` never imports torch, transformers
or lightning.
"""
