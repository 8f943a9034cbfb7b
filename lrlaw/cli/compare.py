"""``lrlaw compare``: rank candidate schedules by the final loss a fitted law predicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import (
    check_outputs,
    info,
    parse_finite_spec,
    save_figure,
    split_name,
    user_errors,
)
from lrlaw.errors import LrlawError


def _candidates(specs: list[str], schedules_file: Path | None) -> tuple[list[str], list]:
    """Names and parsed schedules from ``--schedule [NAME=]SPEC`` values and a RUN=SPEC file."""
    from lrlaw.io import read_schedules_file

    entries: list[tuple[str | None, str, str]] = []  # (name, spec, where)
    for text in specs:
        name, spec = split_name(text, "--schedule")
        entries.append((name, spec, "--schedule" + (f" {name}" if name else "")))
    if schedules_file is not None:
        for run, spec in read_schedules_file(schedules_file).items():
            entries.append((run, spec, f"{schedules_file}: {run}"))
    if not entries:
        raise LrlawError(
            "no schedules to compare; give --schedule SPEC (repeatable) or --schedules"
        )
    names, parsed = [], []
    for i, (name, spec, where) in enumerate(entries, start=1):
        s = parse_finite_spec(spec, where)
        names.append(name if name is not None else f"{s.spec.split(':', 1)[0]}-{i}")
        parsed.append(s)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LrlawError(f"schedule name(s) {', '.join(dupes)} given more than once")
    return names, parsed


@user_errors
def compare_cmd(
    fit_file: Annotated[
        Path, typer.Argument(help="Fit result written by 'lrlaw fit --out'.", show_default=False)
    ],
    schedule: Annotated[
        list[str] | None,
        typer.Option(
            "--schedule",
            "-s",
            help="Candidate schedule [NAME=]SPEC, e.g. "
            "'cos=cosine:peak=3e-4,total=24000,warmup=2160,final=3e-5'. Repeatable.",
            show_default=False,
        ),
    ] = None,
    schedules: Annotated[
        Path | None,
        typer.Option(
            "--schedules",
            help="File of RUN=SPEC lines; every line is a candidate named RUN.",
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
            help="Save a figure of the schedules and predicted curves.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the ranked table as CSV.", show_default=False),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison as JSON instead of a table.")
    ] = False,
) -> None:
    """Rank candidate schedules by predicted final loss.

    For each candidate: the predicted final loss at its own total (with the
    prediction band when the fit has a bootstrap), the gap to the best, and
    the steps the best schedule (rescaled; warmup fixed) needs to reach that
    loss, relative to the candidate's length (negative: fewer steps).
    """
    inputs = [fit_file] + ([schedules] if schedules is not None else [])
    check_outputs(inputs, out, plot)
    from lrlaw.fitting import FitResult
    from lrlaw.io import atomic_output
    from lrlaw.plan import compare_schedules
    from lrlaw.plot import plot_schedule_comparison

    names, scheds = _candidates(list(schedule or ()), schedules)
    result = FitResult.load(fit_file)
    comparison = compare_schedules(result, scheds, level=level, names=names)
    warmups = sorted({int(s.warmup or 0) for s in scheds})
    if result.law == "multipower" and len(warmups) > 1:
        info(
            f"warning: these candidates differ in warmup ({warmups[0]}-{warmups[-1]} steps). "
            "The multi-power law sums warmup increases with the same slowly saturating G as "
            "LR drops, so a fit with small C and beta keeps a memory of the warmup's shape "
            "(the MPL 100M fit: a 2-step warmup adds 0.15 % to the final loss of a cosine). "
            "Rank warmups with --law momentum, which sees them only through their LR area"
        )
    for w in comparison.warnings:
        info(f"warning: {w}")
    fig = plot_schedule_comparison(comparison, result) if plot is not None else None
    if as_json:
        typer.echo(json.dumps(comparison.to_dict(), indent=2))
    else:
        typer.echo(comparison.table())
    if out is not None:
        with atomic_output(out, inputs) as tmp:
            comparison.to_frame().to_csv(tmp, index=False, float_format="%.10g")
        info(f"wrote {out}")
    if fig is not None:
        save_figure(fig, plot, inputs=inputs)
        info(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add the ``compare`` command to ``app``."""
    app.command("compare")(compare_cmd)
