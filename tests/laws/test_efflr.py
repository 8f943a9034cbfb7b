"""The effective-LR law: the recurrence against a plain loop, its momentum-law limit,
parameter recovery from synthetic curves, and its cross-validated figures on the 124M runs."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import DATA

from lrlaw import schedules
from lrlaw.curves import Curve
from lrlaw.errors import LrlawError
from lrlaw.fitting import FitResult, fit, predict_curve
from lrlaw.fitting.crossval import cross_validate
from lrlaw.io import load_curves
from lrlaw.laws import EffectiveLRLaw, MomentumLaw, get_law
from lrlaw.laws.efflr import effective_lr, noise_floor

RUNS_124M = ("stable", "cosine", "wsd-0.2-linear", "wsd-0.2-sqrt", "wsd-0.994-linear")


def loop_floor(lr: np.ndarray, r: float, kappa: float, q: float, eta_ref: float) -> np.ndarray:
    """Plain transcription: nu_0 = u_0, nu_t = nu_{t-1} + (u_t - nu_{t-1})(1 - e^{-kappa u_t^q})."""
    u = (lr / eta_ref) ** r
    nu = np.empty_like(u)
    nu[0] = u[0]
    for t in range(1, u.size):
        rate = kappa * u[t] ** q if lr[t] > 0 else 0.0
        nu[t] = nu[t - 1] + (u[t] - nu[t - 1]) * (1.0 - np.exp(-rate))
    return nu


def loop_predict(params, lr: np.ndarray, steps: np.ndarray, q: float = 0.5, eta_ref: float = 1e-3):
    l0, a, alpha, b, kappa, r = params
    u = (lr / eta_ref) ** r
    area = np.array([u[1 : t + 1].sum() for t in steps])
    return l0 + a * area**-alpha + b * loop_floor(lr, r, kappa, q, eta_ref)[steps]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_matches_plain_loop_on_random_schedules(seed: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    lr = np.concatenate(
        [np.linspace(0.0, 2e-3, 15), rng.uniform(0.0, 2e-3, 60), np.zeros(5), np.full(20, 3e-4)]
    )
    r, kappa, q = rng.uniform(0.4, 1.0), rng.uniform(0.01, 0.5), rng.choice([0.0, 0.5, 1.0])
    np.testing.assert_allclose(
        noise_floor(lr, r, kappa, q, 1e-3, method=method),
        loop_floor(lr, r, kappa, q, 1e-3),
        rtol=1e-12,
        atol=1e-15,
    )
    steps = np.sort(rng.choice(np.arange(16, lr.size), 20, replace=False))
    params = np.array([2.5, 3.0, 0.4, 0.2, kappa, r])
    law = EffectiveLRLaw(q=float(q))
    np.testing.assert_allclose(
        predict_curve(law, params, lr, steps),
        loop_predict(params, lr, steps, q=float(q)),
        rtol=1e-12,
    )


def test_r1_q0_is_the_momentum_law_with_a_fitted_momentum() -> None:
    """With r = 1, q = 0: B nu = (B/eta_ref)(eta_0 lam^(t+1) - (1 - lam) S2), lam = exp(-kappa)
    (S2 from rest, eta_{-1} = 0; nu starts settled at u_0)."""
    lr = schedules.wsd(1e-3, 3000, decay_frac=0.3, final=1e-5, warmup=100, warmup_start=1e-5)
    lr = lr.values()
    steps = np.arange(100, 3001, 25)
    l0, a, alpha, b, kappa, eta_ref = 2.9, 5.0, 0.45, 0.3, 2e-3, 1e-3
    lam = float(np.exp(-kappa))
    ours = predict_curve(
        EffectiveLRLaw(q=0.0, eta_ref=eta_ref), np.array([l0, a, alpha, b, kappa, 1.0]), lr, steps
    )
    theirs = predict_curve(
        MomentumLaw(lam=lam),
        np.array([l0, a * eta_ref**alpha, alpha, b * (1 - lam) / eta_ref]),
        lr,
        steps,
    )
    transient = b * lr[0] / eta_ref * lam ** (steps + 1.0)
    np.testing.assert_allclose(ours, theirs + transient, rtol=1e-12)


def test_eta_ref_is_only_a_unit() -> None:
    """Changing eta_ref rescales A, B and kappa and leaves the curve unchanged."""
    lr = schedules.cosine(1e-3, 2000, warmup=50).values()
    steps = np.arange(50, 2001, 10)
    l0, a, alpha, b, kappa, r, q = 2.5, 4.0, 0.5, 0.2, 0.01, 0.7, 0.5
    c = 1e-3 / 3e-4  # (eta/3e-4)^r = (eta/1e-3)^r * c^r
    one = predict_curve(
        EffectiveLRLaw(eta_ref=1e-3), np.array([l0, a, alpha, b, kappa, r]), lr, steps
    )
    other = predict_curve(
        EffectiveLRLaw(eta_ref=3e-4),
        np.array([l0, a * c ** (r * alpha), alpha, b / c**r, kappa / c ** (r * q), r]),
        lr,
        steps,
    )
    np.testing.assert_allclose(one, other, rtol=1e-12)


def test_drop_effect_depends_on_the_lr_level() -> None:
    """The same drop lowers the floor more at a low LR than at a high one (r < 1)."""
    u = np.asarray(effective_lr(np.array([1e-3, 9e-4, 2e-4, 1e-4]), 0.7))
    assert u[2] - u[3] > u[0] - u[1]


def test_zero_lr_and_warmup_from_zero_have_finite_gradients() -> None:
    """A decay to exactly 0 and a warmup from 0 give finite losses and derivatives."""
    lr = np.concatenate([np.linspace(0.0, 1e-3, 50), np.linspace(1e-3, 0.0, 151)[1:]])
    steps = np.arange(10, 201, 10)
    law = EffectiveLRLaw()
    prepared = law.prepare(lr, steps)
    params = jnp.array([2.5, 3.0, 0.4, 0.2, 0.05, 0.7])
    assert np.all(np.isfinite(law.predict(params, prepared)))
    jac = jax.jacfwd(lambda p: law.predict(p, prepared))(params)
    assert np.all(np.isfinite(jac))


def test_bad_options() -> None:
    with pytest.raises(LrlawError, match="q=-1"):
        EffectiveLRLaw(q=-1.0)
    with pytest.raises(LrlawError, match="eta_ref=0"):
        EffectiveLRLaw(eta_ref=0.0)
    assert get_law("efflr", q=0.25) == EffectiveLRLaw(q=0.25)


def test_default_bootstrap_per_law() -> None:
    """``lrlaw fit`` without --bootstrap: 200 (linearised) replicates for every law, 50
    for this law (each replicate's curve runs its recurrence over every step); the
    multi-power law has a band by default too (it had none before issue 16.5)."""
    from lrlaw.laws import MultiPowerLaw

    assert MomentumLaw().default_bootstrap == 200
    assert EffectiveLRLaw().default_bootstrap == 50
    assert MultiPowerLaw().default_bootstrap == 200


TRUE = np.array([2.8, 40.0, 0.5, 0.25, 2e-3, 0.7])
W, T = 100, 3000


def synthetic(law: EffectiveLRLaw, noise: float = 0.0, seed: int = 0) -> dict[str, Curve]:
    rng = np.random.default_rng(seed)
    runs = {
        "const": schedules.constant(1e-3, total=T, warmup=W),
        "cos": schedules.cosine(1e-3, T, warmup=W),
        "step": schedules.multistep(1e-3, milestones=[1500], values=[2e-4], total=T, warmup=W),
        "wsd": schedules.wsd(1e-3, T, decay_frac=0.2, warmup=W),
    }
    out = {}
    for name, s in runs.items():
        steps = np.arange(W, T + 1, 25)
        lr = s.values()
        loss = predict_curve(law, TRUE, lr, steps) * np.exp(rng.normal(0, noise, steps.size))
        out[name] = Curve(name, steps, loss, lr, warmup=W)
    return out


def test_recovers_parameters_and_predicts_a_held_out_schedule() -> None:
    law = EffectiveLRLaw()
    curves = synthetic(law)
    result = fit([curves[n] for n in ("const", "cos", "step")], law)
    np.testing.assert_allclose(result.param_vector, TRUE, rtol=1e-5)
    wsd = curves["wsd"]
    np.testing.assert_allclose(result.predict(wsd), wsd.loss, rtol=1e-8)
    # With 0.05 % noise: still close, and the held-out WSD curve within 0.05 %.
    noisy = synthetic(law, noise=5e-4, seed=1)
    result = fit([noisy[n] for n in ("const", "cos", "step")], law)
    np.testing.assert_allclose(result.param_vector[[0, 2, 5]], TRUE[[0, 2, 5]], rtol=0.03)
    clean = curves["wsd"]
    assert np.max(np.abs(result.predict(clean) / clean.loss - 1)) < 5e-4
    # A saved fit rebuilds the law with its options.
    again = FitResult.from_json(json.dumps(result.to_dict()))
    assert again.law_object == law
    np.testing.assert_allclose(again.predict(clean), result.predict(clean), rtol=1e-14)


@pytest.mark.slow
def test_cross_validated_figures_on_the_124m_runs() -> None:
    """Fit stable + cosine, predict the three cooldowns (the README law table quotes these).

    The long cooldown (wsd-0.994-linear) is where the momentum law errs most; the
    effective-LR law's final-loss error there is several times smaller.
    """
    folder = DATA / "schaipp-124m" / "canonical"
    curves = load_curves(
        [folder / f"{n}.csv" for n in RUNS_124M], schedules_file=DATA / "schedules.txt"
    )
    cv = cross_validate(curves, ["efflr", "momentum"], train=["stable", "cosine"], bootstrap=0)
    s = cv.summary()
    assert s["efflr"]["prede"] == pytest.approx(0.00128, abs=1e-4)
    assert s["efflr"]["final"] == pytest.approx(0.00172, abs=1.5e-4)
    assert s["momentum"]["final"] == pytest.approx(0.00552, abs=1.5e-4)
    final = {(law, r["name"]): r["metrics"]["final"] for law in cv.laws for r in cv.held_out(law)}
    assert final["efflr", "wsd-0.994-linear"] < 0.4 * final["momentum", "wsd-0.994-linear"]
    params = cv.folds[0].params
    assert 0.5 < params["r"] < 0.9  # a sublinear effective LR


def test_optimize_uses_the_law_final_loss() -> None:
    """The law's own final_loss is the optimiser's objective, and matches predict_curve."""
    from lrlaw.plan.optimal import final_loss, optimize

    law = EffectiveLRLaw()
    lr = schedules.wsd(1e-3, T, decay_frac=0.3, warmup=W).values()
    assert final_loss(law, TRUE, lr) == pytest.approx(
        predict_curve(law, TRUE, lr, np.array([T]))[0], rel=1e-12
    )
    best = optimize(law, T, 1e-3, W, params=TRUE, family="wsd")
    assert best.loss <= min(best.wsd_loss, best.cosine_loss) + 1e-12


def test_refits_share_the_starts_solver_and_match_solving_their_own_rows(monkeypatch) -> None:
    """Issue 16.5: this law pads its refits to the starts' number of rows
    (``share_solver = True``), so that one compiled solver serves the fit, the band's
    held-out refits and the transient refit: with the native kernel, compiling a solver
    per row count cost more than the padding rows (``--law auto``, empty cache: 25.8 ->
    17.6 s). Solving the refits' own rows (4: 3 left-out curves + the forward split,
    capped at ``_HELD_OUT_STEPS``) reaches the same optimum."""
    from lrlaw import _jaxexport
    from lrlaw.fitting import core

    assert EffectiveLRLaw.share_solver is True and MomentumLaw.share_solver is True
    curves = synthetic(EffectiveLRLaw(), noise=5e-4, seed=2)
    train = [curves[n] for n in ("const", "cos", "step")]
    calls = []
    call = _jaxexport.call

    def recording(name, fn, args, **kwargs):
        if name == "solve":
            calls.append((args[4].shape[0], kwargs["static_kwargs"]["max_steps"]))
        return call(name, fn, args, **kwargs)

    monkeypatch.setattr(_jaxexport, "call", recording)
    shared = fit(train, EffectiveLRLaw(), bootstrap=20)
    assert {rows for rows, _ in calls} == {max(calls[0][0], core._MIN_ROWS)}
    monkeypatch.setattr(EffectiveLRLaw, "share_solver", False)
    calls.clear()
    own = fit(train, EffectiveLRLaw(), bootstrap=20)
    assert calls[-1] == (4, core._HELD_OUT_STEPS)
    np.testing.assert_allclose(own.param_vector, shared.param_vector, rtol=1e-6)
    np.testing.assert_allclose(
        own.uncertainty.curve_params, shared.uncertainty.curve_params, rtol=1e-5
    )


def _native_or_skip():
    from lrlaw import _native

    if not _native.available():
        pytest.skip("native kernels not built (no C++ compiler or LRLAW_NO_NATIVE)")


def test_native_terms_batch_over_threads_equals_the_rows() -> None:
    """A batch big enough for the threaded path (rows x steps >= 2^16: the rows spread
    over XLA's intra-op threads), with and without derivatives: every row equals its own
    one-row call, bit for bit."""
    from lrlaw.laws import efflr

    _native_or_skip()
    with jax.enable_x64(True):
        n = 20_001
        lr = np.full(n, 1e-3)
        lr[:200] = np.linspace(0.0, 1e-3, 200)
        lr[12_000:] = 1e-3 * np.cos(np.linspace(0.0, 1.4, n - 12_000)) ** 2
        lr_j = jnp.asarray(lr)
        steps = jnp.asarray(np.arange(100, n, 50))
        assert efflr._use_native(lr_j, steps)
        rks = jnp.stack([jnp.linspace(0.5, 0.95, 7), jnp.geomspace(1e-3, 0.3, 7)], axis=1)

        def terms(rk):
            return jnp.concatenate(efflr._terms(lr_j, steps, rk[0], rk[1], 0.5, 1e-3))

        batch = jax.jit(jax.vmap(terms))(rks)
        jac = jax.jit(jax.vmap(jax.jacfwd(terms)))(rks)
        one, one_jac = jax.jit(terms), jax.jit(jax.jacfwd(terms))
        for k in range(rks.shape[0]):
            np.testing.assert_array_equal(batch[k], one(rks[k]))
            np.testing.assert_array_equal(jac[k], one_jac(rks[k]))


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0])
def test_native_terms_match_the_scan(q: float) -> None:
    """Issue 16.5: the C loop of the terms (lrlaw._native) gives the scan's values and
    derivatives in (r, kappa), under jit, vmap (over parameters and over schedules) and
    reverse mode, at unsorted, repeated, negative and out-of-range steps, through a zero
    LR and a warmup from zero; a tangent in the LR takes the scan's rule."""
    from lrlaw.laws import efflr

    _native_or_skip()
    with jax.enable_x64(True):
        lr = np.full(4000, 1e-3)
        lr[:100] = np.linspace(0.0, 1e-3, 100)
        lr[1500:2500] *= np.cos(np.linspace(0.0, 1.2, 1000))
        lr[3000:] = np.linspace(1e-3, 0.0, 1000)
        lr[2600:2650] = 0.0
        lr_j = jnp.asarray(lr)
        steps = jnp.asarray(np.r_[np.arange(150, 4000, 37)[::-1], 5, 0, 0, 3999, -1, 5000])
        assert efflr._use_native(lr_j, steps)

        def terms(f, x=lr_j):
            return lambda rk: jnp.concatenate(f(x, steps, rk[0], rk[1], q, 1e-3))

        rk = jnp.array([0.7, 0.02])
        fast, plain = terms(efflr._terms)(rk), terms(efflr._terms_plain)(rk)
        np.testing.assert_allclose(fast, plain, rtol=1e-13, atol=1e-300)
        # The law's own path: the log LRs computed once by prepare (numpy).
        law = EffectiveLRLaw(q=q)
        prepared = law.prepare(lr, np.asarray(steps))
        assert len(prepared) == 3 and np.isneginf(np.asarray(prepared[2])[0])
        params = jnp.array([2.5, 3.0, 0.4, 0.2, 0.02, 0.7])
        via = law.predict(params, prepared)
        s, nu = efflr._terms_plain(lr_j, steps, 0.7, 0.02, q, 1e-3)
        np.testing.assert_allclose(via, 2.5 + 3.0 * s**-0.4 + 0.2 * nu, rtol=1e-13)
        jac = jax.jacfwd(terms(efflr._terms_plain))(rk)
        scale = jnp.max(jnp.abs(jac), axis=0)
        for mode in (jax.jacfwd, jax.jacrev):
            assert float(jnp.max(jnp.abs(mode(terms(efflr._terms))(rk) - jac) / scale)) < 1e-12
        rks = jnp.array([[0.7, 0.02], [0.5, 0.3], [0.95, 1e-3]])
        np.testing.assert_allclose(
            jax.vmap(terms(efflr._terms))(rks), jax.vmap(terms(efflr._terms_plain))(rks), rtol=1e-13
        )
        batch = jax.vmap(jax.jacfwd(terms(efflr._terms)))(rks)
        ref = jax.vmap(jax.jacfwd(terms(efflr._terms_plain)))(rks)
        assert (
            float(jnp.max(jnp.abs(batch - ref) / jnp.max(jnp.abs(ref), axis=1, keepdims=True)))
            < 1e-12
        )
        lrs = jnp.stack([lr_j, 0.5 * lr_j])
        by_lr = jax.vmap(lambda x: terms(efflr._terms, x)(rk))(lrs)
        np.testing.assert_allclose(by_lr, jax.vmap(lambda x: terms(efflr._terms_plain, x)(rk))(lrs))
        # (In range: jnp's gather clamps step 5000, its transpose drops it.)
        inside = steps[:-1]
        grad = jax.grad(lambda x: jnp.sum(efflr._terms(x, inside, 0.7, 0.02, q, 1e-3)[1]))(lr_j)
        ref = jax.grad(lambda x: jnp.sum(efflr._terms_plain(x, inside, 0.7, 0.02, q, 1e-3)[1]))(
            lr_j
        )
        np.testing.assert_allclose(grad, ref, rtol=1e-10, atol=1e-12)


def test_terms_fall_back_to_the_scan_without_the_native_kernel(monkeypatch) -> None:
    """Without the C loop (no compiler, LRLAW_NO_NATIVE=1) the terms are the scan's, bit
    for bit; float32 and int32 inputs take the scan too."""
    from lrlaw import _native
    from lrlaw.laws import efflr

    with jax.enable_x64(True):
        lr = jnp.asarray(np.linspace(1e-3, 1e-4, 3000))
        steps = jnp.arange(10, 3000, 10)
        monkeypatch.setitem(_native._state, "lib", None)
        assert not efflr._use_native(lr, steps)
        got = efflr._terms(lr, steps, 0.7, 0.02, 0.5, 1e-3)
        want = efflr._terms_rk(0.7, 0.02, lr, steps, 0.5, 1e-3)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        monkeypatch.undo()
        assert not efflr._use_native(lr.astype(jnp.float32), steps)
        assert not efflr._use_native(lr, steps.astype(jnp.int32))
