"""lrlaw's L-BFGS (``lrlaw.plan._lbfgs``): the compact form against a numpy two-loop
transcription, convergence on known minima, the line-search failure path and the cap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lrlaw._x64 import x64
from lrlaw.plan._lbfgs import lbfgs


def _two_loop_reference(f, grad, x0, m: int, steps: int) -> np.ndarray:
    """Nocedal & Wright algorithms 7.4 (two-loop recursion) and 7.5, with the solver's own
    line search (t = 1, 1/2, ...; Armijo c1 = 1e-4), first step -g/||g|| and pairs kept
    only when s'y > 0, in plain numpy."""
    x, g = x0.copy(), grad(x0)
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(steps):
        if pairs:
            q, alphas = g.copy(), []
            for s, y in reversed(pairs):
                a = (s @ q) / (s @ y)
                alphas.append(a)
                q -= a * y
            s, y = pairs[-1]
            r = (s @ y) / (y @ y) * q
            for (s, y), a in zip(pairs, reversed(alphas)):
                r += s * (a - (y @ r) / (s @ y))
            d = -r
        else:
            d = -g / np.linalg.norm(g)
        t, fx, slope = 1.0, f(x), g @ d
        while f(x + t * d) > fx + 1e-4 * t * slope:
            t /= 2
        xn = x + t * d
        gn = grad(xn)
        s, y = xn - x, gn - g
        if s @ y > 0:
            pairs = [*pairs, (s, y)][-m:]
        x, g = xn, gn
    return x


def _quadratic(n: int = 40):
    diag = np.geomspace(1.0, 300.0, n)
    shift = np.linspace(-1.0, 1.0, n)
    return diag, shift


@pytest.mark.parametrize("history", [1, 3, 10])
def test_iterates_match_the_two_loop_recursion(history: int) -> None:
    """The compact representation is the same matrix as the two-loop recursion's: the
    iterates agree with a numpy transcription of the textbook algorithm, step by step."""
    diag, shift = _quadratic()

    def f(x):
        return 0.5 * np.sum(diag * (x - shift) ** 2) + 0.1 * np.sum((x - shift) ** 4)

    def grad(x):
        return diag * (x - shift) + 0.4 * (x - shift) ** 3

    with x64():
        fun = lambda x: 0.5 * jnp.sum(diag * (x - shift) ** 2) + 0.1 * jnp.sum((x - shift) ** 4)  # noqa: E731
        solve = jax.jit(
            lambda x0, k: lbfgs(fun, x0, history=history, max_steps=k, rtol=0.0, atol=0.0),
            static_argnums=1,
        )
        x0 = np.zeros_like(diag)
        for k in (1, 2, 5, 12, 25):
            x, _, steps = solve(jnp.asarray(x0), k)
            assert int(steps) == k
            ref = _two_loop_reference(f, grad, x0, history, k)
            np.testing.assert_allclose(np.asarray(x), ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("history", [1, 10])
def test_converges_on_the_rosenbrock_valley(history: int) -> None:
    """Non-convex, badly scaled: the chained Rosenbrock function, minimum 0 at all ones."""

    def rosen(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    with x64():
        x0 = jnp.asarray(np.tile([-1.2, 1.0], 5))
        x, fx, steps = jax.jit(lambda z: lbfgs(rosen, z, history=history, rtol=0.0, atol=1e-20))(x0)
        assert int(steps) < 10_000
        assert float(fx) < 1e-14
        np.testing.assert_allclose(np.asarray(x), 1.0, atol=1e-6)


def test_a_wrong_gradient_ends_the_solve_at_the_start() -> None:
    """A gradient that points uphill fails the line search, then steepest descent fails too:
    the solve ends at the start after two steps, with its loss, instead of stepping uphill."""

    @jax.custom_jvp
    def fun(x):
        return jnp.sum(x**2)

    @fun.defjvp
    def _jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return fun(x), jnp.sum(-2.0 * x * dx)  # the gradient's sign flipped

    with x64():
        x0 = jnp.linspace(1.0, 2.0, 8)
        x, fx, steps = jax.jit(lambda z: lbfgs(fun, z))(x0)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(x0))
        assert float(fx) == pytest.approx(float(jnp.sum(x0**2)))
        assert int(steps) == 1  # no history: the first failed search already ends it


def test_max_steps_caps_the_solve() -> None:
    diag, shift = _quadratic(200)
    with x64():
        fun = lambda x: 0.5 * jnp.sum(diag * (x - shift) ** 2)  # noqa: E731
        _, fx, steps = jax.jit(lambda z: lbfgs(fun, z, max_steps=3))(jnp.zeros(200))
        assert int(steps) == 3 and float(fx) > 1e-3
        _, fx, steps = jax.jit(lambda z: lbfgs(fun, z))(jnp.zeros(200))
        assert int(steps) < 200 and float(fx) < 1e-10
