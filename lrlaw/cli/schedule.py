"""``lrlaw schedule``: write a schedule spec as a per-step table (CSV/JSON), optionally plot it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import check_outputs, info, save_figure, user_errors
from lrlaw.errors import LrlawError


@user_errors
def schedule_cmd(
    spec: Annotated[
        str,
        typer.Argument(
            help="Schedule spec, e.g. 'cosine:peak=3e-4,total=24000,warmup=2160,final=3e-5'.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Per-step table to write: FILE.csv (step,lr) or FILE.json.",
            show_default=False,
        ),
    ],
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Save a figure of the LR vs step.", show_default=False),
    ] = None,
) -> None:
    """Write the learning rate at every step 0..total of SPEC as a CSV or JSON table.

    The table can be read back with lrlaw.export.read_schedule_table, or fed to
    a training loop that has no lrlaw installed.
    """
    from lrlaw.export import _check_suffix, write_schedule
    from lrlaw.schedules import parse_schedule

    _check_suffix(out)
    check_outputs([], out, plot)
    try:
        s = parse_schedule(spec)
    except LrlawError as e:
        msg = str(e)
        raise LrlawError(msg if repr(spec) in msg else f"schedule {spec!r}: {msg}") from None
    if s.total is None:
        raise LrlawError(f"schedule {spec!r} has no total; add total=STEPS")
    from lrlaw.plot import plot_schedules

    fig = plot_schedules([s]) if plot is not None else None
    write_schedule(s, out)
    info(f"wrote {out}")
    if fig is not None:
        save_figure(fig, plot, inputs=[])
        info(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add the ``schedule`` command to ``app``."""
    app.command("schedule")(schedule_cmd)
