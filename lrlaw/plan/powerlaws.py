r"""Power laws of the optimal LR and batch size: the published ones, fitting, and checking.

:func:`fit_power_law` fits a power law to the located optima by least squares in log
space, by default

.. math:: \eta^* = c\,N^{a} D^{b}, \qquad B^* = d\,D^{g},

the forms of Step-Law (Li et al. 2025, arXiv:2503.04715), with percentile bootstrap
intervals over cells (:func:`scipy.stats.bootstrap`).  :func:`leave_one_cell_out`
predicts each held-out cell's optimum from the other cells and reads the loss of that
prediction off the cell's measured landscape.  :data:`PUBLISHED` holds the laws of
Step-Law, DeepSeek LLM (Bi et al. 2024) and the Power scheduler (Shen et al. 2024).
Compute is ``C = 6 N D`` FLOPs.

Imports: :mod:`lrlaw.plan.grid` and the base modules; numpy and scipy only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw.errors import FitError, LrlawError
from lrlaw.plan.grid import CellOptimum, Grid

if TYPE_CHECKING:
    pass

__all__ = [
    "PUBLISHED",
    "VARIABLES",
    "LawFit",
    "LeaveOneOut",
    "PowerLaw",
    "PublishedLaw",
    "fit_power_law",
    "leave_one_cell_out",
    "parse_form",
]


VARIABLES = ("N", "D", "C")  # model size, tokens, compute (6 N D FLOPs)


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


def json_ready(v: Any) -> Any:
    """Nested JSON-ready copy with non-finite floats as None."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: json_ready(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_ready(x) for x in v]
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
