"""``lrlaw fit``: fit a law to training curves, with its band and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import (
    Files,
    MinStepOpt,
    Reading,
    ScheduleOpt,
    SchedulesFileOpt,
    WarmupOpt,
    check_json_out,
    check_outputs,
    fold_progress,
    info,
    load,
    reading_options,
    report_reading,
    save_figure,
    user_errors,
)
from lrlaw.errors import FitError, LrlawError

LawOpt = Annotated[
    str,
    typer.Option(
        "--law",
        help="Law to fit: momentum | multipower | efflr | convex | auto (cross-validates "
        "momentum and efflr on these runs: the one a paired test separates, else both "
        "combined by stacking weights; the report says which and why).",
    ),
]


@user_errors
@reading_options
def fit_cmd(
    files: Files,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write the fit result here (FILE.json).", show_default=False
        ),
    ] = None,
    law: LawOpt = "momentum",
    schedule: ScheduleOpt = None,
    schedules: SchedulesFileOpt = None,
    warmup: WarmupOpt = None,
    min_step: MinStepOpt = None,
    lam: Annotated[
        float, typer.Option("--lam", help="Momentum decay lambda of the annealing area.")
    ] = 0.999,
    fit_lam: Annotated[
        bool, typer.Option("--fit-lam", help="Fit lambda too (momentum law), starting from --lam.")
    ] = False,
    s2_warmup: Annotated[
        str, typer.Option("--s2-warmup", help="How S2 treats the initial warmup: signed | ignore.")
    ] = "signed",
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Save a figure (PNG/PDF/SVG) of the fit.", show_default=False),
    ] = None,
    bootstrap: Annotated[
        int | None,
        typer.Option(
            "--bootstrap",
            min=0,
            help="Bootstrap replicates for parameter errors and prediction bands "
            "(default: 200; 50 for efflr, whose every predicted curve runs a recurrence over "
            "all steps; 0: no bands, fastest).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Do not print the report (needs --out or --plot)."),
    ] = False,
    reading: Reading | None = None,
) -> None:
    """Fit a law jointly to one or more curves and print a report.

    Logs are read in any supported format, cleaned (repeated steps of resumed
    runs: the last wins; NaN/inf losses dropped) and resampled to at most
    --max-points losses per run; one summary line per run goes to stderr.
    """
    reading = reading or Reading()
    inputs = [*files, *reading.inputs()]
    check_outputs(inputs, out, plot)
    check_json_out(out, "the fit result")
    if quiet and out is None and plot is None:
        raise LrlawError(
            "--quiet without --out: the fit would be computed and thrown away; add --out "
            "FIT.json to save it (or --plot FILE), or drop --quiet to print the report"
        )
    from lrlaw.fitting import fit
    from lrlaw.laws import get_law

    if s2_warmup not in ("signed", "ignore"):
        raise LrlawError(f"--s2-warmup {s2_warmup!r}: expected signed or ignore")
    momentum = {"lam": lam, "warmup": s2_warmup, "fit_lam": fit_lam}
    if law != "auto":
        law_obj = get_law(law, **(momentum if law == "momentum" else {}))
    curves = load(files, schedule, schedules, warmup, reading)
    try:
        if law == "auto":
            from lrlaw.fitting import AUTO_LAWS, fit_auto

            candidates = [get_law(n, **(momentum if n == "momentum" else {})) for n in AUTO_LAWS]
            info(
                f"--law auto: cross-validating {', '.join(AUTO_LAWS)} on {len(curves)} run(s) "
                f"({len(AUTO_LAWS) * max(len(curves), 1)} fits) to choose or combine the laws"
            )

            result = fit_auto(
                curves,
                candidates,
                min_step=min_step,
                bootstrap=bootstrap,
                seed=seed,
                progress=None if quiet else fold_progress,
            )
        else:
            if bootstrap is None:
                bootstrap = law_obj.default_bootstrap
            result = fit(curves, law_obj, min_step=min_step, bootstrap=bootstrap, seed=seed)
    except FitError as exc:
        runs = ", ".join(f"{c.source} (run {c.name!r})" for c in curves)
        raise FitError(f"cannot fit {runs}: {exc}") from None
    if quiet:
        for w in result.warnings:
            info(f"warning: {w}")
    else:
        typer.echo(result.report())
        for c in curves:
            info(f"schedule of {c.name}: {c.schedule}")
        report_reading(curves)
    if out is not None:
        result.save(out, inputs=inputs)
        info(f"wrote {out}")
    if plot is not None:
        from lrlaw.plot import plot_fit

        save_figure(plot_fit(result, curves, level=0.9), plot, inputs=inputs)
        info(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add ``lrlaw fit`` to ``app``."""
    app.command("fit")(fit_cmd)
