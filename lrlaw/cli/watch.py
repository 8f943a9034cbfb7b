"""``lrlaw watch``: tail a growing training log and predict the run's final loss live."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import info, user_errors
from lrlaw.errors import LrlawError


def parse_what_if(texts: list[str]) -> dict[str, list[float]]:
    """``cooldown=0.1,0.2`` (and ``starts=0.5,0.6``) -> ``{"cooldown": [0.1, 0.2]}``."""
    out: dict[str, list[float]] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or key not in ("cooldown", "starts"):
            raise LrlawError(
                f"--what-if {text!r}: expected cooldown=F1,F2,... (fractions of the run) "
                "or starts=F1,F2,..."
            )
        try:
            out.setdefault(key, []).extend(float(v) for v in value.split(",") if v.strip())
        except ValueError:
            raise LrlawError(f"--what-if {text!r}: expected numbers separated by commas") from None
    return out


def _signature(path: Path) -> tuple[int | None, float] | None:
    """``(bytes, newest mtime)`` of a log file, or of a TensorBoard folder's event files
    (which grow inside a folder whose own size and mtime do not change); ``(None, 0)``
    for a remote run (``wandb:...``, ``mlflow:...``); None when the log is gone."""
    from lrlaw.io import is_remote

    if is_remote(str(path)):
        return None, 0.0
    try:
        if path.is_dir():
            files = [f.stat() for f in path.rglob("*tfevents*") if f.is_file()]
            return sum(f.st_size for f in files), max((f.st_mtime for f in files), default=0.0)
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime


class _Tail:
    """Re-reads a log on every poll and hands the watcher what is new or changed."""

    def __init__(self, path: Path, options, watcher, learn_lr: bool) -> None:
        self.path, self.options, self.watcher, self.learn_lr = path, options, watcher, learn_lr
        self.fed_steps: list[int] = []
        self.fed_loss: list[float] = []
        self.size = -1
        self.mtime = 0.0
        self.nonfinite = 0
        self.last_message: str | None = None

    def say(self, message: str) -> None:
        if message != self.last_message:
            info(message)
            self.last_message = message

    def poll(self) -> bool:
        """Read the log if it changed; True when new losses were fed."""
        import numpy as np

        from lrlaw.io import prepare_run, read_runs

        sig = _signature(self.path)
        if sig is None:
            self.say(f"warning: {self.path} disappeared; keeping the last prediction")
            return False
        size, mtime = sig
        if size is not None:  # a remote run (W&B, MLflow) is re-read on every poll
            if size == self.size and mtime == self.mtime:
                return False
            if 0 <= size < self.size:
                self.say(
                    f"warning: {self.path} shrank from {self.size} to {size} bytes "
                    "(rewritten or resumed?); re-reading it"
                )
            self.size, self.mtime = size, mtime
        try:
            runs = read_runs(self.path, self.options)
            if len(runs) != 1:
                raise LrlawError(f"{self.path}: holds {len(runs)} runs; watch follows one")
            run = prepare_run(runs[0], self.options)
        except LrlawError as exc:
            self.say(f"warning: cannot read {self.path} now ({exc}); keeping the last prediction")
            self.size = -1  # try again at the next poll
            return False
        if run.loss.report.nonfinite > self.nonfinite:
            self.say(
                f"warning: {self.path}: {run.loss.report.nonfinite} NaN/inf loss(es) skipped so far"
            )
        self.nonfinite = run.loss.report.nonfinite
        average = run.loss_average[0] if run.loss_average else None
        if average == "since-last" and run.loss.step.size < 2 and not self.fed_steps:
            # The stretch of steps the first mean covers is read off the first logging
            # interval (average_centres), so its step is known once a second value is
            # logged; fed now, it could move then and look like a rewritten log.
            self.say(
                f"{self.path}: one logged loss so far, a mean since the previous log; "
                "waiting for the second to place it"
            )
            return False
        steps, loss = run.loss.step.tolist(), run.loss.value.tolist()
        # First entry that differs from what was fed (a rewritten or resumed log).
        n = min(len(steps), len(self.fed_steps))
        a, b = np.asarray(steps[:n]), np.asarray(self.fed_steps[:n])
        diff = np.flatnonzero((a != b) | (np.asarray(loss[:n]) != np.asarray(self.fed_loss[:n])))
        start = int(diff[0]) if diff.size else n
        if start < len(self.fed_steps):
            at = steps[start] if start < len(steps) else self.fed_steps[start]
            self.say(
                f"warning: {self.path} was rewritten from step {at} on (a resumed run?); "
                "later losses replace the earlier ones"
            )
            if start >= len(steps):
                self.fed_steps, self.fed_loss = steps, loss
                return False
        if self.learn_lr and run.lr is not None:
            self.watcher.update_lr(run.lr.step, run.lr.value)
        new_steps, new_loss = steps[start:], loss[start:]
        self.fed_steps, self.fed_loss = steps, loss
        if not new_steps:
            return False
        self.watcher.update_many(new_steps, new_loss)
        return True


def _table(pred, path: Path):
    from rich.table import Table

    t = Table(title=f"lrlaw watch {path}", show_header=False)
    t.add_column("what")
    t.add_column("value")
    t.add_row("last step", f"{pred.step} ({pred.n_points} losses, {pred.refits} refits)")
    if pred.fitted:
        t.add_row(
            f"final loss (step {pred.final_step})",
            f"{pred.final_loss:.4f}  90 % band [{pred.final_lo:.4f}, {pred.final_hi:.4f}]",
        )
        if pred.change is not None:
            t.add_row("change since last refit", f"{pred.change:+.4f}")
        if pred.target_loss is not None:
            t.add_row(
                f"reaches {pred.target_loss:g}",
                "not before the end" if pred.target_step is None else f"at step {pred.target_step}",
            )
        for w in pred.what_if:
            t.add_row(
                f"cooldown {w.fraction:g} from {w.start}",
                f"{w.loss:.4f} at {w.end} [{w.lo:.4f}, {w.hi:.4f}]",
            )
        if pred.prior_share is not None:
            t.add_row("C from the prior", f"{100 * pred.prior_share:.0f} %")
        if pred.anneal_identified is not None and pred.anneal_gain is not None:
            state = "identified by the losses"
            if not pred.anneal_identified:
                prior = pred.prior_share is not None and pred.prior_share > 0.5
                state = "from the anneal prior" if prior else "NOT YET IDENTIFIED"
            t.add_row("gain of the LR decay ahead", f"{100 * pred.anneal_gain:.1f} % ({state})")
    else:
        t.add_row("prediction", "waiting for enough losses")
    if pred.deviation is not None:
        t.add_row("DEVIATION", pred.deviation.describe())
    if pred.error:
        t.add_row("last refit failed", pred.error)
    return t


def _snapshot(watcher, out: Path, log: Path) -> None:
    """Write ``prediction.json`` and ``prediction.png`` into ``out``, each atomically."""
    import json

    from lrlaw.io import atomic_output, write_text_atomic

    pred = watcher.prediction
    inputs = [] if _signature_remote(log) else [log]
    write_text_atomic(out / "prediction.json", json.dumps(pred.to_dict(), indent=2) + "\n", inputs)
    fig = watcher.figure()
    with atomic_output(out / "prediction.png", inputs) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _signature_remote(log: Path) -> bool:
    from lrlaw.io import is_remote

    return is_remote(str(log))


@user_errors
def watch_cmd(
    log: Annotated[
        Path,
        typer.Argument(
            help="The growing training log: CSV, JSONL, a TensorBoard run folder, an HF "
            "trainer_state.json, wandb:ENTITY/PROJECT/RUN_ID or mlflow:RUN_ID."
        ),
    ],
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            "-s",
            help="The run's schedule spec (with total=STEPS).",
            show_default=False,
        ),
    ] = None,
    lr_col: Annotated[
        str | None,
        typer.Option(
            "--lr-col", help="Learn the LR from this column (no --schedule).", show_default=False
        ),
    ] = None,
    total_steps: Annotated[
        int | None,
        typer.Option(
            "--total-steps",
            min=1,
            help="Run length when the LR is learned from the log.",
            show_default=False,
        ),
    ] = None,
    law: Annotated[
        str, typer.Option("--law", help="Law: momentum | efflr | multipower | convex.")
    ] = "momentum",
    target_loss: Annotated[
        float | None,
        typer.Option(
            "--target-loss",
            help="Report the step the prediction reaches this loss.",
            show_default=False,
        ),
    ] = None,
    what_if: Annotated[
        list[str] | None,
        typer.Option(
            "--what-if",
            help="cooldown=F1,F2: the loss if a linear cooldown over F x the run started now.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for prediction.json and prediction.png, rewritten after each refit.",
            show_default=False,
        ),
    ] = None,
    idle: Annotated[
        float,
        typer.Option(
            "--idle", min=0, help="Stop when the log has not grown for this many seconds."
        ),
    ] = 600.0,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=0.01,
            help="Seconds between polls (default 2; 30 for a W&B or MLflow run, re-read whole).",
            show_default=False,
        ),
    ] = None,
    loss_col: Annotated[
        str | None, typer.Option("--loss-col", help="Loss column.", show_default=False)
    ] = None,
    step_col: Annotated[
        str | None, typer.Option("--step-col", help="Step column.", show_default=False)
    ] = None,
    min_points: Annotated[
        int, typer.Option("--min-points", min=5, help="Losses before the first fit.")
    ] = 20,
) -> None:
    """Follow a training log as it grows and predict the run's final loss, with a 90 % band.

    Refits after every 2 % growth of the run (warm-started), prints one line
    per refit when piped (a live table in a terminal), and stops on Ctrl-C,
    when the log stops growing for --idle seconds, or at the schedule's last step.
    """
    from lrlaw.io import ReadOptions
    from lrlaw.watch import Watcher

    if schedule is None and total_steps is None:
        raise LrlawError("give --schedule SPEC, or --total-steps N to learn the LR from the log")
    if out is not None and not out.is_dir():
        if out.exists():
            raise LrlawError(f"--out {out}: not a folder")
        out.mkdir(parents=True)
    options = ReadOptions(loss_col=loss_col, step_col=step_col, lr_col=lr_col, max_points=None)
    watcher = Watcher(
        schedule,
        law,
        target_loss=target_loss,
        what_if=parse_what_if(what_if or []),
        total_steps=total_steps,
        min_points=min_points,
        name=log.stem,
    )
    if interval is None:
        interval = 30.0 if _signature_remote(log) else 2.0
    tail = _Tail(log, options, watcher, learn_lr=schedule is None)
    live = None
    if sys.stdout.isatty():
        from rich.live import Live

        live = Live(_table(watcher.prediction, log), refresh_per_second=4)
        live.start()
    shown = (-1, None, None)
    saved = -1  # n_points of the last snapshot written to --out
    last_growth = time.monotonic()
    reason = "stopped"
    try:
        while True:
            grew = tail.poll()
            pred = watcher.prediction
            key = (pred.refits, pred.error, pred.deviation and pred.deviation.kind)
            if key != shown and pred.n_points:
                shown = key
                if live is not None:
                    live.update(_table(pred, log))
                else:
                    print(pred.summary(), flush=True)
                if out is not None and pred.fitted:
                    _snapshot(watcher, out, log)
                    saved = pred.n_points
            if grew:  # after the refit and the snapshot: idle is time spent waiting
                last_growth = time.monotonic()
            if pred.n_points and pred.step >= pred.final_step > 0:
                reason = f"reached the schedule's last step ({pred.final_step})"
                break
            if time.monotonic() - last_growth > idle:
                reason = f"no new losses for {idle:g} s"
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        if live is not None:
            live.stop()
    pred = watcher.prediction
    if out is not None and pred.fitted and pred.n_points != saved:
        # losses fed since the last refit (fewer than its trigger) are in the prediction
        # but not yet on disk: the files must end at the last step the watch read
        _snapshot(watcher, out, log)
    info(f"{reason}; last prediction: {pred.summary()}")
    for d in watcher.deviations:
        info(f"deviation: {d.describe()}")


def register(app: typer.Typer) -> None:
    """Add ``watch`` to ``app``."""
    app.command("watch")(watch_cmd)
