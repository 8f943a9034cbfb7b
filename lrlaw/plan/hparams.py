r"""Optimal peak learning rate and batch size as power laws of model size and data.

From a grid of runs -- model size ``N``, training tokens ``D``, learning rate
``eta``, batch size ``B`` and a final loss per run -- this module

1. locates the optimum ``(eta*, B*)`` of every ``(N, D)`` cell
   (:func:`locate_optimum`);
2. fits power laws to the located optima by least squares in log space
   (:func:`fit_power_law`), by default

   .. math:: \eta^* = c\,N^{a} D^{b}, \qquad B^* = d\,D^{g},

   the forms of Step-Law (Li et al. 2025, arXiv:2503.04715), with percentile
   bootstrap intervals over cells;
3. checks the laws by leaving one cell out (:func:`leave_one_cell_out`):
   predict the held-out cell's optimum from the others and read the loss of
   that prediction off the cell's measured landscape.

:func:`fit_hparams` runs all three.  The published laws of Step-Law, DeepSeek
LLM and the Power scheduler are built in (:data:`PUBLISHED`, :func:`suggest`).

**Locating the optimum of a cell** (``method``):

- ``"quadratic"`` (default): a quadratic surface in ``(log eta, log B)``,
  ``L = c0 + c1 u + c2 v + c3 u^2 + c4 u v + c5 v^2`` (``u, v`` the log LR and
  log batch relative to the best run), fitted by ordinary least squares to
  the runs whose loss is within ``window`` (default 1 %) of the cell's best
  loss -- at least ``min_runs`` (12) runs spanning 3 learning rates and 3
  batch sizes; the window is widened, run by run in order of loss, until
  that holds.  The optimum is the surface's minimum ``-H^{-1} g``.  Averaging
  over the near-optimal runs smooths the run-to-run noise of the losses
  (about 0.1-0.2 % on the Step-Law grid) that makes the single best run jump
  between neighbouring grid points.
- ``"near"``: Step-Law's near-optimal set: the runs within ``tol`` (default
  0.25 %) of the best loss; the optimum is their geometric mean LR and batch.
- ``"best"``: the best run itself.

A cell's optimum is **not located** -- it is reported with a warning and left
out of the power-law fit -- when the cell tests fewer than 3 learning rates
or batch sizes, when its best run is at the smallest or largest LR (or batch)
tested in the cell (an optimum on the edge of the grid is only a bound: the
true optimum may lie beyond), when the quadratic surface has no minimum (its
Hessian is not positive definite), or when the minimum lies outside the
tested range (an extrapolation).

**Units.**  ``B`` is in tokens throughout (a grid whose batch column counts
sequences is converted with ``seq_len``); ``D`` in tokens; ``N`` in
(non-embedding) parameters; compute ``C = 6 N D`` FLOPs.

This module needs numpy and scipy only (no JAX).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw.errors import DataError, FitError, LrlawError

if TYPE_CHECKING:
    pass

__all__ = [
    "PUBLISHED",
    "CellOptimum",
    "Grid",
    "HParamFit",
    "LawFit",
    "LeaveOneOut",
    "PowerLaw",
    "PublishedLaw",
    "Suggestion",
    "fit_hparams",
    "fit_power_law",
    "leave_one_cell_out",
    "load_hparams",
    "locate_optima",
    "locate_optimum",
    "parse_form",
    "read_grid",
    "suggest",
    "suggest_hparams",
    "suggestion_table",
]

_FORMAT = "lrlaw.plan.hparams/1"
METHODS = ("quadratic", "near", "best")
VARIABLES = ("N", "D", "C")  # model size, tokens, compute (6 N D FLOPs)
_LOG_TOL = 0.01  # two LRs (batch sizes) within 1 % are the same grid value


# --------------------------------------------------------------------------- power laws


@dataclass(frozen=True)
class PowerLaw:
    """``y = coef * prod_v v^exponents[v]``.

    Variables: ``N`` (non-embedding parameters), ``D`` (tokens), ``C``
    (compute in FLOPs), ``B`` (batch in sequences; used by the Power
    scheduler only).  ``target`` is ``"lr"`` or ``"batch"``; ``unit`` says
    what ``y`` is measured in (``"tokens"`` for batch laws).

    Example (Step-Law's LR law at N = 1e9, D = 1e11):
        >>> law = PowerLaw("lr", 1.79, {"N": -0.713, "D": 0.307})
        >>> round(law(N=1e9, D=1e11), 6)
        0.001632
        >>> law.formula()
        'lr = 1.79 · N^-0.713 · D^0.307'
    """

    target: str
    coef: float
    exponents: dict[str, float]
    unit: str = ""

    def __call__(self, **values: float) -> float:
        """Evaluate the law; every variable of the law must be given (> 0)."""
        out = float(self.coef)
        for var, expo in self.exponents.items():
            if var not in values or values[var] is None:
                raise LrlawError(f"the {self.target} law {self.formula()} needs {var}")
            v = float(values[var])
            if not v > 0:
                raise LrlawError(f"{var}={v:g} must be > 0")
            out *= v**expo
        return out

    def formula(self) -> str:
        """The law as text, e.g. ``lr = 1.79 · N^-0.713 · D^0.307``."""
        terms = " · ".join(f"{v}^{e:.4g}" for v, e in self.exponents.items())
        return f"{self.target} = {self.coef:.4g}" + (f" · {terms}" if terms else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "coef": self.coef,
            "exponents": dict(self.exponents),
            "unit": self.unit,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PowerLaw:
        return cls(
            str(data["target"]),
            float(data["coef"]),
            {str(k): float(v) for k, v in dict(data["exponents"]).items()},
            str(data.get("unit", "")),
        )


@dataclass(frozen=True)
class PublishedLaw:
    """A published optimal-hyper-parameter law: LR law, batch law (or None), units, source."""

    key: str
    name: str
    citation: str
    lr: PowerLaw
    batch: PowerLaw | None
    units: str


#: Published laws.  B in tokens unless stated; C in FLOPs.
PUBLISHED: dict[str, PublishedLaw] = {
    "step-law": PublishedLaw(
        key="step-law",
        name="Step-Law",
        citation="H. Li et al., Predictable Scale: Part I, 2025, arXiv:2503.04715",
        lr=PowerLaw("lr", 1.79, {"N": -0.713, "D": 0.307}),
        batch=PowerLaw("batch", 0.58, {"D": 0.571}, unit="tokens"),
        units="N non-embedding parameters, D tokens, B tokens",
    ),
    "deepseek": PublishedLaw(
        key="deepseek",
        name="DeepSeek LLM",
        citation="DeepSeek-AI, DeepSeek LLM, 2024, arXiv:2401.02954",
        lr=PowerLaw("lr", 0.3118, {"C": -0.125}),
        batch=PowerLaw("batch", 0.2920, {"C": 0.3271}, unit="tokens"),
        units="C compute in FLOPs (the paper's C = M·D, M = non-embedding FLOPs per token "
        "including attention; lrlaw uses C = 6·N·D unless C is given), B tokens",
    ),
    "power": PublishedLaw(
        key="power",
        name="Power scheduler",
        citation="Y. Shen et al., Power Scheduler, 2024, arXiv:2408.13359",
        lr=PowerLaw("lr", 4.6, {"B": 1.0, "D": -0.51}),
        batch=None,
        units="B batch in sequences, D tokens; fitted with muP (the LR is muP's base LR); "
        "gives the LR for a given batch, not a batch size",
    ),
}


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True, eq=False)
class Grid:
    """Runs of a hyper-parameter grid (one final loss per run), validated.

    ``batch`` is in tokens (converted from sequences with ``seq_len`` when the
    file counts sequences).  Runs without a finite loss are dropped (listed
    in ``warnings``).
    """

    source: str
    N: np.ndarray
    D: np.ndarray
    lr: np.ndarray
    batch: np.ndarray  # tokens
    loss: np.ndarray
    line: np.ndarray
    seq_len: int
    batch_unit: str  # unit of the file's batch column
    columns: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    def cells(self) -> list[tuple[float, float, np.ndarray]]:
        """``(N, D, row indices)`` of every cell, sorted by N then D."""
        keys = sorted(set(zip(self.N.tolist(), self.D.tolist())))
        return [(n, d, np.flatnonzero((self.N == n) & (self.D == d))) for n, d in keys]


def read_grid(
    path: str | os.PathLike,
    *,
    n_col: str = "N",
    d_col: str = "D",
    lr_col: str = "lr",
    batch_col: str = "bs",
    loss_col: str = "smooth loss",
    batch_unit: str = "sequences",
    seq_len: int = 2048,
) -> Grid:
    """Read a grid of runs (CSV/TSV/parquet), one row per run.

    The defaults read the Step-Law table ``data/steplaw/dense_lr_bs_loss.csv``
    (batch ``bs`` in sequences of 2048 tokens, loss = the smoothed final
    training loss).  ``batch_unit`` is ``"sequences"`` (multiplied by
    ``seq_len``) or ``"tokens"``.

    Raises:
        DataError: a missing column, or a value that is not a number > 0
            (naming file, column and line); a loss <= 0.  Empty or non-finite
            losses (diverged runs) are dropped with a warning instead.
    """
    from lrlaw.io import numeric_column, read_frame, show_cell

    path = Path(path)
    if batch_unit not in ("sequences", "tokens"):
        raise LrlawError(f"batch_unit={batch_unit!r} must be 'sequences' or 'tokens'")
    if isinstance(seq_len, bool) or int(seq_len) != seq_len or seq_len < 1:
        raise LrlawError(f"seq_len={seq_len!r} must be a positive integer")
    frame, lines = read_frame(path)
    kind = "row" if path.suffix.lower() in (".parquet", ".pq") else "line"
    if len(frame) == 0:
        raise DataError(f"{path}: no data rows (only a header)")
    cols = list(frame.columns)
    names = {"N": n_col, "D": d_col, "lr": lr_col, "batch": batch_col, "loss": loss_col}
    args = {"N": "n_col", "D": "d_col", "lr": "lr_col", "batch": "batch_col", "loss": "loss_col"}
    for role, col in names.items():
        if col not in cols:
            arg = args[role]
            raise DataError(
                f"{path}: no column '{col}' (the {role} column); columns found: "
                f"{', '.join(cols) or '(none)'}; name the right one with "
                f"--{arg.replace('_', '-')} ({arg}= in Python)"
            )
    what = {
        "N": "a model size > 0",
        "D": "a token count > 0",
        "lr": "a learning rate > 0",
        "batch": "a batch size > 0",
    }
    values: dict[str, np.ndarray] = {}
    for role in ("N", "D", "lr", "batch"):
        col = names[role]
        v = numeric_column(path, frame, col, lines, kind)
        bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
        if bad.size:
            i = bad[0]
            raise DataError(
                f"{path}: column '{col}', {kind} {int(lines[i])}: expected {what[role]}, "
                f"got {show_cell(frame[col].iloc[i])}"
            )
        values[role] = v
    loss = numeric_column(path, frame, loss_col, lines, kind)
    bad = np.flatnonzero(np.isfinite(loss) & (loss <= 0))
    if bad.size:
        i = bad[0]
        raise DataError(
            f"{path}: column '{loss_col}', {kind} {int(lines[i])}: expected a loss > 0, "
            f"got {show_cell(frame[loss_col].iloc[i])}"
        )
    keep = np.isfinite(loss)
    warns = []
    if not keep.all():
        dropped = np.flatnonzero(~keep)
        shown = ", ".join(str(int(lines[i])) for i in dropped[:5])
        more = f" and {dropped.size - 5} more" if dropped.size > 5 else ""
        warns.append(
            f"{path}: {dropped.size} run(s) without a finite '{loss_col}' ({kind}s {shown}{more}) "
            "are ignored (diverged runs?)"
        )
    if not keep.any():
        raise DataError(f"{path}: column '{loss_col}' has no finite values")
    factor = float(seq_len) if batch_unit == "sequences" else 1.0
    return Grid(
        source=str(path),
        N=values["N"][keep],
        D=values["D"][keep],
        lr=values["lr"][keep],
        batch=values["batch"][keep] * factor,
        loss=loss[keep],
        line=np.asarray(lines)[keep],
        seq_len=int(seq_len),
        batch_unit=batch_unit,
        columns=names,
        warnings=warns,
    )


# --------------------------------------------------------------------------- per-cell optimum


@dataclass(frozen=True)
class CellOptimum:
    """The optimum of one ``(N, D)`` cell.

    ``lr`` and ``batch`` (tokens) are the located optimum and ``loss`` the
    loss there (the quadratic surface's minimum for ``"quadratic"``; the best
    loss otherwise).  ``located`` is False when the optimum could not be
    located; ``status`` and ``message`` say why (``"edge"``, ``"outside"``,
    ``"no-minimum"``, ``"too-few"``).  ``quad`` holds the surface (centre and
    coefficients) for ``"quadratic"``.
    """

    N: float
    D: float
    n_runs: int
    lr: float
    batch: float
    loss: float
    best_lr: float
    best_batch: float
    best_loss: float
    located: bool
    status: str = "ok"
    message: str = ""
    n_used: int = 0
    lr_range: tuple[float, float] = (math.nan, math.nan)
    batch_range: tuple[float, float] = (math.nan, math.nan)
    quad: dict[str, Any] | None = None

    def quad_loss(self, lr: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """The fitted quadratic surface at ``(lr, batch)`` (``"quadratic"`` only)."""
        if self.quad is None:
            raise LrlawError("this cell has no quadratic surface")
        u = np.log(lr) - self.quad["x0"]
        v = np.log(batch) - self.quad["y0"]
        c = self.quad["coef"]
        return c[0] + c[1] * u + c[2] * v + c[3] * u * u + c[4] * u * v + c[5] * v * v

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["lr_range"], d["batch_range"] = list(self.lr_range), list(self.batch_range)
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellOptimum:
        d = {k: (math.nan if v is None and k not in ("quad",) else v) for k, v in data.items()}
        d["lr_range"], d["batch_range"] = tuple(d["lr_range"]), tuple(d["batch_range"])
        return cls(**d)


def _distinct(logs: np.ndarray) -> int:
    """Number of distinct grid values among ``logs`` (values within 1 % count once)."""
    s = np.sort(logs)
    return int(1 + np.sum(np.diff(s) > _LOG_TOL)) if s.size else 0


def locate_optimum(
    lr: np.ndarray,
    batch: np.ndarray,
    loss: np.ndarray,
    *,
    method: str = "quadratic",
    window: float = 0.01,
    min_runs: int = 12,
    tol: float = 0.0025,
    N: float = math.nan,
    D: float = math.nan,
) -> CellOptimum:
    """Locate the loss-minimising ``(lr, batch)`` of one cell (see the module doc).

    ``"quadratic"``: least-squares surface
    ``L = c0 + c1 u + c2 v + c3 u^2 + c4 u v + c5 v^2`` in ``u = log lr - log lr_best``,
    ``v = log B - log B_best`` over the runs within ``window`` of the best loss
    (at least ``min_runs`` runs spanning 3 LRs and 3 batch sizes), minimum at
    ``(u, v) = -H^{-1} (c1, c2)`` with ``H = [[2 c3, c4], [c4, 2 c5]]``.
    ``"near"``: geometric mean of the runs within ``tol`` of the best loss
    (Li et al. 2025).  ``"best"``: the best run.

    Never raises for a cell whose optimum cannot be located: the result has
    ``located=False`` and a message saying why.

    Example (an exact quadratic bowl with its minimum at lr = 1e-3, B = 2**19):
        >>> lrs, bs = np.meshgrid(1e-3 * 2.0 ** np.arange(-3, 4), 2.0 ** np.arange(16, 23))
        >>> u, v = np.log(lrs / 1e-3), np.log(bs / 2**19)
        >>> cell = locate_optimum(lrs.ravel(), bs.ravel(), (2 + 0.01 * u**2 + 0.005 * v**2).ravel())
        >>> cell.located, round(cell.lr, 9), round(cell.batch)
        (True, 0.001, 524288)
    """
    if method not in METHODS:
        raise LrlawError(f"method={method!r} must be one of {', '.join(METHODS)}")
    if not window > 0:
        raise LrlawError(f"window={window} must be > 0")
    if not tol >= 0:
        raise LrlawError(f"tol={tol} must be >= 0")
    if isinstance(min_runs, bool) or int(min_runs) != min_runs or min_runs < 6:
        raise LrlawError(f"min_runs={min_runs} must be an integer >= 6 (the surface has 6 terms)")
    lr, batch, loss = (np.asarray(a, dtype=np.float64).ravel() for a in (lr, batch, loss))
    x, y = np.log(lr), np.log(batch)
    n = loss.size
    ib = int(np.argmin(loss))
    base = {
        "N": float(N),
        "D": float(D),
        "n_runs": int(n),
        "best_lr": float(lr[ib]),
        "best_batch": float(batch[ib]),
        "best_loss": float(loss[ib]),
        "lr_range": (float(lr.min()), float(lr.max())),
        "batch_range": (float(batch.min()), float(batch.max())),
    }

    def fail(status: str, message: str, **extra: Any) -> CellOptimum:
        fields_ = {"lr": base["best_lr"], "batch": base["best_batch"], "loss": base["best_loss"]}
        fields_.update(extra)
        return CellOptimum(**base, **fields_, located=False, status=status, message=message)

    n_lr, n_b = _distinct(x), _distinct(y)
    if n_lr < 3 or n_b < 3:
        return fail(
            "too-few",
            f"{n} run(s) with {n_lr} learning rate(s) and {n_b} batch size(s); locating an "
            "optimum needs at least 3 of each",
        )
    edges = []
    if x[ib] <= x.min() + _LOG_TOL:
        edges.append("smallest learning rate")
    if x[ib] >= x.max() - _LOG_TOL:
        edges.append("largest learning rate")
    if y[ib] <= y.min() + _LOG_TOL:
        edges.append("smallest batch size")
    if y[ib] >= y.max() - _LOG_TOL:
        edges.append("largest batch size")
    if edges:
        return fail(
            "edge",
            f"the best run (lr={lr[ib]:.4g}, batch={batch[ib]:.4g} tokens) is at the "
            f"{' and the '.join(edges)} tested in this cell: an optimum on the edge of the grid "
            "is only a bound, not a located optimum",
        )
    if method == "best":
        return CellOptimum(
            **base,
            lr=base["best_lr"],
            batch=base["best_batch"],
            loss=base["best_loss"],
            located=True,
            n_used=1,
        )
    if method == "near":
        sel = loss <= loss[ib] * (1 + tol)
        return CellOptimum(
            **base,
            lr=float(np.exp(x[sel].mean())),
            batch=float(np.exp(y[sel].mean())),
            loss=base["best_loss"],
            located=True,
            n_used=int(sel.sum()),
        )
    # quadratic surface
    if n < min_runs:
        return fail(
            "too-few",
            f"{n} run(s); the quadratic surface needs at least {min_runs} (min_runs)",
        )
    order = np.argsort(loss, kind="stable")
    k = int(np.sum(loss <= loss[ib] * (1 + window)))
    k = max(k, min_runs)
    while k < n and (_distinct(x[order[:k]]) < 3 or _distinct(y[order[:k]]) < 3):
        k += 1
    sel = order[:k]
    u, v = x[sel] - x[ib], y[sel] - y[ib]
    design = np.column_stack([np.ones(k), u, v, u * u, u * v, v * v])
    coef, _, rank, _ = np.linalg.lstsq(design, loss[sel], rcond=None)
    window_used = float(loss[sel].max() / loss[ib] - 1)
    quad = {
        "x0": float(x[ib]),
        "y0": float(y[ib]),
        "coef": [float(c) for c in coef],
        "lr_fitted": [float(lr[sel].min()), float(lr[sel].max())],
        "window": window_used,
    }
    extra = {"n_used": k, "quad": quad}
    if rank < 6:
        return fail("no-minimum", "the runs near the best do not determine a surface", **extra)
    hess = np.array([[2 * coef[3], coef[4]], [coef[4], 2 * coef[5]]])
    grad = coef[1:3]
    eig = np.linalg.eigvalsh(hess)
    if not eig.min() > 0:
        return fail(
            "no-minimum",
            f"the quadratic surface through the {k} runs within {100 * window_used:.2g} % of the "
            "best loss has no minimum (its curvature is not positive in every direction)",
            **extra,
        )
    du, dv = np.linalg.solve(hess, -grad)
    x_opt, y_opt = x[ib] + du, y[ib] + dv
    loss_opt = float(coef[0] + 0.5 * (grad[0] * du + grad[1] * dv))
    outside = []
    if not x.min() - _LOG_TOL <= x_opt <= x.max() + _LOG_TOL:
        outside.append(f"lr={np.exp(x_opt):.4g} (tested {lr.min():.4g}..{lr.max():.4g})")
    if not y.min() - _LOG_TOL <= y_opt <= y.max() + _LOG_TOL:
        outside.append(
            f"batch={np.exp(y_opt):.4g} tokens (tested {batch.min():.4g}..{batch.max():.4g})"
        )
    if outside:
        return fail(
            "outside",
            f"the minimum of the quadratic surface, {' and '.join(outside)}, lies outside the "
            "tested range: an extrapolation, not a located optimum",
            **extra,
        )
    return CellOptimum(
        **base,
        lr=float(np.exp(x_opt)),
        batch=float(np.exp(y_opt)),
        loss=loss_opt,
        located=True,
        **extra,
    )


def locate_optima(grid: Grid, **kwargs: Any) -> list[CellOptimum]:
    """:func:`locate_optimum` for every cell of ``grid`` (sorted by N, then D)."""
    return [
        locate_optimum(grid.lr[i], grid.batch[i], grid.loss[i], N=n, D=d, **kwargs)
        for n, d, i in grid.cells()
    ]


# --------------------------------------------------------------------------- power-law fits


def _variables(form: Sequence[str], N: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Columns ``log v`` for each variable of ``form`` (C = 6 N D)."""
    cols = []
    for var in form:
        if var == "N":
            cols.append(np.log(N))
        elif var == "D":
            cols.append(np.log(D))
        elif var == "C":
            cols.append(np.log(6.0 * np.asarray(N) * np.asarray(D)))
        else:
            raise LrlawError(f"unknown variable {var!r} in a law form; use {', '.join(VARIABLES)}")
    return np.column_stack(cols) if cols else np.zeros((np.size(N), 0))


def parse_form(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"N,D"`` -> ``("N", "D")``; checks the names and that no variable repeats.

    >>> parse_form("N, D")
    ('N', 'D')
    """
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    items = [t for t in items if t]
    if not items:
        raise LrlawError(f"empty law form {text!r}; give variables such as 'N,D' or 'C'")
    for t in items:
        if t not in VARIABLES:
            raise LrlawError(
                f"law form {text!r}: unknown variable {t!r}; use N (parameters), D (tokens) "
                "or C (compute, 6·N·D FLOPs)"
            )
    if len(set(items)) != len(items):
        raise LrlawError(f"law form {text!r} repeats a variable")
    if set(items) == set(VARIABLES):
        raise LrlawError(f"law form {text!r}: log C = log 6 + log N + log D; use at most two")
    return tuple(items)


def _ols(design: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Least-squares coefficients, or None when the design is rank-deficient."""
    coef, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
    return coef if rank == design.shape[1] else None


@dataclass(frozen=True)
class LawFit:
    """A power law fitted to per-cell optima, with bootstrap intervals.

    ``ci`` maps ``"coef"`` and each variable to the ``(low, high)`` percentile
    interval at ``level``; ``se`` to the bootstrap standard deviation.
    ``rms_log`` is the RMS of the log residuals (a typical factor
    ``exp(rms_log)`` between law and cell optimum).
    """

    law: PowerLaw
    form: tuple[str, ...]
    n_cells: int
    rms_log: float
    r2: float
    ci: dict[str, tuple[float, float]]
    se: dict[str, float]
    level: float
    n_boot: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.law.to_dict(),
            "form": list(self.form),
            "n_cells": self.n_cells,
            "rms_log": self.rms_log,
            "r2": self.r2,
            "ci": {k: list(v) for k, v in self.ci.items()},
            "se": dict(self.se),
            "level": self.level,
            "n_boot": self.n_boot,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LawFit:
        return cls(
            law=PowerLaw.from_dict(data["law"]),
            form=tuple(data["form"]),
            n_cells=int(data["n_cells"]),
            rms_log=_num(data["rms_log"]),
            r2=_num(data["r2"]),
            ci={k: (_num(v[0]), _num(v[1])) for k, v in data["ci"].items()},
            se={k: _num(v) for k, v in data["se"].items()},
            level=float(data["level"]),
            n_boot=int(data["n_boot"]),
        )


def _num(v: Any) -> float:
    """JSON value -> float (null -> NaN)."""
    return math.nan if v is None else float(v)


def _clean(v: Any) -> Any:
    """Nested JSON-ready copy with non-finite floats as None."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def fit_power_law(
    target: str,
    values: np.ndarray,
    N: np.ndarray,
    D: np.ndarray,
    form: str | Sequence[str],
    *,
    n_boot: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    unit: str = "",
) -> LawFit:
    """Fit ``values = coef * prod_v v^a_v`` by ordinary least squares in log space.

    ``log y = log coef + sum_v a_v log v`` over the cells (one point per
    cell), ``v`` in ``form`` (``N``, ``D``, ``C = 6 N D``).  Intervals: the
    percentile bootstrap over cells by ``scipy.stats.bootstrap`` (cells drawn
    with replacement, ``n_boot`` refits; draws whose cells do not determine the
    law are left out, and ``n_boot`` of the result counts those kept).

    Raises:
        FitError: fewer cells than coefficients + 1, non-positive values, or
            cells that do not vary in a variable of the law.

    Example (exact data: the fit recovers the law):
        >>> N = np.array([1e8, 1e8, 4e8, 4e8, 1e9]); D = np.array([1e9, 1e10, 1e9, 1e10, 3e10])
        >>> fit = fit_power_law("lr", 2.0 * N**-0.7 * D**0.3, N, D, "N,D", n_boot=50)
        >>> [round(fit.law.exponents[v], 6) for v in ("N", "D")], round(fit.law.coef, 6)
        ([-0.7, 0.3], 2.0)
    """
    form = parse_form(form)
    y = np.asarray(values, dtype=np.float64)
    N, D = np.asarray(N, dtype=np.float64), np.asarray(D, dtype=np.float64)
    if not (y.shape == N.shape == D.shape) or y.ndim != 1:
        raise LrlawError("values, N and D must be 1-D arrays of the same length")
    if not np.all(np.isfinite(y) & (y > 0)):
        raise FitError(f"the {target} optima must be finite and > 0 to fit a power law")
    n, p = y.size, len(form) + 1
    if n < p + 1:
        raise FitError(
            f"{n} located cell(s) for the {target} law {'·'.join(form)} with {p} coefficients; "
            f"need at least {p + 1}"
        )
    if not 0 < level < 1:
        raise LrlawError(f"level={level} must be in (0, 1)")
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0:
        raise LrlawError(f"n_boot={n_boot!r} must be an integer >= 0")
    design = np.column_stack([np.ones(n), _variables(form, N, D)])
    logy = np.log(y)
    coef = _ols(design, logy)
    if coef is None:
        flat = [v for v, col in zip(form, design[:, 1:].T) if np.ptp(col) == 0]
        why = f"{', '.join(flat)} takes one value" if flat else "its variables are collinear"
        raise FitError(f"the cells do not determine the {target} law ({why})")
    resid = logy - design @ coef
    ss_tot = float(np.sum((logy - logy.mean()) ** 2))
    r2 = 1 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else math.nan
    names = ["coef", *form]
    ci, se, used = _bootstrap_cells(design, logy, names, n_boot=n_boot, level=level, seed=seed)
    law = PowerLaw(target, float(np.exp(coef[0])), dict(zip(form, map(float, coef[1:]))), unit)
    return LawFit(
        law=law,
        form=form,
        n_cells=n,
        rms_log=float(np.sqrt(np.mean(resid**2))),
        r2=r2,
        ci=ci,
        se=se,
        level=float(level),
        n_boot=used,
    )


def _ols_batch(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`_ols` over a stack: ``X`` (..., n, p), ``y`` (..., n) -> coefficients (p, ...).

    By SVD, with ``np.linalg.lstsq``'s rank rule (singular values above
    ``eps * max(n, p) * s_max``); a rank-deficient design gives NaN.  The
    intercept (column 0) is returned as ``exp`` (the law's ``coef``).
    """
    u, sv, vt = np.linalg.svd(X, full_matrices=False)
    tol = np.finfo(np.float64).eps * max(X.shape[-2:]) * sv[..., :1]
    full = np.all(sv > tol, axis=-1)
    inv = np.where(sv > tol, 1.0 / np.where(sv > tol, sv, 1.0), 0.0)
    uty = np.einsum("...np,...n->...p", u, y)
    coef = np.einsum("...pq,...p->...q", vt, inv * uty)
    coef[~full] = np.nan
    coef[..., 0] = np.exp(coef[..., 0])
    return np.moveaxis(coef, -1, 0)


def _bootstrap_cells(
    design: np.ndarray,
    logy: np.ndarray,
    names: Sequence[str],
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[dict[str, tuple[float, float]], dict[str, float], int]:
    """Percentile bootstrap over cells of the log-space OLS, by ``scipy.stats.bootstrap``.

    Cells are resampled in pairs (``(log y, variables)`` of one cell stay
    together: the resampled data are cell indices) and the law is refitted on
    each resample, all resamples at once (:func:`_ols_batch`, ``vectorized=True``;
    a per-resample statistic, ``vectorized=False``, was slower than the former
    hand-written loop: timings below); the interval is the percentile interval
    (Efron & Tibshirani 1993, ch. 13) at ``level`` of ``(coef, exponents...)``,
    ``se`` the standard deviation of the replicates.  Returns ``(ci, se, used)``,
    ``used`` the replicates that determine the law.

    Percentile, not BCa: ``benchmarks/bench_hparams_bootstrap.py`` measured both
    on 200 synthetic grids of 8 and 17 cells (90 % intervals): BCa's coverage was
    no closer to 90 % (8 cells: 85.6 / 87.1 / 96.2 % for coef / N / D, against
    89.5 / 86.0 / 93.5 %; 17 cells: 87.5 / 83.5 / 86.5 against 88.0 / 87.0 /
    87.5 %), it costs ``n`` jackknife fits, and it cannot be formed when a
    resample does not determine the law (34 % of the 8-cell grids), which the
    percentile interval handles by leaving those replicates out (conditioning
    on the law being identified, as the former hand-written loop did by
    redrawing them).  The batched refits took 9-13 ms per interval set against
    38-42 ms for the former loop and 88-110 ms for scipy with a per-resample
    statistic (1000 replicates, same run, loaded 2-core machine), and give the
    former loop's intervals to rounding when no replicate is dropped (same draws).
    """
    from scipy.stats import bootstrap

    if n_boot == 0:
        return {}, {}, 0

    def refit(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        """OLS on the resampled cells ``idx`` (..., n): coefficients (p, ...)."""
        return _ols_batch(design[np.moveaxis(idx, axis, -1)], logy[np.moveaxis(idx, axis, -1)])

    with warnings.catch_warnings():
        # A replicate that does not determine the law is NaN; scipy warns about it
        # (as if BCa had failed) and gives NaN bounds: those are formed below.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message=".*BCa confidence interval cannot")
        res = bootstrap(
            (np.arange(logy.size),),
            refit,
            n_resamples=n_boot,
            vectorized=True,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    b = np.asarray(res.bootstrap_distribution)  # (n_coefficients, n_boot)
    ok = np.all(np.isfinite(b), axis=0)
    used = int(ok.sum())
    if used == 0:
        return {}, {}, 0
    if used == b.shape[1]:
        lo, hi = res.confidence_interval.low, res.confidence_interval.high
    else:  # scipy's bounds are NaN: the same percentiles over the identified replicates
        lo, hi = np.quantile(b[:, ok], [(1 - level) / 2, (1 + level) / 2], axis=1)
    ci = {k: (float(lo[i]), float(hi[i])) for i, k in enumerate(names)}
    with np.errstate(over="ignore"):  # a near-degenerate draw's coef can reach inf
        se = {
            k: float(np.std(b[i, ok], ddof=1)) if used > 1 else math.nan
            for i, k in enumerate(names)
        }
    return ci, se, used


# --------------------------------------------------------------------------- leave one cell out


def _landscape(lr: np.ndarray, batch: np.ndarray, loss: np.ndarray):
    """Piecewise-linear interpolant of the loss over the triangulated ``(log lr, log B)`` runs.

    Runs at the same point are averaged.  Returns ``f(lr, batch)`` (NaN outside
    the convex hull of the runs), or None when the runs span no area.
    """
    from scipy.interpolate import LinearNDInterpolator
    from scipy.spatial import QhullError

    pts = np.column_stack([np.log(lr), np.log(batch)])
    uniq, inv = np.unique(pts, axis=0, return_inverse=True)
    inv = np.asarray(inv).ravel()
    mean = np.bincount(inv, weights=loss) / np.bincount(inv)
    try:
        interp = LinearNDInterpolator(uniq, mean)
    except (QhullError, ValueError):
        return None

    def f(lr_: float, batch_: float) -> float:
        return float(interp(np.log(lr_), np.log(batch_)))

    return f


@dataclass(frozen=True)
class LeaveOneOut:
    """Leave-one-cell-out check of the fitted laws.

    Per held-out cell (``rows``): the LR and batch predicted by the laws
    fitted on the other located cells, their ratio to the located optimum,
    and the loss penalty ``L(pred) / L_best - 1`` where ``L`` is the cell's
    measured landscape interpolated piecewise-linearly over the triangulated
    runs in ``(log lr, log B)`` and ``L_best`` its best measured run (so the
    penalty is >= 0; NaN when the prediction falls outside the tested
    range).  ``located_penalty`` is the same at the located optimum (the
    floor set by run-to-run noise), ``published_penalty`` at the Step-Law
    published prediction.
    """

    rows: list[dict[str, Any]]

    def _mean(self, key: str) -> float:
        vals = [r[key] for r in self.rows if r.get(key) is not None and math.isfinite(r[key])]
        return float(np.mean(vals)) if vals else math.nan

    @property
    def mean_penalty(self) -> float:
        """Mean loss penalty of the predicted optimum (a fraction), over cells inside the grid."""
        return self._mean("penalty")

    @property
    def max_penalty(self) -> float:
        vals = [r["penalty"] for r in self.rows if r["penalty"] is not None]
        vals = [v for v in vals if math.isfinite(v)]
        return float(max(vals)) if vals else math.nan

    @property
    def n_outside(self) -> int:
        """Held-out cells whose predicted optimum lies outside the tested range."""
        return sum(1 for r in self.rows if r["penalty"] is None or not math.isfinite(r["penalty"]))

    def summary(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {
            "n_cells": len(self.rows),
            "n_outside": self.n_outside,
            "mean_penalty": clean(self.mean_penalty),
            "max_penalty": clean(self.max_penalty),
            "mean_located_penalty": clean(self._mean("located_penalty")),
            "mean_published_penalty": clean(self._mean("published_penalty")),
            "rms_log_lr_error": clean(
                float(np.sqrt(np.mean([math.log(r["lr_ratio"]) ** 2 for r in self.rows])))
                if self.rows
                else math.nan
            ),
            "rms_log_batch_error": clean(
                float(np.sqrt(np.mean([math.log(r["batch_ratio"]) ** 2 for r in self.rows])))
                if self.rows
                else math.nan
            ),
        }


def leave_one_cell_out(
    grid: Grid,
    cells: Sequence[CellOptimum],
    lr_form: str | Sequence[str] = "N,D",
    batch_form: str | Sequence[str] = "D",
) -> LeaveOneOut:
    """Hold out each located cell, refit both laws on the others, predict it.

    See :class:`LeaveOneOut` for what is reported.  Cells whose held-out fit
    is undetermined (e.g. the only cell with its N) are skipped.
    """
    lr_form, batch_form = parse_form(lr_form), parse_form(batch_form)
    ok = [c for c in cells if c.located]
    runs = {(n, d): i for n, d, i in grid.cells()}
    NN = np.array([c.N for c in ok])
    DD = np.array([c.D for c in ok])
    lr_opt = np.log([c.lr for c in ok])
    b_opt = np.log([c.batch for c in ok])
    step = PUBLISHED["step-law"]
    rows = []
    for k, cell in enumerate(ok):
        keep = np.arange(len(ok)) != k
        preds = []
        for form, target in ((lr_form, lr_opt), (batch_form, b_opt)):
            design = np.column_stack([np.ones(keep.sum()), _variables(form, NN[keep], DD[keep])])
            coef = _ols(design, target[keep]) if keep.sum() > len(form) + 1 else None
            if coef is None:
                break
            row = np.concatenate([[1.0], _variables(form, NN[k : k + 1], DD[k : k + 1])[0]])
            preds.append(float(np.exp(row @ coef)))
        if len(preds) < 2:
            continue
        idx = runs[(cell.N, cell.D)]
        land = _landscape(grid.lr[idx], grid.batch[idx], grid.loss[idx])
        best = float(grid.loss[idx].min())

        def penalty(lr_: float, b_: float, land=land, best=best) -> float | None:
            if land is None:
                return None
            val = land(lr_, b_)
            return val / best - 1 if math.isfinite(val) else None

        pub = (step.lr(N=cell.N, D=cell.D), step.batch(D=cell.D))  # type: ignore[union-attr]
        rows.append(
            {
                "N": cell.N,
                "D": cell.D,
                "lr_pred": preds[0],
                "batch_pred": preds[1],
                "lr_opt": cell.lr,
                "batch_opt": cell.batch,
                "lr_ratio": preds[0] / cell.lr,
                "batch_ratio": preds[1] / cell.batch,
                "penalty": penalty(*preds),
                "located_penalty": penalty(cell.lr, cell.batch),
                "published_penalty": penalty(*pub),
            }
        )
    return LeaveOneOut(rows)


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

        return _clean(
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
