r"""L-BFGS in one ``lax.while_loop``, for the free-form schedule optimiser.

Nocedal & Wright, *Numerical Optimization* (2nd ed. 2006), algorithm 7.4 (the two-loop
recursion) and 7.5 (L-BFGS), with a backtracking Armijo line search (algorithm 3.1):

* direction ``d = -H g``, ``H`` from the last ``m`` pairs ``s_i = x_{i+1} - x_i``,
  ``y_i = g_{i+1} - g_i`` (``rho_i = 1 / s_i'y_i``), scaled by ``gamma = s'y / y'y`` of
  the newest pair; the first step has unit length (``d = -g / ||g||``);
* step ``t = 1, 1/2, 1/4, ...`` until ``f(x + t d) <= f(x) + c1 t g'd`` (``c1 = 1e-4``);
  a pair is stored only when ``s'y > 0``, so ``H`` stays positive definite;
* when the line search fails, the history is dropped and steepest descent tried once
  more; the solve ends when that fails too;
* it stops when an accepted step lowers the loss by at most ``atol + rtol |f|``
  (the test of scipy's L-BFGS-B, ``factr``), or after ``max_steps``.

Why lrlaw keeps its own (``benchmarks/bench_optimize.py``; measured side by side on 2
cores, 2026-12-07): optimistix 0.1.0's ``LBFGS`` stops by a Cauchy test on the
*iterates* as well as the loss, relative per logit, which does not fire while logits in
flat directions keep drifting. On the momentum law it ran 97-101 steps where 30-35 reach
the same loss (to 1e-13), and each step cost about 12 ms at 100k steps (history 10)
against about 6 ms here. On the multi-power law's published 100M parameters it stopped at
a loss 4e-4 above this solver's; on the efflr law it ran to its 10 000-step cap (28 s at
20k steps, 4 min at 100k). optax 0.2.8's ``lbfgs`` (zoom line search) needs the same
step count as this one but was 1.5x slower per solve at 100k, and would be a new
dependency.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax


def _dot(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a . b`` as a fused XLA reduction: ``jnp.dot`` goes to Eigen, which splits every
    call across the CPU's threads; at 100k steps that synchronisation doubled the solve."""
    return jnp.sum(a * b)


def lbfgs(
    fun: Callable[[jax.Array], jax.Array],
    x0: jax.Array,
    *,
    history: int = 10,
    max_steps: int = 10_000,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    c1: float = 1e-4,
    max_backtracks: int = 40,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Minimise the scalar ``fun`` from ``x0`` (1-D); traceable, call it under ``jit``.

    Returns ``(x, f(x), steps)``: the last accepted point, its loss and the number of
    steps taken (``== max_steps`` when the cap stopped it).
    """
    vg = jax.value_and_grad(fun)
    m = int(history)
    n = x0.shape[0]
    f0, g0 = vg(x0)

    def direction(g, s_hist, y_hist, rho, k):
        # two-loop recursion; empty slots have rho == 0 and contribute nothing
        def newest_first(j, carry):
            q, a = carry
            i = (k - 1 - j) % m
            ai = rho[i] * _dot(s_hist[i], q)
            return q - ai * y_hist[i], a.at[i].set(ai)

        q, a = lax.fori_loop(0, m, newest_first, (g, jnp.zeros(m, g.dtype)))
        last = (k - 1) % m
        yy = _dot(y_hist[last], y_hist[last])
        gnorm = jnp.sqrt(_dot(g, g))
        gamma = jnp.where(k > 0, 1.0 / (rho[last] * yy), 1.0 / jnp.where(gnorm > 0, gnorm, 1.0))

        def oldest_first(j, r):
            i = (k - m + j) % m
            b = rho[i] * _dot(y_hist[i], r)
            return r + s_hist[i] * (a[i] - b)

        return -lax.fori_loop(0, m, oldest_first, gamma * q)

    def body(c):
        x, f, g, s_hist, y_hist, rho, k, steps, _ = c
        d = direction(g, s_hist, y_hist, rho, k)
        slope = _dot(g, d)

        def too_high(ls):
            t, ft, _, j = ls
            return ~(ft <= f + c1 * t * slope) & (j < max_backtracks)

        def halve(ls):
            t, _, _, j = ls
            ft, gt = vg(x + 0.5 * t * d)
            return 0.5 * t, ft, gt, j + 1

        f1, g1 = vg(x + d)
        t, fn, gn, _ = lax.while_loop(too_high, halve, (jnp.ones((), x.dtype), f1, g1, 0))
        ok = (slope < 0) & (fn <= f + c1 * t * slope)
        xn = x + t * d
        s, y = xn - x, gn - g
        sy = _dot(s, y)
        keep = ok & (sy > 0)
        slot = k % m
        s_hist = lax.dynamic_update_slice(s_hist, jnp.where(keep, s, s_hist[slot])[None], (slot, 0))
        y_hist = lax.dynamic_update_slice(y_hist, jnp.where(keep, y, y_hist[slot])[None], (slot, 0))
        rho = rho.at[slot].set(jnp.where(keep, 1.0 / jnp.where(keep, sy, 1.0), rho[slot]))
        # a failed search drops the history (steepest descent next); failing without
        # history ends the solve
        done = jnp.where(ok, jnp.abs(f - fn) <= atol + rtol * jnp.abs(f), k == 0)
        k = jnp.where(ok, k + keep.astype(k.dtype), 0)
        rho = jnp.where(ok, rho, 0.0)
        return (
            jnp.where(ok, xn, x),
            jnp.where(ok, fn, f),
            jnp.where(ok, gn, g),
            s_hist,
            y_hist,
            rho,
            k,
            steps + 1,
            done,
        )

    def going(c):
        return (c[7] < max_steps) & ~c[8]

    zeros = jnp.zeros((m, n), x0.dtype)
    init = (x0, f0, g0, zeros, zeros, jnp.zeros(m, x0.dtype), 0, 0, jnp.asarray(False))
    out = lax.while_loop(going, body, init)
    return out[0], out[1], out[7]
