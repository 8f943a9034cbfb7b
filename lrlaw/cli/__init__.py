"""The ``lrlaw`` command line (typer).

Heavy modules (JAX, pandas, matplotlib) are imported inside the commands, so
``lrlaw --help`` and ``lrlaw --version`` stay fast.  User mistakes, those the
argument parser finds (a bad number, a missing option value) included, are
reported as one ``error:`` line on stderr with exit code 2, without a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from lrlaw.cli import (
    compare as _compare,
    evaluate as _evaluate,
    fit as _fit,
    hparams as _hparams,
    optimize as _optimize,
    plan as _plan,
    predict as _predict,
    refine as _refine,
    schedule as _schedule,
    watch as _watch,
)

# click's exception classes, as typer uses them (recent typer versions vendor click).
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_EXCEPTION = next(c for c in _USAGE_ERROR.__mro__ if c.__name__ == "ClickException")
#: click >= 8.2 raises this (a UsageError) for a group given without a command: it prints help.
_NO_ARGS_IS_HELP = getattr(sys.modules[_USAGE_ERROR.__module__], "NoArgsIsHelpError", ())


class _UsageLine(_CLICK_EXCEPTION):
    """An argument-parser error shown as one ``error:`` line (exit code 2), like every
    other user mistake, instead of click's usage block."""

    exit_code = 2

    def __init__(self, exc: Any) -> None:
        lines = [x.strip() for x in exc.format_message().splitlines() if x.strip()]
        text = "; ".join(lines) or "invalid arguments"
        if text[:1].isupper() and text[1:2].islower():
            text = text[0].lower() + text[1:]
        text = text.rstrip(".")
        if exc.ctx is not None:
            text += f" (see '{exc.ctx.command_path} --help')"
        super().__init__(text)

    def show(self, file: Any = None) -> None:
        """Print the one line on stderr."""
        typer.echo(f"error: {self.format_message()}", file=file, err=True)


@contextlib.contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except _NO_ARGS_IS_HELP:
        raise  # a command group given without arguments prints its help
    except _USAGE_ERROR as exc:
        raise _UsageLine(exc) from None


class _Group(TyperGroup):
    """The root command group: errors of the argument parser (its own and every
    subcommand's) become one ``error:`` line."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Group,
    name="lrlaw",
    help="Fit loss-curve scaling laws to training curves and predict curves under new schedules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_fit.register(app)
_predict.register(app)
_evaluate.register(app)
_compare.register(app)
_schedule.register(app)
_optimize.register(app)
_hparams.register(app)
_plan.register(app)
_refine.register(app)
_watch.register(app)


def _print_version(value: bool) -> None:
    if value:
        from lrlaw import __version__  # lrlaw itself is light: JAX is imported lazily

        typer.echo(f"lrlaw {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """lrlaw: loss-curve laws (momentum law of Tissue et al. 2024) for planning LR schedules."""
    from lrlaw import progress

    # Progress bars on stderr for long work, only when stderr is a terminal.
    progress.set_default(progress.terminal_reporter())


def main() -> None:
    """Run the command line (``sys.argv``); ends with :class:`SystemExit`, as a Typer app."""
    sys.exit(app())


#: XLA:CPU flags the command line sets for its own process (never for the library's
#: users, whose process is theirs): with the legacy fusion emitters, XLA compiles the fit's
#: solver in 0.43 s instead of 0.74 s (jaxlib 0.10.2; a cold default ``lrlaw fit`` 2.56 ->
#: 2.29 s, efflr 8.3 -> 7.8 s), with bit-identical fits of all three laws and predictions,
#: and warm runs no slower (``benchmarks/README.md``, issue 18 in session 15).
CLI_XLA_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)
#: The jaxlib (major, minor) versions those flags were checked on: XLA stops the process
#: at a flag it does not know, so a jaxlib that may have dropped one gets none.
CLI_XLA_FLAGS_JAXLIB = ((0, 10),)


def cli_xla_flags(environ: Any, jaxlib_version: str | None) -> str | None:
    """The ``XLA_FLAGS`` value for the command line's process (:data:`CLI_XLA_FLAGS`
    appended to the user's own), or ``None`` to leave it as it is: with
    ``LRLAW_NO_XLA_FLAGS=1``, for a jaxlib not in :data:`CLI_XLA_FLAGS_JAXLIB`, or when
    the user's ``XLA_FLAGS`` already name each flag."""
    if environ.get("LRLAW_NO_XLA_FLAGS", "").strip() not in ("", "0") or not jaxlib_version:
        return None
    try:
        major_minor = tuple(int(x) for x in jaxlib_version.split(".")[:2])
    except ValueError:
        return None
    if major_minor not in CLI_XLA_FLAGS_JAXLIB:
        return None
    current = environ.get("XLA_FLAGS", "")
    extra = [f for f in CLI_XLA_FLAGS if f.split("=")[0] not in current]
    return " ".join([current, *extra]).strip() if extra else None


def _set_cli_xla_flags() -> None:
    """Apply :func:`cli_xla_flags` before JAX starts (a no-op once it is imported)."""
    if "jax" in sys.modules:
        return
    try:
        import jaxlib.version  # 5 ms; importlib.metadata would take 30 ms of --help

        version = jaxlib.version.__version__
    except Exception:
        return
    flags = cli_xla_flags(os.environ, version)
    if flags is not None:
        os.environ["XLA_FLAGS"] = flags


def _tune_cli_malloc() -> None:
    """:func:`lrlaw._malloc.tune_malloc` for the command line's own process (large XLA
    buffers reused instead of mapped afresh on every call), unless
    ``LRLAW_NO_MALLOC_TUNING=1``."""
    if os.environ.get("LRLAW_NO_MALLOC_TUNING", "").strip() in ("", "0"):
        from lrlaw._malloc import tune_malloc

        tune_malloc()


def run() -> None:
    """Console-script entry point (``lrlaw``, ``python cli.py``): :func:`main`, then a
    quick exit.

    Once a command has imported JAX, Python's own teardown of the process (its modules,
    the XLA client) costs about 0.3 s CPU, a fifth of a warm ``lrlaw fit``
    (``benchmarks/README.md``, issue 18.2).  So after the command, the exit handlers
    (:mod:`atexit`) run and stdout and stderr are flushed as at a normal exit, and the
    process then ends with :func:`os._exit` and the command's exit status.  A normal exit
    is kept when JAX was never imported (``--help``) or another Python thread is alive
    (it would be joined).
    """
    _set_cli_xla_flags()
    _tune_cli_malloc()
    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython's
    if "jax" not in sys.modules or threading.active_count() > 1 or exit_handlers is None:
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # as sys.exit prints a message
        print(code, file=sys.stderr)
        status = 1
    exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # e.g. a closed pipe
            status = status or 120  # Python's status when flushing at exit fails
    os._exit(status)


__all__ = ["app", "main", "run"]
