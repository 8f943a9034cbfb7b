"""``lrlaw optimize``: the LR schedule that minimises a fitted law's predicted final loss."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import check_outputs, info, save_figure, user_errors
from lrlaw.errors import LrlawError


def _plot(result, res, total: int, peak: float, warmup: int):
    import numpy as np
    from matplotlib.figure import Figure

    from lrlaw.optimize import reference_schedules

    law, theta = result.law_object, result.param_vector
    from lrlaw.fitting import predict_curve

    scheds = {"optimum": res.schedule, **reference_schedules(total, peak, warmup)}
    steps = np.unique(np.linspace(max(warmup, 1), total, 400).astype(np.int64))
    fig = Figure(figsize=(10, 4))
    ax_lr, ax_loss = fig.subplots(1, 2)
    for name, s in scheds.items():
        lr = s.values()
        ax_lr.plot(np.arange(lr.size), lr, label=name)
        ax_loss.plot(steps, predict_curve(law, theta, lr, steps), label=name)
    ax_lr.set(xlabel="step", ylabel="learning rate", title="schedules")
    ax_loss.set(xlabel="step", ylabel="predicted loss", title="predicted loss")
    # Zoom past the early transient: top at the cosine prediction 10 % into training.
    ax_loss.set_ylim(top=float(predict_curve(law, theta, scheds["cosine"].values(), steps)[40]))
    ax_lr.legend()
    ax_loss.legend()
    fig.tight_layout()
    return fig


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
            help="Free-form: at most this many Adam steps (stops earlier once converged).",
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
    from lrlaw.export import write_schedule
    from lrlaw.fitting import FitResult
    from lrlaw.optimize import optimize

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
        save_figure(_plot(result, res, total_steps, peak, warmup), plot, inputs=inputs)
        info(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add the ``optimize`` command to ``app``."""
    app.command("optimize")(optimize_cmd)
