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
loop over steps.  A block skips the changes after its last step (blocks are
grouped by the quarter of the changes they need).  The fit's Jacobian comes from
analytic derivatives of the loss drop in ``C, beta, gamma`` (a custom JVP: one
pass over the blocks, instead of forward-mode autodiff pushing seven tangents
through them).

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
from jax.custom_derivatives import SymbolicZero

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
#: Beyond this many (padded) LR changes, blocks of observed steps are grouped by the
#: quarter of the changes they need (see :meth:`MultiPowerLaw.prepare`).
_GROUP_ABOVE = 1024
_GROUPS = 4


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
    """``LD(t) / B`` at the prepared steps (:func:`_drop_terms`), differentiable in
    ``params`` through its analytic derivatives."""
    return _drop_terms(params[4], params[5], params[6], *(prep[k] for k in _DROP_KEYS))


#: The prepared arrays :func:`_drop_terms` reads, in its argument order.
_DROP_KEYS = ("p_t", "groups")


def _drop_blocks(
    c: jax.Array,
    beta: jax.Array,
    gamma: jax.Array,
    p_t: jax.Array,
    groups: tuple[dict[str, jax.Array], ...],
    derivatives: bool,
) -> jax.Array:
    """``sum_k d_k G_tk`` per prepared step (``derivatives=False``: shape ``(n,)``), or that
    and its three partial derivatives in ``C, beta, gamma`` (shape ``(4, n)``), one block
    of observed steps (a row of ``p_t``) at a time (``lax.map``: memory ``rows x changes``).

    ``groups`` (from :meth:`MultiPowerLaw.prepare`): the blocks ``blocks`` of a group need
    only the first changes, ``d_k, p_km1, log_eta_k`` of the group (the changes are sorted
    by step; every change past them is after the group's steps).  An entry is active
    (``k <= t``) exactly when ``S_k(t) = P_t - P_{k-1} > 0`` (the cumulative LR never
    decreases; merged centroids stay within their block's range), so ``max(S, 0)`` is the
    mask: ``G(0) = 0`` and every derivative vanishes there.  (A ``where`` on ``k <= t``
    per entry made XLA's loop 3x slower on the MPL runs; tiles of 16 steps x 256 changes
    that skipped every inactive tile were slower still: each ``lax.map`` iteration costs
    about as much as 16 x 4000 entries.  Hence a few groups, each one ``lax.map``.)
    """
    n_blocks, rows = p_t.shape
    out = jnp.zeros((n_blocks, 4, rows) if derivatives else (n_blocks, rows), p_t.dtype)
    for group in groups:
        blocks = group["blocks"]
        out = out.at[blocks].set(_drop_group(c, beta, gamma, p_t[blocks], group, derivatives))
    if not derivatives:
        return out.reshape(-1)
    return jnp.moveaxis(out, 1, 0).reshape(4, -1)


def _drop_group(
    c: jax.Array,
    beta: jax.Array,
    gamma: jax.Array,
    p_t: jax.Array,
    group: dict[str, jax.Array],
    derivatives: bool,
) -> jax.Array:
    """:func:`_drop_blocks` for the blocks ``p_t`` of one group: ``(blocks, rows)``, or
    ``(blocks, 4, rows)`` with the derivatives."""
    d_k, p_km1, log_eta_k = group["d_k"], group["p_km1"], group["log_eta_k"]
    scale = _scale(c, gamma, log_eta_k)
    # d scale / d log C is scale where uncapped, 0 where capped (jnp.minimum's derivative)
    free = (jnp.log(c) - gamma * log_eta_k < _LOG_SCALE_CAP).astype(d_k.dtype)
    d_free, d_free_log = d_k * free, d_k * free * log_eta_k

    def block(pb: jax.Array) -> jax.Array:
        x = scale[None, :] * jnp.maximum(pb[:, None] - p_km1[None, :], 0.0)
        u = jnp.log1p(x)
        e = jnp.exp(-beta * u)  # (1 + x)^-beta
        drop = jnp.sum(d_k[None, :] * (1.0 - e), axis=1)
        if not derivatives:
            return drop
        # G = 1 - (1 + x)^-beta, x = C eta_k^-gamma S_k(t):
        #   dG/dbeta = log(1 + x) (1 + x)^-beta,
        #   dG/dC = beta H / C,  dG/dgamma = -beta log(eta_k) H,  H = (1 + x)^-beta x / (1 + x)
        xc = jnp.minimum(x, 1e300)  # x / (1 + x) stays finite (1) at x = inf
        h = e * (xc / (1.0 + xc))
        return jnp.stack(
            [
                drop,
                beta / c * jnp.sum(d_free[None, :] * h, axis=1),
                jnp.sum(d_k[None, :] * (u * e), axis=1),
                -beta * jnp.sum(d_free_log[None, :] * h, axis=1),
            ]
        )

    return jax.lax.map(block, p_t)


@jax.custom_jvp
def _drop_terms(
    c: jax.Array,
    beta: jax.Array,
    gamma: jax.Array,
    p_t: jax.Array,
    groups: tuple[dict[str, jax.Array], ...],
) -> jax.Array:
    r"""``LD(t) / B = sum_k d_k G(C eta_k^-gamma S_k(t))`` at the prepared steps (Luo et al.
    2025, eq. 5), ``G(x) = 1 - (1 + x)^-beta``, with analytic derivatives in ``C, beta,
    gamma`` (see :func:`_drop_terms_jvp`)."""
    return _drop_blocks(c, beta, gamma, p_t, groups, False)


def _drop_terms_jvp(primals: tuple, tangents: tuple) -> tuple[jax.Array, jax.Array]:
    r"""Forward derivative of :func:`_drop_terms`: its three partial derivatives once.

    ``jax.jacfwd`` and optimistix's ``jax.linearize`` of the plain sum push each
    tangent through the whole ``(observed step x LR change)`` matrix and keep its
    intermediate matrices for the tangents; here one pass over the matrix gives the
    sum and ``dLD/dC = beta/C sum_k d_k H``, ``dLD/dbeta = sum_k d_k log(1+x) (1+x)^-beta``
    and ``dLD/dgamma = -beta sum_k d_k log(eta_k) H`` with ``H = (1+x)^-beta x/(1+x)``
    (``H = 0`` where ``C eta^-gamma`` is capped), and the tangents only combine three
    vectors.  A tangent in the prepared arrays (differentiating through the schedule)
    takes the plain rule.
    """
    c, beta, gamma, *data = primals
    tc, tbeta, tgamma, *tdata = tangents
    zero = lambda x: isinstance(x, SymbolicZero)  # noqa: E731
    if not all(zero(x) for x in jax.tree_util.tree_leaves(tdata, is_leaf=zero)):
        data_t = jax.tree_util.tree_map(_zeros_like_tangent, tdata, data, is_leaf=zero)
        return jax.jvp(
            lambda c_, b_, g_, *d_: _drop_blocks(c_, b_, g_, *d_, derivatives=False),
            (c, beta, gamma, *data),
            (
                _zeros_like_tangent(tc, c),
                _zeros_like_tangent(tbeta, beta),
                _zeros_like_tangent(tgamma, gamma),
                *data_t,
            ),
        )
    drop, d_c, d_beta, d_gamma = _drop_blocks(c, beta, gamma, *data, derivatives=True)
    out_t = jnp.zeros_like(drop)
    for dt, part in ((tc, d_c), (tbeta, d_beta), (tgamma, d_gamma)):
        if not zero(dt):
            out_t = out_t + part * dt
    return drop, out_t


def _zeros_like_tangent(t: Any, like: jax.Array) -> Any:
    """A symbolic zero tangent as an array (``float0`` for integer primals)."""
    if not isinstance(t, SymbolicZero):
        return t
    if jnp.issubdtype(jnp.result_type(like), jnp.inexact):
        return jnp.zeros_like(like)
    return np.zeros(jnp.shape(like), dtype=jax.dtypes.float0)


_drop_terms.defjvp(_drop_terms_jvp, symbolic_zeros=True)


@jax.jit
def _grid_drops(theta: jax.Array, prep: dict[str, Any]) -> jax.Array:
    """``LD(t) / B`` for each row of ``theta`` (the start grid), compiled: run op by op
    (the grid's 36 rows under ``vmap``) it took 0.5 s of a 3 s fit on the MPL 25M split."""
    return jax.lax.map(lambda th: _loss_drop(th, prep), theta)


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
    # The centroid within the block's range also after rounding: a block after an
    # observed step t then has P_t - pbar <= 0 exactly (inactive at t; see _drop_blocks).
    first = np.flatnonzero(cut)
    pbar = np.clip(
        np.bincount(block, weights=w * p_km1, minlength=n),
        np.minimum.reduceat(p_km1, first),
        np.maximum.reduceat(p_km1, first),
    )
    return (
        k[np.flatnonzero(np.r_[cut[1:], True])],  # the last change of each block
        big_d,
        pbar,
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
        size = bucket(k.size, 8)
        pad = size - k.size
        rows = _ROWS
        while steps.size % rows:
            rows //= 2
        t = steps.reshape(-1, rows)
        # Padding: changes with d = 0 and P_{k-1} = P_T, inactive at every t.
        d_k = np.concatenate([d_k, np.zeros(pad)])
        p_km1 = np.concatenate([p_km1, np.full(pad, cum[-1])])
        log_eta_k = np.concatenate([log_eta_k, np.zeros(pad)])
        # Groups of blocks by the changes they need (a prefix: the changes up to the
        # block's last step), rounded up to a quarter of them: a cosine observed
        # throughout its decay needs about half of its changes on average.
        parts = _GROUPS if size > _GROUP_ABOVE else 1
        need = np.searchsorted(k, t.max(axis=1), side="right")
        quarter = np.maximum(-(-need * parts // size), 1)  # 1..parts
        groups = []
        for j in range(1, parts + 1):
            blocks = np.flatnonzero(quarter == j)
            if blocks.size:
                width = size * j // parts
                groups.append(
                    {
                        "blocks": jnp.asarray(blocks),
                        "d_k": jnp.asarray(d_k[:width]),
                        "p_km1": jnp.asarray(p_km1[:width]),
                        "log_eta_k": jnp.asarray(log_eta_k[:width]),
                    }
                )
        return {
            "t": jnp.asarray(t),
            "p_t": jnp.asarray(cum[steps].reshape(-1, rows)),
            "k": jnp.asarray(np.concatenate([k, np.full(pad, steps.max() + 1)])),
            "d_k": jnp.asarray(d_k),
            "p_km1": jnp.asarray(p_km1),
            "log_eta_k": jnp.asarray(log_eta_k),
            "groups": tuple(groups),
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
        # The loss drop does not depend on alpha: one per (C, beta, gamma), 18 of the 54.
        shape, which = np.unique(cands[:, 1:], axis=0, return_inverse=True)
        theta = jnp.asarray(np.column_stack([np.ones(len(shape))] * 4 + [shape]))
        drops = np.concatenate(
            [np.asarray(_grid_drops(theta, p))[:, : len(y)] for p, y in zip(prepared, losses)],
            axis=1,
        )[which.reshape(-1)]
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
