"""``lrlaw schedule``: write a schedule as a per-step table (CSV/JSON) or as a trainer's own
settings (HF ``get_wsd_schedule`` JSON, torchtitan ``lr_scheduler`` TOML), optionally plot it."""

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
            help="Schedule spec, e.g. 'cosine:peak=3e-4,total=24000,warmup=2160,final=3e-5', "
            "or trainer settings to read back: HF FILE.json or torchtitan FILE.toml "
            "(as --format hf / torchtitan writes them).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="File to write: the per-step table FILE.csv (step,lr) or FILE.json, or the "
            "trainer settings of --format.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (per-step CSV/JSON) | hf (TrainingArguments JSON: "
            "warmup_stable_decay + lr_scheduler_kwargs) | torchtitan (TOML [lr_scheduler] "
            "with [training] steps and [optimizer] lr).",
        ),
    ] = "table",
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Save a figure of the LR vs step.", show_default=False),
    ] = None,
) -> None:
    """Write the learning rate at every step 0..total of SPEC as a CSV or JSON table,
    or as a trainer's own settings (--format hf | torchtitan) that give the same LR at
    every step (checked; a schedule the trainer cannot express is refused, with why).

    The table can be read back with lrlaw.schedules.export.read_schedule_table, or fed to
    a training loop that has no lrlaw installed; trainer settings are read back by
    giving the file as SPEC.
    """
    from lrlaw.schedules import (
        parse_schedule,
        read_trainer_config,
        schedule_table_format,
        write_schedule,
        write_trainer_config,
    )

    suffixes = {"table": (".csv", ".json"), "hf": (".json",), "torchtitan": (".toml",)}
    if fmt not in suffixes:
        raise LrlawError(f"--format {fmt!r}: expected table, hf or torchtitan")
    if fmt == "table":
        schedule_table_format(out)
    elif out.suffix.lower() not in suffixes[fmt]:
        raise LrlawError(f"--out {out}: --format {fmt} writes {suffixes[fmt][0]} files")
    source = Path(spec)
    inputs = [source] if source.suffix.lower() in (".json", ".toml") and source.is_file() else []
    check_outputs(inputs, out, plot)
    try:
        s = read_trainer_config(source) if inputs else parse_schedule(spec)
    except LrlawError as e:
        msg = str(e)
        raise LrlawError(
            msg if repr(spec) in msg or inputs else f"schedule {spec!r}: {msg}"
        ) from None
    if s.total is None:
        raise LrlawError(f"schedule {spec!r} has no total; add total=STEPS")
    from lrlaw.plot import plot_schedules

    fig = plot_schedules([s]) if plot is not None else None
    if fmt == "table":
        write_schedule(s, out, inputs=inputs)
    else:
        write_trainer_config(s, out, fmt, inputs=inputs)
    if inputs:
        info(f"read {source}: {s.spec}")
    info(f"wrote {out}")
    if fig is not None:
        save_figure(fig, plot, inputs=[])
        info(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add the ``schedule`` command to ``app``."""
    app.command("schedule")(schedule_cmd)
