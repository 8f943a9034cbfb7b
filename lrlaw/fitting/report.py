"""Fit reports in the spirit of lmfit's ``fit_report()``: text and HTML.

Information criteria use the Gaussian approximation with the Huber objective
in place of half the residual sum of squares (exact when every residual is
within ``delta``)::

    AIC = n log(2 J / n) + 2 k,        BIC = n log(2 J / n) + k log n

for ``n`` fitted points, ``k`` parameters and objective ``J``.  Compare them
only between fits on the same points.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw.fitting.metrics import METRICS, mean_metrics, metrics_table

if TYPE_CHECKING:
    from lrlaw.fitting.core import FitResult

__all__ = [
    "information_criteria",
    "report_dict",
    "report_html",
    "report_text",
    "window_lines",
]


def information_criteria(objective: float, n: int, k: int) -> dict[str, float]:
    """``{"aic", "bic"}`` from the Huber objective (see module docstring)."""
    if n <= 0 or objective <= 0:
        return {"aic": float("nan"), "bic": float("nan")}
    base = n * np.log(2.0 * objective / n)
    return {"aic": float(base + 2 * k), "bic": float(base + k * np.log(n))}


def report_dict(result: FitResult) -> dict[str, Any]:
    """Everything in the report as plain JSON-ready values."""
    k = len(result.params)
    stderr = result.stderr
    if stderr is not None:  # JSON-ready: no NaN (an unidentified parameter has no error)
        stderr = {n: (None if np.isnan(v) else v) for n, v in stderr.items()}
    out: dict[str, Any] = {
        "law": result.law,
        "options": result.options,
        "reference": result.law_object.reference,
        "params": result.params,
        "stderr": stderr,
        "unidentified": result.unidentified,
        "objective": result.objective,
        "n_points": result.n_points,
        **information_criteria(result.objective, result.n_points, k),
        "converged": result.converged,
        "curves": result.curves,
        "mean": result.mean_metrics,
        "warnings": list(result.warnings),
    }
    u = result.uncertainty
    if u is not None and u.n_boot > 1:
        names = list(result.params)
        corr = u.correlations()
        out["correlations"] = {
            f"{names[i]}~{names[j]}": float(corr[i, j])
            for i in range(k)
            for j in range(i + 1, k)
            if np.isfinite(corr[i, j])
        }
        out["bootstrap"] = {
            "scheme": u.scheme,
            "replicates": u.n_boot,
            "converged": u.converged,
            "blocks": u.blocks,
            "error_source": u.error_source,
            "median_abs_error": float(np.median(np.abs(u.errors))) if u.errors.size else None,
            "band_mc_error": u.mc_error,
            "curve_term": (
                None
                if u.curve_params is None
                else f"jackknife of {len(u.curve_params)} leave-one-curve-out refits"
            ),
        }
    return out


def report_text(result: FitResult) -> str:
    """The text report printed by ``lrlaw fit``."""
    d = report_dict(result)
    opts = ", ".join(f"{k}={v}" for k, v in result.options.items())
    lines = [
        f"law          {result.law}{f' ({opts})' if opts else ''}",
        f"reference    {d['reference']}",
        f"points       {result.n_points} on {len(result.curves)} curve(s)",
        f"objective    {result.objective:.6g}  (sum of Huber, delta={result.delta:g}, on log loss)",
        f"AIC / BIC    {d['aic']:.2f} / {d['bic']:.2f}",
        f"solver       {_solver_line(result)}",
        "parameters" + ("   value ± bootstrap standard error" if d["stderr"] else ""),
    ]
    for name, value in result.params.items():
        if name in d["unidentified"]:  # no ± figure: the curves do not determine it
            lines.append(f"  {name:<8} {value:12.6g}   not identified (see the warnings)")
            continue
        err = d["stderr"][name] if d["stderr"] else None
        rel = f"  ({100 * err / abs(value):.1f} %)" if err is not None and value else ""
        lines.append(
            f"  {name:<8} {value:12.6g}" + (f" ± {err:.3g}{rel}" if err is not None else "")
        )
    if "correlations" in d:
        strong = {k: v for k, v in d["correlations"].items() if abs(v) >= 0.5}
        lines.append("correlations (|r| >= 0.5)")
        lines += [
            f"  {k:<16} {v:+.3f}" for k, v in sorted(strong.items(), key=lambda kv: -abs(kv[1]))
        ]
        if not strong:
            lines.append("  none")
        b = d["bootstrap"]
        how = {
            "block": " (moving blocks within every curve, one linearised refit step each; "
            "no curve is dropped, so every replicate fits every schedule)",
            "block+horizon": " (moving blocks within every curve, one linearised refit step "
            "each; the error term grows past the fitted horizon as the forward split measured)",
            "block+deflate": " (moving blocks within every curve, one linearised refit step "
            "each; held-out errors shrunk by their noise and their refit's own variance)",
            "block+horizon+deflate": " (moving blocks within every curve, one linearised refit "
            "step each; the error term grows past the fitted horizon, held-out errors shrunk "
            "by their noise and their refit's own variance)",
            "curve+block": " (curves and moving blocks within them)",
        }.get(b["scheme"], "")
        lines.append(
            f"uncertainty  {b['replicates']} {b['scheme']} bootstrap replicates{how} "
            f"({100 * b['converged']:.0f} % converged; blocks {b['blocks']})"
            + (f"; curve-level term: {b['curve_term']}" if b.get("curve_term") else "")
            + f"; out-of-sample errors from {b['error_source']}"
            + (
                f", median |error| {100 * b['median_abs_error']:.3f} %"
                if b["median_abs_error"] is not None
                else ""
            )
        )
        mc = b["band_mc_error"]
        if mc is not None:
            lines.append(
                f"band error   Monte-Carlo error of the {100 * mc['level']:.0f} % band edges from "
                f"{b['replicates']} replicates (split halves): {100 * mc['edge']:.3f} % of the "
                f"loss (rms; at most {100 * mc['edge_max']:.3f} %), "
                f"{100 * mc['width_share']:.1f} % of the band's width (rms)"
            )
    lines += window_lines(result.curves)
    lines.append(metrics_table(result.curves, "in-sample metrics (fit window, outliers left out)"))
    if result.selection:
        lines.append(result.selection.get("report", ""))
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def window_lines(curves: list[dict[str, Any]]) -> list[str]:
    """The fit window, noise and law residual of each curve, and the start transients left out.

    Noise is per logged value and per fitted point (a bin mean of ``n`` values has
    ``1/sqrt(n)`` of it), estimated from the log (:func:`lrlaw.fitting.weighting.noise_level`);
    the law residual is what the residuals have beyond that noise,
    ``sqrt(mean(r^2) - mean(sigma_i^2))``.  Fits saved before lrlaw recorded these
    give no lines.
    """
    rows = [c for c in curves if "window" in c]
    if not rows:
        return []
    w = max([17, *(len(str(c["name"])) for c in rows)])

    def pct(v: float | None) -> str:
        return "      ?" if v is None else f"{100 * v:6.3f}%"

    out = [
        "fit window and noise (noise estimated from the log; relative, per logged value and "
        "per fitted point)",
        f"{'run':<{w}} {'steps':>15} {'noise':>7} {'/point':>7} {'law beyond noise':>17}",
    ]
    for c in rows:
        lo, hi = c["window"]
        out.append(
            f"{c['name']:<{w}} {f'{lo}..{hi}':>15} {pct(c.get('noise'))} "
            f"{pct(c.get('noise_per_point'))} {pct(c.get('law_residual')):>17}"
        )
    for c in rows:
        t = c.get("transient")
        if t:
            off = f"{t['max_loss']:.4g}, {100 * t['max_excess']:.0f} % off the law"
            where = (
                f"step {t['from_step']} (1 point, loss {off})"
                if t["points"] == 1
                else f"steps {t['from_step']}..{t['to_step']} ({t['points']} points, loss up to "
                f"{off.replace(', ', ', up to ')})"
            )
            out.append(
                f"note: start transient of {c['name']} left out of the fit: {where}; "
                "--min-step sets the window instead"
            )
    return out


def _solver_line(result: FitResult) -> str:
    status = "converged" if result.converged else "NOT converged"
    if result.screened:
        starts = f"{result.n_starts} starts screened, the best one polished"
    else:
        starts = (
            f"{result.n_converged}/{result.n_starts} starts converged, "
            f"{result.n_near_best} reached the best objective"
        )
    return f"{status} after {result.num_steps} steps; {starts}"


def report_html(result: FitResult) -> str:
    """A compact HTML report (used as the notebook representation of a result)."""
    d = report_dict(result)
    esc = html.escape
    stderr = d["stderr"] or {}
    rows = "".join(
        f"<tr><td>{esc(k)}</td><td>{v:.6g}</td>"
        + (
            "<td>not identified</td>"
            if k in d["unidentified"]
            else f"<td>± {stderr[k]:.3g}</td>"
            if stderr.get(k) is not None
            else "<td></td>"
        )
        + "</tr>"
        for k, v in result.params.items()
    )
    head = "".join(f"<th>{m}</th>" for m in ("run", "n", *METRICS))
    body = ""
    for c in [
        *result.curves,
        {"name": "mean", "metrics": mean_metrics([c["metrics"] for c in result.curves])},
    ]:
        m = c["metrics"]
        body += (
            f"<tr><td>{esc(str(c['name']))}</td><td>{m['n']}</td>"
            + "".join(f"<td>{m[k]:.4g}</td>" for k in METRICS)
            + "</tr>"
        )
    warn = "".join(f"<li>{esc(w)}</li>" for w in result.warnings)
    return (
        f"<div><b>{esc(result.law)} law</b> — {esc(d['reference'])}<br>"
        f"{result.n_points} points; objective {result.objective:.4g}; "
        f"AIC {d['aic']:.1f}, BIC {d['bic']:.1f}; "
        f"{'converged' if result.converged else '<b>not converged</b>'}"
        f"<table><tr><th>parameter</th><th>value</th><th>stderr</th></tr>{rows}</table>"
        f"<table><tr>{head}</tr>{body}</table>" + (f"<ul>{warn}</ul>" if warn else "") + "</div>"
    )
