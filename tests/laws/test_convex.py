"""The convex last-iterate bound as a loss law (Defazio et al. 2023, Thm. 10)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_helpers import assert_user_error, run

import lrlaw
from lrlaw.curves import Curve
from lrlaw.errors import LrlawError
from lrlaw.fitting import FitResult, predict_curve
from lrlaw.laws import ConvexLaw, get_law
from lrlaw.laws.areas import forward_area
from lrlaw.laws.convex import convex_features, nnls_start
from lrlaw.schedules import cosine, linear, parse_schedule, wsd


def bound_loop(eta, g, d, t_last):
    """Thm. 10 of Defazio et al. 2023 transcribed literally: eta[1..T], G[1..T] (index 0 unused)."""
    s = sum(eta[t] for t in range(1, t_last + 1))
    out = d * d / (2 * s) + sum(eta[t] ** 2 * g[t] ** 2 for t in range(1, t_last + 1)) / (2 * s)
    for k in range(1, t_last):
        after = sum(eta[t] for t in range(k + 1, t_last + 1))
        num = sum(eta[t] ** 2 * g[t] ** 2 for t in range(k, t_last + 1))
        den = sum(eta[t] for t in range(k, t_last + 1))
        out += 0.5 * eta[k] / after * num / den
    return out


def bound_without_zeros(eta, g, d, t_last):
    """The documented rule: zero-LR steps do not move the iterate and are removed."""
    keep = [t for t in range(1, t_last + 1) if eta[t] > 0]
    e = [0.0] + [eta[t] for t in keep]
    gg = [0.0] + [g[t] for t in keep]
    return bound_loop(e, gg, d, len(keep))


@pytest.mark.parametrize("with_g", [False, True])
def test_features_match_the_theorem(with_g):
    rng = np.random.default_rng(1)
    lr = rng.uniform(0.05, 1.0, 60)
    g = rng.uniform(0.3, 3.0, 60) if with_g else np.ones(60)
    steps = np.array([1, 2, 3, 7, 31, 32, 33, 59])  # not a multiple of the block size
    f1, f2 = convex_features(lr, steps, g if with_g else None)
    for d in (0.0, 1.7):
        want = [bound_loop(lr, g, d, t) for t in steps]
        np.testing.assert_allclose(d * d * f1 + f2, want, rtol=1e-12)


def test_constant_lr_closed_form_and_forward_area_convention():
    lr = np.full(50, 0.3)
    steps = np.arange(1, 50)
    f1, f2 = convex_features(lr, steps)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, 49))])  # H_{T-1}
    np.testing.assert_allclose(f2, 0.3 * (1 + harmonic) / 2, rtol=1e-12)
    # eta_0 is not part of the bound: A_T = S1(T) = sum_{t=1..T} eta_t.
    lr2 = lr.copy()
    lr2[0] = 5.0
    g1, g2 = convex_features(lr2, steps)
    np.testing.assert_array_equal(g1, f1)
    np.testing.assert_array_equal(g2, f2)
    # (rtol: forward_area sums in one sequential scan, the convex law with jnp.cumsum;
    # the two orders differ by a few ulps)
    np.testing.assert_allclose(f1, 0.5 / np.asarray(forward_area(lr))[steps], rtol=1e-14)


def test_zero_learning_rates_are_removed_steps():
    rng = np.random.default_rng(2)
    lr = rng.uniform(0.1, 1.0, 40)
    lr[[1, 2]] = 0.0  # leading zeros
    lr[[10, 11, 12]] = 0.0  # zeros in the middle
    lr[39] = 0.0  # a decay that ends at exactly 0
    g = rng.uniform(0.5, 2.0, 40)
    steps = np.array([3, 9, 10, 12, 13, 20, 38, 39])
    f1, f2 = convex_features(lr, steps, g)
    assert np.all(np.isfinite(f1)) and np.all(np.isfinite(f2))
    want = [bound_without_zeros(lr, g, 1.0, t) for t in steps]
    np.testing.assert_allclose(f1 + f2, want, rtol=1e-12)
    # The literal formula is infinite at a trailing zero; the rule makes bound(39) = bound(38).
    np.testing.assert_allclose([f1[-1], f2[-1]], [f1[-2], f2[-2]], rtol=1e-14)
    # A last LR below 1e-12 of the peak (a float "decay to 0") counts as 0 ...
    lr2 = lr.copy()
    lr2[39] = 1e-19
    np.testing.assert_array_equal(convex_features(lr2, steps, g)[1], f2)
    # ... a small but real one is evaluated exactly: the bound jumps by about
    # eta_{T-1}^2 G_T^2 / (2 eta_T) there (the theorem is discontinuous at eta_T = 0).
    lr2[39] = 1e-9
    (jump,) = convex_features(lr2, [39], g)[1]
    np.testing.assert_allclose(jump, bound_loop(lr2, g, 0.0, 39), rtol=1e-9)
    assert jump > 1e6
    # No positive LR up to T: the bound is +inf, like S1^-alpha at S1 = 0.
    z1, z2 = convex_features(lr, np.array([0, 1, 2]))
    assert np.all(np.isinf(z1)) and np.all(np.isinf(z2))


def test_linear_decay_to_zero_is_finite_and_shows_the_cooldown_benefit():
    total = 1000
    const = parse_schedule(f"constant:peak=1e-3,total={total}").values()
    decay = linear(1e-3, total, final=0.0).values()
    (_, c2) = (x[0] for x in convex_features(const, [total]))
    (_, d2) = (x[0] for x in convex_features(decay, [total]))
    assert np.isfinite(d2)
    # Schaipp et al. 2025: the bound's G-part is much smaller after a cooldown.
    assert d2 < 0.5 * c2


def test_law_predict_final_loss_and_gradient():
    law = get_law("convex")
    assert isinstance(law, ConvexLaw) and law.param_names == ("C", "MD2", "MG2")
    lr = wsd(1e-3, 500, decay_frac=0.3, final=0.0, warmup=20).values()
    params = np.array([2.5, 0.04, 30.0])
    steps = np.arange(1, 501)
    pred = predict_curve(law, params, lr, steps)
    f1, f2 = convex_features(lr, steps)
    np.testing.assert_allclose(pred, 2.5 + 0.04 * f1 + 30.0 * f2, rtol=1e-14)
    final_loss = jax.jit(jax.value_and_grad(lambda x: law.final_loss(jnp.asarray(params), x)))
    final, grad = final_loss(jnp.asarray(lr))
    np.testing.assert_allclose(float(final), pred[-1], rtol=1e-12)
    # the same for a decay that ends at a float 1e-19 instead of 0
    lr_float = lr.copy()
    lr_float[-1] = 1e-19
    np.testing.assert_allclose(float(final_loss(jnp.asarray(lr_float))[0]), pred[-1], rtol=1e-12)
    assert np.all(np.isfinite(np.asarray(grad)))


def _synthetic_curves(params, law=None, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    law = law or get_law("convex")
    scheds = {
        "cosine": cosine(1e-3, 3000, final=1e-4, warmup=100).values(),
        "constant": parse_schedule("constant:peak=1e-3,total=3000,warmup=100").values(),
        "wsd": wsd(1e-3, 2000, decay_frac=0.25, final=0.0, warmup=100).values(),
    }
    curves = []
    for name, lr in scheds.items():
        steps = np.arange(100, lr.size, 20)
        loss = predict_curve(law, params, lr, steps) * np.exp(
            noise * rng.standard_normal(steps.size)
        )
        curves.append(Curve(name=name, steps=steps, loss=loss, lr=lr, warmup=100))
    return curves


def test_fit_recovers_known_parameters():
    truth = np.array([2.8, 0.05, 40.0])
    exact = lrlaw.fit(_synthetic_curves(truth), "convex")
    np.testing.assert_allclose(exact.param_vector, truth, rtol=1e-6)
    assert exact.converged
    noisy = lrlaw.fit(_synthetic_curves(truth, noise=5e-4, seed=3), "convex")
    np.testing.assert_allclose(noisy.param_vector, truth, rtol=0.05)


def test_initial_guesses_are_nonnegative_least_squares():
    truth = np.array([2.8, 0.05, 40.0])
    law = get_law("convex")
    curves = _synthetic_curves(truth)
    prepared = [law.prepare(c.lr, c.steps) for c in curves]
    starts = law.initial_guesses(prepared, [c.loss for c in curves])
    assert starts.shape == (2, 3) and np.all(starts > 0)
    np.testing.assert_allclose(starts[0], truth, rtol=1e-6)
    # A coefficient that NNLS sets to 0 is lifted to a small positive floor.
    f1, f2 = (np.concatenate([np.asarray(p[i]) for p in prepared]) for i in (0, 1))
    loss = 3.0 + 0.05 * f1 - 5.0 * f2  # the unconstrained fit has a negative G-term
    coef = nnls_start(f1, f2, loss)
    assert coef[2] == 0.0 and np.all(coef >= 0)
    lifted = law.initial_guesses([(f1, f2)], [loss])
    assert np.all(lifted > 0) and lifted[0, 2] < 1e-4 * 40.0


def test_per_step_gradient_norms():
    law = ConvexLaw(grad_norm=True)
    assert law.param_names == ("C", "MD2", "M")
    rng = np.random.default_rng(4)
    lr = cosine(1e-3, 400, final=0.0, warmup=20).values()
    g = 0.2 + 0.8 * np.exp(-np.arange(401) / 50.0) + 0.01 * rng.standard_normal(401)
    steps = np.arange(20, 401, 5)
    f1, f2 = law.prepare(lr, steps, grad_norm=g)
    want = [bound_loop(lr, g, 0.0, t) for t in steps[::15]]
    np.testing.assert_allclose(np.asarray(f2)[::15], want, rtol=1e-12)
    # A constant norm G gives G^2 times the constant-G feature.
    _, h2 = law.prepare(lr, steps, grad_norm=np.full(401, 0.5))
    np.testing.assert_allclose(h2, 0.25 * convex_features(lr, steps)[1], rtol=1e-13)
    # The linear form's NNLS recovers (C, MD2, M) from curves made with G_t.
    truth = np.array([2.9, 0.03, 500.0])
    loss = np.asarray(law.predict(jnp.asarray(truth), (f1, f2)))
    np.testing.assert_allclose(nnls_start(np.asarray(f1), np.asarray(f2), loss), truth, rtol=1e-6)
    with pytest.raises(LrlawError, match="needs a per-step gradient-norm series"):
        law.prepare(lr, steps)
    with pytest.raises(LrlawError, match=r"covers steps 0\.\.99"):
        law.prepare(lr, steps, grad_norm=g[:100])
    with pytest.raises(LrlawError, match="expected a finite gradient norm"):
        law.prepare(lr, steps, grad_norm=np.where(np.arange(401) == 7, np.nan, g))
    # Curve files carry no gradient norms to the law yet: a clear error, not a wrong fit.
    curve = Curve(name="c", steps=steps, loss=loss, lr=lr, warmup=20)
    with pytest.raises(LrlawError, match="not wired yet"):
        lrlaw.fit([curve], law)
    with pytest.raises(LrlawError, match="constant-G"):
        ConvexLaw().prepare(lr, steps, grad_norm=g)


def test_long_schedule_many_points():
    """A 100k-step schedule with 1000 observed points: blocked evaluation, same values."""
    lr = wsd(1e-3, 100_000, decay_frac=0.2, final=0.0, warmup=1000).values()
    steps = np.unique(np.linspace(1, 100_000, 1000).astype(np.int64))
    _, f2 = convex_features(lr, steps)
    assert np.all(np.isfinite(f2))
    sub = steps[[0, 500, -1]]
    _, s2 = convex_features(lr, sub)
    np.testing.assert_allclose(f2[[0, 500, -1]], s2, rtol=1e-12)
    # Against the closed form of the G-part (summation by parts), evaluated plainly.
    t = int(sub[1])
    a = lr.copy()
    a[0] = 0.0
    cum = np.cumsum(a)
    k = np.arange(1, t)
    want = 0.5 * (np.sum(a[k] ** 2 / (cum[t] - cum[k])) + a[t])
    np.testing.assert_allclose(s2[1], want, rtol=1e-10)


def test_real_124m_fit_and_held_out_cooldowns(data_dir):
    """Fit constant + cosine (124M, peak 1e-3); predict a 20 % and a 99.4 % linear cooldown."""
    folder = data_dir / "schaipp-124m" / "canonical"
    curves = lrlaw.load_curves(
        [folder / f"{n}.csv" for n in ("stable", "cosine", "wsd-0.2-linear", "wsd-0.994-linear")],
        schedules_file=data_dir / "schedules.txt",
    )
    result = lrlaw.fit(curves[:2], "convex")
    assert result.converged and all(v > 0 for v in result.params.values())
    finals = {}
    for c in curves[2:]:
        pred = result.predict(c)
        finals[c.name] = (pred[-1], c.loss[-1])
    # measured (docs/readme_convex_refine.md): final-loss errors 1.55 % and 0.68 %
    errors = {name: abs(p - o) / o for name, (p, o) in finals.items()}
    assert errors["wsd-0.2-linear"] < 0.02 and errors["wsd-0.994-linear"] < 0.01
    # Both cooldowns end well below the constant run, as measured.
    stable_final = curves[0].loss[-1]
    assert all(p < stable_final and o < stable_final for p, o in finals.values())


def test_cli_fit_and_predict(tmp_path):
    import pandas as pd

    files = []
    truth = np.array([2.8, 0.05, 40.0])
    for c in _synthetic_curves(truth, noise=2e-4, seed=5):
        path = tmp_path / f"{c.name}.csv"
        loss = np.full(c.lr.size, np.nan)
        loss[c.steps] = c.loss
        steps = np.arange(c.lr.size)
        pd.DataFrame({"step": steps, "lr": c.lr, "loss": loss}).to_csv(path, index=False)
        files.append(path)
    fit_json = tmp_path / "fit.json"
    res = run("fit", *files, "--law", "convex", "--bootstrap", "20", "--out", fit_json)
    assert res.exit_code == 0, res.output
    assert "law          convex" in res.stdout and "MG2" in res.stdout
    saved = json.loads(fit_json.read_text())
    assert saved["law"] == "convex" and saved["options"] == {"grad_norm": False}
    np.testing.assert_allclose(FitResult.load(fit_json).param_vector, truth, rtol=0.05)
    out = tmp_path / "pred.csv"
    res = run("predict", fit_json, files[2], "--out", out)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert {"pred", "pred_lo", "pred_hi"} <= set(table.columns)
    obs = table.dropna(subset=["loss"])
    assert np.max(np.abs(obs["pred"] / obs["loss"] - 1)) < 2e-3
    # a saved convex fit with foreign parameters is refused with one line
    bad = tmp_path / "bad.json"
    saved["params"] = {"L0": 1.0, "A": 1.0, "alpha": 0.5, "C": 0.1}
    bad.write_text(json.dumps(saved))
    assert_user_error(run("predict", bad, files[2]), "do not match the convex law")
