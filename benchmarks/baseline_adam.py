"""lrlaw's former free-form optimiser (Adam in logit space), kept as a benchmark reference.

Copied from ``lrlaw/plan/optimal.py`` before it moved to L-BFGS (git e316db6^): Adam
in windows of 250 steps inside a ``lax.while_loop``, stopping once a window
improves the loss by less than ``tol * |loss|`` (defaults: lr 0.1, tol 1e-7,
at most 10 000 steps).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from lrlaw.laws.base import Law
from lrlaw.plan.optimal import _free_lr, _law_final_loss


@functools.partial(jax.jit, static_argnames=("law", "monotone", "iters", "window"))
def _adam_free(
    law: Law,
    params: jax.Array,
    z0: jax.Array,
    head: jax.Array,
    peak: float,
    fmin: float,
    fmax: float,
    lr: float,
    monotone: bool,
    iters: int,
    tol: float,
    window: int = 250,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Adam in logit space, in windows of ``window`` steps (one ``lax.scan`` each)
    inside a ``lax.while_loop`` that stops once a window improves the loss by less
    than ``tol * |loss|`` or after ``iters`` steps.  Returns the logits, the loss
    at the end of every window (NaN after the stop) and the steps taken."""

    def objective(z: jax.Array) -> jax.Array:
        return _law_final_loss(law, params, _free_lr(z, head, peak, fmin, fmax, monotone))

    grad = jax.value_and_grad(objective)
    b1, b2 = 0.9, 0.999

    def step(state, _):
        z, m, v, t = state
        val, g = grad(z)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        t = t + 1.0
        mhat = m / (1 - b1**t)
        vhat = v / (1 - b2**t)
        # eps tiny: the gradients of a final loss w.r.t. one step's logit are small.
        z = z - lr * mhat / (jnp.sqrt(vhat) + 1e-300)
        return (z, m, v, t), val

    n_windows = max(1, -(-iters // window))
    history = jnp.full(n_windows, jnp.nan, dtype=z0.dtype)

    def cond(carry):
        _, k, prev, cur, _ = carry
        return (k < n_windows) & ((k < 2) | (prev - cur > tol * jnp.abs(cur)))

    def body(carry):
        state, k, _, cur, hist = carry
        state, vals = jax.lax.scan(step, state, None, length=window)
        new = vals[-1]
        return state, k + 1, cur, new, hist.at[k].set(new)

    zeros = jnp.zeros_like(z0)
    start = ((z0, zeros, zeros, jnp.zeros((), z0.dtype)), 0, jnp.inf, jnp.inf, history)
    (z, _, _, t), _, _, _, history = jax.lax.while_loop(cond, body, start)
    return z, history, t
