"""The trainer callbacks inside real trainers: ``lightning.Trainer.fit`` and a plain
PyTorch loop, each training a tiny model on CPU with a real LR scheduler.

Skipped where torch (and, for the Lightning tests, lightning) is not installed: CI
installs only ``.[test]``.  The model is a linear regression on fixed noisy data, so
the training loss falls from about 5 to the noise floor (0.25) and the law has a
real curve to fit; what is checked is what the trainer exposes and what reaches its
logger, not how good the prediction is.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

TOTAL, WARMUP, DECAY = 240, 12, 48  # a WSD schedule: warmup, stable, linear decay
PEAK = 0.05


def wsd_lambda(k: int) -> float:
    if k < WARMUP:
        return (k + 1) / WARMUP
    if k < TOTAL - DECAY:
        return 1.0
    return max(0.0, (TOTAL - k) / DECAY)


def data(n: int = 512, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    w = torch.linspace(-1, 1, 8)
    y = x @ w[:, None] + 0.5 * torch.randn(n, 1, generator=g)
    return x, y


def pl():
    pytest.importorskip("lightning")
    import lightning.pytorch as lp

    return lp


def lightning_module(lp, scheduler: str = "lambda"):
    class Regression(lp.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(8, 1)
            self.seen: list[tuple[int, float]] = []  # (global_step, micro-batch loss)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.lin(x), y)
            self.seen.append((self.trainer.global_step, float(loss.detach())))
            self.log("train_loss", loss, on_step=True)
            return loss

        def train_dataloader(self):
            x, y = data()
            ds = torch.utils.data.TensorDataset(x, y)
            return torch.utils.data.DataLoader(ds, batch_size=8, shuffle=False)

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=PEAK)
            if scheduler == "lambda":
                sch = torch.optim.lr_scheduler.LambdaLR(opt, wsd_lambda)
            else:  # no lr_lambdas: the callback learns the LR
                sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=TOTAL)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}

    return Regression()


def trainer(lp, tmp_path, callbacks, **kw):
    from lightning.pytorch.loggers import CSVLogger

    opts = dict(
        max_steps=TOTAL,
        logger=CSVLogger(tmp_path, name="csv"),
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    opts.update(kw)
    return lp.Trainer(callbacks=callbacks, **opts)


def read_metrics(logger) -> list[dict[str, str]]:
    with open(Path(logger.log_dir) / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_lightning_fit_logs_the_prediction_to_its_logger(tmp_path):
    lp = pl()
    from lrlaw.integrations.lightning import LrlawLightningCallback

    callback = LrlawLightningCallback(min_points=10)  # no schedule: read from the LambdaLR
    t = trainer(lp, tmp_path, [callback])
    module = lightning_module(lp)
    t.fit(module)
    w = callback.feed.watcher
    # The schedule is the trainer's own LambdaLR, read ahead for every step.
    expected = PEAK * np.array([wsd_lambda(k) for k in range(TOTAL + 1)])
    assert w.lr is not None and w.total == TOTAL
    np.testing.assert_allclose(w.lr, expected, rtol=1e-12)
    # One loss per optimizer step, at global_step 1..TOTAL, equal to the step's loss.
    steps, losses = w.observed()
    assert steps.tolist() == list(range(1, TOTAL + 1))
    np.testing.assert_allclose(losses, [y for _, y in module.seen], rtol=1e-6)
    p = callback.prediction
    assert p.fitted and p.refits > 5 and p.error is None
    rows = [r for r in read_metrics(t.logger) if r.get("pred/final_loss")]
    assert rows, "pred/final_loss never reached the CSV logger"
    assert {"pred/final_lo", "pred/final_hi", "pred/refits"} <= set(rows[-1])
    last = rows[-1]
    assert int(last["step"]) == TOTAL - 1  # Lightning logs step k+1's values at step k
    assert float(last["pred/final_loss"]) == pytest.approx(p.final_loss, rel=1e-6)
    assert float(last["pred/final_lo"]) < float(last["pred/final_loss"])
    assert float(last["pred/refits"]) == p.refits
    # callback_metrics has it too (EarlyStopping / ModelCheckpoint can monitor it).
    assert float(t.callback_metrics["pred/final_loss"]) == pytest.approx(p.final_loss, rel=1e-6)


def test_lightning_gradient_accumulation_feeds_each_steps_mean_loss(tmp_path):
    lp = pl()
    from lrlaw.integrations.lightning import LrlawLightningCallback

    callback = LrlawLightningCallback(min_points=10, every=2)
    t = trainer(lp, tmp_path, [callback], max_steps=TOTAL // 2, accumulate_grad_batches=3)
    module = lightning_module(lp)
    t.fit(module)
    steps, losses = callback.feed.watcher.observed()
    # Optimizer steps 2, 4, ... (every=2); Lightning divides the loss it hands the hooks
    # by accumulate_grad_batches, and the callback feeds the mean of the step's
    # micro-batch losses (the micro-batches of step k run while global_step is k - 1).
    # 64 batches an epoch: the epoch's last step has 1 micro-batch, not 3.
    assert steps.tolist() == list(range(2, TOTAL // 2 + 1, 2))
    by_step: dict[int, list[float]] = {}
    for gs, y in module.seen:
        by_step.setdefault(gs + 1, []).append(y)
    assert {len(by_step[s]) for s in steps} == {1, 3}
    np.testing.assert_allclose(losses, [np.mean(by_step[s]) for s in steps], rtol=1e-6)
    # The schedule is read in optimizer steps (max_steps), not batches.
    assert callback.feed.watcher.total == TOTAL // 2


def test_lightning_run_set_by_epochs_gets_its_length(tmp_path):
    lp = pl()
    from lrlaw.integrations.lightning import LrlawLightningCallback

    callback = LrlawLightningCallback(min_points=10)
    t = trainer(lp, tmp_path, [callback], max_steps=-1, max_epochs=2)
    t.fit(lightning_module(lp, scheduler="cosine"))
    w = callback.feed.watcher
    # 512 samples / batch 8 = 64 steps per epoch; CosineAnnealingLR has no lr_lambdas,
    # so the LR is learned, from step 0.
    assert w.total == 128 and w.lr is None
    assert min(w.state_dict()["lr_steps"]) == 0
    assert callback.prediction.fitted and callback.prediction.final_step == 128


@pytest.mark.parametrize("scheduler", ["lambda", "cosine"])
def test_lightning_resumed_run_keeps_its_history(tmp_path, scheduler):
    """A run stopped at step 120 and resumed from its checkpoint (global_step starts at
    120): the second callback gets the first 120 losses back from the checkpoint."""
    lp = pl()
    from lightning.pytorch.callbacks import ModelCheckpoint

    from lrlaw.integrations.lightning import LrlawLightningCallback

    class StopAt(lp.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step >= 120:
                trainer.should_stop = True

    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=120, save_top_k=-1)
    first = LrlawLightningCallback(min_points=10)
    t1 = trainer(lp, tmp_path, [first, ckpt, StopAt()], enable_checkpointing=True)
    t1.fit(lightning_module(lp, scheduler))
    assert t1.global_step == 120 and first.prediction.n_points == 120
    (path,) = sorted((tmp_path / "ckpt").glob("*.ckpt"))

    second = LrlawLightningCallback(min_points=10)
    t2 = trainer(lp, tmp_path, [second])
    module = lightning_module(lp, scheduler)
    t2.fit(module, ckpt_path=str(path))
    steps, _ = second.feed.watcher.observed()
    assert steps.tolist() == list(range(1, TOTAL + 1))  # 120 restored + 120 new
    p = second.prediction
    assert p.fitted and p.error is None and p.final_step == TOTAL
    rows = [r for r in read_metrics(t2.logger) if r.get("pred/final_loss")]
    assert rows and float(rows[-1]["pred/final_loss"]) == pytest.approx(p.final_loss, rel=1e-6)


def test_lightning_callback_never_raises_into_fit(tmp_path, caplog):
    lp = pl()
    from lrlaw.integrations.lightning import LrlawLightningCallback

    class Broken(LrlawLightningCallback):
        def _collect(self, trainer, outputs):
            raise RuntimeError("boom")

    callback = Broken(min_points=10)
    t = trainer(lp, tmp_path, [callback], max_steps=30)
    with caplog.at_level(logging.WARNING, logger="lrlaw.integrations"):
        t.fit(lightning_module(lp))
    assert t.global_step == 30
    assert sum("boom" in r.getMessage() for r in caplog.records) == 1  # said once


#: A two-process CPU DDP run (gloo) of the regression model with the callback; each
#: process writes what its callback saw to rank<N>.json.  Run as a script: Lightning's
#: "ddp" strategy starts the second process by running the script again.
DDP_SCRIPT = """
import json, os, sys
import torch
import lightning.pytorch as lp
from lightning.pytorch.loggers import CSVLogger
from lrlaw.integrations.lightning import LrlawLightningCallback

TOTAL, WARMUP, DECAY, PEAK = 120, 10, 40, 0.05

def wsd(k):
    return min(1.0, (k + 1) / WARMUP) * min(1.0, max(0.0, (TOTAL - k) / DECAY))

class Regression(lp.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.lin(x), y)
        self.log("train_loss", loss, on_step=True)
        return loss

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(512, 8, generator=g)
        y = x @ torch.linspace(-1, 1, 8)[:, None] + 0.5 * torch.randn(512, 1, generator=g)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=PEAK)
        sch = torch.optim.lr_scheduler.LambdaLR(opt, wsd)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sch, "interval": "step"}}

if __name__ == "__main__":
    out = sys.argv[1]
    cb = LrlawLightningCallback(min_points=10)
    t = lp.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_steps=TOTAL,
        logger=CSVLogger(out, name="csv"), log_every_n_steps=1, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=0,
        callbacks=[cb],
    )
    t.fit(Regression())
    w = None if cb.feed is None else cb.feed.watcher
    info = {
        "rank": t.global_rank,
        "step": t.global_step,
        "feed": cb.feed is not None,
        "n": 0 if w is None else int(w.observed()[0].size),
        "refits": 0 if w is None else w.refits,
        "final_loss": None if w is None else w.prediction.final_loss,
        "metric": float(t.callback_metrics["pred/final_loss"])
        if "pred/final_loss" in t.callback_metrics else None,
    }
    with open(os.path.join(out, f"rank{t.global_rank}.json"), "w") as f:
        json.dump(info, f)
"""


@pytest.mark.slow
def test_lightning_ddp_two_processes_only_global_zero_watches(tmp_path):
    """A two-process DDP run on CPU (gloo): only the global-zero process builds the
    watcher, feeds it and logs the prediction; the other does nothing; the CSV logger
    writes once; nothing crashes.  About 30-45 s (two processes start and import)."""
    import json
    import os
    import subprocess
    import sys

    pl()
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    import lrlaw

    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(Path(lrlaw.__file__).resolve().parents[1]))
    for key in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    proc = subprocess.run(
        [sys.executable, str(script), str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    zero = json.loads((out / "rank0.json").read_text())
    one = json.loads((out / "rank1.json").read_text())
    assert zero["step"] == one["step"] == 120
    # Global zero fed every step's loss and fitted; its prediction reached the logger.
    assert zero["feed"] and zero["n"] == 120 and zero["refits"] > 5
    assert zero["metric"] == pytest.approx(zero["final_loss"], rel=1e-6)
    # The other process built no watcher and logged no prediction.
    assert not one["feed"] and one["n"] == 0 and one["metric"] is None
    (version,) = (out / "csv").iterdir()  # one logger folder, written by global zero
    with open(version / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("pred/final_loss")]
    assert rows and float(rows[-1]["pred/final_loss"]) == pytest.approx(zero["final_loss"])


def test_plain_torch_loop_with_a_lambda_lr(tmp_path):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    from lrlaw.integrations.torch import WatchLoop
    from lrlaw.io.readers import read_runs

    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=PEAK)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, wsd_lambda)
    writer = SummaryWriter(str(tmp_path / "tb"))
    watch = WatchLoop(sched, total_steps=TOTAL, writer=writer, min_points=10, target_loss=0.3)
    np.testing.assert_allclose(
        watch.feed.watcher.lr, PEAK * np.array([wsd_lambda(k) for k in range(TOTAL + 1)])
    )
    x, y = data()
    for step in range(1, TOTAL + 1):
        i = (step - 1) % 64
        loss = torch.nn.functional.mse_loss(model(x[8 * i : 8 * i + 8]), y[8 * i : 8 * i + 8])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        writer.add_scalar("train/loss", loss.item(), step)
        p = watch.update(step, loss, opt.param_groups[0]["lr"])  # a tensor on the graph
    writer.close()
    assert p.fitted and p.refits > 5 and p.error is None and p.n_points == TOTAL
    assert math.isfinite(p.final_loss) and p.final_lo < p.final_loss < p.final_hi
    (log,) = read_runs(tmp_path / "tb")
    s, v, _, _ = log.columns["pred/final_loss"].entries()
    assert len(s) == p.refits and s[-1] == p.fit_step
    assert v[-1] == pytest.approx(p.final_loss, rel=1e-6)
    assert "train/loss" in log.columns


def test_plain_torch_loop_rejects_a_scheduler_it_cannot_read():
    from lrlaw.errors import LrlawError
    from lrlaw.integrations.torch import WatchLoop

    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    with pytest.raises(LrlawError, match="CosineAnnealingLR"):
        WatchLoop(cosine, total_steps=100)
    with pytest.raises(LrlawError, match="total_steps"):
        WatchLoop(torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0))


def hf():
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")  # the Trainer needs it
    import transformers

    return transformers


class HFRegression(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(8, 1)

    def forward(self, x, labels=None):
        out = self.lin(x)
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


def hf_trainer(tf, tmp_path, callbacks, **kw):
    x, y = data()
    ds = [{"x": x[i], "labels": y[i]} for i in range(len(x))]
    opts = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=TOTAL,
        per_device_train_batch_size=8,
        learning_rate=PEAK,
        lr_scheduler_type="warmup_stable_decay",
        lr_scheduler_kwargs={"num_decay_steps": DECAY, "decay_type": "linear"},
        warmup_steps=WARMUP,
        optim="sgd",
        weight_decay=0.0,
        logging_steps=2,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    opts.update(kw)
    args = tf.TrainingArguments(**opts)
    return tf.Trainer(model=HFRegression(), args=args, train_dataset=ds, callbacks=callbacks)


def test_hf_trainer_reads_its_own_schedule_and_logs_the_prediction(tmp_path):
    tf = hf()
    from lrlaw.integrations.base import schedule_from_scheduler
    from lrlaw.integrations.hf import LrlawCallback

    t = hf_trainer(tf, tmp_path, [])
    callback = LrlawCallback.install(t, min_points=10)  # no schedule: the Trainer's own
    t.train()
    w = callback.feed.watcher
    # The schedule is the one the Trainer built from its arguments (WSD), every step.
    assert w.lr is not None and w.total == TOTAL
    np.testing.assert_allclose(w.lr, schedule_from_scheduler(t.lr_scheduler, TOTAL), rtol=1e-12)
    logged = [r for r in t.state.log_history if "loss" in r]
    steps, losses = w.observed()
    assert steps.tolist() == [r["step"] for r in logged]
    np.testing.assert_allclose(losses, [r["loss"] for r in logged], rtol=1e-9)
    p = callback.prediction
    assert p.fitted and p.error is None and len(callback.history) == p.refits > 5
    assert callback.history[-1][1]["pred/final_loss"] == pytest.approx(p.final_loss)


def test_hf_resumed_run_replays_its_log_history(tmp_path):
    tf = hf()
    from lrlaw.integrations.hf import LrlawCallback

    class StopAt(tf.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= 120:
                control.should_training_stop = True
                control.should_save = True

    t1 = hf_trainer(tf, tmp_path, [StopAt()], save_strategy="steps", save_steps=10_000)
    first = LrlawCallback.install(t1, min_points=10)
    t1.train()
    assert first.prediction.n_points == 60  # logged every 2 steps
    (ckpt,) = sorted((tmp_path / "out").glob("checkpoint-*"))

    t2 = hf_trainer(tf, tmp_path, [])
    second = LrlawCallback.install(t2, min_points=10)
    t2.train(resume_from_checkpoint=str(ckpt))
    steps, _ = second.feed.watcher.observed()
    assert steps.tolist() == list(range(2, TOTAL + 1, 2))  # 60 replayed + 60 new
    p = second.prediction
    assert p.fitted and p.error is None and p.final_step == TOTAL


def test_hf_reduce_lr_on_plateau_learns_its_lr_from_the_log(tmp_path):
    """A schedule no one can read ahead (``reduce_lr_on_plateau`` changes the LR on
    evaluations): the callback learns the LR from step 0 (the optimizer's) and from each
    logged ``learning_rate``, and fits.  (Session 8 noted that it never fitted and only
    warned; on transformers 5.25 it fits.)"""
    tf = hf()
    from lrlaw.integrations.hf import LrlawCallback

    x, y = data()
    ds = [{"x": x[i], "labels": y[i]} for i in range(len(x))]
    args = tf.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=TOTAL,
        per_device_train_batch_size=8,
        learning_rate=PEAK,
        lr_scheduler_type="reduce_lr_on_plateau",
        lr_scheduler_kwargs={"patience": 0, "factor": 0.5},
        optim="sgd",
        logging_steps=2,
        eval_strategy="steps",
        eval_steps=20,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    t = tf.Trainer(model=HFRegression(), args=args, train_dataset=ds, eval_dataset=ds[:32])
    callback = LrlawCallback.install(t, min_points=10)
    t.train()
    w = callback.feed.watcher
    assert w.lr is None and w.total == TOTAL  # learned, with the run's length from the state
    logged = {r["step"]: r["learning_rate"] for r in t.state.log_history if "learning_rate" in r}
    assert min(logged.values()) < PEAK / 2  # the plateaus did cut the LR
    learned = w._schedule_now()
    assert learned[0] == pytest.approx(PEAK)
    for step, lr in logged.items():
        assert learned[step] == pytest.approx(lr, rel=1e-12)
    p = callback.prediction
    assert p.fitted and p.error is None and p.final_step == TOTAL and p.refits > 5
    assert callback.history[-1][1]["pred/final_loss"] == pytest.approx(p.final_loss)
