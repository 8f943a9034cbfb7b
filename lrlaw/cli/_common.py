"""Options and helpers shared by the commands."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from lrlaw.errors import LrlawError

P = ParamSpec("P")
R = TypeVar("R")

Files = Annotated[
    list[Path],
    typer.Argument(
        help="Curve tables (CSV/TSV/parquet): columns step, loss[, lr][, run].", show_default=False
    ),
]
ScheduleOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--schedule",
        "-s",
        help="Schedule spec for a run, e.g. 'cosine:peak=3e-4,total=24000,warmup=2160,final=3e-5'. "
        "Repeat once per run (in order) or name the run: RUN=SPEC.",
        show_default=False,
    ),
]
SchedulesFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--schedules", help="File of RUN=SPEC lines (e.g. data/schedules.txt).", show_default=False
    ),
]
WarmupOpt = Annotated[
    int | None,
    typer.Option(
        "--warmup",
        min=0,
        help="For logs whose lr column starts after step 0: assume a linear warmup from 0 over "
        "this many steps.",
        show_default=False,
    ),
]
MinStepOpt = Annotated[
    int | None,
    typer.Option(
        "--min-step",
        min=0,
        help="First step used (default: after each run's warmup).",
        show_default=False,
    ),
]


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Report user mistakes as one line on stderr and exit with code 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except LrlawError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            typer.echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def load(files: list[Path], schedule: list[str] | None, schedules: Path | None, warmup: int | None):
    """Read curve files and resolve their schedules (see :func:`lrlaw.io.load_curves`)."""
    from lrlaw.io import load_curves

    return load_curves(files, schedule or (), warmup=warmup, schedules_file=schedules)


PLOT_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def check_outputs(inputs: list[Path], out: Path | None = None, plot: Path | None = None) -> None:
    """Validate output paths before any work: not an input, folder exists, plot format known."""
    from lrlaw.io import check_output

    if plot is not None:
        fmt = plot.suffix.lower().lstrip(".")
        if fmt not in PLOT_FORMATS:
            raise LrlawError(
                f"{plot}: unsupported plot format {plot.suffix or '(none)'!r}; "
                f"expected one of {', '.join('.' + f for f in PLOT_FORMATS)}"
            )
    for path in (out, plot):
        if path is not None:
            check_output(path, inputs)
    if out is not None and plot is not None and out.resolve() == plot.resolve():
        raise LrlawError(f"{out}: --out and --plot name the same file")


def save_figure(fig, path: Path, inputs: list[Path]) -> None:
    """Save a matplotlib figure atomically (format from the suffix)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from lrlaw.io import atomic_output

    FigureCanvasAgg(fig)
    with atomic_output(path, inputs) as tmp:
        fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")


def info(message: str) -> None:
    """A status line on stderr (keeps stdout for tables and JSON)."""
    print(message, file=sys.stderr)
