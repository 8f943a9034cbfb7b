"""Trainer callbacks (lrlaw.integrations): real writers and real HF callback machinery.

What runs for real: ``WatchLoop`` with tensorboard's own ``tensorboard.summary.Writer``
(read back with lrlaw's TensorBoard reader); ``LrlawCallback`` inside transformers'
own ``CallbackHandler`` with real ``TrainerState``/``TrainerControl`` and a
reporting callback after it (transformers imports these without torch).  The
Lightning hooks are driven here with a stand-in ``Callback`` base; inside a real
``lightning.Trainer.fit`` they are tested in ``test_integrations_real.py``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lrlaw.errors import LrlawError
from lrlaw.integrations.torch import WatchLoop
from lrlaw.io import load_curves, read_schedules_file

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "data" / "schedules.txt"
SPECS = read_schedules_file(SCHEDULES)


def _curve(name: str = "cosine_24000"):
    (c,) = load_curves([ROOT / "data" / "mpl" / "100m" / f"{name}.csv"], schedules_file=SCHEDULES)
    return c


def test_watch_loop_writes_the_prediction_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.summary import Writer

    from lrlaw.io.readers import read_runs

    c = _curve()
    writer = Writer(str(tmp_path / "tb"))
    watch = WatchLoop(SPECS[c.name], writer=writer, target_loss=3.0)
    n = 60
    for s, y in zip(c.steps[:n], c.loss[:n]):
        writer.add_scalar("train/loss", float(y), int(s))
        p = watch.update(int(s), np.float32(y), float(c.lr[s]))  # a numpy scalar loss
    writer.close()
    assert p.fitted and p.refits > 5
    (log,) = read_runs(tmp_path / "tb")
    steps, values, _, _ = log.columns["pred/final_loss"].entries()
    assert len(steps) == p.refits  # one point per refit, at the refit's step
    assert steps[-1] == p.fit_step and values[-1] == pytest.approx(p.final_loss, rel=1e-6)
    assert {"pred/final_lo", "pred/final_hi", "pred/target_step"} <= set(log.columns)


def test_watch_loop_never_raises(caplog):
    c = _curve()
    seen = []

    def broken_writer(metrics, step):
        seen.append(step)
        raise OSError("disk full")

    watch = WatchLoop(SPECS[c.name], writer=broken_writer)
    with caplog.at_level(logging.WARNING, logger="lrlaw.integrations"):
        watch.update(100, "not a number")
        watch.update("x", 3.0)
        watch.update(200, float("nan"))  # skipped and counted by the watcher
        for s, y in zip(c.steps[:40], c.loss[:40]):
            watch.update(int(s), float(y))
    assert watch.prediction.fitted and watch.prediction.skipped == 1
    assert len(seen) > 1  # the writer is tried at every refit ...
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("disk full" in m for m in msgs) == 1  # ... and its failure said once
    assert any("not a number" in m for m in msgs)
    with pytest.raises(TypeError, match="writer"):
        WatchLoop(SPECS[c.name], writer=42)


def test_core_never_imports_trainers():
    code = (
        "import sys, lrlaw, lrlaw.watch, lrlaw.integrations.torch, lrlaw.io.remote\n"
        "print(sorted(m for m in ('torch', 'transformers', 'lightning', 'pytorch_lightning',"
        " 'wandb', 'mlflow') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def _hf():
    pytest.importorskip("transformers")
    from transformers.trainer_callback import (
        CallbackHandler,
        TrainerCallback,
        TrainerControl,
        TrainerState,
    )

    class Reporter(TrainerCallback):
        """Stands where WandbCallback/TensorBoardCallback stand: records what on_log gets."""

        def __init__(self):
            self.logged = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            self.logged.append((state.global_step, dict(logs)))

    return CallbackHandler, TrainerControl, TrainerState, Reporter


def _train_logs(handler, state, control, c, n: int):
    """What Trainer.log does for each training log: global_step, then on_log(logs)."""
    for s, y in zip(c.steps[:n], c.loss[:n]):
        state.global_step = int(s)
        logs = {"loss": float(y), "learning_rate": float(c.lr[s]), "grad_norm": 1.0}
        handler.on_log(None, state, control, logs)


def test_hf_callback_logs_the_prediction_to_the_reporters():
    CallbackHandler, TrainerControl, TrainerState, Reporter = _hf()
    from lrlaw.integrations.hf import LrlawCallback

    c = _curve()
    reporter = Reporter()
    handler = CallbackHandler([reporter], None, None, None, None)
    trainer = SimpleNamespace(callback_handler=handler)  # install() needs only this
    callback = LrlawCallback.install(trainer, schedule=SPECS[c.name])
    assert handler.callbacks[0] is callback
    state, control = TrainerState(max_steps=c.total_steps), TrainerControl()
    handler.on_train_begin(None, state, control)
    _train_logs(handler, state, control, c, 60)
    with_pred = [(s, logs) for s, logs in reporter.logged if "pred/final_loss" in logs]
    p = callback.prediction
    assert p.fitted and len(with_pred) == p.refits == len(callback.history)
    step, logs = with_pred[-1]
    # The Trainer's loss is its mean since the previous log: fed at the centre of those steps
    prev = int(c.steps[np.searchsorted(c.steps, step) - 1])
    assert p.fit_step == (prev + 1 + step + 1) // 2
    assert logs["pred/final_loss"] == pytest.approx(p.final_loss)
    assert logs["pred/final_lo"] < logs["pred/final_loss"] < logs["pred/final_hi"]


def test_hf_callback_learns_the_schedule_and_survives_bad_logs(caplog):
    CallbackHandler, TrainerControl, TrainerState, _ = _hf()
    from lrlaw.integrations.hf import LrlawCallback

    c = _curve("constant_24000")
    callback = LrlawCallback(min_points=10)  # no schedule: learned, length from max_steps
    handler = CallbackHandler([callback], None, None, None, None)
    state, control = TrainerState(max_steps=c.total_steps), TrainerControl()
    handler.on_train_begin(None, state, control)
    state.global_step = 0
    handler.on_log(None, state, control, {"learning_rate": 0.0})  # no loss: ignored
    callback.feed.watcher.update_lr([0, 2160], [0.0, 3e-4])  # the warmup, logged before
    with caplog.at_level(logging.WARNING, logger="lrlaw.integrations"):
        handler.on_log(None, state, control, {"loss": None, "learning_rate": 3e-4})
        _train_logs(handler, state, control, c, 40)
    p = callback.prediction
    assert p.fitted and p.final_step == c.total_steps and p.error is None
    assert any("not a number" in r.getMessage() for r in caplog.records)


def test_hf_callback_feeds_the_trainers_means_at_their_centres():
    CallbackHandler, TrainerControl, TrainerState, _ = _hf()
    from lrlaw.integrations.hf import LrlawCallback

    c = _curve()
    fed = {}
    for average in ("auto", "none"):
        callback = LrlawCallback(schedule=SPECS[c.name], loss_average=average, min_points=10**6)
        handler = CallbackHandler([callback], None, None, None, None)
        state, control = TrainerState(max_steps=c.total_steps), TrainerControl()
        state.global_step = int(c.steps[0]) - 128  # a resumed run: the Trainer counts from here
        handler.on_train_begin(None, state, control)
        _train_logs(handler, state, control, c, 20)
        fed[average] = callback.feed.watcher.state_dict()
    np.testing.assert_array_equal(fed["none"]["steps"], c.steps[:20])
    np.testing.assert_array_equal(fed["auto"]["steps"], c.steps[:20] - 63)  # (s - 128, s]
    assert fed["auto"]["loss"] == fed["none"]["loss"]
    assert fed["auto"]["lr_steps"] == fed["none"]["lr_steps"]  # the LR stays at its step
    eval_cb = LrlawCallback(schedule=SPECS[c.name], loss_key="eval_loss")
    assert not eval_cb.since_last
    with pytest.raises(LrlawError, match="loss_average"):
        LrlawCallback(loss_average="window:5")


def test_hf_module_without_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.delitem(sys.modules, "lrlaw.integrations.hf", raising=False)
    with pytest.raises(LrlawError, match=r"pip install 'lrlaw\[hf\]'"):
        import lrlaw.integrations.hf  # noqa: F401


def _lightning_module(monkeypatch):
    """``lrlaw.integrations.lightning``, imported afresh; without lightning installed,
    ``lightning.pytorch.Callback`` is a plain class (the third-party base, not lrlaw's code)."""
    import importlib
    import types

    if "lightning" not in sys.modules:
        try:
            import lightning  # noqa: F401
        except ImportError:
            pkg = types.ModuleType("lightning")
            sub = types.ModuleType("lightning.pytorch")
            sub.Callback = type("Callback", (), {})
            pkg.pytorch = sub
            monkeypatch.setitem(sys.modules, "lightning", pkg)
            monkeypatch.setitem(sys.modules, "lightning.pytorch", sub)
    monkeypatch.delitem(sys.modules, "lrlaw.integrations.lightning", raising=False)
    return importlib.import_module("lrlaw.integrations.lightning")


def test_lightning_callback_logic_with_a_stand_in_lightning(monkeypatch):
    """Without torch, ``lightning.pytorch.Callback`` is replaced by a plain class (the
    third-party base, not lrlaw's code) and the hooks are driven as Lightning's loop
    calls them: ``on_train_start(trainer, module)``, then ``on_train_batch_end`` per batch."""
    mod = _lightning_module(monkeypatch)

    c = _curve()
    logged = []
    module = SimpleNamespace(log_dict=lambda m, **kw: logged.append(dict(m)))
    opt = SimpleNamespace(param_groups=[{"lr": 3e-4}])
    trainer = SimpleNamespace(global_step=0, max_steps=c.total_steps, optimizers=[opt],
                              callback_metrics={})  # fmt: skip
    callback = mod.LrlawLightningCallback(SPECS[c.name])
    callback.on_train_start(trainer, module)
    first_fit = None
    for i, (s, y) in enumerate(zip(c.steps[:60], c.loss[:60])):
        trainer.global_step = int(s)
        opt.param_groups[0]["lr"] = float(c.lr[s])
        outputs = {"loss": np.float64(y)} if i % 2 else None  # or from callback_metrics
        trainer.callback_metrics = {"train_loss": float(y)}
        callback.on_train_batch_end(trainer, module, outputs, None, i)
        if first_fit is None and callback.prediction.fitted:
            first_fit = i
    p = callback.prediction
    np.testing.assert_allclose(callback.feed.watcher.observed()[1], c.loss[:60])
    # The current prediction is logged at every step fed once fitted.
    assert p.fitted and p.n_points == 60 and len(logged) == 60 - first_fit
    assert logged[-1]["pred/final_loss"] == pytest.approx(p.final_loss)


def test_lightning_callback_warns_of_a_monitored_prediction_under_ddp(monkeypatch, caplog):
    """In a multi-process run only global zero logs ``pred/*``: a ModelCheckpoint that
    monitors ``pred/final_loss`` there hung a two-process run, so the callback warns
    (global zero only); the other processes build no watcher."""
    import logging

    mod = _lightning_module(monkeypatch)

    c = _curve()
    opt = SimpleNamespace(param_groups=[{"lr": 3e-4}])
    ckpt = SimpleNamespace(monitor="pred/final_loss")
    other = SimpleNamespace(monitor="val_loss")

    def run(rank: int, world: int):
        trainer = SimpleNamespace(
            global_step=0,
            max_steps=c.total_steps,
            optimizers=[opt],
            callbacks=[ckpt, other],
            world_size=world,
            is_global_zero=rank == 0,
        )
        callback = mod.LrlawLightningCallback(min_points=10)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="lrlaw.integrations"):
            callback.on_train_start(trainer, SimpleNamespace())
        return callback, [r.getMessage() for r in caplog.records]

    callback, said = run(0, 2)
    assert callback.feed is not None
    assert len(said) == 1 and "monitor='pred/final_loss'" in said[0] and "2-process" in said[0]
    callback, said = run(1, 2)
    assert callback.feed is None and said == []  # the other process does nothing
    callback, said = run(0, 1)
    assert callback.feed is not None and said == []  # one process: monitoring works
