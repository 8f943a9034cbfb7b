r"""Predict while a run trains: :class:`Watcher` refits a law as losses arrive.

>>> w = Watcher("wsd:peak=3e-4,total=24000,decay_start=20000,final=3e-5,warmup=2160",
...             target_loss=3.0, what_if={"cooldown": [0.1, 0.2]})      # doctest: +SKIP
>>> p = w.update(12000, 3.21)                                           # doctest: +SKIP
>>> p.final_loss, p.final_lo, p.final_hi, p.target_step                 # doctest: +SKIP

**Refits.**  The first fit (once ``min_points`` losses lie after the warmup)
uses :func:`lrlaw.fitting.core.fit` with its normal start grid; every later refit
starts from the previous fit's parameters (``fit(..., init=...)``), a single
Levenberg--Marquardt solve of one row, on the window the previous fit kept
when it left a start transient out (:meth:`Watcher._warm_fit`).  A refit happens
when the last step has grown by ``refit_growth`` (default 2 %) since the last
refit, or after ``refit_every`` new losses (off by default).  The losses given
to the fit are averaged into at most ``fit_points`` (64) step bins
(:func:`lrlaw.io.cleaning.resample`), so the fit always has the same padded
size and JAX compiles it once; the predictions at other steps are computed in
a few fixed padded sizes (:meth:`Watcher._lp_jac`), so a growing log compiles
nothing new.  With the efflr law on a per-step log of 50k steps a refit takes
about 0.2 s (``benchmarks/bench_watch.py``).

**The annealing coefficient before the cooldown (momentum law).**  While the
LR has not decayed, ``S2 = 0`` and the data say nothing about ``C``, the
coefficient that turns a cooldown into a loss drop (a fit puts it at 0 and
predicts no cooldown gain: +3 % on the MPL WSD run at half way).  The watcher
uses the momentum law with ``warmup="ignore"`` (S2 counts LR decreases only,
so a constant phase leaves ``C`` exactly undetermined) and a log-normal prior
on the *anneal gain* ``g = C * peak_lr / ((1 - lam) * L)``: the fraction of
the current loss ``L`` that a slow anneal from the peak LR to 0 removes.
The prior is centred on ``g = 4.5 %`` with a log-sd of 0.5 (90 % between 2 %
and 10 %): joint fits of the shipped runs give 3.2 % (MPL 25M), 4.4 % (MPL
100M) and 7.0 % (124M).  It enters as one extra least-squares residual
``(log C - log C_prior) / 0.5``; once the cooldown is observed the data
outweigh it (:attr:`Prediction.prior_share` says how much of ``C``'s
precision comes from the prior).  Other laws get no prior.

**The point estimate.**  Without a prior the watcher's parameters are the fit's
own optimum (:func:`lrlaw.fitting.core.fit`, on the window it kept); with the
anneal prior they are the MAP of the binned log losses and the prior, by
Levenberg--Marquardt from the fit's optimum run to convergence
(:meth:`Watcher._map`; at most 17 iterations for the momentum law on four
shipped runs replayed).  Earlier a 20-iteration re-solve of every law, as plain
least squares over every bin, stopped part of the way to an optimum that for the
efflr law is degenerate before the decay (converged: ``r = 0.19`` and a final
loss 26 % low on the 124M cosine run at 30 % of the run, against 18 % when
stopped), so the prediction depended on where it stopped.  A weak log-normal
prior on efflr's ``r`` alone did not cure that: converged, the fits slid along
``L0``-``alpha``-``A`` instead (-36 % on the 25M cosine run at 20 %).

**Band (cheap, linearised).**  A Laplace / delta-method band: the parameter
covariance is the inverse of ``J^T J / sigma^2`` (plus the prior), with ``J``
the Jacobian of the log prediction at the binned points with respect to the
solver's (log) parameters, and ``sigma^2`` the residual variance times the
residuals' integrated autocorrelation time (:func:`lrlaw.fitting.uncertainty.block_length`),
because a law's misses are correlated along a curve.  A prediction's log sd
is ``sqrt(g^T Cov g + model_error^2)``; the 90 % band is ``exp(+-1.645 sd)``.
``model_error`` (default 0.5 %, relative) stands for the law's own error on
a schedule it extrapolates to, and the change of the log final prediction
at the latest refit is added too (a prediction that just jumped is
uncertain); ``benchmarks/bench_watch.py`` measures how often the band covers
the true final loss.  No bootstrap is run.

**Is the annealing term identified?**  Before the LR decays, the losses say
nothing about how much the decay still ahead will lower the loss: the momentum
law's answer then comes from the prior above, and a law without a prior (multi-
power, efflr) prints whatever its fit lands on (multi-power: -71 % on the 124M
WSD run at half way, with a band from -97 % to +217 %).  Each refit computes that
gain, ``g = log L_held(T) - log L(T)`` (the law's final loss with the LR held at
its current value, against the one under the schedule), and its sd from the same
covariance; :attr:`Prediction.anneal_identified` is False while the losses do not
determine it (see :class:`Prediction`), the summary line says so, and, without
a prior, the band's top is raised to ``L_held(T)``, which the decay can only lower.

**When the LR starts to fall** (a sudden drop, the start of a cooldown) the
momentum law's refits wait until half of the annealing area owed to the
decreases so far has accrued (693 steps after a sudden drop for lam = 0.999),
and the last prediction stands meanwhile (:attr:`Prediction.hold_until`,
:meth:`Watcher._holding`): the loss falls faster at first than the law's single
time scale allows, and a fit on the first losses of the decrease extrapolated
that fast response to the whole decrease (-8 to -11 % on the shipped runs).
A hold lasts at most ``hold_max`` (5 %) of the run, so that on a run not much
longer than ``1 / (1 - lam)`` it ends.

**Deviations.**  Each new loss is compared, as it arrives, with a
*reference*: the prediction of the latest refit that ended at least
``deviation_lag`` (10 %) of the run before it, so that the refits, which
follow a deviation, do not hide it (fits that ended within that lag after a
sudden LR drop (as below) saw too little of its effect
and are skipped).  ``z = (log loss - log ref) / s`` with
``s^2 = sd_ref^2 + s_obs^2 + (moved / 2)^2``: the reference's sd, the RMS
``s_obs`` of its latest log residuals, and half of how far the later refits
moved the prediction at that step.  ``deviation_points`` (default 5)
consecutive losses with ``z > deviation_z`` (default 2) raise a
:class:`Deviation`, so one spike does not.  Its kind, from the losses of the
stretch: ``divergence`` (the loss itself rises by more than its scatter),
``spike`` (above the band, jumped out of it by more than ``2 * deviation_z``,
and falls back; a stretch that falls back without such a jump is a transient
miss of the law and is not flagged), ``plateau`` (otherwise: the loss stalls
while the law predicts a fall).  Losses below the band are not flagged (the
refits follow them).

**What if the cooldown started now.**  ``what_if={"cooldown": [0.1, 0.2]}``:
for each fraction ``f``, a cooldown that starts at the last step seen ``s``
(and, for ``starts``, at later points of the run), holds nothing back, and
decays the LR linearly from its value at ``s`` to the schedule's final LR
over ``d = round(f * T)`` steps (``T`` the schedule's total); training stops
at ``s + d``.  :attr:`Prediction.what_if` gives the predicted loss at
``s + d`` with its band.

**Robust.**  NaN/inf and non-positive losses are skipped and counted; a step
at or before the last one seen (a resumed run) drops the stored losses from
that step on (the later entry wins, as in :mod:`lrlaw.io.cleaning`); an
exception inside a refit keeps the last good prediction and records the
error (:attr:`Prediction.error`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lrlaw._x64 import with_x64
from lrlaw.errors import LrlawError

__all__ = ["Deviation", "Prediction", "Watcher", "WhatIf"]

_Z90 = 1.6448536269514722
#: Prior on the anneal gain of the momentum law: (centre, log-sd); see module docstring.
ANNEAL_PRIOR = (0.045, 0.5)
_STATE_FORMAT = "lrlaw.watch.state/1"
_GRID = 512  # steps on which the prediction and its sd are tabulated
_CHUNK = 512  # most steps per call of the compiled prediction (see Watcher._lp_jac)


@dataclass(frozen=True)
class Deviation:
    """A sustained stretch of losses above the prediction band.

    Attributes:
        kind: ``"divergence"``, ``"spike"`` or ``"plateau"``.
        start_step, end_step: first and last step of the stretch.
        n_points: losses in the stretch.
        excess: median relative excess of the loss over the prediction.
        active: the stretch is still going on (the last loss is above the band).
    """

    kind: str
    start_step: int
    end_step: int
    n_points: int
    excess: float
    active: bool = True

    def describe(self) -> str:
        state = "" if self.active else " (ended)"
        return (
            f"{self.kind} at steps {self.start_step}-{self.end_step}{state}: "
            f"{self.n_points} losses {100 * self.excess:+.2f} % above the prediction"
        )


@dataclass(frozen=True)
class WhatIf:
    """Predicted loss when a linear cooldown over ``fraction`` of the run starts at ``start``."""

    fraction: float
    start: int
    end: int
    loss: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Prediction:
    """What the watcher predicts after the latest update (see :class:`Watcher`).

    ``final_*`` are at ``final_step`` (the schedule's last step); ``at`` maps
    each requested step to ``(loss, lo, hi)``; ``change`` is the predicted
    final loss minus the one of the previous refit.  Before the first fit
    ``fitted`` is False and the predictions are ``None``.  ``hold_until``: the
    refits wait for this step after a sudden LR drop (see
    :meth:`Watcher._holding`); None when they do not wait.

    ``anneal_gain``: the share of the final loss that the LR decrease still ahead
    is predicted to remove (the final loss with the LR held at its current value,
    minus the final loss under the schedule, over the former); ``anneal_sd`` the
    log sd of that gain from the fit.  ``anneal_identified``: None when less
    than 10 % of the LR's fall is still ahead (there is little left to predict),
    else whether the losses so far determine that gain: its sd is at most
    ``max(0.5 g, model_error)`` (within +-50 %, or within the law error the band
    already admits) and, for the momentum law, the anneal prior gives at most
    half of ``C``'s precision (:attr:`prior_share`).  When it is False the summary says
    so, and (without a prior) the band's top is raised to the loss with the LR
    held, which the decay can only lower (see :class:`Watcher`).
    """

    step: int
    n_points: int
    final_step: int
    fitted: bool = False
    final_loss: float | None = None
    final_lo: float | None = None
    final_hi: float | None = None
    at: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    target_loss: float | None = None
    target_step: int | None = None
    change: float | None = None
    what_if: tuple[WhatIf, ...] = ()
    deviation: Deviation | None = None
    params: dict[str, float] = field(default_factory=dict)
    prior_share: float | None = None
    fit_step: int | None = None
    refits: int = 0
    refit_seconds: float = 0.0
    skipped: int = 0
    dropped: int = 0
    error: str | None = None
    hold_until: int | None = None
    anneal_gain: float | None = None
    anneal_sd: float | None = None
    anneal_identified: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (``at`` keyed by step as text)."""
        data = asdict(self)
        data["at"] = {str(k): list(v) for k, v in self.at.items()}
        return {"format": "lrlaw.watch/1", **data}

    def metrics(self, prefix: str = "pred/") -> dict[str, float]:
        """Scalars to log next to the loss (W&B, TensorBoard, MLflow, Lightning).

        ``final_loss``, ``final_lo``, ``final_hi`` (the 90 % band), ``change``,
        ``target_step``, ``loss_at_STEP``, ``cooldown_F_now`` (the what-if loss of a
        cooldown over ``F`` of the run starting now), ``deviation`` (1 while a
        deviation is active, else 0), ``refits``, ``anneal_gain`` and
        ``anneal_identified`` (1 or 0; absent when there is no decay ahead); each
        name after ``prefix``.
        Empty before the first fit; values that are unknown are left out.
        """
        if not self.fitted:
            return {}
        out = {
            "final_loss": self.final_loss,
            "final_lo": self.final_lo,
            "final_hi": self.final_hi,
            "change": self.change,
            "target_step": self.target_step,
            "deviation": float(self.deviation is not None and self.deviation.active),
            "refits": self.refits,
            "anneal_gain": self.anneal_gain,
            "anneal_identified": (
                None if self.anneal_identified is None else float(self.anneal_identified)
            ),
        }
        for s, (y, _, _) in self.at.items():
            out[f"loss_at_{s}"] = y
        for w in self.what_if:
            if w.start == self.fit_step:
                out[f"cooldown_{w.fraction:g}_now"] = w.loss
        return {
            prefix + k: float(v)
            for k, v in out.items()
            if v is not None and math.isfinite(float(v))
        }

    def summary(self) -> str:
        """One line: step, predicted final loss and band, target, what-if, deviation, errors."""
        if not self.fitted:
            text = f"step {self.step}: {self.n_points} losses, waiting for the first fit"
        else:
            text = (
                f"step {self.step}: final loss at {self.final_step} {self.final_loss:.4f} "
                f"[{self.final_lo:.4f}, {self.final_hi:.4f}]"
            )
            if self.change is not None:
                text += f" ({self.change:+.4f})"
            if self.target_loss is not None:
                reach = "not reached" if self.target_step is None else f"step {self.target_step}"
                text += f"; {self.target_loss:g} at {reach}"
            for w in self.what_if:
                if w.start == self.step:
                    text += f"; cooldown {w.fraction:g} now: {w.loss:.4f} at {w.end}"
        if self.fitted and self.anneal_identified is False:
            gain = 100 * (self.anneal_gain or 0.0)
            if self.prior_share is not None and self.prior_share > 0.5:
                text += (
                    f"; the gain of the LR decay still ahead ({gain:.1f} %) rests on the "
                    "anneal prior, not yet on the losses"
                )
            else:
                text += (
                    f"; ANNEALING TERM NOT YET IDENTIFIED: the LR decay still ahead would "
                    f"remove {gain:.1f} % (x/÷ {math.exp(self.anneal_sd or 0.0):.2f}); "
                    "the band's top is the loss with the LR held"
                )
        if self.deviation is not None and self.deviation.active:
            text += f"; DEVIATION {self.deviation.describe()}"
        if self.hold_until is not None:
            text += f"; refits wait for step {self.hold_until} (the LR just fell)"
        if self.skipped or self.dropped:
            text += f"; {self.skipped} skipped, {self.dropped} dropped"
        if self.error:
            text += f"; refit failed: {self.error}"
        return text


def _lr_array(schedule: Any) -> tuple[np.ndarray | None, str]:
    if schedule is None:
        return None, "learned from updates"
    if isinstance(schedule, str):
        from lrlaw.schedules import parse_schedule

        sched = parse_schedule(schedule)
        if sched.total is None:
            raise LrlawError(f"schedule {schedule!r} has no total; add total=STEPS")
        return sched.values(), sched.spec
    if hasattr(schedule, "values") and hasattr(schedule, "spec"):
        if schedule.total is None:
            raise LrlawError(f"schedule {schedule.spec!r} has no total; add total=STEPS")
        return schedule.values(), schedule.spec
    lr = np.asarray(schedule, dtype=np.float64)
    if lr.ndim != 1 or lr.size < 2 or not np.all(np.isfinite(lr)) or np.any(lr < 0):
        raise LrlawError("schedule: expected a spec, a Schedule or a 1-D array of LRs >= 0")
    return lr, f"array:n={lr.size}"


def _prepared(law, lr: np.ndarray, steps: np.ndarray, size: int):
    from lrlaw.laws.base import bucket

    lr = np.pad(lr, (0, bucket(lr.size, 1024) - lr.size), mode="edge")
    steps = np.pad(np.asarray(steps, dtype=np.int64), (0, size - steps.size), mode="edge")
    return law.prepare(lr, steps)


def _transient_cut(result: Any) -> int | None:
    """How many leading points a fit left out as a start transient (None: none)."""
    (entry,) = result.curves
    return int(entry["transient"]["points"]) if "transient" in entry else None


@jax.jit(static_argnames=("law",))
def _logpred_jac(law, theta: jax.Array, prepared: Any) -> tuple[jax.Array, jax.Array]:
    def f(t: jax.Array) -> jax.Array:
        return jnp.log(jnp.maximum(law.predict(law.from_unconstrained(t), prepared), 1e-12))

    return f(theta), jax.jacfwd(f)(theta)


class Watcher:
    """Refit a loss-curve law while a run trains; see the module docstring for the method.

    Args:
        schedule: the run's schedule: a spec string, a
            :class:`~lrlaw.schedules.Schedule` or a per-step LR array; ``None``
            learns it from the ``lr`` of the updates (the future LR is then
            assumed to stay at the last logged value up to ``total_steps``).
        law: a law name or :class:`~lrlaw.laws.Law`; ``"momentum"`` (default)
            means ``MomentumLaw(warmup="ignore")`` with the anneal prior.
        min_points: losses after the warmup needed before the first fit.
        refit_every: refit after this many new losses (None: only by growth).
        refit_growth: refit when the last step has grown by this fraction.
        target_loss: report the first future step the prediction reaches it.
        what_if: ``{"cooldown": [fractions], "starts": [fractions of the run]}``.
        at_steps: also predict the loss at these steps.
        total_steps: the run's length when ``schedule`` is None.
        fit_points: bins the losses are averaged into for the fit.
        anneal_prior: ``(gain, log_sd)`` for the momentum law, None for no prior.
        model_error: relative law error added to every band (in quadrature).
        deviation_z, deviation_points: the deviation alarm (module docstring).
        hold_fraction: momentum law: refits wait while ``S2`` has reached less than
            this share of the area owed to the LR decreases so far (0: never wait;
            see :meth:`_holding`).
        hold_max: a hold lasts at most this share of the run's length (see
            :meth:`_holding`).
    """

    #: Most Levenberg-Marquardt iterations of the MAP with a prior (:meth:`_map`).
    _map_iterations = 200
    _map_steps = 0  # iterations of the latest MAP

    def __init__(
        self,
        schedule: Any = None,
        law: Any = "momentum",
        *,
        min_points: int = 20,
        refit_every: int | None = None,
        refit_growth: float = 0.02,
        target_loss: float | None = None,
        what_if: Mapping[str, Sequence[float]] | None = None,
        at_steps: Iterable[int] = (),
        total_steps: int | None = None,
        fit_points: int = 64,
        min_step: int | None = None,
        anneal_prior: tuple[float, float] | None = ANNEAL_PRIOR,
        model_error: float = 0.005,
        deviation_z: float = 2.0,
        deviation_points: int = 5,
        deviation_lag: float = 0.1,
        hold_fraction: float = 0.5,
        hold_max: float = 0.05,
        name: str = "run",
    ) -> None:
        from lrlaw.curves import detect_warmup
        from lrlaw.laws import MomentumLaw, get_law

        if isinstance(law, str):
            law = MomentumLaw(warmup="ignore") if law == "momentum" else get_law(law)
        self.law = law
        self.lr, self.schedule_text = _lr_array(schedule)
        if self.lr is None and total_steps is None:
            self.total = None
        else:
            self.total = int(total_steps) if self.lr is None else self.lr.size - 1
        self.warmup = 0 if self.lr is None else detect_warmup(self.lr)
        if min_points < len(law.param_names) + 1:
            raise LrlawError(f"min_points={min_points} must be > the law's parameter count")
        self.min_points = int(min_points)
        self.refit_every = refit_every
        self.refit_growth = float(refit_growth)
        self.target_loss = target_loss
        what_if = dict(what_if or {})
        unknown = set(what_if) - {"cooldown", "starts"}
        if unknown:
            raise LrlawError(
                f"what_if: unknown key(s) {sorted(unknown)}; expected cooldown, starts"
            )
        self.cooldowns = tuple(float(f) for f in what_if.get("cooldown", ()))
        if any(not 0 < f <= 1 for f in self.cooldowns):
            raise LrlawError("what_if cooldown fractions must be in (0, 1]")
        self.starts = tuple(float(f) for f in what_if.get("starts", ()))
        self.at_steps = tuple(sorted({int(s) for s in at_steps}))
        self.fit_points = int(fit_points)
        self.min_step = min_step
        self.anneal_prior = anneal_prior if isinstance(law, MomentumLaw) else None
        self.model_error = float(model_error)
        self.deviation_z = float(deviation_z)
        self.deviation_points = int(deviation_points)
        self.deviation_lag = float(deviation_lag)
        self.hold_fraction = float(hold_fraction)
        self.hold_max = float(hold_max)
        self.name = name
        self._reset()

    def _reset(self) -> None:
        """Forget every observation and fit (the options stay)."""
        self._seen: tuple[np.ndarray, np.ndarray] | None = None
        # Observations (cleaned as they arrive).
        self._steps: list[int] = []
        self._loss: list[float] = []
        self._lr_seen: dict[int, float] = {}
        self.skipped = 0
        self.dropped = 0
        # Fit state.
        self._theta_data: dict[str, float] | None = None
        self._cut: int | None = None  # leading binned losses the last fit left out (transient)
        self._drops: np.ndarray | None = None
        self._grids: list[tuple[int, tuple[np.ndarray, ...], float]] = []
        self._s_obs = 0.0
        self._jump = 0.0  # change of the log final prediction at the latest refit
        self._since_fit = 0
        self._fit_step = 0
        self.refits = 0
        self.errors: list[str] = []
        self.deviations: list[Deviation] = []
        self._stretch: list[tuple[int, float, float, float]] = []  # step, loss, pred, z
        self.prediction = Prediction(step=-1, n_points=0, final_step=self.total or 0)

    # ------------------------------------------------------------------ results
    def observed(self) -> tuple[np.ndarray, np.ndarray]:
        """The losses kept so far (cleaned): ``(steps, losses)``."""
        return np.asarray(self._steps, dtype=np.int64), np.asarray(self._loss, dtype=np.float64)

    def predicted_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """The latest refit's prediction on a grid of steps up to the schedule's end:
        ``(steps, loss, lo, hi)`` with the 90 % band; None before the first fit."""
        if not self._grids:
            return None
        gs, lp, sd = self._grids[-1][1]
        return gs, np.exp(lp), np.exp(lp - _Z90 * sd), np.exp(lp + _Z90 * sd)

    def figure(self) -> Any:
        """A matplotlib figure: the losses seen, the predicted rest of the run with its
        90 % band, the predicted final loss, and the LR schedule below."""
        from matplotlib.figure import Figure

        from lrlaw.plot import focus_top

        fig = Figure(figsize=(8, 6), layout="constrained")
        ax, ax_lr = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        steps, loss = self.observed()
        if steps.size:
            ax.plot(steps, loss, ".", ms=3, color="0.3", label="logged loss")
        curve = self.predicted_curve()
        p = self.prediction
        if curve is not None:
            gs, y, lo, hi = curve
            ax.plot(gs, y, color="C0", label=f"{self.law.name} law, fit at step {p.fit_step}")
            ax.fill_between(gs, lo, hi, color="C0", alpha=0.25, lw=0, label="90 % band")
            if p.final_loss is not None:
                ax.errorbar(
                    [p.final_step],
                    [p.final_loss],
                    yerr=[[p.final_loss - p.final_lo], [p.final_hi - p.final_loss]],
                    fmt="o",
                    color="C3",
                    capsize=3,
                    label=f"final {p.final_loss:.4f} [{p.final_lo:.4f}, {p.final_hi:.4f}]",
                )
            top = max(focus_top(steps, loss) if steps.size else -np.inf, float(np.max(hi)))
            bottom = min(float(np.min(lo)), float(np.min(loss)) if steps.size else np.inf)
            ax.set_ylim(bottom - 0.02 * (top - bottom), top + 0.02 * (top - bottom))
        if p.deviation is not None:
            ax.axvspan(p.deviation.start_step, p.deviation.end_step, color="C3", alpha=0.15)
        if p.target_loss is not None:
            ax.axhline(p.target_loss, color="0.5", lw=0.8, ls=":")
        ax.set_ylabel("loss")
        ax.set_title(f"{self.name}: step {p.step}")
        ax.legend(fontsize=8)
        try:
            lr = self._schedule_now()
        except LrlawError:
            lr = None
        if lr is not None:
            ax_lr.plot(np.arange(lr.size), lr, color="0.3")
        ax_lr.set_ylabel("learning rate")
        ax_lr.set_xlabel("step")
        return fig

    # ------------------------------------------------------------------ updates
    def update(self, step: int, loss: float, lr: float | None = None) -> Prediction:
        """Add one logged loss (and the LR at that step) and return the current prediction."""
        self._add(step, loss, lr)
        return self._maybe_refit()

    def update_many(
        self, steps: Iterable[int], losses: Iterable[float], lrs: Iterable[float] | None = None
    ) -> Prediction:
        """Add many losses (checked one by one for deviations), then refit at most once."""
        steps, losses = list(steps), list(losses)
        lrs = [None] * len(steps) if lrs is None else list(lrs)
        if not len(steps) == len(losses) == len(lrs):
            raise LrlawError("update_many: steps, losses and lrs must have equal lengths")
        for s, y, r in zip(steps, losses, lrs):
            self._add(s, y, r)
        return self._maybe_refit()

    def state_dict(self) -> dict[str, Any]:
        """The losses and LRs seen so far, as plain JSON-able lists, for a trainer's
        checkpoint; :meth:`load_state_dict` replays them after a resume."""
        lr_steps = sorted(self._lr_seen)
        return {
            "format": _STATE_FORMAT,
            "steps": [int(s) for s in self._steps],
            "loss": [float(y) for y in self._loss],
            "lr_steps": lr_steps,
            "lr": [self._lr_seen[s] for s in lr_steps],
            "skipped": int(self.skipped),
            "dropped": int(self.dropped),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> Prediction:
        """Start again from the observations of :meth:`state_dict` (a resumed run: the
        trainer is back at the checkpoint's step) and refit once; the options stay."""
        if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT:
            raise LrlawError(f"watch state: expected a mapping with format {_STATE_FORMAT!r}")
        try:
            steps = [int(s) for s in state["steps"]]
            loss = [float(y) for y in state["loss"]]
            lr_steps = [int(s) for s in state.get("lr_steps", ())]
            lrs = [float(r) for r in state.get("lr", ())]
        except (KeyError, TypeError, ValueError) as e:
            raise LrlawError(f"watch state: bad or missing field ({e})") from None
        if len(steps) != len(loss) or len(lr_steps) != len(lrs):
            raise LrlawError("watch state: steps/loss or lr_steps/lr differ in length")
        self._reset()
        self.update_lr(lr_steps, lrs)
        self.update_many(steps, loss)
        self.skipped += int(state.get("skipped", 0))
        self.dropped += int(state.get("dropped", 0))
        self.prediction = self._current()
        return self.prediction

    def update_lr(self, steps: Iterable[int], lrs: Iterable[float]) -> None:
        """Record logged LRs (a schedule learned from the log; the last entry of a step wins)."""
        for s, r in zip(steps, lrs):
            if r is not None and math.isfinite(float(r)) and float(r) >= 0:
                self._lr_seen[int(s)] = float(r)

    def _add(self, step: int, loss: float, lr: float | None) -> None:
        step = int(step)
        if lr is not None and math.isfinite(float(lr)) and float(lr) >= 0:
            self._lr_seen[step] = float(lr)
        if self._steps and step <= self._steps[-1]:
            # Resumed run: the later entries win from this step on.
            cut = int(np.searchsorted(np.asarray(self._steps), step))
            self.dropped += len(self._steps) - cut
            del self._steps[cut:], self._loss[cut:]
            self._stretch = [x for x in self._stretch if x[0] < step]
            self._grids = [g for g in self._grids if g[0] < step]
        try:
            y = float(loss)
        except (TypeError, ValueError):
            y = math.nan
        if not (math.isfinite(y) and y > 0):
            self.skipped += 1
            return
        self._steps.append(step)
        self._loss.append(y)
        self._since_fit += 1
        self._check(step, y)

    def _check(self, step: int, y: float) -> None:
        """Compare a new loss with the latest prediction (the deviation alarm)."""
        # The reference is the latest refit that ended ``deviation_lag`` of the run
        # before this step, so that refits that follow a deviation do not hide it.
        ref = None
        for fit_step, grid, s_obs in reversed(self._grids):
            if self._after_drop(fit_step):
                continue
            if fit_step <= step * (1 - self.deviation_lag):
                ref = grid, s_obs
                break
        if ref is None:
            return
        (gs, lp, sd), s_obs = ref
        pred = float(np.interp(step, gs, lp))
        # How far the refits since the reference moved the prediction at this step:
        # a reference that the later data revised is a less certain reference.
        gl, lpl, _ = self._grids[-1][1]
        moved = float(np.interp(step, gl, lpl)) - pred
        s = math.sqrt(float(np.interp(step, gs, sd)) ** 2 + s_obs**2 + (moved / 2) ** 2)
        z = (math.log(y) - pred) / s
        if z > self.deviation_z:
            self._stretch.append((step, y, math.exp(pred), z))
            return
        event = self._classify() if len(self._stretch) >= self.deviation_points else None
        if event is not None:
            self.deviations.append(replace(event, active=False))
        self._stretch = []

    def _after_drop(self, fit_step: int) -> bool:
        """The fit ended just after a sudden LR drop (it saw too little of the drop's
        effect to be a reference): within ``deviation_lag`` of the drop's step."""
        if self.lr is None:
            return False
        drops = self._sudden_drops()
        d = drops[drops <= fit_step]
        return bool(d.size) and fit_step <= d[-1] * (1 + self.deviation_lag)

    def _classify(self) -> Deviation | None:
        st = np.array([x[0] for x in self._stretch], dtype=np.float64)
        ys = np.log([x[1] for x in self._stretch])
        ex = ys - np.log([x[2] for x in self._stretch])
        x = st - st.mean()
        sxx = max(float(x @ x), 1e-12)
        span = st[-1] - st[0]
        b_rise = float(x @ (ys - ys.mean()) / sxx)
        resid = ys - ys.mean() - b_rise * x
        # Noise of the change over the stretch: the scatter about the line (>= 0.05 %).
        noise = max(2 * float(np.std(resid)) * span / math.sqrt(sxx) if st.size > 2 else 0, 5e-4)
        rise = b_rise * span  # change of the log loss over the stretch
        grow = float(x @ (ex - ex.mean()) / sxx) * span  # change of the excess
        if rise > noise:
            kind = "divergence"  # the loss itself rises: no law here predicts that
        elif grow < -noise:
            # Above the band but coming back: a spike when it jumped well out of the
            # band, else a transient miss of the law (after an LR drop): not flagged.
            if max(x[3] for x in self._stretch) < 2 * self.deviation_z:
                return None
            kind = "spike"
        else:
            kind = "plateau"  # the loss stalls while the law predicts a fall
        return Deviation(kind, int(st[0]), int(st[-1]), len(st), float(np.median(np.expm1(ex))))

    # ------------------------------------------------------------------ refits
    def _window(self) -> tuple[np.ndarray, np.ndarray]:
        steps = np.asarray(self._steps, dtype=np.int64)
        loss = np.asarray(self._loss, dtype=np.float64)
        start = max(self.warmup if self.min_step is None else self.min_step, 1)
        keep = steps >= start
        return steps[keep], loss[keep]

    def _sudden_drops(self) -> np.ndarray:
        """Steps at which the given schedule's LR falls in one step by more than 20 % of
        its value and 5 % of the peak LR (not the last steps of a cosine to 0)."""
        if self.lr is None:
            return np.zeros(0, dtype=np.int64)
        if self._drops is None:
            lr = self.lr
            fall = lr[:-1] - lr[1:]
            big = (lr[1:] < 0.8 * lr[:-1]) & (fall > 0.05 * float(np.max(lr)))
            self._drops = np.flatnonzero(big) + 1
        return self._drops

    def _seen_fraction(self) -> np.ndarray | None:
        """Per step ``s``: the share of the annealing area owed to the LR decreases up to
        ``s`` that ``S2(s)`` has reached, ``S2 / (S2 + m_s lam / (1 - lam))`` (NaN before
        any decrease); None when the law has no ``lam`` (not the momentum law)."""
        from lrlaw.laws.areas import annealing_area, momentum

        lam = getattr(self.law, "lam", None)
        if lam is None or not 0 < lam < 1:
            return None
        lr = self._schedule_now()
        if self._seen is not None and self._seen[0] is lr:
            return self._seen[1]
        warmup = getattr(self.law, "warmup", "signed")
        s2 = np.asarray(annealing_area(lr, lam, warmup), dtype=np.float64)
        m = np.asarray(momentum(lr, lam, warmup), dtype=np.float64)
        owed = s2 + m * lam / (1 - lam)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(owed > 1e-12 * max(float(np.max(lr)), 1e-30), s2 / owed, np.nan)
        self._seen = (lr, frac)
        return frac

    def _holding(self) -> int | None:
        """While the refits wait after the start of an LR decrease: the step at which
        they resume (None: no wait).

        When the LR starts to fall (a sudden drop, or the start of a cooldown) the
        loss falls within a few hundred steps, faster than the momentum law's single
        time scale ``1 / (1 - lam)`` lets ``S2`` grow: a fit then sees ``S2`` at a
        small share of the area those decreases will add, and extrapolates the fast
        first response by the inverse of that share (-8 to -11 % on the shipped
        ``wsdcon`` runs one logged loss after their drop, -8.7 % one logged loss into
        the exponential cooldown of ``wsd_20000_24000``).  So the refits wait until
        ``hold_fraction`` (one half) of the area owed to the decreases so far is
        reached (:meth:`_seen_fraction`; 693 steps after a sudden drop for lam =
        0.999), and the last prediction, whose ``C`` rests on the anneal prior,
        stands meanwhile.

        That time scale is the law's, not the run's: on a run not much longer than
        ``1 / (1 - lam)`` steps the share is never reached and the refits would wait
        to the end.  So a hold lasts at most ``hold_max`` (5 %) of the run's length
        ``T`` from the step at which it began (the first step of the current stretch
        below ``hold_fraction``): 15 steps on a 300-step run; on the shipped runs
        (16k-50k steps) the share is reached first.
        """
        if not self.hold_fraction or not self._steps:
            return None
        try:
            frac = self._seen_fraction()
        except LrlawError:
            return None
        if frac is None:
            return None
        last = min(self._steps[-1], frac.size - 1)
        if not frac[last] < self.hold_fraction:  # NaN (no decrease yet) does not hold
            return None
        # The hold began after the last step at which the share was reached (or NaN).
        before = np.flatnonzero(~(frac[: last + 1] < self.hold_fraction))
        began = int(before[-1]) + 1 if before.size else 0
        total = frac.size - 1 if self.total is None else min(self.total, frac.size - 1)
        limit = began + max(1, math.ceil(self.hold_max * total))
        if last >= limit:
            return None
        ahead = np.flatnonzero(frac[last:] >= self.hold_fraction)
        end = int(last + ahead[0]) if ahead.size else int(frac.size - 1)
        return min(end, limit)

    def _due(self) -> bool:
        if not self._steps:
            return False
        if self._theta_data is None:
            return self._window()[0].size >= self.min_points
        if self._holding() is not None:
            return False
        if self.refit_every is not None and self._since_fit >= self.refit_every:
            return True
        return self._since_fit > 0 and self._steps[-1] >= self._fit_step * (1 + self.refit_growth)

    def _current(self) -> Prediction:
        hold = self._holding() if self._theta_data is not None else None
        active = None
        if len(self._stretch) >= self.deviation_points:
            active = self._classify()
        elif self.deviations and self.deviations[-1].end_step >= self._fit_step:
            active = None
        return replace(
            self.prediction,
            step=self._steps[-1] if self._steps else -1,
            n_points=len(self._steps),
            deviation=active,
            hold_until=hold,
            skipped=self.skipped,
            dropped=self.dropped,
        )

    def _maybe_refit(self) -> Prediction:
        if self._due():
            t0 = time.perf_counter()
            try:
                new = self._refit()
            except Exception as exc:  # keep the last good prediction
                msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self.errors.append(msg)
                self.prediction = replace(self.prediction, error=msg)
                self._since_fit = 0
                self._fit_step = self._steps[-1]
            else:
                self.refits += 1
                self.prediction = replace(
                    new, refits=self.refits, refit_seconds=time.perf_counter() - t0, error=None
                )
        self.prediction = self._current()
        return self.prediction

    def _schedule_now(self) -> np.ndarray:
        """The per-step LR for steps 0..final (a learned one held at its last value)."""
        if self.lr is not None:
            return self.lr
        if not self._lr_seen:
            raise LrlawError("no schedule given and no lr in the updates")
        s = np.array(sorted(self._lr_seen))
        v = np.array([self._lr_seen[k] for k in s])
        if s[0] > 0:
            raise LrlawError(
                f"the learned LR starts at step {int(s[0])}: the schedule before it is unknown; "
                "give the schedule"
            )
        last = max(int(self._steps[-1]), int(s[-1]))
        end = self.total if self.total is not None else 1 << (2 * last).bit_length()
        return np.interp(np.arange(max(end, last) + 1), s, v)

    @with_x64
    def _refit(self) -> Prediction:
        from lrlaw.curves import Curve
        from lrlaw.fitting import block_length, fit
        from lrlaw.io import resample

        law = self.law
        lr = self._schedule_now()
        if self.lr is None:
            from lrlaw.curves import detect_warmup

            self.warmup = detect_warmup(lr[: self._steps[-1] + 1])
        steps, loss = self._window()
        if steps.size < self.min_points:
            raise LrlawError(f"{steps.size} losses after the warmup; need {self.min_points}")
        bs, bl = resample(steps, loss, self.fit_points)
        curve = Curve(self.name, bs, bl, lr, warmup=0)
        self._since_fit = 0
        self._fit_step = int(self._steps[-1])
        result = None
        if self._theta_data is not None:
            try:
                result = self._warm_fit(curve)
            except LrlawError:
                result = None
        if result is None:
            result = fit([curve], law)
            self._cut = _transient_cut(result)
        self._theta_data = dict(result.params)
        # The MAP (with the anneal prior) and the Laplace covariance, at the binned points.
        size = max(self.fit_points, 64)
        size = max(size, bs.size)
        prep = _prepared(law, curve.lr, bs, size)
        mask = np.zeros(size)
        mask[: bs.size] = 1.0
        log_obs = np.zeros(size)
        log_obs[: bs.size] = np.log(bl)
        theta0 = np.asarray(law.to_unconstrained(jnp.asarray(result.param_vector)))
        lp, _ = _logpred_jac(law, jnp.asarray(theta0), prep)
        r = (log_obs - np.asarray(lp))[: bs.size]
        n, p = bs.size, theta0.size
        sigma2 = max(float(np.sum(r * r)) / max(n - p, 1), 1e-10) * block_length(r)
        prior = None
        if self.anneal_prior is not None:
            gain, log_sd = self.anneal_prior
            peak = float(np.max(lr))
            lam = getattr(law, "lam", 0.999)
            c0 = gain * float(np.median(bl[-max(3, n // 10) :])) * (1 - lam) / max(peak, 1e-30)
            prior = (law.param_names.index("C"), math.log(c0), float(log_sd))
        theta, hess = self._map(theta0, prep, log_obs, mask, sigma2, prior)
        cov = np.linalg.pinv(hess + 1e-12 * np.eye(p) * max(np.trace(hess), 1.0))
        prior_share = None
        if prior is not None:
            i, _, s = prior
            data_info = hess[i, i] - 1 / s**2
            prior_share = float((1 / s**2) / (data_info + 1 / s**2))
        params = np.asarray(law.from_unconstrained(jnp.asarray(theta)))
        # Residuals of the raw recent losses (observation noise for the alarm).
        final = lr.size - 1 if self.total is None else self.total
        recent = steps[-max(10, steps.size // 5) :]
        recent_loss = loss[-recent.size :]
        lp_recent = self._eval(theta, lr, recent)[0]
        self._s_obs = float(np.sqrt(np.mean((np.log(recent_loss) - lp_recent) ** 2)))
        # Tabulated prediction and sd for the alarm and the target.
        grid = np.unique(np.linspace(max(1, int(steps[0])), final, _GRID).astype(np.int64))
        wanted = np.array([s for s in self.at_steps if 1 <= s <= final], dtype=np.int64)
        all_steps = np.unique(np.concatenate([grid, wanted, [final]]))
        # A prediction that just jumped is uncertain: the band widens by the change of
        # the log prediction since the previous refit (at each step), in quadrature.
        self._jump = 0.0
        lp_all, sd_all = self._eval(theta, lr, all_steps, cov)
        if self._grids:
            gs, lp_prev, _ = self._grids[-1][1]
            i = int(np.searchsorted(all_steps, final))
            self._jump = float(lp_all[i] - np.interp(final, gs, lp_prev))
            sd_all = np.sqrt(sd_all**2 + self._jump**2)
        self._grids.append((int(self._steps[-1]), (all_steps, lp_all, sd_all), self._s_obs))

        def band(lp_: float, sd_: float) -> tuple[float, float, float]:
            return math.exp(lp_), math.exp(lp_ - _Z90 * sd_), math.exp(lp_ + _Z90 * sd_)

        idx = {int(s): i for i, s in enumerate(all_steps)}
        f, flo, fhi = band(lp_all[idx[final]], sd_all[idx[final]])
        now = int(self._steps[-1])
        gain, gain_sd, identified, held = self._anneal(theta, cov, lr, now, final, prior_share)
        if identified is False and prior is None:
            fhi = max(fhi, held)  # the decay ahead can only lower the loss
        at = {int(s): band(lp_all[idx[int(s)]], sd_all[idx[int(s)]]) for s in wanted}
        target_step = None
        if self.target_loss is not None:
            now = int(self._steps[-1])
            seen = np.flatnonzero(bl <= self.target_loss)  # already reached (binned losses)
            hit = np.flatnonzero((all_steps > now) & (np.exp(lp_all) <= self.target_loss))
            if seen.size:
                target_step = int(bs[seen[0]])
            elif hit.size:
                target_step = int(all_steps[hit[0]])
        change = None
        if self.prediction.fitted and self.prediction.final_loss is not None:
            change = f - self.prediction.final_loss
        return Prediction(
            step=int(self._steps[-1]),
            n_points=len(self._steps),
            final_step=int(final),
            fitted=True,
            final_loss=f,
            final_lo=flo,
            final_hi=fhi,
            at=at,
            target_loss=self.target_loss,
            target_step=target_step,
            change=change,
            what_if=self._what_ifs(theta, cov, lr, int(self._steps[-1]), final),
            params={k: float(v) for k, v in zip(law.param_names, params)},
            prior_share=prior_share,
            fit_step=int(self._steps[-1]),
            anneal_gain=gain,
            anneal_sd=gain_sd,
            anneal_identified=identified,
        )

    def _warm_fit(self, curve: Any) -> Any:
        """The refit warm-started from the previous fit (one start, at most 200 iterations).

        When the previous fit left a start transient out (its first :attr:`_cut` binned
        losses), the refit leaves out as many (``min_step`` at the next binned loss) and
        starts from the previous optimum: one solve, where the fit's own transient search
        (:func:`lrlaw.fitting.core.fit` with ``auto_window``) first refits the whole
        window, moving away from that optimum, and then refits the window it cuts, once
        per cut (three solves for the two leading bins of the 124M runs; with the efflr
        law at 50k steps each solve took 0.2-2 s).  The cut is kept only while the
        transient detector still finds exactly those points at the new fit
        (:meth:`_cut_holds`); otherwise, and when no transient was cut, the refit
        searches for one as before.
        """
        from lrlaw.fitting import fit

        if self._cut is not None and self._cut < curve.steps.size:
            first = int(curve.steps[self._cut])
            result = fit([curve], self.law, init=self._theta_data, max_steps=200, min_step=first)
            if self._cut_holds(curve, result):
                return result
        result = fit([curve], self.law, init=self._theta_data, max_steps=200)
        self._cut = _transient_cut(result)
        return result

    def _cut_holds(self, curve: Any, result: Any) -> bool:
        """Whether the start transient of ``result``'s residuals over the whole window
        (:func:`~lrlaw.fitting.weighting.start_transient`, with the noise of the binned
        losses as the fit estimates it) is still the first :attr:`_cut` points."""
        from lrlaw.fitting.weighting import noise_level, start_transient

        steps = curve.steps[curve.window()]
        log_loss = np.log(curve.loss[curve.window()])
        r = log_loss - np.log(result.predict(curve, steps))
        sigma = float(np.nan_to_num(noise_level(steps, log_loss)))
        k = start_transient(steps, r, np.full(steps.size, sigma))
        return k > 0 and k == self._cut

    def _anneal(
        self,
        theta: np.ndarray,
        cov: np.ndarray,
        lr: np.ndarray,
        now: int,
        final: int,
        prior_share: float | None,
    ) -> tuple[float | None, float | None, bool | None, float]:
        """Whether the losses so far identify what the LR decrease still ahead brings.

        ``g = log L_held(T) - log L(T)``: the law's final loss with the LR held at its
        value at ``now`` to the end, against the one under the schedule; its sd is
        ``sqrt(d^T Cov d)`` with ``d`` the difference of the two log predictions'
        gradients.  Returns ``(1 - exp(-g), sd, identified, L_held(T))``; see
        :class:`Prediction` for ``identified``.
        """
        now = min(now, final)
        held_lr = lr.copy()
        held_lr[now + 1 :] = lr[now]
        lp_a, j_a = self._lp_jac(theta, lr, np.array([final]))
        lp_h, j_h = self._lp_jac(theta, held_lr, np.array([final]))
        held = math.exp(float(lp_h[0]))
        g = float(lp_h[0] - lp_a[0])
        d = j_h[0] - j_a[0]
        sd = math.sqrt(max(float(d @ cov @ d), 0.0))
        if not lr[final] < 0.9 * lr[now]:
            return -math.expm1(-g), sd, None, held
        known = sd <= max(0.5 * abs(g), self.model_error)
        identified = known and (prior_share is None or prior_share <= 0.5)
        return -math.expm1(-g), sd, bool(identified), held

    def _lp_jac(
        self, theta: np.ndarray, lr: np.ndarray, steps: np.ndarray, size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log prediction and its Jacobian at ``steps``, padded to a power of two from 64
        to :data:`_CHUNK` points (``size`` when given), longer lists in pieces of
        :data:`_CHUNK`: the few padded sizes are compiled once, however long the log."""
        steps = np.asarray(steps, dtype=np.int64)
        if steps.size > _CHUNK:  # in pieces of one size (the recent raw losses of a long log)
            pieces = [
                self._lp_jac(theta, lr, steps[i : i + _CHUNK], _CHUNK)
                for i in range(0, steps.size, _CHUNK)
            ]
            return np.concatenate([x[0] for x in pieces]), np.concatenate([x[1] for x in pieces])
        size = size or max(64, 1 << max(steps.size - 1, 1).bit_length())
        lp, jac = _logpred_jac(self.law, jnp.asarray(theta), _prepared(self.law, lr, steps, size))
        return np.asarray(lp)[: steps.size], np.asarray(jac)[: steps.size]

    def _eval(
        self, theta: np.ndarray, lr: np.ndarray, steps: np.ndarray, cov: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log prediction at ``steps`` and (with ``cov``) its sd, model error included."""
        steps = np.asarray(steps, dtype=np.int64)
        lp, jac = self._lp_jac(theta, lr, steps)
        if cov is None:
            return lp, np.zeros(steps.size)
        var = np.einsum("ni,ij,nj->n", jac, cov, jac)
        return lp, np.sqrt(np.maximum(var, 0) + self.model_error**2 + self._jump**2)

    def _map(
        self,
        theta: np.ndarray,
        prep: Any,
        log_obs: np.ndarray,
        mask: np.ndarray,
        sigma2: float,
        prior: tuple[int, float, float] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The MAP of the binned log losses and the prior, and the Gauss-Newton Hessian
        ``J^T J`` there (residuals scaled by ``sigma``).

        Without a prior the MAP is the data fit itself (``theta``, the optimum of
        :func:`lrlaw.fitting.core.fit`): it is returned as it is.  (Re-solving it as
        plain least squares, as a 20-iteration step did before, moved it part of the way
        to a different optimum, which for the efflr law is degenerate before the decay:
        run to convergence it gave ``r = 0.19`` and a final loss 26 % low on the 124M
        cosine run at 30 %, against 18 % capped, so the answer depended on the cap.)
        With the anneal prior (one residual ``(mu - theta_i) / s``), Levenberg-Marquardt
        from the data fit, to convergence (relative decrease of the objective below
        1e-10, at most :attr:`_map_iterations`).
        """

        def pieces(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            lp, jac = _logpred_jac(self.law, jnp.asarray(t), prep)
            with np.errstate(invalid="ignore", over="ignore"):  # a trial step may give NaN
                r = (log_obs - np.asarray(lp)) * mask / math.sqrt(sigma2)
                jm = np.asarray(jac) * mask[:, None] / math.sqrt(sigma2)
            if prior is not None:
                i, mu, s = prior
                row = np.zeros(t.size)
                row[i] = 1 / s
                r = np.append(r, (mu - t[i]) / s)
                jm = np.vstack([jm, row])
            return r, jm

        t = np.asarray(theta, dtype=np.float64).copy()
        r, jm = pieces(t)
        self._map_steps = 0
        if prior is None:
            return t, jm.T @ jm
        obj, damp = float(r @ r), 1e-3
        cap = self._map_iterations
        for k in range(1, cap + 1):
            self._map_steps = k
            h = jm.T @ jm
            g = jm.T @ r
            try:
                step = np.linalg.solve(h + damp * np.diag(np.diag(h) + 1e-12), g)
            except np.linalg.LinAlgError:
                break
            t_new = t + step
            r_new, jm_new = pieces(t_new)
            obj_new = float(r_new @ r_new)
            if np.isfinite(obj_new) and obj_new < obj:
                done = obj - obj_new < 1e-10 * max(obj, 1.0)
                t, r, jm, obj, damp = t_new, r_new, jm_new, obj_new, damp / 3
                if done:
                    break
            else:
                damp *= 10
                if damp > 1e8:
                    break
        return t, jm.T @ jm

    def _what_ifs(self, theta, cov, lr, now: int, final: int) -> tuple[WhatIf, ...]:
        if not self.cooldowns or now >= final:
            return ()
        end_lr = float(lr[final])
        out = []
        starts = [
            now,
            *sorted({round(f * final) for f in self.starts if now < round(f * final) < final}),
        ]
        longest = max(self.cooldowns)
        length = final + round(longest * final) + 1  # one shape for every what-if
        for frac in self.cooldowns:
            d = max(1, round(frac * final))
            for s in starts:
                sched = np.empty(length)
                sched[: s + 1] = lr[: s + 1]
                top = float(lr[s])
                sched[s + 1 : s + d + 1] = top + (end_lr - top) * np.arange(1, d + 1) / d
                sched[s + d + 1 :] = end_lr
                lp, sd = self._eval(theta, sched, np.array([s + d]), cov)
                loss, lo, hi = (
                    math.exp(lp[0]),
                    math.exp(lp[0] - _Z90 * sd[0]),
                    math.exp(lp[0] + _Z90 * sd[0]),
                )
                out.append(WhatIf(frac, s, s + d, loss, lo, hi))
        return tuple(out)
