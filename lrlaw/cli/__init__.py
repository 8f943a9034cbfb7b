"""The ``lrlaw`` command line (typer).

Heavy modules (JAX, pandas, matplotlib) are imported inside the commands, so
``lrlaw --help`` stays fast.  User mistakes are reported as one line on
stderr with exit code 2, without a traceback.
"""

from __future__ import annotations

import sys

import typer

from lrlaw.cli import compare as _compare
from lrlaw.cli import curves as _curves
from lrlaw.cli import evaluate as _evaluate
from lrlaw.cli import hparams as _hparams
from lrlaw.cli import optimize as _optimize
from lrlaw.cli import plan as _plan
from lrlaw.cli import refine as _refine
from lrlaw.cli import schedule as _schedule
from lrlaw.cli import watch as _watch

app = typer.Typer(
    name="lrlaw",
    help="Fit loss-curve scaling laws to training curves and predict curves under new schedules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_curves.register(app)
_evaluate.register(app)
_compare.register(app)
_schedule.register(app)
_optimize.register(app)
_hparams.register(app)
_plan.register(app)
_refine.register(app)
_watch.register(app)


@app.callback()
def _root() -> None:
    """lrlaw: loss-curve laws (momentum law of Tissue et al. 2024) for planning LR schedules."""
    from lrlaw import progress

    # Progress bars on stderr for long work, only when stderr is a terminal.
    progress.set_default(progress.terminal_reporter())


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


__all__ = ["app", "main"]
