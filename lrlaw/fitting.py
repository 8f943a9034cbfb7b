r"""Fitting loss-curve laws to one or many logged curves.

Objective (Tissue et al. 2024; Luo et al. 2025)::

    J(theta) = sum_curves sum_points Huber_delta( log L_obs - log L_pred(theta) ),
    Huber_delta(r) = r^2/2 if |r| <= delta else delta (|r| - delta/2),   delta = 1e-3

summed over the points of every curve in the fit window (by default the
steps after warmup), with the law's parameters shared by all curves (a joint
fit).  Positive parameters are fitted through ``log`` so they stay positive.

Solver: Levenberg--Marquardt (optimistix) on the "square-root Huber"
residuals ``rho(r) = sign(r) sqrt(2 Huber_delta(r))`` (so that
``sum rho^2 / 2 = J``; rho is C^1), from a grid of data-driven starts solved
in parallel with ``jax.vmap``; the start with the lowest objective is kept.
LM rather than BFGS because the problem is a (robust) least-squares problem:
on the Multi-Power-Law curves every start converges in < 100 iterations,
while BFGS stalls on the badly scaled log-parameters.  Laws whose prediction
is memory-hungry (``Law.parallel_starts = False``, the Multi-Power Law) solve
their starts one at a time: each start gets a few iterations, the best one
is polished.

``fit(..., bootstrap=N)`` adds parameter errors and prediction bands
(:mod:`lrlaw.uncertainty`); every fit carries diagnostics
(:mod:`lrlaw.diagnostics`) in ``FitResult.warnings``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lrlaw import progress
from lrlaw._x64 import with_x64
from lrlaw.curves import Curve
from lrlaw.diagnostics import (
    identifiability_warnings,
    range_warnings,
    residual_warnings,
    schedule_warnings,
    trend_warnings,
    unidentified_params,
)
from lrlaw.errors import FitError, LrlawError
from lrlaw.laws import Law, get_law
from lrlaw.laws.base import bucket
from lrlaw.metrics import curve_metrics, mean_metrics
from lrlaw.uncertainty import Uncertainty, block_length, bootstrap_weights

__all__ = ["HUBER_DELTA", "FitResult", "fit", "huber", "predict_curve"]

HUBER_DELTA = 1e-3
_FORMAT = "lrlaw.fit/1"
_MIN_POINTS = 64  # observed steps are padded to a bucket size >= this
_SCREEN_STEPS = 12  # iterations per start when starts are screened before polishing
_REFIT_CHUNK = 25  # bootstrap refits per solver call (progress is reported per call)


def huber(r: jax.Array, delta: float = HUBER_DELTA) -> jax.Array:
    """Huber loss ``r^2/2`` for ``|r| <= delta``, else ``delta (|r| - delta/2)`` (Huber 1964)."""
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _huber_root(r: jax.Array, delta: float) -> jax.Array:
    """``sign(r) sqrt(2 huber(r))``: least-squares residuals whose squares sum to 2 J."""
    a = jnp.abs(r)
    outer = jnp.sqrt(jnp.maximum(2.0 * delta * a - delta * delta, delta * delta))
    return jnp.where(a <= delta, r, jnp.sign(r) * outer)


def _safe_log(x: jax.Array, eps: float = 1e-6) -> jax.Array:
    """``log x``, continued linearly below ``eps`` so that a negative prediction
    gives a large but finite residual (and a useful gradient) instead of NaN."""
    return jnp.where(x > eps, jnp.log(jnp.maximum(x, eps)), np.log(eps) + (x - eps) / eps)


def _prepare(law: Law, lr: np.ndarray, steps: np.ndarray) -> Any:
    """``law.prepare`` on inputs padded to power-of-two lengths (so curves of other
    lengths reuse the compiled code): the LR is extended with its last value (areas
    at steps <= T do not change) and the steps with the last step.  Only the first
    ``len(steps)`` predictions are meaningful."""
    lr = np.asarray(lr, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.int64)
    lr = np.pad(lr, (0, bucket(lr.size, 1024) - lr.size), mode="edge")
    steps = np.pad(steps, (0, bucket(steps.size, _MIN_POINTS) - steps.size), mode="edge")
    return law.prepare(lr, steps)


def _residual_fn(law: Law, delta: float):
    def residuals(theta: jax.Array, args: Any) -> jax.Array:
        prepared, log_obs, weight = args
        params = law.from_unconstrained(theta)
        pred = jnp.concatenate([law.predict(params, p) for p in prepared])
        return jnp.sqrt(weight) * _huber_root(log_obs - _safe_log(pred), delta) / delta

    return residuals


@jax.jit(static_argnames=("law", "delta", "max_steps"))
def _solve(
    law: Law,
    prepared: Any,
    log_obs: jax.Array,
    weights: jax.Array,
    theta0: jax.Array,
    delta: float,
    max_steps: int,
):
    """Solve one robust least-squares problem per row of ``theta0`` / ``weights``.

    ``weights[i]`` are per-point multiplicities (0 for padding; bootstrap
    counts).  Rows run in parallel (vmap) or, for memory-hungry laws, in turn.
    """
    import optimistix as optx

    residuals = _residual_fn(law, delta)
    solver = optx.LevenbergMarquardt(rtol=1e-8, atol=1e-8)

    def one(inputs: tuple[jax.Array, jax.Array]):
        t0, weight = inputs
        args = (prepared, log_obs, weight)
        sol = optx.least_squares(residuals, solver, t0, args=args, max_steps=max_steps, throw=False)
        r = residuals(sol.value, args)
        objective = 0.5 * jnp.sum(r * r) * delta * delta
        ok = sol.result == optx.RESULTS.successful
        return sol.value, objective, ok, sol.stats["num_steps"]

    if law.parallel_starts:
        return jax.vmap(one)((theta0, weights))
    return jax.lax.map(one, (theta0, weights))  # one at a time: bounded memory


@jax.jit(static_argnames=("law", "delta"))
def _jacobian(
    law: Law, prepared: Any, log_obs: jax.Array, weight: jax.Array, theta: jax.Array, delta: float
) -> tuple[jax.Array, jax.Array]:
    """Residuals and their Jacobian with respect to the solver's parameters."""
    residuals = _residual_fn(law, delta)
    args = (prepared, log_obs, weight)
    return residuals(theta, args), jax.jacfwd(residuals)(theta, args)


@dataclass(frozen=True, eq=False)
class _Problem:
    """The data of a fit, prepared and padded for the solver."""

    law: Law
    prepared: tuple[Any, ...]  # law.prepare output per curve with points in the window
    losses: list[np.ndarray]  # observed losses in the window, per such curve
    masks: list[np.ndarray]  # window mask per input curve (all curves)
    log_obs: jax.Array  # padded log losses, all curves concatenated
    mask: np.ndarray  # 1 for real points, 0 for padding
    curve_of: np.ndarray  # index (into ``losses``) of each padded point, -1 for padding
    n_points: int

    @classmethod
    def build(cls, curves: Sequence[Curve], law: Law, min_step: int | None) -> _Problem:
        if not curves:
            raise FitError("no curves to fit")
        prepared, losses, masks, log_obs, mask, curve_of = [], [], [], [], [], []
        for c in curves:
            window = c.window(min_step)
            masks.append(window)
            if not window.any():
                continue
            m = int(window.sum())
            padded = bucket(m, _MIN_POINTS)
            prepared.append(_prepare(law, c.lr, c.steps[window]))
            log_obs.append(np.pad(np.log(c.loss[window]), (0, padded - m), mode="edge"))
            real = np.arange(padded) < m
            mask.append(real)
            curve_of.append(np.where(real, len(losses), -1))
            losses.append(c.loss[window])
        n_points = int(sum(m.sum() for m in masks))
        n_params = len(law.param_names)
        if n_points < n_params + 1:
            raise FitError(
                f"{n_points} point(s) in the fit window (steps after warmup"
                f"{'' if min_step is None else f', >= {min_step}'}); the {law.name} law has "
                f"{n_params} parameters and needs at least {n_params + 1}"
            )
        if all(float(np.max(c.lr)) <= 0 for c in curves):
            raise FitError("every schedule is zero: the learning rate must be > 0 somewhere")
        return cls(
            law=law,
            prepared=tuple(prepared),
            losses=losses,
            masks=masks,
            log_obs=jnp.asarray(np.concatenate(log_obs)),
            mask=np.concatenate(mask).astype(np.float64),
            curve_of=np.concatenate(curve_of),
            n_points=n_points,
        )

    def solve(
        self,
        theta0: jax.Array,
        delta: float,
        max_steps: int,
        weights: np.ndarray | None = None,
        *,
        screen: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Solve from each start (rows of ``theta0``), with per-row point weights.

        Without ``weights`` every real point counts once.  For laws that solve
        starts one at a time, several starts are screened with a few iterations.
        """
        theta0 = jnp.atleast_2d(jnp.asarray(theta0))
        if weights is None:
            weights = np.broadcast_to(self.mask, (theta0.shape[0], self.mask.size))
        steps = max_steps
        if screen and not self.law.parallel_starts and theta0.shape[0] > 1:
            steps = min(max_steps, _SCREEN_STEPS)
        out = _solve(
            self.law,
            self.prepared,
            self.log_obs,
            jnp.asarray(weights * self.mask),
            theta0,
            float(delta),
            int(steps),
        )
        return tuple(np.array(x) for x in jax.device_get(out))  # type: ignore[return-value]


@dataclass(frozen=True)
class FitResult:
    """A fitted law: parameters, objective, solver status and per-curve metrics.

    Serialises to JSON (:meth:`save`, :meth:`to_json`) and loads back
    (:meth:`load`, :meth:`from_json`) with everything needed to predict:
    the law's name and options.
    """

    law: str
    options: dict[str, Any]
    params: dict[str, float]
    objective: float
    delta: float
    n_points: int
    converged: bool
    n_starts: int
    n_converged: int
    n_near_best: int
    num_steps: int
    curves: list[dict[str, Any]] = field(default_factory=list)
    min_step: int | None = None
    screened: bool = False
    uncertainty: Uncertainty | None = None
    warnings: list[str] = field(default_factory=list)
    selection: dict[str, Any] | None = None  # how --law auto chose the law (lrlaw.crossval)

    @property
    def law_object(self) -> Law:
        """The law (with its options) this result was fitted with."""
        return get_law(self.law, **self.options)

    @property
    def param_vector(self) -> np.ndarray:
        """Parameters as a vector in the law's ``param_names`` order."""
        return np.array([self.params[k] for k in self.law_object.param_names])

    @property
    def mean_metrics(self) -> dict[str, float]:
        """Mean over the fitted curves of each in-sample metric."""
        return mean_metrics([c["metrics"] for c in self.curves])

    def predict(self, curve: Curve | np.ndarray, steps: np.ndarray | None = None) -> np.ndarray:
        """Predicted loss at ``steps`` (default: the curve's observed steps).

        ``curve`` is a :class:`Curve` or a per-step LR array.
        """
        lr = curve.lr if isinstance(curve, Curve) else np.asarray(curve, dtype=np.float64)
        if steps is None:
            if not isinstance(curve, Curve):
                raise LrlawError("steps are required when predicting from an LR array")
            steps = curve.steps
        return predict_curve(self.law_object, self.param_vector, lr, steps)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FitResult):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    @property
    def unidentified(self) -> list[str]:
        """Parameters the fitted curves do not determine (flagged in :attr:`warnings`)."""
        return unidentified_params(self.warnings, list(self.params))

    @property
    def stderr(self) -> dict[str, float] | None:
        """Bootstrap standard error of each parameter (None without a bootstrap); NaN
        for a parameter that is not identified (its bootstrap spread means nothing)."""
        if self.uncertainty is None or self.uncertainty.n_boot < 2:
            return None
        free = set(self.unidentified)
        return {
            k: float("nan") if k in free else float(v)
            for k, v in zip(self.params, self.uncertainty.stderr())
        }

    def predict_band(
        self, lr: np.ndarray, steps: np.ndarray, level: float = 0.9
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper prediction band at ``level`` (see :mod:`lrlaw.uncertainty`);
        it always contains the prediction (``lo <= predict(lr, steps) <= hi``).

        Raises:
            LrlawError: the fit has no bootstrap (fit with ``bootstrap > 0``).
        """
        if self.uncertainty is None or self.uncertainty.n_boot == 0:
            raise LrlawError("this fit has no uncertainty estimate; refit with a bootstrap")
        preds = predict_many(self.law_object, self.uncertainty.params, lr, steps)
        center = predict_curve(self.law_object, self.param_vector, lr, steps)
        return self.uncertainty.band(preds, level, center)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (see :meth:`from_dict`)."""
        from lrlaw import __version__

        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["uncertainty"] = None if self.uncertainty is None else self.uncertainty.to_dict()
        data["unidentified"] = self.unidentified  # derived from the warnings (not read back)
        return {"format": _FORMAT, "lrlaw": __version__, **data}

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitResult:
        """Rebuild a result from :meth:`to_dict` output."""
        if not isinstance(data, dict):
            raise LrlawError("not an lrlaw fit result (expected a JSON object)")
        if data.get("format") != _FORMAT:
            found = (
                "no 'format' key"
                if "format" not in data
                else f"'format' is {data['format']!r}, not {_FORMAT!r}"
            )
            raise LrlawError(
                f"not an lrlaw fit result ({found}); give a file written by 'lrlaw fit --out'"
            )
        names = set(cls.__dataclass_fields__)
        optional = ("curves", "min_step", "screened", "uncertainty", "warnings", "selection")
        missing = sorted(n for n in names if n not in data and n not in optional)
        if missing:
            raise LrlawError(f"fit result is missing {', '.join(missing)}")
        options, params = data["options"], data["params"]
        if not isinstance(options, dict) or not isinstance(params, dict):
            raise LrlawError("fit result: 'options' and 'params' must be JSON objects")
        try:
            law = get_law(data["law"], **options)
        except TypeError as exc:
            raise LrlawError(
                f"fit result: invalid options for law {data['law']!r}: {exc}"
            ) from None
        if sorted(params) != sorted(law.param_names):
            raise LrlawError(
                f"fit result: params {sorted(params)} do not match the {law.name} law's "
                f"parameters {list(law.param_names)}"
            )
        if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in params.values()):
            raise LrlawError("fit result: every parameter must be a finite number")
        kwargs = {k: v for k, v in data.items() if k in names}
        if kwargs.get("uncertainty") is not None:
            try:
                kwargs["uncertainty"] = Uncertainty.from_dict(kwargs["uncertainty"])
            except (KeyError, TypeError, ValueError) as exc:
                raise LrlawError(f"fit result: malformed 'uncertainty': {exc}") from None
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> FitResult:
        """Parse :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LrlawError(f"fit result is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()) -> None:
        """Write JSON atomically to ``path`` (never onto one of ``inputs``)."""
        from lrlaw.io import write_text_atomic

        write_text_atomic(path, self.to_json(), inputs)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FitResult:
        """Read a result written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise LrlawError(f"{path}: no such file")
        try:
            return cls.from_json(path.read_text())
        except LrlawError as exc:
            raise LrlawError(f"{path}: {exc}") from None

    def report(self) -> str:
        """Text report: parameters ± errors, correlations, objective, AIC/BIC, metrics, warnings."""
        from lrlaw.report import report_text

        return report_text(self)

    def __repr__(self) -> str:
        """One line: law, parameters, objective and sizes (the arrays are summarised)."""
        params = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        boot = 0 if self.uncertainty is None else self.uncertainty.n_boot
        return (
            f"FitResult(law={self.law!r}, params={{{params}}}, objective={self.objective:.6g}, "
            f"converged={self.converged}, curves={len(self.curves)}, "
            f"n_points={self.n_points}, bootstrap={boot}, warnings={len(self.warnings)})"
        )

    def _repr_html_(self) -> str:
        from lrlaw.report import report_html

        return report_html(self)


@with_x64
def predict_curve(law: Law, params: np.ndarray, lr: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Loss predicted by ``law`` with ``params`` for the schedule ``lr`` at ``steps``."""
    steps = np.asarray(steps, dtype=np.int64)
    lr = np.asarray(lr, dtype=np.float64)
    if steps.size and (steps.min() < 0 or steps.max() >= lr.size):
        raise LrlawError(f"steps must lie in 0..{lr.size - 1}, the steps the schedule defines")
    if steps.size == 0:
        return np.zeros(0)
    prepared = _prepare(law, lr, steps)
    pred = _predict_one(law, jnp.asarray(params, dtype=jnp.float64), prepared)
    return np.asarray(pred)[: steps.size]


@jax.jit(static_argnames=("law",))
def _predict_one(law: Law, params: jax.Array, prepared: Any) -> jax.Array:
    """``law.predict`` compiled (run op by op, the multi-power law's takes ~7x longer)."""
    return law.predict(params, prepared)


@with_x64
def predict_many(law: Law, params: np.ndarray, lr: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Predictions for many parameter vectors (rows of ``params``) at once."""
    steps = np.asarray(steps, dtype=np.int64)
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    if steps.size == 0:
        return np.zeros((params.shape[0], 0))
    prepared = _prepare(law, np.asarray(lr, dtype=np.float64), steps)
    return np.asarray(_predict_many(law, jnp.asarray(params), prepared))[:, : steps.size]


@jax.jit(static_argnames=("law",))
def _predict_many(law: Law, params: jax.Array, prepared: Any) -> jax.Array:
    def one(p: jax.Array) -> jax.Array:
        return law.predict(p, prepared)

    return jax.vmap(one)(params) if law.parallel_starts else jax.lax.map(one, params)


@with_x64
def fit(
    curves: Sequence[Curve],
    law: str | Law = "momentum",
    *,
    delta: float = HUBER_DELTA,
    min_step: int | None = None,
    max_steps: int = 1000,
    bootstrap: int = 0,
    seed: int = 0,
    init: Mapping[str, float] | None = None,
) -> FitResult:
    r"""Fit ``law`` jointly to ``curves`` by robust multi-start least squares.

    Minimises ``sum Huber_delta(log L_obs - log L_pred)`` over the points in
    each curve's fit window (``step >= warmup``, or ``>= min_step``), with
    parameters shared across curves (see the module docstring for the solver).

    Args:
        curves: the training runs to fit.
        law: a registered law name (``"momentum"``) or a :class:`Law` instance
            (e.g. ``MomentumLaw(lam=0.99)``).
        delta: Huber threshold on log-loss residuals (1e-3 as in Tissue et al.
            2024 and Luo et al. 2025).
        min_step: first step used for fitting (default: each curve's warmup end).
        max_steps: iteration cap of the solver for each start.
        bootstrap: number of bootstrap replicates for parameter errors and
            prediction bands (0: none); see :mod:`lrlaw.uncertainty`.
        seed: seed of the bootstrap draws.
        init: start from these parameters only (no start grid).

    Raises:
        FitError: too few points, or no start yields a finite objective.
    """
    law = get_law(law) if isinstance(law, str) else law
    if not delta > 0:
        raise FitError(f"delta={delta} must be > 0")
    problem = _Problem.build(curves, law, min_step)
    if init is not None:
        missing = [k for k in law.param_names if k not in init]
        if missing:
            raise FitError(f"init lacks parameter(s) {', '.join(missing)}")
        guesses = np.array([[init[k] for k in law.param_names]])
    else:
        guesses = law.initial_guesses(problem.prepared, problem.losses)
    starts = law.to_unconstrained(jnp.asarray(guesses))
    screened = not law.parallel_starts and len(starts) > 1
    with progress.task(
        f"fitting the {law.name} law ({len(starts)} starts, {problem.n_points} points)",
        total=2 if screened else 1,
    ) as bar:
        values, objectives, ok, nsteps = problem.solve(starts, delta, max_steps)
        bar.advance()
        if screened:
            # Screened starts (a few iterations each): polish the best one.
            first = int(np.argmin(np.where(np.isfinite(objectives), objectives, np.inf)))
            v, o, k, n = problem.solve(values[first : first + 1], delta, max_steps)
            values[first], objectives[first], ok[first], nsteps[first] = v[0], o[0], k[0], n[0]
            bar.advance()
    objectives = np.where(np.isfinite(objectives), objectives, np.inf)
    best = int(np.argmin(objectives))
    if not np.isfinite(objectives[best]):
        raise FitError("no start gave a finite objective; check the curves and schedules")
    params = np.asarray(law.from_unconstrained(jnp.asarray(values[best])))
    if not np.all(np.isfinite(params)):
        raise FitError(f"the best fit has non-finite parameters {params.tolist()}")
    near = objectives <= objectives[best] * (1 + 1e-6) + 1e-15
    per_curve, log_residuals = [], {}
    for c, mask in zip(curves, problem.masks):
        pred = predict_curve(law, params, c.lr, c.steps[mask]) if mask.any() else np.array([])
        log_residuals[c.name] = np.log(c.loss[mask]) - np.log(pred)
        per_curve.append(
            {
                "name": c.name,
                "source": c.source,
                "schedule": c.schedule,
                "peak_lr": float(np.max(c.lr)),
                "metrics": curve_metrics(c.loss[mask], pred),
            }
        )
    uncertainty = (
        _uncertainty(curves, problem, law, values[best], params, delta, min_step, bootstrap, seed)
        if bootstrap > 0
        else None
    )
    return FitResult(
        law=law.name,
        options=law.options,
        params={k: float(v) for k, v in zip(law.param_names, params)},
        objective=float(objectives[best]),
        delta=float(delta),
        n_points=problem.n_points,
        converged=bool(ok[best]),
        n_starts=len(objectives),
        n_converged=int(np.sum(ok)),
        n_near_best=int(np.sum(near)),
        num_steps=int(nsteps[best]),
        curves=per_curve,
        min_step=min_step,
        screened=screened,
        warnings=[
            *schedule_warnings(
                {
                    c.name: c.lr[c.steps[m][0] : c.steps[m][-1] + 1]
                    for c, m in zip(curves, problem.masks)
                    if m.any()
                }
            ),
            *trend_warnings(
                {c.name: (c.steps[m], c.loss[m]) for c, m in zip(curves, problem.masks)}
            ),
            *_diagnose(problem, law, values[best], params, delta, log_residuals),
            *([] if uncertainty is None else uncertainty.warnings()),
        ],
        uncertainty=uncertainty,
    )


def _diagnose(
    problem: _Problem,
    law: Law,
    theta: np.ndarray,
    params: np.ndarray,
    delta: float,
    log_residuals: dict[str, np.ndarray],
) -> list[str]:
    """Warnings about the fit (see :mod:`lrlaw.diagnostics`)."""
    named = dict(zip(law.param_names, map(float, params)))
    r, jac = _jacobian(
        law, problem.prepared, problem.log_obs, jnp.asarray(problem.mask), jnp.asarray(theta), delta
    )
    real = problem.mask > 0
    return [
        *range_warnings(named, law.typical),
        *identifiability_warnings(np.asarray(jac)[real], np.asarray(r)[real], law.param_names),
        *residual_warnings(log_residuals),
    ]


def _refit(
    problem: _Problem,
    law: Law,
    theta: np.ndarray,
    weights: np.ndarray,
    delta: float,
    *,
    exact: bool = False,
    bar: progress.Task | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Refit from ``theta`` once per row of point ``weights``; (parameters, converged).

    Laws that solve in parallel, and every refit with ``exact``, get full
    Levenberg-Marquardt refits (vmap, or one at a time for memory-hungry laws).
    Otherwise memory-hungry laws get the one-step (linearised) refit of the bootstrap
    literature (Davison & Hinkley 1997, §7.2): ``theta_b = theta - (J^T W_b J +
    mu D)^-1 J^T W_b r`` with the residuals ``r`` and Jacobian ``J`` at the best
    fit and Marquardt damping ``mu = 1e-3`` on the diagonal ``D`` of ``J^T W_b J``.
    """
    if law.parallel_starts or exact:
        # In chunks of equal size (the last one padded; one compilation), so that
        # a progress bar can follow; each row's refit does not depend on the others.
        n = len(weights)
        chunk = -(-n // -(-n // _REFIT_CHUNK))  # near-equal chunks of at most _REFIT_CHUNK
        padded = np.concatenate([weights, np.repeat(weights[-1:], -n % chunk, axis=0)])
        values, ok = [], []
        for lo in range(0, n, chunk):
            v, _, k, _ = problem.solve(
                np.tile(theta, (chunk, 1)),
                delta,
                200,
                weights=padded[lo : lo + chunk],
                screen=False,
            )
            values.append(v)
            ok.append(k)
            if bar is not None:
                bar.advance(min(chunk, n - lo))
        values_arr = np.concatenate(values)[:n]
        params = np.asarray(law.from_unconstrained(jnp.asarray(values_arr)))
        return params, np.concatenate(ok)[:n].astype(bool)
    r, jac = _jacobian(
        law, problem.prepared, problem.log_obs, jnp.asarray(problem.mask), jnp.asarray(theta), delta
    )
    r, jac = np.asarray(r), np.asarray(jac)
    w = weights * problem.mask
    a = np.einsum("ni,bn,nj->bij", jac, w, jac)
    g = np.einsum("ni,bn,n->bi", jac, w, r)
    damped = a + 1e-3 * np.einsum("bii->bi", a)[:, :, None] * np.eye(a.shape[1])
    with np.errstate(all="ignore"):
        try:
            step = np.linalg.solve(damped, -g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(m, -v, rcond=None)[0] for m, v in zip(damped, g)])
    values = theta[None, :] + step
    params = np.asarray(law.from_unconstrained(jnp.asarray(values)))
    if bar is not None:
        bar.advance(len(weights))
    return params, np.all(np.isfinite(params), axis=1)


def _uncertainty(
    curves: Sequence[Curve],
    problem: _Problem,
    law: Law,
    theta: np.ndarray,
    params: np.ndarray,
    delta: float,
    min_step: int | None,
    n_boot: int,
    seed: int,
) -> Uncertainty:
    """Two-level bootstrap refits plus leave-one-curve-out errors (lrlaw.uncertainty)."""
    rng = np.random.default_rng(seed)
    fitted = [c for c, m in zip(curves, problem.masks) if m.any()]
    residuals = [
        np.log(y) - np.log(predict_curve(law, params, c.lr, c.steps[c.window(min_step)]))
        for c, y in zip(fitted, problem.losses)
    ]
    blocks = [block_length(r) for r in residuals]
    counts = bootstrap_weights(
        [len(y) for y in problem.losses], blocks, n_boot, rng, resample_curves=len(fitted) > 1
    )
    points = [np.flatnonzero(problem.curve_of == i) for i in range(len(fitted))]
    weights = np.zeros((n_boot, problem.mask.size))
    for idx, cnt in zip(points, counts):
        weights[:, idx] = cnt
    # Out-of-sample errors: refit with one curve's points weighted 0 (or, with a
    # single curve, with its last 40 % weighted 0) and predict what was left out.
    held_out = []
    if len(fitted) > 1:
        source = "leave-one-curve-out"
        for i in range(len(fitted)):
            w = problem.mask.copy()
            w[points[i]] = 0.0
            held_out.append((w, i, slice(None)))
    else:
        source = "forward split (fit the first 60 % of the points, predict the rest)"
        cut = int(0.6 * len(problem.losses[0]))
        w = problem.mask.copy()
        w[points[0][cut:]] = 0.0
        held_out.append((w, 0, slice(cut, None)))
    with progress.task(
        f"bootstrap: {n_boot} refits + {len(held_out)} held-out", total=n_boot + len(held_out)
    ) as bar:
        boot, ok = _refit(problem, law, theta, weights, delta, bar=bar)
        sub_params, _ = _refit(
            problem, law, theta, np.stack([h[0] for h in held_out]), delta, exact=True, bar=bar
        )
    # A replicate whose refit failed is no bootstrap estimate: the errors and the band use
    # the replicates that converged (Uncertainty.warnings says so when many failed).
    keep = np.all(np.isfinite(boot), axis=1) & ok
    errors = []
    for (_, i, part), p in zip(held_out, sub_params):
        c = fitted[i]
        steps, loss = c.steps[c.window(min_step)][part], problem.losses[i][part]
        # A refit stopped by the iteration cap still predicts usefully: keep it.
        if np.all(np.isfinite(p)) and steps.size:
            pred = predict_curve(law, p, c.lr, steps)
            errors.append((loss - pred) / pred)
    return Uncertainty(
        scheme="curve+block" if len(fitted) > 1 else "block",
        params=boot[keep],
        converged=float(np.mean(ok)),
        blocks={c.name: b for c, b in zip(fitted, blocks)},
        errors=np.concatenate(errors) if errors else np.zeros(0),
        error_source=source if errors else "none (the refits failed)",
        seed=seed,
    )
