"""Issue 18.2 / 16.5: one compiled solver per fit, a cheap efflr Jacobian, and the
Monte-Carlo error of the band."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
from mpl import MPL_TRAIN, mpl_curves

from lrlaw import _jaxexport
from lrlaw.fitting import FitResult, fit
from lrlaw.fitting.report import report_dict
from lrlaw.fitting.uncertainty import Uncertainty
from lrlaw.laws import efflr


def test_one_fit_traces_the_solver_once(tmp_path) -> None:
    """The main fit, the bootstrap refits and the held-out refits used to call the solver
    with three different shapes (10, 25 and 3 rows), so a cold fit traced and compiled
    it three times.  Every call now has the same shape: one exported solver (traced here
    or read from the export cache, lrlaw._jaxexport), reused by every later call."""
    _jaxexport.clear()
    result = fit(mpl_curves("25m", MPL_TRAIN), bootstrap=30, seed=0)
    assert _jaxexport.stats.get("export", 0) + _jaxexport.stats.get("load", 0) == 1
    assert _jaxexport.stats.get("memo", 0) >= 1 and "fallback" not in _jaxexport.stats
    assert result.uncertainty.n_boot >= 27 and result.uncertainty.errors.size > 0
    # The band's Monte-Carlo error is reported, in the JSON and in the text report.
    mc = result.uncertainty.mc_error
    assert 0 < mc["edge"] <= mc["edge_max"] < 0.05 and 0 < mc["width_share"] < 1
    path = tmp_path / "fit.json"
    result.save(path)
    assert json.loads(path.read_text())["uncertainty"]["mc_error"] == mc
    assert FitResult.load(path).uncertainty.mc_error == mc
    assert report_dict(result)["bootstrap"]["band_mc_error"] == mc
    assert "Monte-Carlo error of the 90 % band" in result.report()


def _uncertainty(n: int) -> Uncertainty:
    return Uncertainty("block", np.zeros((n, 1)), 1.0, {}, np.zeros(0), "none", 0)


def test_split_half_mc_error_matches_the_quantile_standard_error() -> None:
    """For replicates ~ N(1, s^2) the 5 % quantile of n draws has standard error
    sqrt(p (1 - p) / n) / phi(z_p) * s; the split-half estimate (rms over many
    independent steps) recovers it, and identical halves give 0."""
    rng = np.random.default_rng(0)
    n, s = 400, 0.01
    preds = 1.0 + s * rng.standard_normal((n, 2000))
    mc = _uncertainty(n).mc_error_of([preds], 0.9)
    z = 1.6448536269514722
    se = np.sqrt(0.05 * 0.95 / n) / (np.exp(-z * z / 2) / np.sqrt(2 * np.pi)) * s
    assert 0.8 * se < mc["edge"] < 1.25 * se, (mc["edge"], se)
    twice = np.concatenate([preds[:200], preds[:200]])
    assert _uncertainty(n).mc_error_of([twice], 0.9)["edge"] == 0.0
    assert _uncertainty(3).mc_error_of([preds[:3]], 0.9) is None


def test_mc_error_leaves_out_steps_where_a_replicate_diverged() -> None:
    """A wild replicate (alpha in the thousands on a single run) predicts inf at the first
    steps; the Monte-Carlo error is then taken over the other steps, not reported as nan,
    and the host prediction overflows to inf without a warning, as the jitted one does."""
    import warnings

    from lrlaw.laws import MomentumLaw

    rng = np.random.default_rng(1)
    preds = 1.0 + 0.01 * rng.standard_normal((40, 300))
    clean = _uncertainty(40).mc_error_of([preds], 0.9)
    wild = preds.copy()
    wild[3, :5] = np.inf
    mc = _uncertainty(40).mc_error_of([wild], 0.9)
    assert all(np.isfinite(v) for v in mc.values())
    assert abs(mc["edge"] - clean["edge"]) < 0.2 * clean["edge"]
    s1, s2 = np.array([0.1, 1.0, 5.0]), np.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = MomentumLaw().predict_host(np.array([[3.0, 1.0, 1e3, 1.0]]), (s1, s2))
    assert np.isinf(p[0, 0]) and np.all(np.isfinite(p[0, 1:]))


def test_mc_error_of_huge_finite_replicates_is_finite_without_a_warning() -> None:
    """A replicate diverged to huge but finite values (1e250) at the first steps: the
    root mean squares used to overflow to inf with a RuntimeWarning (seen on the
    one-curve auto fit); they are now large finite figures."""
    import warnings

    rng = np.random.default_rng(2)
    preds = 1.0 + 0.01 * rng.standard_normal((40, 300))
    preds[:6, :3] = 1e250 * (1.0 + rng.random((6, 3)))  # all in the first half
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mc = _uncertainty(40).mc_error_of([preds], 0.9)
    assert all(np.isfinite(v) for v in mc.values())
    assert mc["edge"] > 1e200 and mc["edge"] <= mc["edge_max"]


def test_efflr_jacobian_matches_plain_forward_mode() -> None:
    """The custom JVP of the efflr terms (two partial derivatives, shared by every
    tangent) gives the same Jacobian as forward mode through the recurrence."""
    with jax.enable_x64(True):
        lr = np.full(3000, 1e-3)
        lr[:100] = np.linspace(1e-5, 1e-3, 100)
        lr[2000:] = np.linspace(1e-3, 0.0, 1000)
        lr_j, steps = jnp.asarray(lr), jnp.arange(150, 3000, 37)

        def terms(f):
            return lambda rk: jnp.concatenate(f(lr_j, steps, rk[0], rk[1], 0.5, 1e-3))

        rk = jnp.array([0.7, 0.02])
        fast = jax.jacfwd(terms(efflr._terms))(rk)
        plain = jax.jacfwd(terms(efflr._terms_plain))(rk)
        scale = jnp.max(jnp.abs(plain), axis=0)
        assert float(jnp.max(jnp.abs(fast - plain) / scale)) < 1e-12
        rev = jax.jacrev(terms(efflr._terms))(rk)
        assert float(jnp.max(jnp.abs(rev - plain) / scale)) < 1e-12
        # Through the schedule too (lrlaw.plan.optimal differentiates in the LR).
        g_fast = jax.grad(lambda x: jnp.sum(efflr._terms(x, steps, 0.7, 0.02, 0.5, 1e-3)[1]))
        g_plain = jax.grad(lambda x: jnp.sum(efflr._terms_plain(x, steps, 0.7, 0.02, 0.5, 1e-3)[1]))
        np.testing.assert_allclose(g_fast(lr_j), g_plain(lr_j), rtol=1e-10, atol=1e-12)


def test_window_predictions_reuse_the_problem_arrays() -> None:
    """The fit's per-curve metrics and transient check predict the window steps from the
    problem's prepared arrays (no areas recomputed): the same values as predict_curve,
    for a law with a host prediction (momentum) and one without (multi-power), with a
    curve that has no point in the window."""
    from lrlaw.curves import Curve
    from lrlaw.fitting import core, predict_curve
    from lrlaw.laws import get_law

    curves = mpl_curves("25m", MPL_TRAIN)
    first = curves[0]
    empty = Curve("empty", first.steps[:3], first.loss[:3], first.lr, first.warmup)
    curves = [empty, *curves]
    for name, params in (
        ("momentum", [2.9, 0.6, 0.5, 0.4]),
        ("multipower", [3.04, 0.525, 0.508, 363.8, 2.066, 0.583, 0.641]),
    ):
        law = get_law(name)
        with jax.enable_x64(True):
            problem = core._Problem.build(curves, law, None)
            for i, (c, m) in enumerate(zip(curves, problem.masks)):
                if not m.any():
                    continue
                got = core._window_prediction(problem, law, np.array(params), curves, i)
                want = predict_curve(law, np.array(params), c.lr, c.steps[m])
                np.testing.assert_array_equal(got, want)
