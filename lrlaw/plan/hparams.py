r"""Optimal peak learning rate and batch size as power laws of model size and data.

From a grid of runs -- model size ``N``, training tokens ``D``, learning rate
``eta``, batch size ``B`` and a final loss per run -- :func:`fit_hparams`

1. locates the optimum ``(eta*, B*)`` of every ``(N, D)`` cell
   (:func:`lrlaw.plan.grid.locate_optimum`);
2. fits power laws to the located optima by least squares in log space
   (:func:`lrlaw.plan.powerlaws.fit_power_law`), by default

   .. math:: \eta^* = c\,N^{a} D^{b}, \qquad B^* = d\,D^{g},

   the forms of Step-Law (Li et al. 2025, arXiv:2503.04715), with percentile
   bootstrap intervals over cells;
3. checks the laws by leaving one cell out
   (:func:`lrlaw.plan.powerlaws.leave_one_cell_out`).

This module holds the whole fit (:class:`HParamFit`: its JSON and its report) and the
suggestions for a new ``(N, D)`` from the fitted or the published laws
(:func:`suggest`; Step-Law, DeepSeek LLM and the Power scheduler are built in:
:data:`lrlaw.plan.powerlaws.PUBLISHED`).

Imports: :mod:`lrlaw.plan.grid`, :mod:`lrlaw.plan.powerlaws` and the base modules;
numpy and scipy only (no JAX).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw.errors import FitError, LrlawError
from lrlaw.plan.grid import CellOptimum, Grid, locate_optima
from lrlaw.plan.powerlaws import (
    PUBLISHED,
    LawFit,
    LeaveOneOut,
    fit_power_law,
    json_ready,
    leave_one_cell_out,
    parse_form,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "HParamFit",
    "Suggestion",
    "fit_hparams",
    "load_hparams",
    "suggest",
    "suggest_hparams",
    "suggestion_table",
]

_FORMAT = "lrlaw.plan.hparams/1"


# --------------------------------------------------------------------------- the whole fit


@dataclass(frozen=True)
class HParamFit:
    """Result of :func:`fit_hparams`: per-cell optima, fitted laws, hold-out check."""

    source: str
    settings: dict[str, Any]
    cells: list[CellOptimum]
    lr: LawFit
    batch: LawFit
    loo: LeaveOneOut
    warnings: list[str] = field(default_factory=list)

    @property
    def seq_len(self) -> int:
        return int(self.settings.get("seq_len", 2048))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (NaN -> null); :func:`load_hparams` reads it back."""
        from lrlaw import __version__

        return json_ready(
            {
                "format": _FORMAT,
                "lrlaw": __version__,
                "source": self.source,
                "settings": self.settings,
                "units": "lr as in the grid; batch in tokens; N parameters; D tokens; "
                "C = 6ND FLOPs",
                "lr_law": self.lr.to_dict(),
                "batch_law": self.batch.to_dict(),
                "leave_one_out": {"summary": self.loo.summary(), "cells": self.loo.rows},
                "cells": [c.to_dict() for c in self.cells],
                "warnings": list(self.warnings),
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def save(self, path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()) -> None:
        """Write JSON atomically to ``path`` (never onto one of ``inputs``)."""
        from lrlaw.output import write_text_atomic

        write_text_atomic(path, self.to_json(), inputs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HParamFit:
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            got = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise LrlawError(
                f"not an lrlaw hparams fit (format {got!r}); make one with "
                "'lrlaw hparams fit --out'"
            )
        try:
            return cls(
                source=str(data["source"]),
                settings=dict(data["settings"]),
                cells=[CellOptimum.from_dict(c) for c in data["cells"]],
                lr=LawFit.from_dict(data["lr_law"]),
                batch=LawFit.from_dict(data["batch_law"]),
                loo=LeaveOneOut(list(data["leave_one_out"]["cells"])),
                warnings=list(data.get("warnings", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LrlawError(f"malformed hparams fit: {type(exc).__name__}: {exc}") from None

    def table(self) -> str:
        """Plain-text report: cells, laws with intervals, leave-one-cell-out."""
        return _report(self)


def load_hparams(path: str | os.PathLike) -> HParamFit:
    """Read a fit written by :meth:`HParamFit.save` (``lrlaw hparams fit --out``)."""
    path = Path(path)
    if not path.is_file():
        raise LrlawError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LrlawError(f"{path}: not valid JSON: {exc}") from None
    try:
        return HParamFit.from_dict(data)
    except LrlawError as exc:
        raise LrlawError(f"{path}: {exc}") from None


def fit_hparams(
    grid: Grid,
    *,
    method: str = "quadratic",
    window: float = 0.01,
    min_runs: int = 12,
    tol: float = 0.0025,
    lr_form: str | Sequence[str] = "N,D",
    batch_form: str | Sequence[str] = "D",
    n_boot: int = 1000,
    level: float = 0.9,
    seed: int = 0,
) -> HParamFit:
    """Locate every cell's optimum, fit the LR and batch power laws, leave one cell out.

    The laws are fitted to the located cells only (one point per cell); cells
    whose optimum is not located are listed in ``warnings``.  Arguments as in
    :func:`locate_optimum` and :func:`fit_power_law`.

    Raises:
        FitError: too few located cells to fit a law.
    """
    lr_form, batch_form = parse_form(lr_form), parse_form(batch_form)
    cells = locate_optima(grid, method=method, window=window, min_runs=min_runs, tol=tol)
    warns = list(grid.warnings)
    for c in cells:
        if not c.located:
            warns.append(
                f"cell N={c.N:.4g}, D={c.D:.4g}: optimum not located, left out of the fit: "
                f"{c.message}"
            )
    ok = [c for c in cells if c.located]
    if not ok:
        raise FitError(f"{grid.source}: no cell has a located optimum (see the warnings)")
    NN, DD = np.array([c.N for c in ok]), np.array([c.D for c in ok])
    kw = {"n_boot": n_boot, "level": level, "seed": seed}
    try:
        lr_fit = fit_power_law("lr", np.array([c.lr for c in ok]), NN, DD, lr_form, **kw)
        b_fit = fit_power_law(
            "batch", np.array([c.batch for c in ok]), NN, DD, batch_form, unit="tokens", **kw
        )
    except FitError as exc:
        skipped = len(cells) - len(ok)
        note = f" ({skipped} cell(s) not located)" if skipped else ""
        raise FitError(f"{grid.source}: {exc}{note}") from None
    loo = leave_one_cell_out(grid, cells, lr_form, batch_form)
    if loo.n_outside:
        warns.append(
            f"leave-one-cell-out: {loo.n_outside} held-out cell(s) were predicted outside their "
            "tested range; their loss penalty is unknown and not in the mean"
        )
    settings = {
        "method": method,
        "window": window,
        "min_runs": min_runs,
        "tol": tol,
        "lr_form": list(lr_form),
        "batch_form": list(batch_form),
        "n_boot": n_boot,
        "level": level,
        "seed": seed,
        "seq_len": grid.seq_len,
        "batch_unit": grid.batch_unit,
        "columns": grid.columns,
    }
    return HParamFit(grid.source, settings, cells, lr_fit, b_fit, loo, warns)


# --------------------------------------------------------------------------- report


def _fmt_ci(fit: LawFit, key: str) -> str:
    if key not in fit.ci:
        return ""
    lo, hi = fit.ci[key]
    return f"[{lo:.4g}, {hi:.4g}]"


def _report(fit: HParamFit) -> str:
    s = fit.settings
    how = {
        "quadratic": f"quadratic surface in (log lr, log B) over the runs within "
        f"{100 * s['window']:g} % of the best loss (>= {s['min_runs']} runs)",
        "near": f"geometric mean of the runs within {100 * s['tol']:g} % of the best loss",
        "best": "the best run",
    }[s["method"]]
    seq = fit.seq_len
    lines = [
        f"grid: {fit.source}; {len(fit.cells)} (N, D) cell(s); optimum per cell: {how}",
        "",
        f"{'N':>10} {'D':>10} {'runs':>5} {'lr*':>10} {'B* tokens':>10} {'B* seqs':>8} "
        f"{'loss*':>8} {'best loss':>9}  status",
    ]
    for c in fit.cells:
        lines.append(
            f"{c.N:10.4g} {c.D:10.4g} {c.n_runs:5d} {c.lr:10.4g} {c.batch:10.4g} "
            f"{c.batch / seq:8.1f} {c.loss:8.4f} {c.best_loss:9.4f}  "
            + ("ok" if c.located else f"NOT LOCATED ({c.status})")
        )
    lines.append("")
    pct = f"{100 * fit.lr.level:.0f} %"
    pub = PUBLISHED["step-law"]
    lines.append(
        f"fitted laws (least squares in log space over {fit.lr.n_cells} located cells; "
        f"{pct} bootstrap intervals over cells, {fit.lr.n_boot} draws):"
    )
    for lf, pl in ((fit.lr, pub.lr), (fit.batch, pub.batch)):
        unit = f" ({lf.law.unit})" if lf.law.unit else ""
        lines.append(
            f"  {lf.law.formula()}{unit}   rms log residual {lf.rms_log:.3f} "
            f"(factor {math.exp(lf.rms_log):.2f}), R² {lf.r2:.3f}"
        )
        lines.append(f"    {'term':<6} {'fitted':>10} {pct + ' interval':>22} {'Step-Law':>9}")
        for key in ("coef", *lf.form):
            val = lf.law.coef if key == "coef" else lf.law.exponents[key]
            ref = ""
            if (
                pl is not None
                and key != "coef"
                and key in pl.exponents
                and set(lf.form) == set(pl.exponents)
            ):
                ref = f"{pl.exponents[key]:.3f}"
            elif pl is not None and key == "coef" and set(lf.form) == set(pl.exponents):
                ref = f"{pl.coef:.3g}"
            lines.append(f"    {key:<6} {val:10.4g} {_fmt_ci(lf, key):>22} {ref:>9}")
    loo = fit.loo
    sm = loo.summary()
    lines += [
        "",
        f"leave one cell out ({len(loo.rows)} cells): predict each cell's optimum from the "
        "others; penalty = interpolated loss at the prediction / best measured loss - 1",
        f"{'N':>10} {'D':>10} {'lr pred':>10} {'lr ratio':>8} {'B pred':>10} {'B ratio':>7} "
        f"{'penalty':>8} {'at lr*,B*':>9} {'Step-Law':>8}",
    ]

    def pc(v: float | None) -> str:
        return "outside" if v is None or not math.isfinite(v) else f"{100 * v:.3f}%"

    for r in loo.rows:
        lines.append(
            f"{r['N']:10.4g} {r['D']:10.4g} {r['lr_pred']:10.4g} {r['lr_ratio']:8.2f} "
            f"{r['batch_pred']:10.4g} {r['batch_ratio']:7.2f} {pc(r['penalty']):>8} "
            f"{pc(r['located_penalty']):>9} {pc(r['published_penalty']):>8}"
        )
    lines.append(
        f"mean penalty {pc(sm['mean_penalty'])} (max {pc(sm['max_penalty'])}); at the located "
        f"optima {pc(sm['mean_located_penalty'])}; published Step-Law "
        f"{pc(sm['mean_published_penalty'])}"
    )
    if fit.warnings:
        lines += ["", *[f"warning: {w}" for w in fit.warnings]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- suggestions


@dataclass(frozen=True)
class Suggestion:
    """Peak LR and batch size one law gives for a run (batch in tokens and sequences)."""

    name: str
    lr: float
    batch_tokens: float | None
    batch_seqs: float | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def suggest(
    N: float,
    D: float,
    *,
    seq_len: int = 2048,
    compute: float | None = None,
    batch: float | None = None,
    fitted: HParamFit | None = None,
    fitted_name: str = "fitted",
    laws: Sequence[str] = ("step-law", "deepseek", "power"),
) -> list[Suggestion]:
    """Peak LR and batch size from each published law (and a fitted one) for N, D.

    ``N`` non-embedding parameters, ``D`` tokens, ``seq_len`` tokens per
    sequence, ``compute`` the FLOPs (default ``6 N D``).  The Power scheduler
    gives the LR for a batch: ``batch`` (sequences) when given, else Step-Law's
    batch.

    Example:
        >>> s = suggest(1e9, 1e11)
        >>> [(x.name, round(x.lr, 5)) for x in s]
        [('Step-Law', 0.00163), ('DeepSeek LLM', 0.00079), ('Power scheduler', 0.00611)]
    """
    for name, v in (("N", N), ("D", D)):
        if not (isinstance(v, (int, float, np.number)) and math.isfinite(v) and v > 0):
            raise LrlawError(f"{name}={v!r} must be a number > 0")
    if isinstance(seq_len, bool) or int(seq_len) != seq_len or seq_len < 1:
        raise LrlawError(f"seq_len={seq_len!r} must be a positive integer")
    if compute is not None and not compute > 0:
        raise LrlawError(f"compute={compute!r} must be > 0")
    if batch is not None and not batch > 0:
        raise LrlawError(f"batch={batch!r} must be > 0 (sequences)")
    C = float(compute) if compute is not None else 6.0 * N * D
    values = {"N": float(N), "D": float(D), "C": C}
    out = []
    step_batch_seqs = PUBLISHED["step-law"].batch(D=D) / seq_len  # type: ignore[union-attr]
    for key in laws:
        if key not in PUBLISHED:
            raise LrlawError(f"unknown law {key!r}; known: {', '.join(PUBLISHED)}")
        law = PUBLISHED[key]
        if law.batch is None:
            b = float(batch) if batch is not None else step_batch_seqs
            which = "given" if batch is not None else "Step-Law's batch"
            out.append(
                Suggestion(
                    law.name,
                    law.lr(B=b, D=D),
                    None,
                    None,
                    f"LR for a batch of {b:.4g} sequences ({which}); muP base LR",
                )
            )
            continue
        bt = law.batch(**values)
        note = "C = 6ND FLOPs" if key == "deepseek" and compute is None else ""
        if key == "deepseek" and compute is not None:
            note = "C given"
        out.append(Suggestion(law.name, law.lr(**values), bt, bt / seq_len, note))
    if fitted is not None:
        bt = fitted.batch.law(**values)
        cells = [c for c in fitted.cells if c.located]
        note = "fit: " + fitted.lr.law.formula()
        for var, v in (("N", N), ("D", D)):
            known = [getattr(c, var) for c in cells]
            if known and not min(known) / 1.5 <= v <= max(known) * 1.5:
                note += f"; extrapolates in {var} (fitted {min(known):.3g}..{max(known):.3g})"
        out.append(Suggestion(fitted_name, fitted.lr.law(**values), bt, bt / seq_len, note))
    return out


#: :func:`suggest` under the name re-exported as ``lrlaw.suggest_hparams``.
suggest_hparams = suggest


def suggestion_table(
    rows: Sequence[Suggestion], N: float, D: float, seq_len: int, C: float, *, header: bool = True
) -> str:
    """Plain-text table of :func:`suggest` output (``header``: first a line with N, D, C)."""
    head = (
        f"N = {N:.4g} parameters, D = {D:.4g} tokens, C = {C:.4g} FLOPs, sequence length {seq_len}"
    )
    cols = ["law", "peak LR", "batch (tokens)", "batch (seqs)", "notes"]
    body = [
        [
            r.name,
            f"{r.lr:.4g}",
            "-" if r.batch_tokens is None else f"{r.batch_tokens:.4g}",
            "-" if r.batch_seqs is None else f"{r.batch_seqs:.1f}",
            r.note,
        ]
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [cols, *body]) for i in range(len(cols))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    table = [fmt(cols), *(fmt(b) for b in body)]
    return "\n".join([head, "", *table] if header else table)


# --------------------------------------------------------------------------- plots
