"""``lrlaw plan``: peak LR, batch size and LR schedule for a run of N parameters on D tokens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import check_outputs, info, save_figure, user_errors
from lrlaw.errors import LrlawError


@user_errors
def plan_cmd(
    params: Annotated[
        float,
        typer.Option(
            "--params", "-N", help="Model size N (non-embedding parameters).", show_default=False
        ),
    ],
    tokens: Annotated[
        float, typer.Option("--tokens", "-D", help="Training tokens D.", show_default=False)
    ],
    seq_len: Annotated[int, typer.Option("--seq-len", min=1, help="Tokens per sequence.")] = 2048,
    compute: Annotated[
        float | None,
        typer.Option("--compute", help="Compute C in FLOPs (default 6 N D).", show_default=False),
    ] = None,
    law: Annotated[
        str,
        typer.Option(
            "--law", help="Published law for peak LR and batch: step-law, deepseek or power."
        ),
    ] = "step-law",
    hparams: Annotated[
        Path | None,
        typer.Option(
            "--hparams",
            help="Your LR/batch law from 'lrlaw hparams fit --out' (replaces --law).",
            show_default=False,
        ),
    ] = None,
    fit: Annotated[
        Path | None,
        typer.Option(
            "--fit",
            help="Loss-curve law from 'lrlaw fit --out': predict and rank the candidates.",
            show_default=False,
        ),
    ] = None,
    peak: Annotated[
        float | None, typer.Option("--peak", help="Use this peak LR.", show_default=False)
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option("--batch", min=1, help="Use this batch (sequences).", show_default=False),
    ] = None,
    warmup: Annotated[
        int | None,
        typer.Option(
            "--warmup", min=0, help="Warmup steps (default 1 % of the steps).", show_default=False
        ),
    ] = None,
    predict_at: Annotated[
        str,
        typer.Option(
            "--predict-at",
            help="fit: predict the candidates with their LRs scaled to the peak of the curves "
            "--fit was fitted on (ranks shapes where the law was fitted); suggested: at the "
            "suggested peak (warns beyond 2x).",
        ),
    ] = "fit",
    fit_peak: Annotated[
        float | None,
        typer.Option(
            "--fit-peak",
            help="Peak LR of the curves --fit was fitted on (default: from their specs, or "
            "the largest LR recorded for each curve).",
            show_default=False,
        ),
    ] = None,
    optimize: Annotated[
        bool,
        typer.Option(
            "--optimize/--no-optimize", help="Add the optimised WSD and free-form schedules."
        ),
    ] = True,
    iters: Annotated[
        int | None,
        typer.Option(
            "--iters", min=1, help="Free-form: cap on L-BFGS iterations.", show_default=False
        ),
    ] = None,
    match: Annotated[
        bool,
        typer.Option(
            "--match/--no-match",
            help="Add the steps the best spec schedule needs to match each candidate "
            "(a bisection over run lengths; costs seconds).",
        ),
    ] = True,
    level: Annotated[
        float, typer.Option("--level", min=0.01, max=0.99, help="Level of the bands.")
    ] = 0.9,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write the report: .md/.txt (text) or .json.", show_default=False
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Figure: schedules and predicted loss curves.", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of the report.")
    ] = False,
) -> None:
    """Plan a run: peak LR and batch size for N and D, candidate schedules, predicted curves.

    Peak LR and batch come from --law (default Step-Law) or --hparams. The
    candidates (cosine, WSD variants and, with --fit, the optimised WSD and
    free-form schedules) are ranked by the final loss the --fit law predicts.
    That law is used where it was fitted: by default the candidates are
    predicted with their LRs scaled to the fitted curves' peak (same shapes).
    """
    inputs = [p for p in (hparams, fit) if p is not None]
    check_outputs(inputs, out, plot)
    if out is not None and out.suffix.lower() not in (".md", ".txt", ".json"):
        raise LrlawError(f"--out {out}: use a .md, .txt or .json file")
    from lrlaw.io import write_text_atomic
    from lrlaw.plan import load_hparams, make_plan
    from lrlaw.plot import plot_plan

    hp = load_hparams(hparams) if hparams is not None else law
    fit_result = None
    if fit is not None:
        from lrlaw.fitting import FitResult

        fit_result = FitResult.load(fit)
    plan = make_plan(
        params,
        tokens,
        seq_len=seq_len,
        compute=compute,
        hparams=hp,
        fit=fit_result,
        peak=peak,
        batch=batch,
        warmup=warmup,
        predict_at=predict_at,
        fit_peak=fit_peak,
        optimize_schedule=optimize,
        iters=iters,
        level=level,
        compute_to_match=match,
    )
    fig = plot_plan(plan, fit_result) if plot is not None else None
    text = json.dumps(plan.to_dict(), indent=2) + "\n"
    report = plan.report() + "\n"
    typer.echo(text if as_json else report, nl=False)
    if out is not None:
        write_text_atomic(out, text if out.suffix.lower() == ".json" else report, inputs)
        info(f"wrote {out}")
    if fig is not None:
        save_figure(fig, plot, inputs)
        info(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    """Add the ``plan`` command to ``app``."""
    app.command("plan")(plan_cmd)
