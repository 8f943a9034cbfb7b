r"""The Multi-Power Law of Luo et al. (2025).

    L(t)  = L0 + A * (S1(t) + S_W)^(-alpha) - LD(t)
    LD(t) = B * sum_{k=0..t} (eta_{k-1} - eta_k) * G(eta_k^(-gamma) * S_k(t)),  eta_{-1} = 0
    S_k(t) = sum_{tau=k..t} eta_tau,     G(x) = 1 - (C x + 1)^(-beta)

Source: K. Luo, H. Wen, S. Hu, Z. Sun, Z. Liu, M. Sun, K. Lyu, W. Chen, "A
Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules",
ICLR 2025 (arXiv 2503.12811), eq. 5.

Convention (the one that reproduces the published numbers with the published
parameters; see ``tests/laws/test_multipower.py``): the schedule ``eta_0, eta_1,
...`` includes the warmup; ``S1(t) + S_W = sum_{tau=0..t} eta_tau``
(inclusive, warmup included); the loss-drop sum runs over ``k = 0..t`` with
the *signed* change ``eta_{k-1} - eta_k``, so warmup increases enter with a
negative sign, and with ``eta_{-1} = 0``: training starts from rest, so the
first term is ``-eta_0 G(eta_0^(-gamma) S_0(t))``.  It is 0 for a warmup from
``eta_0 = 0`` (the MPL runs); without it a schedule starting at its peak (no
warmup) would be credited a permanent loss drop of ``B eta_peak`` over the same
schedule with a warmup (as in :mod:`lrlaw.laws.areas`).

Evaluation: with ``P_t = sum_{tau<=t} eta_tau`` we have ``S_k(t) = P_t -
P_{k-1}``, so each term is a closed-form function of two cumulative sums.
Only steps with ``eta_{k-1} != eta_k`` contribute, so :meth:`prepare` keeps
just those ``k`` (a constant phase costs nothing).  :meth:`predict`
evaluates the ``(observed step, k)`` matrix in blocks of at most 32 observed
steps (``lax.map``), so memory stays bounded (32 x T per block: 25 MB for a
100k-step schedule) for any number of observed points; there is no Python
loop over steps.

Dense schedules (a cosine or linear decay changes the LR at every step) have
their consecutive changes merged into blocks evaluated at their ``d``-weighted
centroid, with blocks that grow geometrically away from each observed step
(option ``merge_tol``, default 0.2; 0: exact).  On the shipped schedules this
evaluates 5-8x fewer changes with a relative error of at most 2.3e-6 in the
predicted loss, over 10x below the point-to-point noise of the shipped curves
(4e-5 to 4e-4 relative; see ``_merge_changes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from lrlaw.errors import LrlawError
from lrlaw.laws.base import Law, bucket, register

__all__ = [
    "MultiPowerLaw",
]

#: Observed steps per block of the (observed step x LR change) matrix.
_ROWS = 32
#: Cap on ``log(C eta^-gamma)`` (see :func:`_scale`).
_LOG_SCALE_CAP = 700.0
#: Schedules with at most this many LR changes are evaluated exactly (no merging).
_MERGE_ABOVE = 2048


def _scale(c: jax.Array, gamma: jax.Array, log_eta: jax.Array) -> jax.Array:
    """``C eta^-gamma``, capped at ``e^700`` so that it never overflows.

    A fit drifting to the degenerate limit ``C -> 0, gamma -> inf`` (seen in a
    leave-one-out fold of the MPL 25M runs) overflowed it to ``inf`` at the
    warmup's tiny LRs, ``inf * 0`` at inactive entries made the Jacobian NaN and
    the fit crashed.  The cap changes the law only where ``C eta^-gamma > e^700``,
    where ``(C x + 1)^-beta < e^(-700 beta)``: only fits at that limit get there,
    and the fit report flags them (``gamma`` outside its plausible range).
    """
    return jnp.exp(jnp.minimum(jnp.log(c) - gamma * log_eta, _LOG_SCALE_CAP))


def _loss_drop(params: jax.Array, prep: dict[str, Any]) -> jax.Array:
    """``LD(t) / B`` at the prepared steps, one block of observed steps at a time."""
    c, beta, gamma = params[4], params[5], params[6]
    scale = _scale(c, gamma, prep["log_eta_k"])
    k, d_k, p_km1 = prep["k"], prep["d_k"], prep["p_km1"]

    def block(rows: tuple[jax.Array, jax.Array]) -> jax.Array:
        t, p_t = rows
        active = k[None, :] <= t[:, None]
        area = jnp.where(active, p_t[:, None] - p_km1[None, :], 0.0)  # S_k(t)
        g = 1.0 - jnp.exp(-beta * jnp.log1p(scale[None, :] * area))
        return jnp.sum(jnp.where(active, d_k[None, :] * g, 0.0), axis=1)

    return jax.lax.map(block, (prep["t"], prep["p_t"])).reshape(-1)


def _merge_changes(
    k: np.ndarray,
    d_k: np.ndarray,
    p_km1: np.ndarray,
    log_eta_k: np.ndarray,
    steps: np.ndarray,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge runs of consecutive LR changes into blocks evaluated at their centroid.

    A block ``b`` of changes ``k`` stands for ``sum_k d_k G(C eta_k^-gamma (P_t -
    P_{k-1}))`` by ``D_b G(C exp(-gamma lbar_b) (P_t - pbar_b))``, with ``D_b =
    sum d_k`` and the ``d``-weighted means ``pbar_b`` of ``P_{k-1}`` and ``lbar_b``
    of ``log eta_k``: the mean of a smooth function replaced by the function of
    the mean, which is exact to first order in the spread of the block.  To keep
    the second-order error small a block holds changes of one sign, lies between
    two observed steps (so it is active, ``k <= t``, exactly when all its changes
    are), spans at most a fraction ``tol`` of its distance to the next observed step
    ``t`` (blocks grow geometrically away from ``t``), and its LR varies by at
    most a factor ``exp(tol / 4)``.
    """
    nxt = np.searchsorted(steps, k, side="left")  # index of the first observed t >= k
    dist = steps[nxt] - k + 1
    level = np.floor(np.log(dist) / np.log1p(tol))
    eta_bin = np.floor(log_eta_k / (tol / 4))
    sign = np.sign(d_k)
    cut = np.ones(k.size, dtype=bool)
    cut[1:] = (
        (nxt[1:] != nxt[:-1])
        | (level[1:] != level[:-1])
        | (eta_bin[1:] != eta_bin[:-1])
        | (sign[1:] != sign[:-1])
    )
    block = np.cumsum(cut) - 1
    n = int(block[-1]) + 1
    big_d = np.bincount(block, weights=d_k, minlength=n)
    w = d_k / big_d[block]
    return (
        k[np.flatnonzero(np.r_[cut[1:], True])],  # the last change of each block
        big_d,
        np.bincount(block, weights=w * p_km1, minlength=n),
        np.bincount(block, weights=w * log_eta_k, minlength=n),
    )


@register
class MultiPowerLaw(Law):
    r"""``L(t) = L0 + A (S1(t) + S_W)^-alpha - LD(t)`` (Luo et al. 2025, eq. 5).

    ``LD(t) = B sum_{k=0..t} (eta_{k-1} - eta_k) G(eta_k^-gamma S_k(t))`` (``eta_{-1} = 0``),
    ``G(x) = 1 - (C x + 1)^-beta``, ``S_k(t) = sum_{tau=k..t} eta_tau``.
    Seven positive parameters ``L0, A, alpha, B, C, beta, gamma`` (fitted in
    log space).

    Option ``merge_tol`` (default 0.2; 0: exact): when a schedule changes its LR
    at more than 2048 steps (a cosine or linear decay changes it at every step),
    consecutive changes are merged into blocks evaluated at their ``d``-weighted
    centroid; a block spans at most ``merge_tol`` of its distance to the next
    observed step and its LR varies by at most ``exp(merge_tol / 4)`` (see
    ``_merge_changes``).  On the shipped schedules this evaluates 5-8x fewer
    changes, and the predicted loss moves by at most 2.3e-6 (relative); the
    error shrinks like ``merge_tol^2`` (``tests/laws/test_multipower.py`` checks 1e-5).
    """

    name = "multipower"
    param_names = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
    positive = (True,) * 7
    reference = (
        "Luo et al. 2025, A Multi-Power Law for Loss Curve Prediction Across Learning "
        "Rate Schedules, ICLR 2025, arXiv 2503.12811"
    )
    parallel_starts = False
    typical: ClassVar[dict[str, tuple[float, float]]] = {
        "alpha": (0.01, 5.0),
        "beta": (0.02, 10.0),
        "gamma": (0.01, 5.0),
    }

    def __init__(self, merge_tol: float = 0.2) -> None:
        if not (np.isfinite(merge_tol) and 0.0 <= float(merge_tol) <= 1.0):
            raise LrlawError(f"merge_tol={merge_tol} must be in [0, 1] (0: exact)")
        self.merge_tol = float(merge_tol)

    @property
    def options(self) -> dict[str, Any]:
        return {"merge_tol": self.merge_tol}

    def prepare(self, lr: np.ndarray, steps: np.ndarray) -> dict[str, Any]:
        """Cumulative LR at the observed steps (in row blocks) and the LR changes.

        Beyond 2048 LR changes (and with ``merge_tol > 0``), consecutive changes are
        merged into blocks (see the class docstring); the blocks never straddle an
        observed step or a change of sign.
        """
        lr = np.asarray(lr, dtype=np.float64)
        steps = np.asarray(steps, dtype=np.int64)
        cum = np.cumsum(lr)  # P_t = sum_{tau <= t} eta_tau
        # eta_{k-1} - eta_k for k = 0..T, with eta_{-1} = 0 (training starts from rest)
        d = np.concatenate([-lr[:1], lr[:-1] - lr[1:]])
        k = np.flatnonzero(d != 0)
        k = k[k <= steps.max()]
        # eta_k = 0 (a decay to zero) would make eta_k^-gamma infinite: floor it at
        # 1e-12 of the peak, where G is saturated (G = 1) for any realistic gamma.
        log_eta = np.log(np.maximum(lr, 1e-12 * max(float(lr.max()), 1e-300)))
        p_km1 = np.concatenate([[0.0], cum[:-1]])  # P_{k-1}, with P_{-1} = 0
        d_k, p_km1, log_eta_k = d[k], p_km1[k], log_eta[k]
        if self.merge_tol > 0 and k.size > _MERGE_ABOVE:
            k, d_k, p_km1, log_eta_k = _merge_changes(
                k, d_k, p_km1, log_eta_k, np.unique(steps), self.merge_tol
            )
        pad = bucket(k.size, 8) - k.size
        rows = _ROWS
        while steps.size % rows:
            rows //= 2
        # Padding: d = 0 (no contribution) at a step after every t (masked out).
        return {
            "t": jnp.asarray(steps.reshape(-1, rows)),
            "p_t": jnp.asarray(cum[steps].reshape(-1, rows)),
            "k": jnp.asarray(np.concatenate([k, np.full(pad, steps.max() + 1)])),
            "d_k": jnp.asarray(np.concatenate([d_k, np.zeros(pad)])),
            "p_km1": jnp.asarray(np.concatenate([p_km1, np.zeros(pad)])),
            "log_eta_k": jnp.asarray(np.concatenate([log_eta_k, np.zeros(pad)])),
        }

    def predict(self, params: jax.Array, prepared: dict[str, jax.Array]) -> jax.Array:
        l0, a, alpha, b = params[0], params[1], params[2], params[3]
        p_t = prepared["p_t"].reshape(-1)
        return l0 + a * p_t ** (-alpha) - b * _loss_drop(params, prepared)

    def final_loss(self, params: jax.Array, lr: jax.Array) -> jax.Array:
        r"""Multi-power law at ``T = len(lr) - 1`` (Luo et al. 2025, eq. 8), every LR change kept.

        ``L(T) = L0 + A P_T^-alpha - B sum_k (eta_{k-1} - eta_k) G(C eta_k^-gamma (P_T - P_{k-1}))``
        with ``P`` the cumulative LR and ``G(x) = 1 - (1 + x)^-beta``: one pass over the
        schedule (no merging of small changes, unlike :meth:`prepare`).
        """
        l0, a, alpha, b, c, beta, gamma = (params[i] for i in range(7))
        cum = jnp.cumsum(lr)
        p_t = cum[-1]
        d = jnp.concatenate([-lr[:1], lr[:-1] - lr[1:]])  # k = 0..T, eta_{-1} = 0
        area = p_t - jnp.concatenate([jnp.zeros_like(cum[:1]), cum[:-1]])  # P_T - P_{k-1}
        eta_k = jnp.maximum(lr, 1e-12 * jnp.max(lr))
        scale = _scale(c, gamma, jnp.log(eta_k))
        g = 1.0 - jnp.exp(-beta * jnp.log1p(scale * area))
        return l0 + a * p_t ** (-alpha) - b * jnp.sum(d * g)

    def initial_guesses(
        self, prepared: Sequence[dict[str, jax.Array]], losses: Sequence[np.ndarray]
    ) -> np.ndarray:
        """Variable projection on a grid of (alpha, C, beta, gamma).

        For fixed (alpha, C, beta, gamma) the law is linear in (L0, A, B): solve
        it by least squares, keep the grid points with the smallest residuals.
        """
        loss = np.concatenate([np.asarray(y) for y in losses])
        cands = []
        for alpha in (0.3, 0.5, 0.7):
            for c in (0.3, 2.0, 10.0):
                for beta in (0.3, 0.6, 1.0):
                    for gamma in (0.3, 0.6):
                        cands.append((alpha, c, beta, gamma))
        cands = np.asarray(cands)
        theta = jnp.asarray(
            np.column_stack([np.ones(len(cands))] * 4 + [cands[:, 1], cands[:, 2], cands[:, 3]])
        )
        drops = np.concatenate(
            [
                np.asarray(jax.vmap(_loss_drop, in_axes=(0, None))(theta, p))[:, : len(y)]
                for p, y in zip(prepared, losses)
            ],
            axis=1,
        )
        p_t = np.concatenate([np.concatenate(p["p_t"])[: len(y)] for p, y in zip(prepared, losses)])
        floor = np.array([1e-3 * loss.min(), 1e-8 * loss.mean(), 1e-8 * loss.mean()])
        starts, sse = [], []
        for (alpha, c, beta, gamma), drop in zip(cands, drops):
            x = np.stack([np.ones_like(p_t), p_t**-alpha, -drop], axis=1)
            coef, *_ = np.linalg.lstsq(x, loss, rcond=None)
            l0, a, b = np.maximum(coef, floor)
            pred = l0 + a * p_t**-alpha - b * drop
            sse.append(np.sum((pred - loss) ** 2) if np.all(pred > 0) else np.inf)
            starts.append([l0, a, alpha, b, c, beta, gamma])
        best = np.argsort(sse)[:6]
        return np.asarray(starts)[best]
