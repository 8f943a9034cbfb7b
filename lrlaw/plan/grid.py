"""The hyper-parameter grid: reading it, and locating the optimum ``(eta*, B*)`` of each cell.

A grid holds runs of model size ``N``, training tokens ``D``, learning rate ``eta``,
batch size ``B`` and a final loss (:func:`read_grid`: the Step-Law columns by default).
:func:`locate_optimum` finds each ``(N, D)`` cell's optimum (``method``):

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
- ``"near"``: Step-Law's near-optimal set (Li et al. 2025, arXiv:2503.04715): the
  runs within ``tol`` (default 0.25 %) of the best loss; the optimum is their
  geometric mean LR and batch.
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
(non-embedding) parameters.

Imports: :mod:`lrlaw.io` (the table reader) and the base modules; numpy and scipy only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw.errors import DataError, LrlawError

if TYPE_CHECKING:
    pass

__all__ = [
    "METHODS",
    "CellOptimum",
    "Grid",
    "locate_optima",
    "locate_optimum",
    "read_grid",
]


METHODS = ("quadratic", "near", "best")


_LOG_TOL = 0.01  # two LRs (batch sizes) within 1 % are the same grid value


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
