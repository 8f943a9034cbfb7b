"""``lrlaw predict``: predict the loss curves of logged runs or candidate schedules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import (
    Reading,
    ScheduleOpt,
    SchedulesFileOpt,
    WarmupOpt,
    check_outputs,
    info,
    load,
    parse_finite_spec,
    reading_options,
    report_reading,
    save_figure,
    split_name,
    user_errors,
)
from lrlaw.errors import LrlawError

FitArg = Annotated[
    Path, typer.Argument(help="Fit result written by 'lrlaw fit --out'.", show_default=False)
]


def _candidate_schedules(texts: list[str]) -> list[tuple[str, object, Path | None]]:
    """``(name, per-step LR, file or None)`` of ``--candidate [NAME=]SPEC|FILE`` values."""
    from lrlaw.schedules import read_schedule_table

    out = []
    for i, text in enumerate(texts, start=1):
        name, value = split_name(text, "--candidate")
        path = Path(value)
        if path.suffix.lower() in (".csv", ".json"):
            if not path.is_file():
                raise LrlawError(f"--candidate {text!r}: no such schedule file {path}")
            try:
                lr = read_schedule_table(path).values()
            except LrlawError as exc:
                raise LrlawError(
                    f"--candidate {text!r}: {exc}; --candidate takes a per-step schedule table "
                    "(step,lr with steps 0, 1, 2, ...) as written by lrlaw schedule, optimize or "
                    "refine; training logs go in FILES"
                ) from None
            name = name or path.stem
            out.append((name, lr, path))
            continue
        sched = parse_finite_spec(value, f"--candidate {text!r}")
        out.append((name or f"{sched.spec.split(':', 1)[0]}-{i}", sched.values(), None))
    names = [n for n, _, _ in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise LrlawError(f"--candidate: the name {dup!r} is given twice; name them NAME=SPEC")
    return out


@user_errors
@reading_options
def predict_cmd(
    fit_file: FitArg,
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Training logs to predict (any format 'lrlaw fit' reads); optional with "
            "--candidate.",
            show_default=False,
        ),
    ] = None,
    candidate: Annotated[
        list[str] | None,
        typer.Option(
            "--candidate",
            "-c",
            help="A schedule not run yet, to predict: [NAME=]SPEC, or a per-step table "
            "FILE.csv/.json (step,lr) as written by 'lrlaw schedule', 'optimize' or 'refine'. "
            "Repeatable; its rows have an empty loss (every --every steps; default about "
            "1000 rows).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output CSV (default: standard output).", show_default=False
        ),
    ] = None,
    schedule: ScheduleOpt = None,
    schedules: SchedulesFileOpt = None,
    warmup: WarmupOpt = None,
    every: Annotated[
        int | None,
        typer.Option(
            "--every",
            min=1,
            help="Predict at every k-th step of the schedule (1 = every step) "
            "instead of at the observed steps.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Save a figure of observed vs predicted curves.", show_default=False
        ),
    ] = None,
    level: Annotated[
        float,
        typer.Option(
            "--level", min=0.01, max=0.99, help="Level of the prediction band (pred_lo, pred_hi)."
        ),
    ] = 0.9,
    reading: Reading | None = None,
) -> None:
    """Predict loss curves for runs with a fitted law, and for schedules not run yet.

    Writes columns run, step, lr, loss, pred, and pred_lo, pred_hi (the
    prediction band at --level) when the fit has a bootstrap.  For FILES there is
    one row per logged loss (raw; --max-points N bins them into at most N points),
    or with --every K one row every K steps; loss is empty at steps without an
    observation; pred is empty at step 0 and inside the warmup (the laws
    describe the loss after warmup).  With --tokens-per-step a tokens column
    follows step.
    """
    import numpy as np
    import pandas as pd

    files = files or []
    candidates = _candidate_schedules(candidate or [])
    if not files and not candidates:
        raise LrlawError("nothing to predict: give training logs (FILES) or --candidate SPEC")
    if plot is not None and not files:
        raise LrlawError("--plot draws the runs in FILES; to plot candidates use 'lrlaw compare'")
    reading = reading or Reading()
    if not reading.max_points_given:
        # One row per logged loss, the raw losses: bin them only when --max-points asks.
        from dataclasses import replace

        from lrlaw.io import ReadOptions

        options = replace(reading.options or ReadOptions(), max_points=None)
        reading = replace(reading, options=options)
    cand_files = [path for _, _, path in candidates if path is not None]
    inputs = [*files, fit_file, *reading.inputs(), *cand_files]
    check_outputs(inputs, out, plot)
    from lrlaw.curves import detect_warmup
    from lrlaw.fitting import FitResult
    from lrlaw.io import atomic_output

    result = FitResult.load(fit_file)
    curves = load(files, schedule, schedules, warmup, reading) if files else []
    clash = sorted({n for n, _, _ in candidates} & {c.name for c in curves})
    if clash:
        raise LrlawError(
            f"--candidate name(s) {', '.join(clash)} also name runs in FILES; "
            "name the candidates NAME=SPEC"
        )
    per_step = None if reading.options is None else reading.options.tokens_per_step

    uncovered: list[str] = []  # runs with rows inside their warmup (pred left empty)

    def rows(name: str, lr, steps, loss, start: int) -> pd.DataFrame:
        """One run's rows: its prediction (and band) at ``steps``.  The laws are undefined
        at step 0 and describe the loss after warmup: pred is left empty before ``start``."""
        start = max(start, 1)
        ok = steps >= start
        if np.any((steps >= 1) & ~ok):
            uncovered.append(f"{name} (steps < {start})")
        pred = np.full(steps.size, np.nan)
        pred[ok] = result.predict(lr, steps[ok])
        columns = {"run": name, "step": steps}
        if per_step is not None:
            columns["tokens"] = steps * per_step
        columns |= {"lr": lr[steps], "loss": loss, "pred": pred}
        if result.uncertainty is not None:
            lo, hi = np.full(steps.size, np.nan), np.full(steps.size, np.nan)
            lo[ok], hi[ok] = result.predict_band(lr, steps[ok], level)
            columns |= {"pred_lo": lo, "pred_hi": hi}
        return pd.DataFrame(columns)

    def every_k(total: int, k: int):
        return np.union1d(np.arange(0, total + 1, k), [total])

    frames = []
    for name, lr, _ in candidates:
        total = lr.size - 1
        steps = every_k(total, every if every is not None else max(1, total // 1000))
        frames.append(rows(name, lr, steps, np.full(steps.size, np.nan), detect_warmup(lr)))
    for c in curves:
        steps = c.steps if every is None else every_k(c.total_steps, every)
        loss = np.full(steps.size, np.nan)
        idx = np.searchsorted(c.steps, steps)
        hit = (idx < c.steps.size) & (c.steps[np.minimum(idx, c.steps.size - 1)] == steps)
        loss[hit] = c.loss[idx[hit]]
        # A fit whose --min-step reached into the warmup covers the run from there.
        start = c.warmup if result.min_step is None else min(c.warmup, result.min_step)
        frames.append(rows(c.name, c.lr, steps, loss, start))
    table = pd.concat(frames, ignore_index=True)
    from lrlaw.fitting import extrapolation_warnings

    fitted_runs = {c["name"] for c in result.curves}
    for name, lr, last in [(n, lr, None) for n, lr, _ in candidates] + [
        (c.name, c.lr, int(c.steps[-1])) for c in curves if c.name not in fitted_runs
    ]:
        for w in extrapolation_warnings(result.curves, name, lr, last):
            info(f"warning: {w}")
    if uncovered:
        info(
            f"pred is empty inside the warmup of {', '.join(uncovered)}: the laws describe "
            "the loss after warmup"
        )
    fig = None
    if plot is not None:  # build the figure before writing anything
        from lrlaw.plot import plot_fit

        fitted = [c["name"] for c in result.curves]
        fig = plot_fit(result, curves, train=fitted, level=level)
    report_reading(curves)  # read, then wrote (after the work, so an error stays one line)
    if out is None:
        table.to_csv(sys.stdout, index=False, float_format="%.10g")
    else:
        with atomic_output(out, inputs) as tmp:
            table.to_csv(tmp, index=False, float_format="%.10g")
        info(f"wrote {out} ({len(table)} rows)")
    if fig is not None:
        save_figure(fig, plot, inputs=inputs)
        info(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add ``lrlaw predict`` to ``app``."""
    app.command("predict")(predict_cmd)
