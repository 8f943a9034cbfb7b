"""The momentum law's host prediction (``Law.predict_host``) and its rows solved in turn
(``Law.solve_in_turn``): the values of the compiled paths they replace."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from mpl import MPL_TRAIN, mpl_curves

from lrlaw.fitting import core
from lrlaw.laws import get_law


def test_host_prediction_is_the_compiled_one() -> None:
    law = get_law("momentum")
    c = mpl_curves("100m", MPL_TRAIN)[0]
    prepared = core._prepare(law, c.lr, c.steps[c.window()])
    params = np.array([[2.9, 0.45, 0.5, 0.4], [3.1, 0.6, 0.3, 0.9], [2.5, 0.2, 1.2, 0.05]])
    one = law.predict_host(params[0], prepared)
    many = law.predict_host(params, prepared)
    np.testing.assert_allclose(one, np.asarray(core._predict_one(law, params[0], prepared)), 1e-14)
    np.testing.assert_allclose(many, np.asarray(core._predict_many(law, params, prepared)), 1e-14)
    assert one.shape == prepared[0].shape and many.shape == (3, prepared[0].size)
    # with lam fitted, the areas depend on a parameter: no host form
    assert get_law("momentum", fit_lam=True).predict_host(np.ones(5), prepared) is None


def test_rows_in_turn_match_vmap_with_padding_rows() -> None:
    law = get_law("momentum")
    assert law.solve_in_turn
    curves = mpl_curves("100m", MPL_TRAIN)
    problem = replace(core._Problem.build(curves, law, None), rows=8)
    starts = law.to_unconstrained(
        law.initial_guesses(problem.prepared, [np.asarray(y) for y in problem.losses])
    )[:3]  # 3 real rows, padded to 8
    v, o, ok, _ = problem.solve(starts, core.HUBER_DELTA, 1000)
    assert v.shape == (3, 4) and np.all(ok) and np.all(np.isfinite(o))

    class Batched(type(law)):  # the same law solved under vmap
        solve_in_turn = False

    batched = replace(problem, law=Batched())
    vb, ob, _, _ = batched.solve(starts, core.HUBER_DELTA, 1000)
    np.testing.assert_allclose(law.from_unconstrained(v), law.from_unconstrained(vb), rtol=1e-9)
    np.testing.assert_allclose(o, ob, rtol=1e-12)


def test_host_jacobian_is_jacfwd_of_the_residuals() -> None:
    law = get_law("momentum")
    problem = core._Problem.build(mpl_curves("100m", MPL_TRAIN), law, None)
    points = (
        [2.93, 0.45, 0.52, 0.43],  # near the optimum: residuals within the thresholds
        [3.5, 0.2, 0.3, 2.0],  # beyond them
        [0.5, 0.1, 0.3, 30.0],  # predictions below 1e-6: the log's linear part
    )
    for p in points:
        theta = law.to_unconstrained(np.array(p))
        r, jac = core._jacobian(
            law, problem.prepared, problem.log_obs, problem.weight, problem.thresholds, theta, 1e-3
        )
        r_host, jac_host = problem.jacobian(theta, 1e-3)  # the host form
        np.testing.assert_allclose(r_host, np.asarray(r), rtol=1e-12, atol=1e-14 * np.abs(r).max())
        scale = np.abs(np.asarray(jac)).max()
        np.testing.assert_allclose(jac_host, np.asarray(jac), rtol=1e-12, atol=1e-14 * scale)
