"""Options and helpers shared by the commands."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from lrlaw.errors import LrlawError

P = ParamSpec("P")
R = TypeVar("R")

#: The log formats every command that reads training logs takes (for help texts).
LOG_FORMATS = (
    "CSV/TSV/parquet tables (step, loss[, lr][, run]), JSONL, W&B exports (JSON or panel CSV), "
    "Hugging Face trainer_state.json, TensorBoard event files or folders, and runs by name: "
    "wandb:ENTITY/PROJECT/RUN_ID, mlflow:RUN_ID (extras lrlaw[wandb], lrlaw[mlflow])"
)
Files = Annotated[
    list[Path],
    typer.Argument(help=f"Training logs: {LOG_FORMATS}.", show_default=False),
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
        "this many steps (one that goes on past the first logged lr rises from 0 to it).",
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


def stdout_closed() -> typer.Exit:
    """What to raise when the reader of stdout went away (``lrlaw predict ... | head``).

    Nothing is printed (the "error: Broken pipe" line was noise: the reader has what
    it asked for).  As Python's documentation advises (signal module, "Note on
    SIGPIPE"), stdout is pointed at devnull so that the flush at exit does not fail
    again, and the exit code is 1.
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # a stdout without a file descriptor (a test runner's buffer)
    return typer.Exit(1)


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Report user mistakes as one line on stderr and exit with code 2; stop quietly
    when stdout is closed (:func:`stdout_closed`)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except LrlawError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except BrokenPipeError:
            raise stdout_closed() from None
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            typer.echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


@dataclass(frozen=True)
class Reading:
    """The reading options of a command (see :func:`reading_options`)."""

    options: Any = None  # lrlaw.io.readers.ReadOptions; None: the defaults
    base: tuple[str, ...] = ()
    initial_lr: float | None = None
    max_points_given: bool = False  # --max-points on the command line (predict: bin only then)

    def inputs(self) -> list[Path]:
        """The base files (outputs must not overwrite them either)."""
        return [Path(b.split("=", 1)[1]) if _named_base(b) else Path(b) for b in self.base]


def _named_base(text: str) -> bool:
    return "=" in text and not Path(text).exists()


_READ_OPTIONS: list[tuple[str, Any, Any]] = [
    (
        "step_col",
        Annotated[
            str | None,
            typer.Option(
                "--step-col",
                help="Step column (default: found by name: step, global_step, "
                "trainer/global_step, iter, _step, ...).",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "loss_col",
        Annotated[
            str | None,
            typer.Option(
                "--loss-col",
                help="Loss column (default: found by name: val/loss, val_loss, eval/loss, ...; "
                "then train/loss, train_loss, loss).",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "lr_col",
        Annotated[
            str | None,
            typer.Option(
                "--lr-col",
                help="Learning-rate column (default: found by name: lr, learning_rate, "
                "train/lr, train_lr, ...).",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "tokens_col",
        Annotated[
            str | None,
            typer.Option(
                "--tokens-col",
                help="Token-count column (default: found by name: tokens, num_tokens, ...).",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "loss_kind",
        Annotated[
            str,
            typer.Option(
                "--loss-kind",
                help="Which loss to use when a log has both a validation and a training loss: "
                "auto (validation if logged) | val | train.",
            ),
        ],
        "auto",
    ),
    (
        "tokens_per_step",
        Annotated[
            float | None,
            typer.Option(
                "--tokens-per-step",
                min=0,
                help="For logs whose x axis is a token count (no step column): "
                "step = tokens / this.",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "sort_steps",
        Annotated[
            bool,
            typer.Option(
                "--sort-steps",
                help="Accept rows whose step goes back to a step never logged before, and sort "
                "them (repeated steps of resumed runs are always accepted: the last wins).",
            ),
        ],
        False,
    ),
    (
        "smooth",
        Annotated[
            str | None,
            typer.Option(
                "--smooth",
                help="Smooth the loss as it is read: ema:BETA (debiased EMA) or window:K "
                "(centred mean over K points, K odd).",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "loss_average",
        Annotated[
            str,
            typer.Option(
                "--loss-average",
                help="How the trainer averaged each logged loss, so that it is compared with "
                "the law at the centre of the steps it averages: none (the loss of its step) | "
                "since-last (the mean since the previous log: Hugging Face Trainer, "
                "Megatron-LM) | window:K (the mean of the last K steps) | ema:BETA (an EMA "
                "updated every step) | auto (since-last for a Hugging Face Trainer's training "
                "loss, else none).",
            ),
        ],
        "auto",
    ),
    (
        "max_points",
        Annotated[
            int | None,
            typer.Option(
                "--max-points",
                min=0,
                help="Average each run's loss into at most this many points in step bins "
                "(equal width, narrower early on; 0: keep every point). Default: 1000 "
                "(lrlaw.io.cleaning.DEFAULT_MAX_POINTS), except predict, which keeps every logged "
                "loss unless this is given. The lr is always used at every step.",
                show_default=False,
            ),
        ],
        None,  # not given: ReadOptions' default (predict: every point)
    ),
    (
        "base",
        Annotated[
            list[str] | None,
            typer.Option(
                "--base",
                help="Join runs that start after step 0 (WSD cooldowns resumed from a "
                "checkpoint) to this base run's log: [RUN=]FILE, repeatable.",
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "initial_lr",
        Annotated[
            float | None,
            typer.Option(
                "--initial-lr",
                min=0,
                help="LR at step 0 for logs whose lr column starts later (W&B logs it from the "
                "first logging step); interpolated linearly to the first logged LR.",
                show_default=False,
            ),
        ],
        None,
    ),
]


def reading_options(fn: Callable[..., R]) -> Callable[..., R]:
    """Give a command the log-reading options; it receives them as ``reading: Reading``."""
    signature = inspect.signature(fn, eval_str=True)
    params = [p for p in signature.parameters.values() if p.name != "reading"]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in _READ_OPTIONS
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        from lrlaw.io import ReadOptions

        values = {name: kwargs.pop(name, default) for name, _, default in _READ_OPTIONS}
        base, initial_lr = values.pop("base"), values.pop("initial_lr")
        max_points = values.pop("max_points")
        if max_points is None:  # not given: the library default (DEFAULT_MAX_POINTS)
            options = ReadOptions(**values)
        else:
            options = ReadOptions(max_points=max_points or None, **values)
        reading = Reading(options, tuple(base or ()), initial_lr, max_points is not None)
        return fn(*args, reading=reading, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def load(
    files: list[Path],
    schedule: list[str] | None,
    schedules: Path | None,
    warmup: int | None,
    reading: Reading | None = None,
):
    """Read curve files and resolve their schedules (see :func:`lrlaw.io.load_curves`)."""
    from lrlaw.io import load_curves

    reading = reading or Reading()
    return load_curves(
        files,
        schedule or (),
        warmup=warmup,
        schedules_file=schedules,
        initial_lr=reading.initial_lr,
        base=list(reading.base) or None,
        options=reading.options,
    )


def report_reading(curves) -> None:
    """One summary line per curve on stderr: what was read and cleaned."""
    for c in curves:
        summary = c.meta.get("summary")
        if summary:
            info(f"read {summary}")


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
    if out is not None and out.suffix.lower().lstrip(".") in PLOT_FORMATS:
        raise LrlawError(
            f"{out}: --out writes a table or JSON, not a {out.suffix} image; "
            "use --plot for the figure"
        )
    for path in (out, plot):
        if path is not None:
            check_output(path, inputs)
    if out is not None and plot is not None and out.resolve() == plot.resolve():
        raise LrlawError(f"{out}: --out and --plot name the same file")


def check_json_out(out: Path | None, what: str) -> None:
    """A JSON result (``what``: ``"the fit result"``) goes to a ``.json`` file: a fit saved
    under another name would not be recognised as one (``evaluate FIT.json FILES``)."""
    if out is not None and out.suffix.lower() != ".json":
        got = f"not {out.suffix!r}" if out.suffix else "it has none"
        raise LrlawError(f"{out}: --out writes {what} as JSON; name it FILE.json ({got})")


def save_figure(fig, path: Path, inputs: list[Path]) -> None:
    """Save a matplotlib figure atomically (format from the suffix)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from lrlaw.io import atomic_output

    FigureCanvasAgg(fig)
    with atomic_output(path, inputs) as tmp:
        fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")


def split_name(text: str, option: str) -> tuple[str | None, str]:
    """``NAME=VALUE`` -> ``(NAME, VALUE)``; a bare value (no ``=`` before its first
    ``:``, as in ``cosine:peak=3e-4,...``) -> ``(None, VALUE)``."""
    text = text.strip()
    if "=" not in text.split(":", 1)[0]:
        return None, text
    name, value = (x.strip() for x in text.split("=", 1))
    if not name:
        raise LrlawError(f"{option} {text!r}: empty name before '='")
    if len(name.split()) > 1 and ":" not in value and not value.lower().endswith(_TABLES):
        # 'cosine peak=3e-4,...': a space for the colon, not NAME=SPEC
        from lrlaw.io import malformed_spec_message

        raise LrlawError(malformed_spec_message(f"{option} {text!r}", named="the schedule"))
    return name, value


_TABLES = (".csv", ".json")  # per-step schedule tables (predict --candidate NAME=FILE)


def parse_finite_spec(spec: str, where: str):
    """Parse a schedule spec that must have a ``total`` (a candidate to predict or rank);
    errors are prefixed with ``where`` (the option and value)."""
    from lrlaw.schedules import parse_schedule

    try:
        sched = parse_schedule(spec)
    except LrlawError as exc:
        raise LrlawError(f"{where}: {exc}") from None
    if sched.total is None:
        raise LrlawError(f"{where}: schedule spec {spec!r} has no total; add total=STEPS")
    return sched


def info(message: str) -> None:
    """A status line on stderr (keeps stdout for tables and JSON)."""
    print(message, file=sys.stderr)


def fold_progress(fold, done: int, total: int) -> None:
    """Progress line on stderr after each cross-validation fold (lrlaw.fitting.crossval)."""
    held = ", ".join(r["name"] for r in fold.runs)
    status = f"failed: {fold.error}" if fold.error else f"{fold.seconds:.1f} s"
    info(f"fold {done}/{total}: {fold.law}, predicting {held}: {status}")
