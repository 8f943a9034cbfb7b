"""``lrlaw refine``: a refined LR schedule from logged gradient norms (Defazio et al. 2023)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import check_outputs, info, save_figure, user_errors


@user_errors
def refine_cmd(
    log: Annotated[
        Path,
        typer.Argument(
            help="Training log with gradient norms (CSV/TSV/parquet, JSONL, W&B JSON export, "
            "TensorBoard), column --grad-col.",
            show_default=False,
        ),
    ],
    peak: Annotated[
        float,
        typer.Option("--peak", help="Largest learning rate (after warmup).", show_default=False),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Per-step schedule to write: FILE.csv (step,lr) or FILE.json.",
            show_default=False,
        ),
    ],
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, help="Linear warmup steps (0: none).")
    ] = 0,
    warmup_start: Annotated[
        float, typer.Option("--warmup-start", min=0.0, help="Learning rate at step 0.")
    ] = 0.0,
    width: Annotated[
        float,
        typer.Option(
            "--width",
            min=0.0,
            max=1.0,
            help="Median-filter window as a fraction of the logged points (0: no smoothing).",
        ),
    ] = 0.1,
    total: Annotated[
        int | None,
        typer.Option(
            "--total",
            min=2,
            help="Run length (default: the last logged step); the logged norms are stretched "
            "to it.",
            show_default=False,
        ),
    ] = None,
    step_col: Annotated[
        str | None,
        typer.Option(
            "--step-col", help="Column of the steps (default: found by name).", show_default=False
        ),
    ] = None,
    grad_col: Annotated[
        str, typer.Option("--grad-col", help="Column of the gradient norms.")
    ] = "grad_norm",
    run: Annotated[
        str | None,
        typer.Option("--run", help="Run to use when the log holds several.", show_default=False),
    ] = None,
    fit_file: Annotated[
        Path | None,
        typer.Option(
            "--fit",
            help="A fit from 'lrlaw fit --out': predict the final loss of the refined schedule "
            "next to cosine (to peak/10) and WSD (20 % linear decay to 0).",
            show_default=False,
        ),
    ] = None,
    level: Annotated[
        float,
        typer.Option("--level", min=0.01, max=0.99, help="Level of the prediction band."),
    ] = 0.9,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Save a figure: gradient norms, the schedules, and (with --fit) the predicted "
            "losses.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Build the refined schedule eta_t ∝ w_t * sum_{p>t} w_p, w_t = 1/G_t^2 (Defazio et al. 2023).

    G_t are the logged gradient norms, median-filtered and interpolated to every
    step; the schedule is scaled to --peak after --warmup and preceded by a linear
    warmup.  Writes it like 'lrlaw schedule' (one row per step 0..T).
    """
    import numpy as np

    from lrlaw.plan import compare_refined, read_grad_norms, refine_schedule
    from lrlaw.plan.references import reference_schedules
    from lrlaw.plot import plot_refined
    from lrlaw.schedules import schedule_table_format, write_schedule

    inputs = [log] + ([fit_file] if fit_file is not None else [])
    schedule_table_format(out)
    check_outputs(inputs, out, plot)
    steps, norms = read_grad_norms(log, step_col=step_col, grad_col=grad_col, run=run)
    fit = None
    if fit_file is not None:
        from lrlaw.fitting import FitResult

        fit = FitResult.load(fit_file)
    refined = refine_schedule(
        steps,
        norms,
        peak=peak,
        warmup=warmup,
        warmup_start=warmup_start,
        width=width,
        total=total,
    )
    lr = refined.lr
    top = int(np.argmax(lr))
    typer.echo(
        f"refined schedule: steps 0..{refined.schedule.total}, from {steps.size} gradient norms "
        f"of {log} (median filter over {refined.window} points); peak {lr[top]:.4g} at step {top}, "
        f"lr at 50 % / 90 % / 99 % of the run: "
        + " / ".join(f"{lr[int(f * (lr.size - 1))]:.3g}" for f in (0.5, 0.9, 0.99))
        + f", final {lr[-1]:.3g}"
    )
    refs = reference_schedules(refined.schedule.total, peak, warmup, warmup_start)
    if fit is not None:
        comparison = compare_refined(fit, refined.schedule, refs, level=level)
        typer.echo("")
        typer.echo(comparison.text())
    fig = None
    if plot is not None:
        fig = plot_refined(refined, refs, fit, source=log.name)
    write_schedule(refined.schedule, out, inputs=inputs)
    info(f"wrote {out}")
    if fig is not None:
        save_figure(fig, plot, inputs=inputs)
        info(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add the ``refine`` command to ``app``."""
    app.command("refine")(refine_cmd)
