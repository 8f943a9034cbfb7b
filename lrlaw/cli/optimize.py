"""``lrlaw optimize``: the LR schedule that minimises a fitted law's predicted final loss."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import check_outputs, info, save_figure, user_errors
from lrlaw.errors import LrlawError


@user_errors
def optimize_cmd(
    fit_file: Annotated[
        Path, typer.Argument(help="Fit result written by 'lrlaw fit --out'.", show_default=False)
    ],
    total_steps: Annotated[
        int, typer.Option("--total-steps", "-T", help="Run length T.", show_default=False)
    ],
    peak: Annotated[float, typer.Option("--peak", help="Peak LR (cap).", show_default=False)],
    warmup: Annotated[
        int,
        typer.Option("--warmup", help="Linear warmup steps from 0 (fixed).", show_default=False),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Write the schedule (.csv or .json).", show_default=False),
    ],
    family: Annotated[
        str, typer.Option("--family", help="free (per-step), wsd or cosine.")
    ] = "free",
    monotone: Annotated[
        bool,
        typer.Option("--monotone/--no-monotone", help="Free-form: non-increasing after warmup."),
    ] = True,
    final_min: Annotated[
        float, typer.Option("--final-min", help="Lower bound of the LR after warmup.")
    ] = 0.0,
    final_max: Annotated[
        float | None,
        typer.Option("--final-max", help="Upper bound of the final LR.", show_default=False),
    ] = None,
    iters: Annotated[
        int,
        typer.Option(
            "--iters",
            min=1,
            help="Free-form: at most this many L-BFGS steps (stops earlier once converged).",
        ),
    ] = 10_000,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Save a figure of the schedules and predicted curves."),
    ] = None,
) -> None:
    """Optimise the LR schedule for the fitted law's predicted final loss.

    Prints the predicted final loss of the optimum and its gain over cosine
    (to peak/10) and WSD (20 % linear decay to 0) on the same T/peak/warmup.
    """
    inputs = [fit_file]
    check_outputs(inputs, out, plot)
    if out.suffix.lower() not in (".csv", ".json"):
        raise LrlawError(f"--out {out}: use a .csv or .json file")
    from lrlaw.fitting import FitResult
    from lrlaw.plan import optimize
    from lrlaw.schedules import write_schedule

    result = FitResult.load(fit_file)
    res = optimize(
        result,
        total_steps,
        peak,
        warmup,
        family=family,
        monotone=monotone,
        final_min=final_min,
        final_max=final_max,
        iters=iters,
    )
    typer.echo(res.summary())
    write_schedule(res.schedule, out, inputs=inputs)
    info(f"wrote {out}")
    if plot is not None:
        from lrlaw.plot import plot_optimum

        save_figure(plot_optimum(result, res), plot, inputs=inputs)
        info(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add the ``optimize`` command to ``app``."""
    app.command("optimize")(optimize_cmd)
