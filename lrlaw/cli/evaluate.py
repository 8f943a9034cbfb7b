"""The ``evaluate`` command: score a saved fit on curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import (
    Files,
    MinStepOpt,
    ScheduleOpt,
    SchedulesFileOpt,
    WarmupOpt,
    load,
    user_errors,
)

FitArg = Annotated[
    Path, typer.Argument(help="Fit result written by 'lrlaw fit --out'.", show_default=False)
]


@user_errors
def evaluate_cmd(
    fit_file: FitArg,
    files: Files,
    schedule: ScheduleOpt = None,
    schedules: SchedulesFileOpt = None,
    warmup: WarmupOpt = None,
    min_step: MinStepOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Score a fitted law on curves: R2, MAE, RMSE, PredE, WorstE, final-loss error.

    Per run and the mean over runs, on the steps after each run's warmup (or
    from --min-step).  PredE/WorstE/final are relative errors.
    """
    from lrlaw.fit import FitResult
    from lrlaw.metrics import curve_metrics, mean_metrics, metrics_table

    result = FitResult.load(fit_file)
    curves = load(files, schedule, schedules, warmup)
    rows = []
    for c in curves:
        mask = c.window(min_step)
        pred = result.predict(c.lr, c.steps[mask]) if mask.any() else []
        rows.append(
            {"name": c.name, "source": c.source, "metrics": curve_metrics(c.loss[mask], pred)}
        )
    if as_json:
        payload = {
            "law": result.law,
            "params": result.params,
            "runs": rows,
            "mean": mean_metrics([r["metrics"] for r in rows]),
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        typer.echo(
            metrics_table(
                rows,
                f"{result.law} law from {fit_file}: held-out metrics (PredE, WorstE, final in %)",
            )
        )


def register(app: typer.Typer) -> None:
    """Add the evaluate command to ``app``."""
    app.command("evaluate")(evaluate_cmd)
