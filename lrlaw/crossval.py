r"""Cross-validation of loss-curve laws: how well does a law predict runs it never saw?

Two schemes, for any set of laws:

* **leave-one-curve-out** (LOCO, the default): for every run ``i``, fit the law
  jointly on all the other runs and predict run ``i`` from its schedule alone;
* **split**: fit on a given subset of the runs (e.g. the protocol of Luo et al.
  2025: cosine and constant to 24000 steps and one step decay) and predict the rest.

Each fold is an ordinary :func:`lrlaw.fitting.fit` (robust log-Huber objective,
multistart solved in parallel with ``jax.vmap`` where the law allows, bootstrap
replicates refitted in parallel the same way), so a fold's fit never sees its
held-out run, not even as a starting point.  Every held-out run is scored with
:func:`lrlaw.metrics.curve_metrics` on its default window (PredE, WorstE,
final-loss error, ...) and, when the fold's fit has a bootstrap, with the
*coverage* of the prediction band at ``level``: the fraction of observed points
``y_j`` with ``lo_j <= y_j <= hi_j`` (a 90 % band should cover about 90 %).

A law's cross-validated score is the plain mean over held-out runs (each run is
held out exactly once in LOCO).  With fewer than three runs LOCO is impossible
(one run) or uninformative (fitting one schedule cannot identify a law's annealing
term); the fold is then a joint **forward split**: fit the first 60 % of every
run's points together, predict the rest of each.

Sources: PredE/WorstE and the split protocol, Luo et al., "A Multi-Power Law for
Loss Curve Prediction Across Learning Rate Schedules", ICLR 2025 (arXiv
2503.12811); leave-one-out cross-validation, Stone (1974), J. R. Stat. Soc. B 36.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lrlaw.curves import Curve
from lrlaw.errors import FitError, LrlawError
from lrlaw.fitting import fit
from lrlaw.laws import Law, get_law
from lrlaw.metrics import curve_metrics

__all__ = ["AUTO_LAWS", "CrossValidation", "Fold", "cross_validate", "fit_auto"]

SUMMARY_KEYS = ("prede", "worste", "final", "coverage")

#: Candidates of ``--law auto``.  The convex bound is left out: it cross-validates
#: 5-10x worse than both on every shipped dataset (README, "The laws").
AUTO_LAWS: tuple[str, ...] = ("momentum", "multipower", "efflr")


@dataclass(frozen=True)
class Fold:
    """One fit of one law and its predictions of the runs it did not see.

    Attributes:
        law: the law's label.
        train: names of the runs fitted.
        runs: per held-out run ``{"name", "metrics"}``; ``metrics`` holds
            :func:`~lrlaw.metrics.curve_metrics` plus ``coverage`` (NaN without a band).
        params: the fold's fitted parameters.
        seconds: wall-clock time of the fold's fit (JIT compilation included).
        error: why the fold's fit failed (``None`` if it succeeded).
    """

    law: str
    train: tuple[str, ...]
    runs: tuple[dict[str, Any], ...]
    params: dict[str, float]
    seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary of the fold."""
        return {
            "law": self.law,
            "train": list(self.train),
            "runs": [dict(r) for r in self.runs],
            "params": dict(self.params),
            "seconds": self.seconds,
            "error": self.error,
        }


@dataclass(frozen=True)
class CrossValidation:
    """The folds of a cross-validation and their summary per law.

    Attributes:
        scheme: ``"leave-one-curve-out"``, ``"split"`` or ``"forward split"``.
        laws: the law labels, in the order given.
        folds: every fold of every law.
        level: the prediction-band level whose coverage is reported.
    """

    scheme: str
    laws: tuple[str, ...]
    folds: tuple[Fold, ...]
    level: float

    def held_out(self, law: str) -> list[dict[str, Any]]:
        """Every held-out run of ``law`` (over all its folds)."""
        return [r for f in self.folds if f.law == law for r in f.runs]

    def summary(self) -> dict[str, dict[str, float]]:
        """Per law: mean over held-out runs of PredE, WorstE, final-loss error, coverage.

        Runs whose fold failed count as missing (``failed`` gives their number).
        """
        out = {}
        for law in self.laws:
            rows = [r["metrics"] for r in self.held_out(law) if r["metrics"].get("n", 0) > 0]
            entry: dict[str, float] = {}
            for key in SUMMARY_KEYS:
                vals = [m[key] for m in rows if np.isfinite(m.get(key, np.nan))]
                entry[key] = float(np.mean(vals)) if vals else float("nan")
            entry["runs"] = len(rows)
            entry["failed"] = sum(1 for f in self.folds if f.law == law and f.error)
            out[law] = entry
        return out

    def best(self, metric: str = "prede") -> str:
        """The law with the lowest mean ``metric`` (ties: the first given)."""
        summary = self.summary()
        finite = [law for law in self.laws if np.isfinite(summary[law][metric])]
        if not finite:
            raise FitError(f"no law has a finite cross-validated {metric}")
        return min(finite, key=lambda law: summary[law][metric])

    def table(self) -> str:
        """Text tables: one row per law (means), then one row per held-out run."""
        summary = self.summary()
        w = max([12, *(len(law) for law in self.laws)])
        cov = f"cov{round(100 * self.level)}%"
        lines = [
            f"cross-validation: {self.scheme}; means over held-out runs "
            f"(PredE, WorstE, final in %; {cov}: share of points inside the "
            f"{round(100 * self.level)}% band)",
            f"{'law':<{w}} {'runs':>5} {'PredE%':>7} {'WorstE%':>8} {'final%':>7} {cov:>7}",
        ]
        for law in self.laws:
            s = summary[law]
            failed = f"  ({s['failed']} fold(s) failed)" if s["failed"] else ""
            lines.append(
                f"{law:<{w}} {s['runs']:>5} {_pct(s['prede']):>7} {_pct(s['worste']):>8} "
                f"{_pct(s['final']):>7} {_pct(s['coverage'], 1):>7}{failed}"
            )
        names = list(dict.fromkeys(r["name"] for f in self.folds for r in f.runs))
        rw = max([17, *(len(n) for n in names)])
        cw = max(22, w)
        lines += [
            "",
            f"{'held-out run':<{rw}}" + "".join(f"  {law:>{cw}}" for law in self.laws),
            f"{'':<{rw}}"
            + "".join(f"  {'PredE%':>{cw - 16}} {'final%':>7} {cov:>7}" for _ in self.laws),
        ]
        for name in names:
            cells = ""
            for law in self.laws:
                m = next((r["metrics"] for r in self.held_out(law) if r["name"] == name), None)
                if m is None or not m.get("n"):
                    cells += f"  {'failed':>{cw}}"
                else:
                    cells += (
                        f"  {_pct(m['prede']):>{cw - 16}} {_pct(m['final']):>7} "
                        f"{_pct(m['coverage'], 1):>7}"
                    )
            lines.append(f"{name:<{rw}}{cells}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary: scheme, level, per-law summary and every fold."""
        return {
            "scheme": self.scheme,
            "level": self.level,
            "summary": self.summary(),
            "folds": [f.to_dict() for f in self.folds],
        }


def _pct(x: float, digits: int = 3) -> str:
    return "-" if not np.isfinite(x) else f"{100 * x:.{digits}f}"


def _labels(laws: Sequence[Law]) -> list[str]:
    names = [law.name for law in laws]
    return [
        law.name
        if names.count(law.name) == 1
        else f"{law.name}({','.join(f'{k}={v}' for k, v in law.options.items())})"
        for law in laws
    ]


def _score(result: Any, curve: Curve, mask: np.ndarray, level: float) -> dict[str, float]:
    steps = curve.steps[mask]
    observed = curve.loss[mask]
    pred = result.predict(curve.lr, steps) if steps.size else np.array([])
    metrics = curve_metrics(observed, pred)
    coverage = float("nan")
    if steps.size and result.uncertainty is not None and result.uncertainty.n_boot > 1:
        lo, hi = result.predict_band(curve.lr, steps, level)
        coverage = float(np.mean((observed >= lo) & (observed <= hi)))
    return metrics | {"coverage": coverage}


def _forward_split(curve: Curve, min_step: int | None) -> tuple[Curve, np.ndarray]:
    """The first 60 % of the curve's window as a curve, and the mask of the rest."""
    window = np.flatnonzero(curve.window(min_step))
    if window.size < 10:
        raise FitError(
            f"{curve.name}: {window.size} point(s) in the fit window; a forward split "
            "needs at least 10"
        )
    cut = window[int(0.6 * window.size)]
    keep = np.ones(curve.loss.size, dtype=bool)
    keep[cut:] = False
    head = replace(
        curve,
        steps=curve.steps[keep],
        loss=curve.loss[keep],
    )
    rest = np.zeros(curve.loss.size, dtype=bool)
    rest[window[window >= cut]] = True
    return head, rest


def _fold(
    law: Law,
    label: str,
    fit_on: list[Curve],
    held: list[tuple[Curve, np.ndarray]],
    min_step: int | None,
    bootstrap: int,
    seed: int,
    level: float,
) -> Fold:
    """Fit ``law`` on ``fit_on`` and score the held-out (curve, mask) pairs."""
    train = tuple(c.name for c in fit_on)
    start = time.perf_counter()
    try:
        result = fit(fit_on, law, min_step=min_step, bootstrap=bootstrap, seed=seed)
    except FitError as exc:
        empty = curve_metrics(np.array([]), np.array([])) | {"coverage": float("nan")}
        runs = tuple({"name": c.name, "metrics": empty} for c, _ in held)
        return Fold(label, train, runs, {}, time.perf_counter() - start, error=str(exc))
    seconds = time.perf_counter() - start
    runs = tuple({"name": c.name, "metrics": _score(result, c, m, level)} for c, m in held)
    return Fold(label, train, runs, dict(result.params), seconds)


def cross_validate(
    curves: Sequence[Curve],
    laws: Sequence[str | Law] = ("momentum", "multipower"),
    *,
    train: Sequence[str] | None = None,
    bootstrap: int = 100,
    level: float = 0.9,
    min_step: int | None = None,
    seed: int = 0,
    progress: Callable[[Fold, int, int], None] | None = None,
) -> CrossValidation:
    r"""Cross-validate ``laws`` on ``curves``: fit without a run, predict that run.

    Scheme: leave-one-curve-out over ``curves`` (each run held out once, the law
    fitted on all the others), or, with ``train``, one fold that fits the named
    runs and predicts the rest.  With one or two curves: a joint forward split (fit
    the first 60 % of every curve's window together, predict the remaining 40 %
    of each).

    Held-out runs are scored on their default window (steps after warmup, or from
    ``min_step``) with PredE = mean |y - ŷ|/y, WorstE = max |y - ŷ|/y, the
    final-loss error |y_T - ŷ_T|/y_T (Luo et al. 2025) and the coverage of the
    ``level`` prediction band (fraction of points inside; needs ``bootstrap > 0``).

    Args:
        curves: the runs.
        laws: law names or :class:`Law` instances.
        train: names of the runs to fit (the "split" scheme); ``None`` for LOCO.
        bootstrap: bootstrap replicates per fold for the prediction bands (0: no bands).
        level: level of the bands whose coverage is reported.
        min_step: first step used for fitting and scoring.
        seed: seed of the bootstrap draws.
        progress: called after each fold as ``progress(fold, done, total)``.

    Raises:
        LrlawError: no curves or laws, a repeated law, ``train`` naming unknown runs
            or every run.  A fold whose fit fails is recorded (``Fold.error``), not raised.

    Example::

        >>> import numpy as np
        >>> from lrlaw import schedules
        >>> from lrlaw.curves import Curve
        >>> from lrlaw.fitting import predict_curve
        >>> from lrlaw.laws import MomentumLaw
        >>> runs = []
        >>> for name, s in [("const", schedules.constant(1e-3, total=3000, warmup=100)),
        ...                 ("cos", schedules.cosine(1e-3, 3000, warmup=100)),
        ...                 ("wsd", schedules.wsd(1e-3, 3000, decay_frac=0.2, warmup=100))]:
        ...     steps = np.arange(100, 3001, 50)
        ...     loss = predict_curve(MomentumLaw(), np.array([2.5, 0.5, 0.4, 300.0]),
        ...                          s.values(), steps)
        ...     runs.append(Curve(name, steps, loss, s.values(), warmup=100))
        >>> cv = cross_validate(runs, ["momentum"], bootstrap=0)
        >>> cv.scheme, [f.train for f in cv.folds][0]
        ('leave-one-curve-out', ('cos', 'wsd'))
        >>> bool(cv.summary()["momentum"]["prede"] < 1e-6)
        True
    """
    if not curves:
        raise LrlawError("no curves to cross-validate on")
    if not laws:
        raise LrlawError("no laws to cross-validate")
    if not 0 < level < 1:
        raise LrlawError(f"level={level} must be in (0, 1)")
    built = [get_law(law) if isinstance(law, str) else law for law in laws]
    for i, law in enumerate(built):
        if law in built[:i]:
            raise LrlawError(f"law {law!r} is given more than once")
    labels = _labels(built)
    names = [c.name for c in curves]
    folds_spec: list[tuple[list[Curve], list[tuple[Curve, np.ndarray]]]] = []
    if train is not None:
        unknown = [t for t in dict.fromkeys(train) if t not in names]
        if unknown:
            raise LrlawError(
                f"train names unknown run(s) {', '.join(unknown)}; runs: {', '.join(names)}"
            )
        fit_on = [c for c in curves if c.name in train]
        rest = [c for c in curves if c.name not in train]
        if not fit_on:
            raise LrlawError("no runs to fit: name at least one run in train")
        if not rest:
            raise LrlawError("every run is a training run, so none is held out to predict")
        scheme = "split"
        folds_spec.append((fit_on, [(c, c.window(min_step)) for c in rest]))
    elif len(curves) < 3:
        # Leaving one of two runs out fits a single schedule, which cannot identify
        # any law's annealing term: fit the first 60 % of every run jointly instead.
        scheme = "forward split"
        split = [_forward_split(c, min_step) for c in curves]
        folds_spec.append(([h for h, _ in split], [(c, m) for c, (_, m) in zip(curves, split)]))
    else:
        scheme = "leave-one-curve-out"
        for i, c in enumerate(curves):
            others = [o for j, o in enumerate(curves) if j != i]
            folds_spec.append((others, [(c, c.window(min_step))]))

    folds: list[Fold] = []
    total = len(built) * len(folds_spec)
    for law, label in zip(built, labels):
        for fit_on, held in folds_spec:
            folds.append(_fold(law, label, fit_on, held, min_step, bootstrap, seed, level))
            if progress is not None:
                progress(folds[-1], len(folds), total)
    return CrossValidation(scheme=scheme, laws=tuple(labels), folds=tuple(folds), level=level)


def fit_auto(
    curves: Sequence[Curve],
    laws: Sequence[str | Law] = AUTO_LAWS,
    *,
    metric: str = "prede",
    train: Sequence[str] | None = None,
    min_step: int | None = None,
    bootstrap: int | None = 0,
    seed: int = 0,
    progress: Callable[[Fold, int, int], None] | None = None,
) -> Any:
    r"""Choose the law by cross-validation on ``curves``, then fit it to all of them.

    Every law in ``laws`` is cross-validated with :func:`cross_validate` (leave-one-
    curve-out; a forward split for a single curve; the ``train`` split when given;
    no bootstrap), and the one with the lowest mean held-out ``metric`` (PredE by
    default; ``"final"`` for the final-loss error) is fitted to all the curves.  The
    returned :class:`~lrlaw.fitting.FitResult` records the choice in
    ``selection`` (chosen law, metric, scheme, the per-law table), and its report
    prints it.

    ``bootstrap`` applies to the final fit (``None``: the chosen law's
    ``default_bootstrap``, as ``lrlaw fit`` does).

    Cost: one fit per law and fold (``len(laws) * len(curves)`` fits) before the
    final fit.
    """
    from dataclasses import replace as _replace

    cv = cross_validate(
        curves, laws, train=train, bootstrap=0, min_step=min_step, seed=seed, progress=progress
    )
    if metric not in SUMMARY_KEYS[:3]:
        raise LrlawError(f"metric={metric!r} must be one of {', '.join(SUMMARY_KEYS[:3])}")
    chosen = cv.best(metric)
    law = next(
        law_obj
        for law_obj, label in zip([get_law(x) if isinstance(x, str) else x for x in laws], cv.laws)
        if label == chosen
    )
    if bootstrap is None:
        bootstrap = law.default_bootstrap
    result = fit(curves, law, min_step=min_step, bootstrap=bootstrap, seed=seed)
    summary = cv.summary()
    names = {"prede": "PredE", "worste": "WorstE", "final": "final-loss error"}
    others = ", ".join(
        f"{label} {100 * summary[label][metric]:.3f} %" for label in cv.laws if label != chosen
    )
    reason = (
        f"law chosen by --law auto: {chosen}, the lowest mean held-out {names[metric]} in "
        f"{cv.scheme} cross-validation over {summary[chosen]['runs']} run(s): "
        f"{100 * summary[chosen][metric]:.3f} %" + (f" (vs {others})" if others else "")
    )
    selection = {
        "chosen": chosen,
        "metric": metric,
        "scheme": cv.scheme,
        "summary": summary,
        "report": reason + "\n" + cv.table(),
    }
    return _replace(result, selection=selection)
