r"""Comparing loss-curve laws on held-out runs.

:func:`compare_laws` fits every law jointly to the same training runs (with
:func:`lrlaw.fitting.core.fit`: the robust objective ``sum Huber_delta(log L_obs - log
L_pred)``, delta = 1e-3) and scores each fit on the held-out runs with the
metrics of :mod:`lrlaw.fitting.metrics` (R², MAE, RMSE, PredE, WorstE, final-loss
error), each held-out run on its default window (steps after its warmup, or
from ``min_step``).  :func:`plot_law_comparison` draws observed vs predicted
curves, one column of panels per law.

This is the protocol of Luo et al. 2025 ("A Multi-Power Law for Loss Curve
Prediction Across Learning Rate Schedules", ICLR 2025, arXiv 2503.12811): fit
on a few runs (there: cosine and constant to 24000 steps and a 9e-5 step
decay), then predict runs with other schedules and lengths.  The laws'
sources are in ``law.reference``.

Example (fits take seconds to tens of seconds, so not run as a doctest)::

    from lrlaw.io.load import load_curves
    from lrlaw.fitting.evaluate import compare_laws

    curves = load_curves(paths, schedules_file="data/schedules.txt")
    train = [c for c in curves if c.name in {"cosine_24000", "constant_24000", "wsdcon_9"}]
    test = [c for c in curves if c not in train]
    print(compare_laws(train, test, ["momentum", "multipower"]).table())
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlaw.curves import Curve
from lrlaw.errors import LrlawError
from lrlaw.fitting.core import FitResult, fit
from lrlaw.fitting.metrics import curve_metrics, mean_metrics
from lrlaw.laws import Law, get_law

if TYPE_CHECKING:
    pass

__all__ = [
    "LawComparison",
    "LawScore",
    "compare_laws",
]


@dataclass(frozen=True)
class LawScore:
    """One law of a comparison: its fit on the training runs and its held-out metrics.

    Attributes:
        label: name shown in tables and plots (the law's name, plus its options when
            the comparison holds the same law twice with different options).
        fit: the fit on the training runs (parameters, objective, in-sample metrics).
        fit_seconds: wall-clock time of :func:`lrlaw.fitting.core.fit`, JIT compilation included.
        runs: per held-out run: ``{"name", "source", "metrics"}`` (see
            :func:`lrlaw.fitting.metrics.curve_metrics`).
        mean: plain mean over the held-out runs of each metric
            (:func:`lrlaw.fitting.metrics.mean_metrics`).
    """

    label: str
    fit: FitResult
    fit_seconds: float
    runs: tuple[dict[str, Any], ...]
    mean: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary; ``fit`` is :meth:`FitResult.to_dict` (loadable back)."""
        return {
            "law": self.label,
            "reference": self.fit.law_object.reference,
            "params": dict(self.fit.params),
            "objective": self.fit.objective,
            "converged": self.fit.converged,
            "fit_seconds": self.fit_seconds,
            "mean": dict(self.mean),
            "runs": [dict(r) for r in self.runs],
            "fit": self.fit.to_dict(),
        }


@dataclass(frozen=True)
class LawComparison:
    """Laws fitted on the same training runs and scored on the same held-out runs.

    Attributes:
        train: names of the training runs.
        test: names of the held-out runs.
        laws: one :class:`LawScore` per law, in the order given.
        min_step: first step used for fitting and scoring (``None``: each run's warmup end).
    """

    train: tuple[str, ...]
    test: tuple[str, ...]
    laws: tuple[LawScore, ...]
    min_step: int | None = None

    def __getitem__(self, label: str) -> LawScore:
        """The :class:`LawScore` with this label (e.g. ``comparison["momentum"]``)."""
        for score in self.laws:
            if score.label == label:
                return score
        raise KeyError(label)

    def table(self) -> str:
        """Side-by-side text tables.

        First one row per law: the training objective, the fit time, and the mean over
        the held-out runs of R², MAE, RMSE, PredE, WorstE and the final-loss error (the
        last three in percent).  Then one row per held-out run with PredE and the
        final-loss error (in %) of every law.
        """
        n_points = self.laws[0].mean["n"] if self.laws else 0
        w = max([12, *(len(s.label) for s in self.laws)])
        lines = [
            f"fitted on {len(self.train)} run(s): {', '.join(self.train)}",
            f"held out  {len(self.test)} run(s), {n_points} points; "
            "metrics are means over the held-out runs (PredE, WorstE, final in %)",
            f"{'law':<{w}} {'objective':>10} {'fit_s':>6} {'R2':>8} {'MAE':>8} {'RMSE':>8} "
            f"{'PredE%':>7} {'WorstE%':>8} {'final%':>7}",
        ]
        for s in self.laws:
            m = s.mean
            lines.append(
                f"{s.label:<{w}} {s.fit.objective:>10.4g} {s.fit_seconds:>6.1f} "
                f"{m['r2']:>8.4f} {m['mae']:>8.5f} {m['rmse']:>8.5f} "
                f"{100 * m['prede']:>7.3f} {100 * m['worste']:>8.3f} {100 * m['final']:>7.3f}"
            )
        rw = max([17, *(len(n) for n in self.test)])
        cw = max([16, *(len(s.label) for s in self.laws)])
        lines += [
            "",
            f"{'held-out run':<{rw}} {'n':>5}" + "".join(f"  {s.label:>{cw}}" for s in self.laws),
            f"{'':<{rw}} {'':>5}"
            + "".join(f"  {'PredE%':>{cw - 8}} {'final%':>7}" for _ in self.laws),
        ]
        for i, name in enumerate(self.test):
            n = self.laws[0].runs[i]["metrics"]["n"] if self.laws else 0
            cells = "".join(
                f"  {100 * s.runs[i]['metrics']['prede']:>{cw - 8}.3f} "
                f"{100 * s.runs[i]['metrics']['final']:>7.3f}"
                for s in self.laws
            )
            lines.append(f"{name:<{rw}} {n:>5}{cells}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary: ``train``, ``test``, ``min_step`` and, per law,
        :meth:`LawScore.to_dict`."""
        return {
            "train": list(self.train),
            "test": list(self.test),
            "min_step": self.min_step,
            "laws": [s.to_dict() for s in self.laws],
        }


def _labels(laws: Sequence[Law]) -> list[str]:
    """Law names, with the options appended where one name occurs more than once."""
    names = [law.name for law in laws]
    out = []
    for law in laws:
        if names.count(law.name) > 1:
            opts = ",".join(f"{k}={v}" for k, v in law.options.items())
            out.append(f"{law.name}({opts})")
        else:
            out.append(law.name)
    return out


def compare_laws(
    train: Sequence[Curve],
    test: Sequence[Curve],
    laws: Sequence[str | Law],
    *,
    min_step: int | None = None,
) -> LawComparison:
    """Fit each law to ``train`` and score it on ``test``.

    Each law is fitted jointly to all training runs with :func:`lrlaw.fitting.core.fit`
    (parameters shared by the runs; objective ``sum Huber_delta(log L_obs - log
    L_pred)``, delta = 1e-3, as in Tissue et al. 2024 and Luo et al. 2025).  Each
    held-out run is then predicted from its schedule alone and scored with
    :func:`lrlaw.fitting.metrics.curve_metrics` on ``curve.window(min_step)`` (the steps
    after its warmup by default); the law's summary is the plain mean over the
    held-out runs (:func:`lrlaw.fitting.metrics.mean_metrics`, as in Luo et al. 2025).

    Args:
        train: the runs to fit.
        test: the held-out runs to score (none of them may be a training run).
        laws: law names (``"momentum"``, ``"multipower"``) or :class:`Law` instances;
            ``"auto"``: :func:`lrlaw.fitting.crossval.fit_auto` on the training runs (the law its
            cross-validation separates, or the stacked combination of the laws it
            cannot tell apart), scored like the others.
        min_step: first step used for fitting and scoring (default: each run's warmup end).

    Raises:
        LrlawError: no training or held-out runs, a run in both sets, no or repeated
            laws, an unknown law name; :class:`~lrlaw.errors.FitError` from a fit.
    """
    if not train:
        raise LrlawError("no training runs to fit")
    if not test:
        raise LrlawError("no held-out runs to score")
    both = sorted({c.name for c in train} & {c.name for c in test})
    if both:
        raise LrlawError(f"run(s) {', '.join(both)} are both training and held-out runs")
    if not laws:
        raise LrlawError("no laws to compare")
    if sum(1 for law in laws if law == "auto") > 1:
        raise LrlawError("law 'auto' is given more than once")
    built = [get_law(law) if isinstance(law, str) and law != "auto" else law for law in laws]
    concrete = [law for law in built if isinstance(law, Law)]
    for i, law in enumerate(concrete):
        if law in concrete[:i]:
            raise LrlawError(f"law {law!r} is given more than once")
    names = iter(_labels(concrete))
    labels = ["auto" if law == "auto" else next(names) for law in built]
    scores = []
    for law, label in zip(built, labels):
        start = time.perf_counter()
        if law == "auto":
            from lrlaw.fitting import crossval

            # cross-validated on the training runs only
            result = crossval.fit_auto(train, crossval.AUTO_LAWS, min_step=min_step)
        else:
            result = fit(train, law, min_step=min_step)
        seconds = time.perf_counter() - start
        runs = []
        for c in test:
            mask = c.window(min_step)
            pred = result.predict(c.lr, c.steps[mask]) if mask.any() else np.array([])
            runs.append(
                {"name": c.name, "source": c.source, "metrics": curve_metrics(c.loss[mask], pred)}
            )
        scores.append(
            LawScore(
                label=label,
                fit=result,
                fit_seconds=seconds,
                runs=tuple(runs),
                mean=mean_metrics([r["metrics"] for r in runs]),
            )
        )
    return LawComparison(
        train=tuple(c.name for c in train),
        test=tuple(c.name for c in test),
        laws=tuple(scores),
        min_step=min_step,
    )
