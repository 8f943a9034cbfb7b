r"""L-BFGS in one ``lax.while_loop``, for the free-form schedule optimiser.

Nocedal & Wright, *Numerical Optimization* (2nd ed. 2006), algorithm 7.5 (L-BFGS) with
the direction from the compact representation of the inverse Hessian (their eq. 7.24;
Byrd, Nocedal & Schnabel, *Math. Programming* 63, 1994, eq. 3.1), and a backtracking
Armijo line search (algorithm 3.1):

* from the last ``m`` pairs ``s_i = x_{i+1} - x_i``, ``y_i = g_{i+1} - g_i`` (the rows
  of ``S`` and ``Y``, oldest first), with ``R = triu(S Y')``, ``D = diag(S Y')`` and
  ``gamma = s'y / y'y`` of the newest pair,

      H g = gamma g + S' p + gamma Y' q,   q = -R^-1 (S g),
      p = R^-T (D + gamma Y Y') R^-1 (S g) - gamma R^-T (Y g),

  the same ``H`` as the two-loop recursion (algorithm 7.4), so the same iterates in
  exact arithmetic; the direction is ``d = -H g``, the first one ``-g / ||g||``;
* ``S g``, ``Y g`` and the small matrices ``S Y'``, ``Y Y'`` are carried and updated
  with three matrix-vector products per step (``S y``, ``Y y``, ``Y s`` after the new
  pair is written), so each step reads the ``2 m`` stored rows twice;
* step ``t = 1, 1/2, 1/4, ...`` until ``f(x + t d) <= f(x) + c1 t g'd`` (``c1 = 1e-4``);
  a pair is kept only when ``s'y > 0``, so ``H`` stays positive definite (a rejected
  pair takes the oldest pair's slot, which then drops out of the history);
* when the line search fails, the history is dropped and steepest descent tried once
  more; the solve ends when that fails too;
* it stops when an accepted step lowers the loss by at most ``atol + rtol |f|``
  (the test of scipy's L-BFGS-B, ``factr``), or after ``max_steps``.

Why lrlaw keeps its own (``benchmarks/bench_optimize.py``; measured side by side on 2
cores): optimistix 0.1.0's ``LBFGS`` stops by a Cauchy test on the *iterates* as well
as the loss, relative per logit, which does not fire while logits in flat directions
keep drifting. On the momentum law it ran 97-101 steps where 30-35 reach the same loss
(to 1e-13), and each step cost about 12 ms at 100k steps (history 10); on the efflr law
it ran to its 10 000-step cap (28 s at 20k steps, 4 min at 100k). optax 0.2.8's
``lbfgs`` (zoom line search) needs the same step count as this one but was 1.5x slower
per solve at 100k, and would be a new dependency.

Why the compact form (2026-12-07, same benchmark, 100k steps, momentum law): the
two-loop recursion, ``2 m`` dependent passes over the history rows in a ``fori_loop``,
cost ~0.4 ms per pair and step (9 extra pairs: +3.9 ms a step, beside 2.2 ms for the
gradient); the compact form's matrix-vector products cost ~1.1 ms in all, and the solve
went from 0.31-0.36 s to 0.18-0.20 s, with the same 35 steps and the same loss to 1e-13.
``jnp.dot`` of two vectors goes to Eigen, which splits every call across the CPU's
threads, so single dot products stay fused ``sum(a * b)`` reductions; matrix-vector
products (``S @ y``) are fast through it.  The rows are written before they are read
in a step: reading ``S`` and then writing into it made XLA copy both matrices on every
step (+1.5 ms).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import solve_triangular


def _dot(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a . b`` as a fused XLA reduction: ``jnp.dot`` of two vectors goes to Eigen,
    which splits every call across the CPU's threads; at 100k steps that synchronisation
    doubled the solve."""
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
    dtype = x0.dtype
    f0, g0 = vg(x0)
    pos = jnp.arange(m)

    def direction(g, S, Y, SY, YY, sg, yg, k, newest):
        # the slots in chronological order, oldest first; slots not (or no longer) in
        # the history come first and are masked out (R's diagonal 1, the rest 0)
        order = (newest + 1 + pos) % m
        live = (pos >= m - jnp.minimum(k, m)).astype(dtype)
        both = live[:, None] * live[None, :]
        sy = SY[order][:, order] * both
        yy = YY[order][:, order] * both
        R = jnp.triu(sy) + jnp.diag(1.0 - live)
        a, b = sg[order] * live, yg[order] * live
        gamma = jnp.where(k > 0, SY[newest, newest] / YY[newest, newest], 1.0)
        r = solve_triangular(R, a, lower=False)
        p = solve_triangular(R, jnp.diag(sy) * r + gamma * (yy @ r - b), trans=1, lower=False)
        cs = jnp.zeros(m, dtype).at[order].set(p)
        cy = jnp.zeros(m, dtype).at[order].set(-gamma * r)
        hg = gamma * g + cs @ S + cy @ Y
        gnorm = jnp.sqrt(_dot(g, g))
        return -jnp.where(k > 0, hg, g / jnp.where(gnorm > 0, gnorm, 1.0))

    def body(c):
        x, f, g, S, Y, SY, YY, sg, yg, k, newest, steps, _ = c
        d = direction(g, S, Y, SY, YY, sg, yg, k, newest)
        slope = _dot(g, d)

        def too_high(ls):
            t, ft, _, j = ls
            return ~(ft <= f + c1 * t * slope) & (j < max_backtracks)

        def halve(ls):
            t, _, _, j = ls
            ft, gt = vg(x + 0.5 * t * d)
            return 0.5 * t, ft, gt, j + 1

        f1, g1 = vg(x + d)
        t, fn, gn, _ = lax.while_loop(too_high, halve, (jnp.ones((), dtype), f1, g1, 0))
        ok = (slope < 0) & (fn <= f + c1 * t * slope)
        s, y = t * d, gn - g
        keep = ok & (_dot(s, y) > 0)
        # the new pair goes into the oldest slot, then every product is read off the
        # updated rows (the new pair's own s'y, y'y, y's included)
        slot = (newest + 1) % m
        S = lax.dynamic_update_slice(S, s[None], (slot, 0))
        Y = lax.dynamic_update_slice(Y, y[None], (slot, 0))
        s_y, y_y, y_s = S @ y, Y @ y, Y @ s  # s_i'y, y_i'y, y_i's
        SY = jnp.where(keep, SY.at[:, slot].set(s_y).at[slot, :].set(y_s), SY)
        YY = jnp.where(keep, YY.at[:, slot].set(y_y).at[slot, :].set(y_y), YY)
        # S g and Y g at the new point (g + y); the new pair's entries directly
        sgn = (sg + s_y).at[slot].set(_dot(s, gn))
        ygn = (yg + y_y).at[slot].set(_dot(y, gn))
        newest = jnp.where(keep, slot, newest)
        # a failed search drops the history (steepest descent next); failing without
        # history ends the solve
        done = jnp.where(ok, jnp.abs(f - fn) <= atol + rtol * jnp.abs(f), k == 0)
        # a rejected pair overwrote the oldest one: at most m - 1 pairs remain
        k = jnp.where(keep, k + 1, jnp.minimum(k, m - 1))
        return (
            jnp.where(ok, x + s, x),
            jnp.where(ok, fn, f),
            jnp.where(ok, gn, g),
            S,
            Y,
            SY,
            YY,
            jnp.where(ok, sgn, sg),
            jnp.where(ok, ygn, yg),
            jnp.where(ok, k, 0),
            newest,
            steps + 1,
            done,
        )

    def going(c):
        return (c[11] < max_steps) & ~c[12]

    def zeros(*shape):
        return jnp.zeros(shape, dtype)

    init = (x0, f0, g0, zeros(m, n), zeros(m, n), zeros(m, m), zeros(m, m), zeros(m), zeros(m))
    out = lax.while_loop(going, body, (*init, 0, m - 1, 0, jnp.asarray(False)))
    return out[0], out[1], out[11]
