"""Fit-quality diagnostics: parameters at the edge of their range, parameters the
curves do not determine, and structure left in the residuals.

Each check returns plain-language warnings; :func:`lrlaw.fitting.core.fit` stores them in
the result (``FitResult.warnings``), the report prints them and the command
line repeats them on stderr.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "extrapolation_warnings",
    "identifiability_warnings",
    "lr_scale_warnings",
    "range_warnings",
    "residual_warnings",
    "schedule_warnings",
    "trend_warnings",
    "unidentified_params",
]


def schedule_warnings(lrs: Mapping[str, np.ndarray]) -> list[str]:
    """No training schedule anneals: annealing terms are then unconstrained extrapolations.

    ``lrs`` maps each curve to its LR over the fitted steps (warmup excluded).
    A schedule anneals if its LR falls by more than 1 % of its peak there.
    """
    if any(
        lr.size and lr.max() - lr[np.argmax(lr) :].min() > 0.01 * lr.max() for lr in lrs.values()
    ):
        return []
    return [
        "no training curve decays its learning rate, so the annealing term is fixed only by "
        "the warmup (if at all): predictions for decaying schedules are extrapolations; add a "
        "curve with a decay (cosine, WSD cooldown, step drop)"
    ]


#: A learning rate above this is implausible as logged (percent, or scaled by a factor).
MAX_PLAUSIBLE_LR = 1.0
#: A schedule whose peak LR is this many times above (or below) the fitted ones is far out.
LR_EXTRAPOLATION = 3.0
#: ... or that runs this many times longer than the longest fitted run.
LENGTH_EXTRAPOLATION = 4.0


def lr_scale_warnings(peaks: Mapping[str, float]) -> list[str]:
    """Curves whose largest LR cannot be a learning rate as logged (> 1: percent, scaled).

    The laws see the LR only through its areas, so a scaled LR still fits; but the
    fitted constants then hold only for schedules in the same units, and a prediction
    for a spec such as ``peak=3e-4`` is off by orders of magnitude.
    """
    bad = {k: v for k, v in peaks.items() if v > MAX_PLAUSIBLE_LR}
    if not bad:
        return []
    shown = ", ".join(f"{k} (peak {v:.4g})" for k, v in bad.items())
    return [
        f"the learning rate of {shown} is above {MAX_PLAUSIBLE_LR:g}, implausible for a "
        "learning rate as logged (in percent? multiplied by a factor?): the fit holds only for "
        "schedules in the same units; give the LR itself (--lr-col, or --schedule SPEC)"
    ]


def extrapolation_warnings(
    fitted: Sequence[Mapping], name: str, lr: np.ndarray, last_step: int | None = None
) -> list[str]:
    """A schedule far outside what a fit saw: its peak LR or its length.

    ``fitted`` are a fit's ``FitResult.curves`` entries (their ``peak_lr`` and
    ``window``); a schedule warns when its peak LR is more than
    :data:`LR_EXTRAPOLATION` times above the largest fitted peak or below the
    smallest, or when it runs (to ``last_step``, default its end) more than
    :data:`LENGTH_EXTRAPOLATION` times longer than the longest fitted window.
    Fits saved without these fields give no warning.
    """
    peaks = [float(c["peak_lr"]) for c in fitted if c.get("peak_lr")]
    ends = [int(c["window"][1]) for c in fitted if c.get("window")]
    out = []
    lr = np.asarray(lr, dtype=np.float64)
    peak = float(lr.max()) if lr.size else 0.0
    if peaks and peak > 0:
        lo, hi = min(peaks), max(peaks)
        if peak > LR_EXTRAPOLATION * hi or peak < lo / LR_EXTRAPOLATION:
            out.append(
                f"{name}: its peak LR {peak:.3g} is far outside the fitted runs' "
                f"({lo:.3g}..{hi:.3g}); the law was not fitted there, so its prediction is an "
                "extrapolation (fit runs at that LR, or plan with lrlaw hparams)"
            )
    end = (lr.size - 1) if last_step is None else int(last_step)
    if ends and end > LENGTH_EXTRAPOLATION * max(ends):
        out.append(
            f"{name}: it runs to step {end}, more than {LENGTH_EXTRAPOLATION:g}x the longest "
            f"fitted run ({max(ends)}); predictions that far out are extrapolations"
        )
    return out


def range_warnings(
    params: Mapping[str, float], typical: Mapping[str, tuple[float, float]]
) -> list[str]:
    """Parameters outside the range a law declares plausible (a degenerate limit)."""
    out = []
    for name, (lo, hi) in typical.items():
        v = params[name]
        if not lo <= v <= hi:
            out.append(
                f"{name} = {v:.4g} is outside its plausible range [{lo:g}, {hi:g}]: the fit "
                "drifts to a degenerate limit of the law; predictions far from the training "
                "schedules are unreliable"
            )
    return out


def identifiability_warnings(
    jacobian: np.ndarray, residuals: np.ndarray, names: Sequence[str]
) -> list[str]:
    r"""Parameters the data do not determine, from the Gauss-Newton covariance.

    ``Cov = s^2 (J^T J)^+`` with ``s^2 = sum r^2 / (n - p)`` for the residuals
    ``r`` and their Jacobian ``J`` with respect to the solver's parameters
    (``log`` of positive parameters), so ``sqrt(Cov_ii)`` is a relative error:
    above 1, the parameter is uncertain by more than a factor ``e``.
    (Residuals are autocorrelated, so this understates errors; it is a
    screening test, the bootstrap gives the reported errors.)
    """
    j = np.asarray(jacobian, dtype=np.float64)
    r = np.asarray(residuals, dtype=np.float64)
    n, p = j.shape
    if n <= p:
        return []
    s2 = float(r @ r) / (n - p)
    finite = np.all(np.isfinite(j), axis=0)
    if not finite.all():
        bad = ", ".join(name for name, ok in zip(names, finite) if not ok)
        return [
            f"the predicted curves' sensitivity to {bad} is not finite at the optimum (the "
            "fit sits at a degenerate limit of the law), so no parameter errors are available"
        ]
    # (J^T J)^+ from the SVD of J itself: forming J^T J squares the singular values and
    # overflows when a parameter runs off to a degenerate limit (e.g. B ~ 1e10).
    _, sv, vt = np.linalg.svd(j, full_matrices=False)
    if sv[0] == 0:
        return ["no parameter affects the predicted curves: the fit is undetermined"]
    keep = sv > np.sqrt(1e-15) * sv[0]  # = pinv(J^T J, rcond=1e-15)
    inv = np.where(keep, (1.0 / np.where(keep, sv, 1.0)) ** 2, 0.0)
    cov = (vt.T * inv) @ vt * max(s2, 1e-300)
    sigma = np.sqrt(np.maximum(np.diag(cov), 0.0))
    out = []
    top = float(np.max(np.abs(j)))  # scaled norms: no overflow for huge columns
    flat = top * np.linalg.norm(j / top, axis=0) <= 1e-10 * sv[0]
    for name, is_flat, s in zip(names, flat, sigma):
        if is_flat or s > 1.0:
            how = "does not affect the fit" if is_flat else f"has a relative error ~{s:.2g}"
            out.append(
                f"{name} is not identified by these curves (it {how}); add curves whose "
                "schedules differ where it matters (e.g. a decaying schedule for the "
                "annealing term)"
            )
    return out


def residual_warnings(residuals: Mapping[str, np.ndarray], threshold: float = 0.9) -> list[str]:
    """Curves whose residuals are strongly autocorrelated at lag 1 (systematic misfit)."""
    worst = []
    for name, r in residuals.items():
        r = np.asarray(r, dtype=np.float64)
        if r.size < 10 or np.std(r) == 0:
            continue
        acf = float(np.corrcoef(r[:-1], r[1:])[0, 1])
        if acf > threshold:
            worst.append(f"{name} ({acf:.2f})")
    if not worst:
        return []
    return [
        "residuals are strongly autocorrelated on " + ", ".join(worst) + ": the law misses "
        "systematic structure there (the bootstrap, fit --bootstrap, resamples blocks of "
        "points for this reason)"
    ]


def _chunk_medians(x: np.ndarray, k: int) -> np.ndarray:
    """The median of each of ``np.array_split(x, k)`` (``k <= x.size``), in two vectorised
    calls: the first ``x.size % k`` chunks hold one value more than the others.  The same
    values as a median per chunk, a tenth of the time of ~50 ``np.median`` calls."""
    q, r = divmod(x.size, k)
    head = np.median(x[: r * (q + 1)].reshape(r, q + 1), axis=1) if r else np.zeros(0)
    tail = np.median(x[r * (q + 1) :].reshape(k - r, q), axis=1)
    return np.concatenate([head, tail])


def trend_warnings(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], rise: float = 0.05
) -> list[str]:
    """Curves whose loss ends well above its minimum: a divergence, a restart, a bad log.

    ``curves`` maps each curve to its fitted ``(steps, loss)``.  The loss is cut into
    consecutive chunks of at least 10 points (at most 50 chunks) and each chunk's
    median taken (robust to noise and spikes); a curve warns when its last chunk
    lies more than ``rise`` (5 %) above the lowest one.  Every law here describes a
    loss that falls or levels off, so such a fit describes neither part of the run.
    """
    out = []
    for name, (steps, loss) in curves.items():
        loss = np.asarray(loss, dtype=np.float64)
        if loss.size < 20:
            continue
        chunks = np.array_split(np.arange(loss.size), min(50, loss.size // 10))
        med = _chunk_medians(loss, len(chunks))
        low = int(np.argmin(med))
        if med[-1] > (1.0 + rise) * med[low]:
            at = int(np.asarray(steps)[chunks[low][len(chunks[low]) // 2]])
            out.append(
                f"the loss of {name} rises from {med[low]:.4g} (around step {at}) to "
                f"{med[-1]:.4g} at the end (+{100 * (med[-1] / med[low] - 1):.0f} %): a "
                "divergence or a bad log? The laws describe a loss that falls or levels off; "
                "fit only the steps before the rise (trim the log) or check the run"
            )
    return out


def unidentified_params(warnings: Sequence[str], names: Sequence[str]) -> list[str]:
    """The parameters among ``names`` that :func:`identifiability_warnings` flagged in
    ``warnings`` (not identified, no finite sensitivity, or no parameter matters)."""
    insensitive: set[str] = set()
    head = "the predicted curves' sensitivity to "
    for w in warnings:
        if w.startswith("no parameter affects the predicted curves"):
            return list(names)
        if w.startswith(head):
            insensitive |= set(w[len(head) :].split(" is not finite", 1)[0].split(", "))
    return [
        n
        for n in names
        if n in insensitive or any(w.startswith(f"{n} is not identified") for w in warnings)
    ]
