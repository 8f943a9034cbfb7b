r"""A weighted combination of fitted laws: what ``--law auto`` returns when the
cross-validation does not separate the candidate laws (:func:`lrlaw.fitting.crossval.fit_auto`).

**Prediction.**  With member fits ``k = 1..K`` (each law fitted on its own to all
the training curves) and weights ``w_k >= 0``, ``sum_k w_k = 1``::

    L_ens(s) = sum_k w_k L_k(s)

the weighted mean of the members' predictions (a linear pool; the weights come from
stacking the members' cross-validated predictions, see :mod:`lrlaw.fitting.crossval`).
Source: D. Wolpert, "Stacked generalization", Neural Networks 5 (1992); L. Breiman,
"Stacked regressions", Machine Learning 24 (1996), who constrains the weights to be
non-negative; Y. Yao, A. Vehtari, D. Simpson, A. Gelman, "Using Stacking to Average
Bayesian Predictive Distributions", Bayesian Analysis 13 (2018), on the simplex.

**Band.**  At every step the ``level`` band of the combination runs from the lowest
to the highest of: every member's band edges (members fitted with a bootstrap) and
every member's prediction::

    lo(s) = min_k min(lo_k(s), L_k(s)),      hi(s) = max_k max(hi_k(s), L_k(s))

so it covers each member's band and the members' disagreement (the spread of their
predictions, which the cross-validation could not tell apart), and it contains the
combined prediction (a weighted mean lies between the smallest and the largest
member prediction).  A member without a bootstrap contributes its prediction only;
the combination has a band when at least one member has one.

The combination is a first-class :class:`~lrlaw.fitting.core.FitResult`
(:class:`EnsembleFit`): ``predict``, ``predict_band``, ``report``, plots, the schedule
comparison and optimisation (through :class:`EnsembleLaw`, whose prediction is the
weighted mean and is differentiable), and JSON save / load, with the member fits
stored inside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from lrlaw.curves import Curve
from lrlaw.errors import LrlawError
from lrlaw.fitting.core import SAVED_KINDS, FitResult, predict_curve
from lrlaw.fitting.metrics import curve_metrics
from lrlaw.fitting.uncertainty import Uncertainty
from lrlaw.laws import Law, get_law

__all__ = [
    "ENSEMBLE",
    "EnsembleFit",
    "EnsembleLaw",
    "combine",
]

#: The ``law`` name of a combination in a fit result.
ENSEMBLE = "ensemble"


def _member_law(spec: Any) -> Law:
    if isinstance(spec, Law):
        return spec
    if not isinstance(spec, Mapping) or "law" not in spec:
        raise LrlawError(f"ensemble member {spec!r}: expected {{'law': NAME, 'options': {{...}}}}")
    try:
        return get_law(str(spec["law"]), **dict(spec.get("options") or {}))
    except TypeError as exc:
        raise LrlawError(f"ensemble member {spec['law']!r}: invalid options: {exc}") from None


class EnsembleLaw(Law):
    r"""``L(s) = sum_k w_k L_k(s; theta_k)``: the weighted mean of member laws.

    The parameter vector is the members' vectors one after the other, each name
    prefixed by its member's label (``momentum.L0``, ..., ``efflr.L0``).  The weights
    are options (fixed, not fitted): an ensemble is built from separate member fits
    (:func:`combine`), never fitted as one law.  Sources: Breiman (1996), Yao et al.
    (2018); see the module docstring.

    Not registered in :data:`lrlaw.laws.LAWS` (it is not a law to fit on its own);
    a saved combination is read back by :meth:`EnsembleFit.from_dict`.
    """

    name = ENSEMBLE
    reference = (
        "weighted mean of laws fitted separately, weights from stacking their "
        "cross-validated predictions (Breiman 1996, Stacked regressions; Yao et al. 2018, "
        "Using Stacking to Average Bayesian Predictive Distributions)"
    )
    param_names: tuple[str, ...] = ()
    positive: tuple[bool, ...] = ()

    def __init__(self, members: Sequence[Any], weights: Sequence[float]) -> None:
        laws = [_member_law(m) for m in members]
        w = np.asarray(weights, dtype=np.float64)
        if not laws:
            raise LrlawError("an ensemble needs at least one member law")
        if w.shape != (len(laws),):
            raise LrlawError(f"an ensemble of {len(laws)} law(s) needs {len(laws)} weight(s)")
        if not (np.all(np.isfinite(w)) and np.all(w >= 0) and abs(w.sum() - 1.0) < 1e-6):
            raise LrlawError(f"ensemble weights {w.tolist()} must be >= 0 and sum to 1")
        self.laws = tuple(laws)
        self.weights = tuple(float(x) for x in w)
        self.labels = _labels(self.laws)
        self.sizes = tuple(len(law.param_names) for law in self.laws)
        self.param_names = tuple(
            f"{label}.{p}" for label, law in zip(self.labels, self.laws) for p in law.param_names
        )
        self.positive = tuple(p for law in self.laws for p in law.positive)
        self.unit = tuple(
            u for law in self.laws for u in (law.unit or (False,) * len(law.param_names))
        )
        self.parallel_starts = all(law.parallel_starts for law in self.laws)  # type: ignore[misc]

    @property
    def options(self) -> dict[str, Any]:
        return {
            "members": [{"law": law.name, "options": law.options} for law in self.laws],
            "weights": list(self.weights),
        }

    @property
    def default_bootstrap(self) -> int:
        """0: the members carry the bootstrap (see :func:`combine`)."""
        return 0

    def __hash__(self) -> int:
        return hash((type(self), self.laws, self.weights))

    def split(self, params: Any) -> list[Any]:
        """The members' parameter vectors from the ensemble's vector."""
        out, start = [], 0
        for n in self.sizes:
            out.append(params[start : start + n])
            start += n
        return out

    def prepare(self, lr: np.ndarray, steps: np.ndarray) -> tuple[Any, ...]:
        """Each member's preparation."""
        return tuple(law.prepare(lr, steps) for law in self.laws)

    def predict(self, params: jax.Array, prepared: tuple[Any, ...]) -> jax.Array:
        parts = self.split(params)
        return sum(
            w * law.predict(p, prep)
            for w, law, p, prep in zip(self.weights, self.laws, parts, prepared)
        )

    def initial_guesses(self, prepared: Sequence[Any], losses: Sequence[np.ndarray]) -> np.ndarray:
        """Each member's starting points, side by side (the shorter grids repeated).

        lrlaw never fits an ensemble as one law; this exists for completeness."""
        grids = [
            np.atleast_2d(law.initial_guesses([p[k] for p in prepared], losses))
            for k, law in enumerate(self.laws)
        ]
        n = max(g.shape[0] for g in grids)
        return np.concatenate([np.resize(g, (n, g.shape[1])) for g in grids], axis=1)


def _labels(laws: Sequence[Law]) -> list[str]:
    names = [law.name for law in laws]
    return [n if names.count(n) == 1 else f"{n}{i + 1}" for i, n in enumerate(names)]


@dataclass(frozen=True, eq=False)
class EnsembleFit(FitResult):
    """A :class:`~lrlaw.fitting.core.FitResult` of the weighted mean of member fits.

    ``law`` is ``"ensemble"``, ``options`` the members' laws and the weights,
    ``params`` the members' parameters (prefixed by member), and ``members`` the
    member fits themselves (saved inside the JSON).  ``curves`` holds the
    combination's in-sample metrics, on the fit window of the heaviest member;
    ``uncertainty`` stacks the members' bootstrap replicates (for their parameter
    errors; the band is :meth:`predict_band`).  See the module docstring for the
    prediction and the band.
    """

    members: tuple[FitResult, ...] = field(default=())

    @property
    def law_object(self) -> EnsembleLaw:
        """The :class:`EnsembleLaw` with this fit's members and weights."""
        return EnsembleLaw(**self.options)

    @property
    def weights(self) -> tuple[float, ...]:
        """The members' weights (they sum to 1)."""
        return tuple(float(w) for w in self.options["weights"])

    def predict_band(
        self, lr: np.ndarray, steps: np.ndarray, level: float = 0.9
    ) -> tuple[np.ndarray, np.ndarray]:
        """``lo = min_k min(lo_k, L_k)``, ``hi = max_k max(hi_k, L_k)`` over the members
        (module docstring): it covers every member's band and every member's
        prediction, hence their disagreement and the combined prediction.

        Raises:
            LrlawError: no member has a bootstrap.
        """
        if not any(m.uncertainty is not None and m.uncertainty.n_boot > 0 for m in self.members):
            raise LrlawError("this fit has no uncertainty estimate; refit with a bootstrap")
        lo = hi = None
        for m in self.members:
            pred = m.predict(lr, steps)
            a, b = pred, pred
            if m.uncertainty is not None and m.uncertainty.n_boot > 0:
                band_lo, band_hi = m.predict_band(lr, steps, level)
                a, b = np.minimum(band_lo, pred), np.maximum(band_hi, pred)
            lo = a if lo is None else np.minimum(lo, a)
            hi = b if hi is None else np.maximum(hi, b)
        center = self.predict(lr, steps)
        return np.minimum(lo, center), np.maximum(hi, center)

    def __eq__(self, other: object) -> bool:
        # JSON text, not dictionaries: a member without a bootstrap leaves NaN columns
        # in the stacked replicates, and NaN != NaN.
        if not isinstance(other, FitResult):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary: :meth:`FitResult.to_dict` plus ``members``."""
        out = super().to_dict()
        out["members"] = [m.to_dict() for m in self.members]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnsembleFit:
        """Rebuild a combination from :meth:`to_dict` output (members included)."""
        from lrlaw.fitting.core import _FORMAT

        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise LrlawError("not an lrlaw fit result; give a file written by 'lrlaw fit --out'")
        raw = data.get("members")
        if not isinstance(raw, list) or not raw:
            raise LrlawError("ensemble fit result: 'members' must list the member fits")
        members = tuple(FitResult.from_dict(m) for m in raw)
        options = data.get("options")
        if not isinstance(options, dict):
            raise LrlawError("fit result: 'options' must be a JSON object")
        law = EnsembleLaw(**options)
        if [m.law for m in members] != [x.name for x in law.laws]:
            raise LrlawError(
                f"ensemble fit result: members {[m.law for m in members]} do not match "
                f"options {[x.name for x in law.laws]}"
            )
        params = data.get("params")
        if not isinstance(params, dict) or sorted(params) != sorted(law.param_names):
            raise LrlawError(
                f"ensemble fit result: params do not match the members' {list(law.param_names)}"
            )
        names = set(FitResult.__dataclass_fields__)
        kwargs = {k: v for k, v in data.items() if k in names}
        missing = sorted(
            n
            for n in ("law", "objective", "delta", "n_points", "converged", "n_starts")
            if n not in kwargs
        )
        if missing:
            raise LrlawError(f"fit result is missing {', '.join(missing)}")
        if kwargs.get("uncertainty") is not None:
            try:
                kwargs["uncertainty"] = Uncertainty.from_dict(kwargs["uncertainty"])
            except (KeyError, TypeError, ValueError) as exc:
                raise LrlawError(f"fit result: malformed 'uncertainty': {exc}") from None
        kwargs.setdefault("n_converged", 0)
        kwargs.setdefault("n_near_best", 0)
        kwargs.setdefault("num_steps", 0)
        return cls(**kwargs, members=members)

    def report(self) -> str:
        """Text report: the members and weights, why auto combined them, the
        combination's in-sample metrics, then each member's own report."""
        from lrlaw.fitting.metrics import metrics_table
        from lrlaw.fitting.report import window_lines

        law = self.law_object
        parts = ", ".join(f"{lab} {w:.3f}" for lab, w in zip(law.labels, self.weights))
        has_band = any(m.uncertainty is not None and m.uncertainty.n_boot > 0 for m in self.members)
        lines = [
            f"law          ensemble (weighted mean of {len(self.members)} fitted laws): {parts}",
            f"reference    {law.reference}",
            f"points       {self.n_points} on {len(self.curves)} curve(s)",
            "prediction   sum_k w_k L_k(s), each member fitted on its own to every curve",
            "band         "
            + (
                "from the lowest to the highest of the members' band edges and predictions "
                "(covers each member's band and their disagreement)"
                if has_band
                else "none (the members were fitted without a bootstrap)"
            ),
        ]
        lines += window_lines(self.curves)
        lines.append(
            metrics_table(self.curves, "in-sample metrics of the combination (fit window)")
        )
        if self.selection:
            lines.append(self.selection.get("report", ""))
        for lab, w, m in zip(law.labels, self.weights, self.members):
            lines += ["", f"--- member {lab} (weight {w:.3f}) ---", m.report()]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        parts = ", ".join(f"{m.law}: {w:.3g}" for m, w in zip(self.members, self.weights))
        return (
            f"EnsembleFit(weights={{{parts}}}, curves={len(self.curves)}, "
            f"n_points={self.n_points}, warnings={len(self.warnings)})"
        )

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.report())}</pre>"


def _stack_uncertainty(members: Sequence[FitResult], labels: Sequence[str]) -> Uncertainty | None:
    """The members' replicates side by side (NaN for a member without a bootstrap)."""

    def has(m: FitResult) -> bool:
        return m.uncertainty is not None and m.uncertainty.n_boot > 0

    boots = [m.uncertainty for m in members if has(m)]
    if not boots:
        return None
    n = min(u.n_boot for u in boots)  # type: ignore[union-attr]
    cols = [
        m.uncertainty.params[:n]  # type: ignore[union-attr]
        if has(m)
        else np.full((n, len(m.params)), np.nan)
        for m in members
    ]
    with_boot = [(lab, m.uncertainty) for lab, m in zip(labels, members) if has(m)]
    return Uncertainty(
        scheme="; ".join(f"{lab}: {u.scheme}" for lab, u in with_boot),
        params=np.concatenate(cols, axis=1),
        converged=min(u.converged for u in boots),
        blocks={f"{lab}:{k}": v for lab, u in with_boot for k, v in u.blocks.items()},
        errors=np.concatenate([u.errors for u in boots]),
        error_source="; ".join(f"{lab}: {u.error_source}" for lab, u in with_boot),
        seed=boots[0].seed,
        error_weights=(
            np.concatenate([u.error_weights for u in boots])  # type: ignore[misc]
            if all(u.error_weights is not None for u in boots)
            else None
        ),
    )


def _curve_entries(
    law: EnsembleLaw, params: np.ndarray, template: FitResult, curves: Sequence[Curve]
) -> list[dict[str, Any]]:
    """Per-curve entries of the combination: the template member's entry (window,
    noise, outliers, transient) with the metrics of the combined prediction."""
    by_name = {c.name: c for c in curves}
    out = []
    for entry in template.curves:
        entry = dict(entry)
        c = by_name.get(entry["name"])
        if c is not None and entry.get("window"):
            lo, hi = entry["window"]
            wild = {o["step"] for o in entry.get("outliers", [])}
            keep = (c.steps >= lo) & (c.steps <= hi) & ~np.isin(c.steps, list(wild))
            if keep.any():
                pred = predict_curve(law, params, c.lr, c.steps[keep])
                entry["metrics"] = curve_metrics(c.loss[keep], pred)
            entry["law_residual"] = None  # the members' reports give theirs
        out.append(entry)
    return out


def combine(
    members: Sequence[FitResult],
    weights: Sequence[float],
    curves: Sequence[Curve],
    selection: dict[str, Any] | None = None,
) -> FitResult:
    r"""The weighted mean of ``members`` (fits of different laws to the same ``curves``).

    ``L_ens = sum_k w_k L_k``; the band is the envelope of the members' bands and
    predictions (module docstring).  One member with weight 1 gives that member
    back (with ``selection``), not an ensemble.

    Raises:
        LrlawError: no members, weights that are negative or do not sum to 1, or
            members fitted to different curves.
    """
    from dataclasses import replace

    if not members:
        raise LrlawError("nothing to combine: no member fits")
    if len(members) == 1:
        return replace(members[0], selection=selection)
    names = [[c["name"] for c in m.curves] for m in members]
    if any(n != names[0] for n in names):
        raise LrlawError("ensemble members must be fitted to the same curves")
    law = EnsembleLaw([get_law(m.law, **m.options) for m in members], weights)
    params = np.concatenate([m.param_vector for m in members])
    heaviest = members[int(np.argmax(law.weights))]
    w = np.asarray(law.weights)
    warnings = list(
        dict.fromkeys(f"[{lab}] {x}" for lab, m in zip(law.labels, members) for x in m.warnings)
    )
    return EnsembleFit(
        law=ENSEMBLE,
        options=law.options,
        params={k: float(v) for k, v in zip(law.param_names, params)},
        objective=float(np.dot(w, [m.objective for m in members])),
        delta=heaviest.delta,
        n_points=heaviest.n_points,
        converged=all(m.converged for m in members),
        n_starts=sum(m.n_starts for m in members),
        n_converged=sum(m.n_converged for m in members),
        n_near_best=sum(m.n_near_best for m in members),
        num_steps=max(m.num_steps for m in members),
        curves=_curve_entries(law, params, heaviest, curves),
        min_step=heaviest.min_step,
        screened=any(m.screened for m in members),
        uncertainty=_stack_uncertainty(members, law.labels),
        warnings=warnings,
        selection=selection,
        members=tuple(members),
    )


SAVED_KINDS[ENSEMBLE] = EnsembleFit  # FitResult.load reads --law auto's saved combinations
