r"""Plan a pretraining run: peak LR, batch size and LR schedule from N and D.

:func:`make_plan` ties the pieces of lrlaw together:

1. **Peak LR and batch size** from an optimal-hyper-parameter law
   (:mod:`lrlaw.plan.hparams`): Step-Law by default, DeepSeek LLM, the Power
   scheduler, or a law fitted with ``lrlaw hparams fit``; or given.  The batch
   is rounded to whole sequences, and the run has
   ``T = round(D / (batch_seqs * seq_len))`` steps with a linear warmup
   (default 1 % of ``T``, a common choice that no law here derives).
2. **Candidate schedules** at that peak: cosine to peak/10, WSD with a 20 %
   linear, a 20 % 1-sqrt and a 10 % linear decay to 0 and, with a fitted
   loss-curve law, the best WSD of :func:`lrlaw.plan.optimal.optimize`
   (``family="wsd"``) and its free-form optimum.
3. **Predicted loss curves** of every candidate from a loss-curve law fitted
   with ``lrlaw fit`` (:class:`~lrlaw.fitting.core.FitResult`), ranked by
   :func:`lrlaw.plan.compare.compare_schedules`.

**A law fitted at one peak LR, used at another.**  The momentum and
multi-power laws predict a schedule from its LR values, so they can be asked
about any peak, but they do not model how the loss depends on the peak LR:
they were fitted, and validated, on curves that share one peak.  Far from it
their predictions are artefacts.  With the warmup counted in ``S2`` / ``LD``
(the default), the warmup's contribution -- absorbed into ``L0`` at the
fitted peak -- grows with the peak, so a constant schedule is predicted to get
*worse* at a higher peak; without it (momentum law, ``--s2-warmup ignore``)
the prediction keeps falling as the peak grows (a cosine at 16x the fitted
peak is predicted far below any loss ever measured).

With ``predict_at="fit"`` (default) the candidates are therefore predicted
with their LRs scaled to the fitted curves' peak (same shapes, same steps):
the law ranks the *shapes* where it was fitted, while the reported schedules
stay at the suggested peak.  With ``predict_at="suggested"`` they are
predicted as they will be run, at the suggested peak, and the plan warns when
that peak is more than a factor 2 from the fitted one: the ranking can flip
(a momentum law fitted at 3e-4 and asked about 2.5e-3 ranks cosine above
every WSD variant).  When the fitted peak is unknown (a fit saved before
lrlaw recorded each curve's ``peak_lr``, and no ``fit_peak``), the candidates are
predicted at the suggested peak, with a warning.  Either way the absolute
predicted losses belong to the model and data the law was fitted on, not to
the planned N and D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw.errors import LrlawError
from lrlaw.plan.hparams import PUBLISHED, HParamFit, Suggestion, suggest, suggestion_table

if TYPE_CHECKING:
    from lrlaw.fitting import FitResult
    from lrlaw.plan.compare import ScheduleComparison
    from lrlaw.schedules import Schedule

__all__ = [
    "CANDIDATES",
    "Plan",
    "fit_peak_lr",
    "make_plan",
]

#: Candidate schedule families built at (peak, total, warmup): name -> description.
CANDIDATES: dict[str, str] = {
    "cosine": "cosine to peak/10",
    "wsd-linear-20": "WSD, linear decay to 0 over the last 20 %",
    "wsd-sqrt-20": "WSD, 1-sqrt decay to 0 over the last 20 %",
    "wsd-linear-10": "WSD, linear decay to 0 over the last 10 %",
}
EXTRAPOLATION_FACTOR = 2.0


def _candidate(name: str, peak: float, total: int, warmup: int) -> Schedule:
    from lrlaw import schedules

    if name == "cosine":
        return schedules.cosine(peak, total, final=float(f"{peak / 10:.4g}"), warmup=warmup)
    shape, frac = name.split("-")[1], int(name.split("-")[2]) / 100
    return schedules.wsd(peak, total, decay_frac=frac, shape=shape, warmup=warmup)


def fit_peak_lr(fit: FitResult) -> float | None:
    """Largest peak LR among the curves ``fit`` was fitted on.

    From each curve's schedule spec, or else from the largest LR of its schedule
    (recorded by :func:`lrlaw.fitting.core.fit` as ``peak_lr``, e.g. for an ``lr``
    column).  ``None`` when a curve has neither (fits saved before ``peak_lr``
    was recorded).
    """
    from lrlaw.schedules import parse_schedule

    peaks = []
    for c in fit.curves:
        try:
            peak = parse_schedule(str(c.get("schedule", ""))).peak
        except LrlawError:
            peak = None
        if peak is None:
            peak = c.get("peak_lr")
        if peak is None:
            return None
        peaks.append(float(peak))
    return max(peaks) if peaks else None


@dataclass
class Plan:
    """A planned run (see :func:`make_plan`); :meth:`report` is the text report."""

    N: float
    D: float
    seq_len: int
    compute: float
    source: str  # where peak and batch come from
    peak: float
    batch_seqs: int
    steps: int
    warmup: int
    suggestions: list[Suggestion]
    schedules: dict[str, Schedule]  # at the suggested peak, ranked best first when predicted
    law: str | None = None  # loss-curve law used for predictions
    fit_peak: float | None = None
    predict_peak: float | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)  # predictions, unranked
    level: float = 0.9
    comparison: ScheduleComparison | None = None  # the spec candidates, for compute-to-match
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def batch_tokens(self) -> int:
        return self.batch_seqs * self.seq_len

    @property
    def tokens(self) -> int:
        """Tokens actually trained: steps x batch."""
        return self.steps * self.batch_tokens

    def ranking(self) -> list[dict[str, Any]]:
        """Candidates with predicted final loss, band and gap to the best, best first."""
        if not self.rows:
            return []
        rows = [dict(r) for r in self.rows]
        rows.sort(key=lambda r: r["final_loss"])
        best = rows[0]["final_loss"]
        for k, r in enumerate(rows, start=1):
            r["rank"] = k
            r["gap_pct"] = 100 * (r["final_loss"] - best) / best
        return rows

    def report(self) -> str:
        """Plain-text report: hyper-parameters, law comparison, ranked schedules, notes."""
        lines = [
            f"Plan for N = {self.N:.4g} parameters, D = {self.D:.4g} tokens "
            f"(C = {self.compute:.4g} FLOPs), sequences of {self.seq_len} tokens",
            "",
            f"peak LR {self.peak:.4g}, batch {self.batch_seqs} sequences = {self.batch_tokens} "
            f"tokens, {self.steps} steps (warmup {self.warmup}) = {self.tokens:.4g} tokens; "
            f"from {self.source}",
            "",
            "what each law gives:",
            suggestion_table(
                self.suggestions, self.N, self.D, self.seq_len, self.compute, header=False
            ),
            "",
        ]
        ranking = self.ranking()
        if ranking:
            where = (
                f"at the suggested peak {self.peak:.4g}"
                if self.predict_peak == self.peak
                else f"with LRs scaled to the fitted curves' peak {self.predict_peak:.4g}"
            )
            fitted_at = f"{self.fit_peak:.4g}" if self.fit_peak else "unknown"
            lines.append(
                f"candidate schedules, predicted by the {self.law} law (fitted at peak LR "
                f"{fitted_at}) {where}; final loss at step {self.steps}:"
            )
            has_band = any(math.isfinite(r["band"][0]) for r in ranking)
            level = f"{100 * self.level:.0f} %"
            head = ["rank", "schedule", "final loss"] + ([f"{level} band"] if has_band else [])
            ref = None if self.comparison is None else self.comparison.reference
            head += ["gap %"] + ([f"{ref} needs"] if ref else [])
            body = []
            for r in ranking:
                cells = [str(r["rank"]), r["name"], f"{r['final_loss']:.4f}"]
                if has_band:
                    lo, hi = r["band"]
                    cells.append(f"{lo:.4f}-{hi:.4f}" if math.isfinite(lo) else "-")
                cells.append("-" if r["rank"] == 1 else f"+{r['gap_pct']:.2f} %")
                if ref is None:
                    pass
                elif r["name"] == ref:
                    cells.append("(ref)")
                elif r["name"] == "free-form":
                    cells.append("-")
                elif r["match_pct"] is None:
                    cells.append("out of range")
                else:
                    cells.append(f"{r['match_pct']:+.1f} % steps")
                body.append(cells)
            widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
            for cells in [head, *body]:
                lines.append(
                    "  ".join(
                        c.ljust(w) if i == 1 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(cells, widths))
                    ).rstrip()
                )
            if ref:
                lines.append(
                    f"'{ref} needs': steps {ref} (the best spec schedule, rescaled; warmup fixed) "
                    "needs to reach that final loss, relative to the run (as in lrlaw compare)"
                )
            lines.append("")
        else:
            lines += ["candidate schedules (no loss-curve law given: not predicted):", ""]
        lines.append("schedules (at the suggested peak):")
        for name, s in self.schedules.items():
            spec = s.spec if not s.spec.startswith("array:") else "per-step array (free-form)"
            lines.append(f"  {name}: {spec}")
        for n in self.notes:
            lines.append(f"note: {n}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary of the plan (schedules as specs; free-form as the LR list)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, list):
                return [clean(x) for x in v]
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v

        scheds = {}
        for name, s in self.schedules.items():
            if s.spec.startswith("array:"):
                scheds[name] = {"lr": s.values().tolist()}
            else:
                scheds[name] = {"spec": s.spec}
        return clean(
            {
                "N": self.N,
                "D": self.D,
                "seq_len": self.seq_len,
                "compute": self.compute,
                "source": self.source,
                "peak_lr": self.peak,
                "batch_seqs": self.batch_seqs,
                "batch_tokens": self.batch_tokens,
                "steps": self.steps,
                "warmup": self.warmup,
                "tokens": self.tokens,
                "suggestions": [s.to_dict() for s in self.suggestions],
                "law": self.law,
                "fit_peak": self.fit_peak,
                "predict_peak": self.predict_peak,
                "ranking": self.ranking(),
                "schedules": scheds,
                "notes": self.notes,
                "warnings": self.warnings,
            }
        )


def _hparams(
    hparams: str | HParamFit, N: float, D: float, C: float, seq_len: int, batch: int | None
) -> tuple[str, float, float]:
    """(source, peak LR, batch in tokens) from a published or fitted law."""
    if isinstance(hparams, HParamFit):
        values = {"N": N, "D": D, "C": C}
        bt = float(batch * seq_len) if batch is not None else hparams.batch.law(**values)
        return f"the fitted law ({hparams.lr.law.formula()})", hparams.lr.law(**values), bt
    if hparams not in PUBLISHED:
        raise LrlawError(f"unknown hyper-parameter law {hparams!r}; known: {', '.join(PUBLISHED)}")
    law = PUBLISHED[hparams]
    if law.batch is None:  # Power scheduler: the LR for a batch (Step-Law's by default)
        bt = float(batch * seq_len) if batch is not None else PUBLISHED["step-law"].batch(D=D)  # type: ignore[union-attr]
        bs = max(1, round(bt / seq_len))
        return f"{law.name} ({law.citation})", law.lr(B=bs, D=D), float(bs * seq_len)
    values = {"N": N, "D": D, "C": C}
    bt = float(batch * seq_len) if batch is not None else law.batch(**values)
    return f"{law.name} ({law.citation})", law.lr(**values), bt


def make_plan(
    N: float,
    D: float,
    *,
    seq_len: int = 2048,
    compute: float | None = None,
    hparams: str | HParamFit = "step-law",
    fit: FitResult | None = None,
    peak: float | None = None,
    batch: int | None = None,
    warmup: int | None = None,
    predict_at: str = "fit",
    fit_peak: float | None = None,
    optimize_schedule: bool = True,
    iters: int | None = None,
    level: float = 0.9,
    compute_to_match: bool = True,
) -> Plan:
    """Suggest peak LR and batch size for N, D, build candidate schedules and rank them.

    Args:
        N: non-embedding parameters; D: training tokens; seq_len: tokens per
            sequence; compute: FLOPs (default ``6 N D``).
        hparams: ``"step-law"`` (default), ``"deepseek"``, ``"power"``, or an
            :class:`~lrlaw.plan.hparams.HParamFit` (``lrlaw hparams fit --out``).
        fit: a loss-curve law (``lrlaw fit --out``) to predict the candidates;
            without it the plan only builds them.
        peak, batch: override the suggested peak LR / batch (sequences).
        warmup: warmup steps (default ``round(0.01 T)``, at least 1).
        predict_at: ``"fit"`` (default) or ``"suggested"``: the peak the
            candidates are predicted at (see the module doc).
        fit_peak: the peak LR of the curves ``fit`` was fitted on (default:
            read from their schedule specs).
        optimize_schedule: add the optimised WSD and free-form schedules
            (:func:`lrlaw.plan.optimal.optimize`; ``iters`` caps its L-BFGS
            iterations, default: optimize's own).
        level: level of the prediction bands (fits with a bootstrap).
        compute_to_match: add the steps the best spec candidate needs to reach
            each candidate's loss (:func:`lrlaw.plan.compare.compare_schedules`; a
            bisection over run lengths that costs seconds of compilation).

    Raises:
        LrlawError: bad sizes, a run shorter than its warmup, or an unknown law.
    """
    for name, v in (("N", N), ("D", D)):
        if not (isinstance(v, (int, float, np.number)) and math.isfinite(v) and v > 0):
            raise LrlawError(f"{name}={v!r} must be a number > 0")
    if isinstance(seq_len, bool) or int(seq_len) != seq_len or seq_len < 1:
        raise LrlawError(f"seq_len={seq_len!r} must be a positive integer")
    if predict_at not in ("fit", "suggested"):
        raise LrlawError(f"predict_at={predict_at!r} must be 'fit' or 'suggested'")
    if peak is not None and not (math.isfinite(peak) and peak > 0):
        raise LrlawError(f"peak={peak!r} must be > 0")
    if batch is not None and (int(batch) != batch or batch < 1):
        raise LrlawError(f"batch={batch!r} must be a whole number of sequences >= 1")
    C = float(compute) if compute is not None else 6.0 * float(N) * float(D)
    source, lr_law, bt = _hparams(hparams, float(N), float(D), C, int(seq_len), batch)
    batch_seqs = int(batch) if batch is not None else max(1, round(bt / seq_len))
    lr_law = float(f"{lr_law:.3g}")  # a plan states a usable LR, not 16 digits
    if peak is not None:
        source = f"given peak LR; batch from {source}" if batch is None else "given peak and batch"
        lr_law = float(peak)
    elif batch is not None:
        source += f", at the given batch of {batch_seqs} sequences"
    steps = round(float(D) / (batch_seqs * seq_len))
    if steps < 10:
        raise LrlawError(
            f"D={D:g} tokens at {batch_seqs} x {seq_len} tokens per step is only {steps} steps; "
            "expected at least 10"
        )
    w = max(1, round(0.01 * steps)) if warmup is None else int(warmup)
    if not 0 <= w < steps:
        raise LrlawError(f"warmup={w} must be in [0, {steps}) (the run has {steps} steps)")
    suggestions = suggest(
        float(N),
        float(D),
        seq_len=int(seq_len),
        compute=compute,
        batch=batch,
        fitted=hparams if isinstance(hparams, HParamFit) else None,
    )
    plan = Plan(
        N=float(N),
        D=float(D),
        seq_len=int(seq_len),
        compute=C,
        source=source,
        peak=float(lr_law),
        batch_seqs=batch_seqs,
        steps=int(steps),
        warmup=w,
        suggestions=suggestions,
        schedules={n: _candidate(n, lr_law, steps, w) for n in CANDIDATES},
    )
    if isinstance(hparams, HParamFit):
        for s in suggestions:
            if s.name == "fitted" and "extrapolates" in s.note:
                plan.warnings.append(f"the fitted hyper-parameter law {s.note.split('; ', 1)[1]}")
    if fit is None:
        plan.notes.append("no loss-curve law given (fit): the candidates are not predicted")
        return plan
    _predict(plan, fit, predict_at, fit_peak, optimize_schedule, iters, level, compute_to_match)
    return plan


def _predict(
    plan: Plan,
    fit: FitResult,
    predict_at: str,
    fit_peak: float | None,
    optimize_schedule: bool,
    iters: int | None,
    level: float,
    compute_to_match: bool,
) -> None:
    from lrlaw import schedules
    from lrlaw.plan.compare import compare_schedules

    if fit_peak is not None and not fit_peak > 0:
        raise LrlawError(f"fit_peak={fit_peak!r} must be > 0")
    fp = fit_peak if fit_peak is not None else fit_peak_lr(fit)
    plan.law, plan.fit_peak = fit.law, fp
    T, W = plan.steps, plan.warmup
    if fp is None:
        p_pred = plan.peak
        plan.warnings.append(
            "the peak LR of the curves the loss-curve law was fitted on is unknown (their "
            "schedules are not specs): the candidates are predicted at the suggested peak; "
            "give fit_peak (--fit-peak) to rank them at the fitted peak"
        )
    else:
        ratio = plan.peak / fp
        far = not 1 / EXTRAPOLATION_FACTOR <= ratio <= EXTRAPOLATION_FACTOR
        p_pred = fp if predict_at == "fit" else plan.peak
        if predict_at == "fit" and ratio != 1:
            plan.notes.append(
                f"the suggested peak LR {plan.peak:.4g} is {ratio:.3g}x the peak LR of the curves "
                f"the {fit.law} law was fitted on ({fp:.4g}); the candidates are predicted with "
                "their LRs scaled to the fitted peak (the law ranks their shapes where it was "
                "fitted); the schedules listed are at the suggested peak"
            )
        elif far:
            plan.warnings.append(
                f"the suggested peak LR {plan.peak:.4g} is {ratio:.3g}x the peak LR of the "
                f"curves the {fit.law} law was fitted on ({fp:.4g}): the law extrapolates in LR "
                "(it does not model how the loss depends on the peak) and its ranking of "
                "shapes can change; predict_at='fit' (--predict-at fit) ranks the shapes at the "
                "fitted peak"
            )
    plan.predict_peak = p_pred
    plan.notes.append(
        f"predicted losses are those of the model and data the {fit.law} law was fitted on "
        f"(at {T} steps); they rank schedule shapes, not losses of the planned model"
    )
    names = list(CANDIDATES)
    pred_scheds = [_candidate(n, p_pred, T, W) for n in names]
    extra = []  # (name, schedule) predicted but not rescalable (free-form)
    scale = plan.peak / p_pred
    if optimize_schedule:
        from lrlaw.plan.optimal import optimize

        info = optimize(fit, T, p_pred, W, family="wsd").info
        # Rounded to 4 digits for a readable spec; the prediction uses the same rounded shape.
        frac = float(f"{info['decay_frac']:.4g}")
        final = float(f"{info['final'] * scale:.4g}")
        kw = {"decay_frac": frac, "shape": info["shape"], "warmup": W}
        names.append("optimised-wsd")
        pred_scheds.append(schedules.wsd(p_pred, T, final=final / scale, **kw))
        plan.schedules["optimised-wsd"] = schedules.wsd(plan.peak, T, final=final, **kw)
        free = optimize(fit, T, p_pred, W, **({} if iters is None else {"iters": iters}))
        lr = free.schedule.values()
        plan.schedules["free-form"] = schedules.from_array(lr * scale, spec=f"array:n={lr.size}")
        extra.append(("free-form", free.schedule))
    has_band = fit.uncertainty is not None and fit.uncertainty.n_boot > 0
    plan.level = level
    final_step = np.array([T])
    for name, sched in [*zip(names, pred_scheds), *extra]:
        values = sched.values()
        band = [math.nan, math.nan]
        if has_band:
            lo, hi = fit.predict_band(values, final_step, level)
            band = [float(lo[0]), float(hi[0])]
        final = float(fit.predict(values, final_step)[0])
        plan.rows.append({"name": name, "final_loss": final, "band": band, "match_pct": None})
    if compute_to_match:
        plan.comparison = compare_schedules(fit, pred_scheds, level=level, names=names)
        match = {r.name: r.match_pct for r in plan.comparison.rows}
        for row in plan.rows:
            row["match_pct"] = match.get(row["name"])
    order = [r["name"] for r in plan.ranking()]
    plan.schedules = {n: plan.schedules[n] for n in order}
