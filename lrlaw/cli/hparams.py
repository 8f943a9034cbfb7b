"""``lrlaw hparams``: optimal peak LR and batch size (fit power laws to a grid; suggest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrlaw.cli._common import check_json_out, check_outputs, info, save_figure, user_errors
from lrlaw.errors import LrlawError

hparams_app = typer.Typer(
    name="hparams",
    help="Optimal peak learning rate and batch size: fit power laws to a grid of runs, or "
    "suggest them from published laws (Step-Law, DeepSeek LLM, Power scheduler).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@hparams_app.command("fit")
@user_errors
def fit_cmd(
    grid: Annotated[
        Path,
        typer.Argument(
            help="Grid of runs (CSV/TSV/parquet), one row per run: model size, tokens, LR, "
            "batch size, final loss (e.g. data/steplaw/dense_lr_bs_loss.csv).",
            show_default=False,
        ),
    ],
    n_col: Annotated[str, typer.Option("--n-col", help="Column of model size N.")] = "N",
    d_col: Annotated[str, typer.Option("--d-col", help="Column of training tokens D.")] = "D",
    lr_col: Annotated[str, typer.Option("--lr-col", help="Column of the (peak) LR.")] = "lr",
    batch_col: Annotated[str, typer.Option("--batch-col", help="Column of batch size.")] = "bs",
    loss_col: Annotated[
        str, typer.Option("--loss-col", help="Column of the final loss.")
    ] = "smooth loss",
    batch_unit: Annotated[
        str,
        typer.Option("--batch-unit", help="Unit of the batch column: sequences or tokens."),
    ] = "sequences",
    seq_len: Annotated[
        int, typer.Option("--seq-len", min=1, help="Tokens per sequence (batch conversion).")
    ] = 2048,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="Optimum per cell: quadratic (surface in log LR, log batch), near (geometric "
            "mean of the runs within --tol of the best, as Step-Law) or best (best run).",
        ),
    ] = "quadratic",
    window: Annotated[
        float,
        typer.Option("--window", help="quadratic: fit the runs within this fraction of the best."),
    ] = 0.01,
    min_runs: Annotated[
        int, typer.Option("--min-runs", min=6, help="quadratic: at least this many runs.")
    ] = 12,
    tol: Annotated[float, typer.Option("--tol", help="near: tolerance on the loss.")] = 0.0025,
    lr_form: Annotated[
        str, typer.Option("--lr-form", help="Variables of the LR law: N, D, C (6ND), e.g. 'C'.")
    ] = "N,D",
    batch_form: Annotated[
        str, typer.Option("--batch-form", help="Variables of the batch law, e.g. 'D' or 'C'.")
    ] = "D",
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap draws over cells.")
    ] = 1000,
    level: Annotated[
        float, typer.Option("--level", min=0.01, max=0.99, help="Level of the intervals.")
    ] = 0.9,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write the fit as JSON (FILE.json, for suggest and plan)."
        ),
    ] = None,
    plot_laws: Annotated[
        Path | None,
        typer.Option("--plot-laws", help="Figure: fitted power laws against the cell optima."),
    ] = None,
    plot_landscape: Annotated[
        Path | None,
        typer.Option(
            "--plot-landscape", help="Figure: loss against LR per cell, with the located optimum."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the fit as JSON instead of the report.")
    ] = False,
) -> None:
    """Fit lr* = c N^a D^b and B* = d D^g to the per-cell optima of a grid of runs.

    Locates the optimum (LR, batch) of every (N, D) cell, fits the power laws
    by least squares in log space with bootstrap intervals, and leaves each
    cell out in turn: the laws fitted on the others predict it, and the loss
    penalty of the prediction is read off the cell's interpolated landscape.
    The defaults read the Step-Law table (batch in sequences of 2048 tokens).
    """
    inputs = [grid]
    check_outputs(inputs, out, plot_laws)
    check_outputs(inputs, None, plot_landscape)
    check_json_out(out, "the fit")
    outs = [p.resolve() for p in (out, plot_laws, plot_landscape) if p is not None]
    if len(set(outs)) != len(outs):
        raise LrlawError("--out, --plot-laws and --plot-landscape must name different files")
    from lrlaw import plan as hp, plot as plots

    g = hp.read_grid(
        grid,
        n_col=n_col,
        d_col=d_col,
        lr_col=lr_col,
        batch_col=batch_col,
        loss_col=loss_col,
        batch_unit=batch_unit,
        seq_len=seq_len,
    )
    result = hp.fit_hparams(
        g,
        method=method,
        window=window,
        min_runs=min_runs,
        tol=tol,
        lr_form=lr_form,
        batch_form=batch_form,
        n_boot=bootstrap,
        level=level,
        seed=seed,
    )
    figs = []
    if plot_laws is not None:
        figs.append((plots.plot_power_laws(result), plot_laws))
    if plot_landscape is not None:
        figs.append((plots.plot_landscape(g, result), plot_landscape))
    if as_json:
        typer.echo(result.to_json(), nl=False)
        for w in result.warnings:
            info(f"warning: {w}")
    else:
        typer.echo(result.table())
    if out is not None:
        result.save(out, inputs)
        info(f"wrote {out}")
    for fig, path in figs:
        save_figure(fig, path, inputs)
        info(f"wrote {path}")


@hparams_app.command("suggest")
@user_errors
def suggest_cmd(
    params: Annotated[
        float,
        typer.Option(
            "--params", "-N", help="Model size N (non-embedding parameters).", show_default=False
        ),
    ],
    tokens: Annotated[
        float, typer.Option("--tokens", "-D", help="Training tokens D.", show_default=False)
    ],
    seq_len: Annotated[
        int, typer.Option("--seq-len", min=1, help="Tokens per sequence (batch in sequences).")
    ] = 2048,
    compute: Annotated[
        float | None,
        typer.Option("--compute", help="Compute C in FLOPs (default 6 N D).", show_default=False),
    ] = None,
    batch: Annotated[
        float | None,
        typer.Option(
            "--batch", help="Batch in sequences for the Power scheduler's LR.", show_default=False
        ),
    ] = None,
    fit: Annotated[
        Path | None,
        typer.Option("--fit", help="Your law from 'lrlaw hparams fit --out'.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the peak LR and batch size each law gives for N and D.

    Laws: Step-Law (Li et al. 2025; N non-embedding parameters, D tokens, B
    tokens), DeepSeek LLM (2024; C FLOPs, here 6ND unless --compute, B
    tokens), Power scheduler (Shen et al. 2024; LR for a batch in sequences,
    muP), and your fitted law with --fit.
    """
    from lrlaw.plan import load_hparams, suggest, suggestion_table

    fitted = load_hparams(fit) if fit is not None else None
    rows = suggest(
        params,
        tokens,
        seq_len=seq_len,
        compute=compute,
        batch=batch,
        fitted=fitted,
        fitted_name=f"fitted ({fit.name})" if fit is not None else "fitted",
    )
    C = compute if compute is not None else 6.0 * params * tokens
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "N": params,
                    "D": tokens,
                    "C": C,
                    "seq_len": seq_len,
                    "laws": [r.to_dict() for r in rows],
                },
                indent=2,
            )
        )
    else:
        typer.echo(suggestion_table(rows, params, tokens, seq_len, C))


def register(app: typer.Typer) -> None:
    """Add the ``hparams`` command group (``fit``, ``suggest``) to ``app``."""
    app.add_typer(hparams_app, name="hparams")
