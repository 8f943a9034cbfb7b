"""The ``evaluate`` command: compare laws on held-out runs, or score a saved fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import (
    LOG_FORMATS,
    MinStepOpt,
    Reading,
    ScheduleOpt,
    SchedulesFileOpt,
    WarmupOpt,
    check_outputs,
    fold_progress,
    info,
    load,
    reading_options,
    report_reading,
    save_figure,
    user_errors,
)
from lrlaw.errors import LrlawError

EvalFiles = Annotated[
    list[Path],
    typer.Argument(
        help=f"Training logs: {LOG_FORMATS}; or a saved fit (FIT.json from 'lrlaw fit --out') "
        "followed by the logs to score.",
        show_default=False,
    ),
]
TrainOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--train",
        help="Name of a run to fit on (file stem or 'run' column); repeat for each. "
        "Every other run is held out and scored.",
        show_default=False,
    ),
]
LawsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--law",
        help="Law to fit and compare: momentum | multipower | efflr | convex; repeat to compare "
        "several (default: momentum; with --cv: momentum, multipower and efflr).",
        show_default=False,
    ),
]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="With --train: save a figure (PNG/PDF/SVG) of observed vs predicted curves, "
        "one column per law.",
        show_default=False,
    ),
]


@user_errors
@reading_options
def evaluate_cmd(
    files: EvalFiles,
    train: TrainOpt = None,
    law: LawsOpt = None,
    schedule: ScheduleOpt = None,
    schedules: SchedulesFileOpt = None,
    warmup: WarmupOpt = None,
    min_step: MinStepOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    plot: PlotOpt = None,
    cv: Annotated[
        bool,
        typer.Option(
            "--cv",
            help="Cross-validate every --law: leave each run out in turn (or, with --train, "
            "fit those runs and predict the rest); per-fold and mean PredE, WorstE, "
            "final-loss error and band coverage.",
        ),
    ] = False,
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap",
            min=0,
            help="With --cv: bootstrap replicates per fold for the prediction bands "
            "(0: no bands, fastest).",
        ),
    ] = 50,
    level: Annotated[
        float,
        typer.Option("--level", help="With --cv: level of the bands whose coverage is reported."),
    ] = 0.9,
    reading: Reading | None = None,
) -> None:
    """Compare laws on held-out runs, or score a saved fit: R2, MAE, RMSE, PredE, WorstE, final.

    With --train: fit every --law jointly on the named runs, predict every other run
    from its schedule, and print one row per law (training objective, fit time, mean
    held-out metrics) and the PredE / final-loss error of each held-out run per law.

    With --cv: cross-validate every --law (default: the --law auto candidates momentum,
    multipower and efflr): leave-one-run-out over all the runs (with two runs, each
    run's last 40 % predicted from the other run and its first 60 %; with one, a forward
    split: fit its first 60 %, predict the rest), or with
    --train one fold that fits those runs; prints per-run and mean PredE, WorstE, final-loss error
    and the share of held-out points inside each fold's prediction band.

    With a saved fit first (FIT.json FILES...): score that fit on the curves (in sample
    for the runs it was fitted on: the table's title names them).

    Metrics use the steps after each run's warmup (or from --min-step); a saved fit is
    scored on the window it was fitted on (its --min-step) unless --min-step is given.
    The output says which window it used. PredE/WorstE/final are relative errors.
    """
    saved = _is_saved_fit(files[0])
    check_outputs([*files, *(reading or Reading()).inputs()], plot=plot)
    if saved and cv:
        raise LrlawError(
            f"--cv fits laws on curves, so it cannot be combined with a saved fit ({files[0]})"
        )
    if cv:
        from lrlaw.fitting import CV_LAWS

        if plot is not None:
            raise LrlawError("--plot is not available with --cv; use --train without --cv")
        _cross_validate(
            files,
            train,
            law or list(CV_LAWS),
            (schedule, schedules, warmup, reading),
            min_step,
            bootstrap,
            level,
            as_json,
        )
        return
    if saved:
        if train or law:
            used = " and ".join(o for o, v in (("--train", train), ("--law", law)) if v)
            raise LrlawError(
                f"{used} fit laws on curves, so they cannot be combined with a saved fit "
                f"({files[0]}); drop {files[0]} or the option"
            )
        if plot is not None:
            raise LrlawError(
                "--plot needs --train (to plot a saved fit use 'lrlaw predict FIT.json FILES "
                "--plot')"
            )
        _score_saved_fit(
            files[0], files[1:], schedule, schedules, warmup, min_step, as_json, reading
        )
        return
    laws = law or ["momentum"]
    _compare(
        files, train or [], laws, schedule, schedules, warmup, min_step, as_json, plot, reading
    )


def _cross_validate(
    files: list[Path],
    train: list[str] | None,
    laws: list[str],
    loading: tuple,
    min_step: int | None,
    bootstrap: int,
    level: float,
    as_json: bool,
) -> None:
    """Cross-validate ``laws`` on the runs in ``files`` (lrlaw.fitting.crossval)."""
    from lrlaw.laws import get_law

    for name in laws:
        get_law(name)  # unknown law: error before loading or fitting
    dupes = sorted({name for name in laws if laws.count(name) > 1})
    if dupes:
        raise LrlawError(f"--law {', '.join(dupes)} given more than once")
    if not 0 < level < 1:
        raise LrlawError(f"--level {level}: expected a level between 0 and 1")
    curves = load(files, *loading)
    from lrlaw.fitting import cross_validate

    result = cross_validate(
        curves,
        laws,
        train=train or None,
        bootstrap=bootstrap,
        level=level,
        min_step=min_step,
        progress=fold_progress,
    )
    report_reading(curves)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        typer.echo(result.table())


def _is_saved_fit(path: Path) -> bool:
    """True for a fit saved by ``lrlaw fit --out`` (JSON whose "format" is lrlaw.fit/...),
    False for any other file (a W&B JSON export is a curve file)."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and str(data.get("format", "")).startswith("lrlaw.fit/")


def _compare(
    files: list[Path],
    train: list[str],
    laws: list[str],
    schedule: list[str] | None,
    schedules: Path | None,
    warmup: int | None,
    min_step: int | None,
    as_json: bool,
    plot: Path | None,
    reading: Reading | None = None,
) -> None:
    """Fit ``laws`` on the runs named by ``train``, score them on the others."""
    from lrlaw.laws import get_law

    # Unknown law: error before loading or fitting.  "auto" goes to compare_laws as is (it
    # cross-validates, then picks or combines the laws on the training runs).
    built = [name if name == "auto" else get_law(name) for name in laws]
    dupes = sorted({name for name in laws if laws.count(name) > 1})
    if dupes:
        raise LrlawError(f"--law {', '.join(dupes)} given more than once")
    curves = load(files, schedule, schedules, warmup, reading)
    names = [c.name for c in curves]
    if not train:
        raise LrlawError(
            "name the runs to fit with --train RUN (repeat for each), or give a saved fit "
            f"(FIT.json) first; runs: {', '.join(names)}"
        )
    from lrlaw.fitting import split_runs

    fit_on, held_out = split_runs(curves, train, option="--train")

    from lrlaw.fitting import compare_laws

    info(
        f"fitting {', '.join(laws)} on {len(fit_on)} run(s), scoring {len(held_out)} held-out "
        "run(s)"
    )
    comparison = compare_laws(fit_on, held_out, built, min_step=min_step)
    for score in comparison.laws:
        info(f"{score.label}: fitted in {score.fit_seconds:.1f} s")
        for warning in getattr(score.fit, "warnings", ()):
            info(f"warning ({score.label} fit): {warning}")
    report_reading(curves)
    if as_json:
        typer.echo(json.dumps(comparison.to_dict(), indent=2))
    else:
        typer.echo(comparison.table())
    if plot is not None:
        from lrlaw.plot import plot_law_comparison

        save_figure(plot_law_comparison(comparison, fit_on, held_out), plot, inputs=files)
        info(f"wrote {plot}")


def _score_saved_fit(
    fit_file: Path,
    files: list[Path],
    schedule: list[str] | None,
    schedules: Path | None,
    warmup: int | None,
    min_step: int | None,
    as_json: bool,
    reading: Reading | None = None,
) -> None:
    """Score the fit saved in ``fit_file`` on the curves in ``files``."""
    from lrlaw.fitting import FitResult, curve_metrics, mean_metrics, metrics_table

    if not files:
        raise LrlawError(f"no curve files to score the fit in {fit_file} on")
    result = FitResult.load(fit_file)
    curves = load(files, schedule, schedules, warmup, reading)
    # Score on the window the fit used (its --min-step, else each run's warmup), unless
    # --min-step says otherwise: early steps the fit never saw would dominate the metrics.
    start = result.min_step if min_step is None else min_step
    if min_step is not None:
        window = f"steps >= {max(min_step, 1)} (--min-step)"
    elif start is not None:
        window = f"steps >= {max(start, 1)}, the fit's window (fit --min-step {start})"
    else:
        window = "steps after each run's warmup, the fit's window"
    from lrlaw.fitting import extrapolation_warnings

    # A fitted run is scored on its own fit window (a start transient the fit left out
    # stays out); the window is given per run in --json.
    fitted = {e["name"]: e["window"][0] for e in result.curves if e.get("window")}
    fitted_names = {e["name"] for e in result.curves}
    rows = []
    for c in curves:
        mask = c.window(start)
        if min_step is None and c.name in fitted:
            mask &= c.steps >= fitted[c.name]
        else:
            for w in extrapolation_warnings(result.curves, c.name, c.lr, int(c.steps[-1])):
                info(f"warning: {w}")
        pred = result.predict(c.lr, c.steps[mask]) if mask.any() else []
        rows.append(
            {
                "name": c.name,
                "source": c.source,
                "first_step": int(c.steps[mask][0]) if mask.any() else None,
                "in_sample": c.name in fitted_names,  # a run the fit was made on
                "metrics": curve_metrics(c.loss[mask], pred),
            }
        )
    report_reading(curves)  # as fit and predict do
    if as_json:
        payload = {
            "law": result.law,
            "params": result.params,
            "min_step": start,
            "window": window,
            "runs": rows,
            "mean": mean_metrics([r["metrics"] for r in rows]),
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        # A run the fit was made on is scored in sample: the title says which.
        own = [r["name"] for r in rows if r["in_sample"]]
        if not own:
            kind = "held-out metrics"
        elif len(own) == len(rows):
            kind = "in-sample metrics (the fit was made on these runs)"
        else:
            kind = f"metrics (in sample for {', '.join(own)}, which the fit was made on)"
        typer.echo(
            metrics_table(
                rows,
                f"{result.law} law from {fit_file}: {kind} on {window} (PredE, WorstE, final in %)",
            )
        )


def register(app: typer.Typer) -> None:
    """Add the evaluate command to ``app``."""
    app.command("evaluate")(evaluate_cmd)
