r"""Goodness-of-fit metrics for predicted loss curves.

For observed losses :math:`y_j` and predictions :math:`\hat y_j` on one curve:

- ``r2``     = 1 - sum (y - yhat)^2 / sum (y - mean y)^2
- ``mae``    = mean |y - yhat|
- ``rmse``   = sqrt(mean (y - yhat)^2)
- ``prede``  = mean |y - yhat| / y            (PredE, Luo et al. 2025)
- ``worste`` = max |y - yhat| / y             (WorstE, Luo et al. 2025)
- ``final``  = |y_last - yhat_last| / y_last  (relative error at the last step)
- ``bias``   = mean (yhat - y) / y            (signed: > 0 means over-prediction)

Source of PredE/WorstE: Luo et al., "A Multi-Power Law for Loss Curve
Prediction Across Learning Rate Schedules", ICLR 2025 (arXiv 2503.12811).
Across curves we report the plain mean of each metric (so "mean WorstE" is
the mean over curves of each curve's maximum error, as in that paper).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "curve_metrics",
    "mean_metrics",
    "metrics_table",
]

METRICS: tuple[str, ...] = ("r2", "mae", "rmse", "prede", "worste", "final", "bias")


def curve_metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """All of :data:`METRICS` for one curve (see module docstring for formulas)."""
    y = np.asarray(observed, dtype=np.float64)
    yhat = np.asarray(predicted, dtype=np.float64)
    if y.size == 0:
        return {k: float("nan") for k in METRICS} | {"n": 0}
    err = yhat - y
    rel = np.abs(err) / y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan")
    return {
        "n": int(y.size),
        "r2": r2,
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "prede": float(np.mean(rel)),
        "worste": float(np.max(rel)),
        "final": float(rel[-1]),
        "bias": float(np.mean(err / y)),
    }


def mean_metrics(per_curve: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Plain mean over curves of each metric (curves without points are skipped)."""
    rows = [m for m in per_curve if m.get("n", 0) > 0]
    out: dict[str, float] = {"n": int(sum(m["n"] for m in rows))}
    for k in METRICS:
        vals = [m[k] for m in rows if np.isfinite(m[k])]
        out[k] = float(np.mean(vals)) if vals else float("nan")
    return out


def metrics_table(rows: Sequence[Mapping[str, Any]], title: str) -> str:
    """Text table of per-run metrics (``rows``: dicts with ``name``, ``metrics``) and their mean.

    PredE, WorstE and the final-loss error are shown in percent.
    """
    w = max([17, *(len(str(r["name"])) for r in rows)])
    head = (
        f"{'run':<{w}} {'n':>5} {'R2':>8} {'MAE':>8} {'RMSE':>8} "
        f"{'PredE%':>7} {'WorstE%':>8} {'final%':>7}"
    )
    out = [title, head]

    def fmt(name: str, m: Mapping[str, float]) -> str:
        return (
            f"{name:<{w}} {m['n']:>5} {m['r2']:>8.4f} {m['mae']:>8.5f} {m['rmse']:>8.5f} "
            f"{100 * m['prede']:>7.3f} {100 * m['worste']:>8.3f} {100 * m['final']:>7.3f}"
        )

    for row in rows:
        out.append(fmt(str(row["name"]), row["metrics"]))
    if len(rows) > 1:
        out.append(fmt("mean", mean_metrics([r["metrics"] for r in rows])))
    return "\n".join(out)
