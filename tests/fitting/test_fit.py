"""The momentum-law fit: synthetic recovery, joint fits, results, errors, real curves."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import run_python
from mpl import MPL_TEST, MPL_TRAIN, mpl_curves

from lrlaw import schedules
from lrlaw.curves import Curve
from lrlaw.errors import FitError, LrlawError
from lrlaw.fitting import FitResult, fit, huber, predict_curve
from lrlaw.fitting.metrics import mean_metrics
from lrlaw.io import load_curves
from lrlaw.laws import MomentumLaw, get_law

TRUE = {"L0": 2.9, "A": 0.5, "alpha": 0.45, "C": 0.35}


def synthetic(schedule: schedules.Schedule, name: str, noise: float, seed: int, every: int = 100):
    """A curve generated from the momentum law with TRUE parameters and relative noise."""
    lr = schedule.values()
    steps = np.arange(max(schedule.warmup, every), schedule.total + 1, every)
    clean = predict_curve(MomentumLaw(), np.array(list(TRUE.values())), lr, steps)
    rng = np.random.default_rng(seed)
    loss = clean * (1 + noise * rng.standard_normal(steps.size))
    return Curve(name, steps, loss, lr, schedule.warmup)


@pytest.fixture(scope="module")
def synthetic_curves() -> list[Curve]:
    T, W, peak = 20_000, 500, 3e-4
    specs = [
        schedules.cosine(peak, T, final=3e-5, warmup=W),
        schedules.constant(peak, total=T, warmup=W),
        schedules.wsd(peak, T, decay_frac=0.2, final=3e-5, shape="linear", warmup=W),
    ]
    return [synthetic(s, f"c{i}", 1e-3, seed=i) for i, s in enumerate(specs)]


def test_recovers_known_parameters(synthetic_curves: list[Curve]) -> None:
    result = fit(synthetic_curves)
    assert result.converged
    for k, v in TRUE.items():
        assert result.params[k] == pytest.approx(v, rel=0.05), k
    # 0.1 % noise: the in-sample relative error is of the noise's size.
    assert result.mean_metrics["prede"] == pytest.approx(8e-4, rel=0.25)


def test_noise_free_recovery_is_exact(synthetic_curves: list[Curve]) -> None:
    clean = [
        Curve(
            c.name,
            c.steps,
            predict_curve(MomentumLaw(), np.array(list(TRUE.values())), c.lr, c.steps),
            c.lr,
            c.warmup,
        )
        for c in synthetic_curves
    ]
    result = fit(clean)
    for k, v in TRUE.items():
        assert result.params[k] == pytest.approx(v, rel=1e-5), k
    assert result.objective < 1e-12


def test_joint_fit_identifies_what_one_constant_curve_cannot() -> None:
    """A constant schedule informs C only through its start transient (the noise floor
    -C S2 building up from rest over ~1/(1 - lam) steps, where the power law is steep too),
    so fitted alone its C is off by ~10 %; sharing parameters with a decaying schedule pins
    C down and predicts a held-out WSD curve better."""
    T, peak = 20_000, 3e-4
    const = synthetic(schedules.constant(peak, total=T), "const", 1e-3, seed=5)
    cos = synthetic(schedules.cosine(peak, T, final=3e-5), "cos", 1e-3, seed=6)
    wsd = synthetic(schedules.wsd(peak, T, decay_frac=0.3, shape="sqrt"), "wsd", 1e-3, seed=7)
    joint = fit([const, cos])
    err_joint = np.abs(joint.predict(wsd) / wsd.loss - 1).mean()
    assert err_joint < 2e-3
    assert joint.params["C"] == pytest.approx(TRUE["C"], rel=0.05)
    alone = fit([const])
    err_alone = np.abs(alone.predict(wsd) / wsd.loss - 1).mean()
    assert abs(alone.params["C"] / TRUE["C"] - 1) > 2 * abs(joint.params["C"] / TRUE["C"] - 1)
    assert err_alone > 1.3 * err_joint


def test_result_round_trips_through_json(tmp_path, synthetic_curves: list[Curve]) -> None:
    result = fit(synthetic_curves[:2], MomentumLaw(lam=0.99, warmup="ignore"))
    # each curve's largest LR is recorded (lrlaw plan needs the fitted peak of lr columns)
    assert [c["peak_lr"] for c in result.curves] == [c.lr.max() for c in synthetic_curves[:2]]
    path = tmp_path / "fit.json"
    result.save(path)
    loaded = FitResult.load(path)
    assert loaded == result
    assert loaded.law_object == MomentumLaw(lam=0.99, warmup="ignore")
    data = json.loads(path.read_text())
    assert data["format"] == "lrlaw.fit/1" and data["law"] == "momentum"
    assert set(data["params"]) == {"L0", "A", "alpha", "C"}
    c = synthetic_curves[2]
    np.testing.assert_allclose(loaded.predict(c), result.predict(c), rtol=1e-14)
    assert "alpha" in result.report() and "converged" in result.report()


def test_bad_results_are_rejected(tmp_path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(LrlawError, match=r"x\.json: fit result is not valid JSON"):
        FitResult.load(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(LrlawError, match="not an lrlaw fit result"):
        FitResult.load(bad)
    with pytest.raises(LrlawError, match="no such file"):
        FitResult.load(tmp_path / "missing.json")


def test_too_few_points_is_a_clear_error() -> None:
    lr = schedules.constant(1e-3, total=1000).values()
    curve = Curve("tiny", np.array([100, 200, 300]), np.array([3.0, 2.9, 2.8]), lr)
    with pytest.raises(FitError, match=r"3 point.*needs at least 5"):
        fit([curve])
    warm = schedules.constant(1e-3, total=1000, warmup=500).values()
    curve = Curve("early", np.arange(10, 400, 10), np.linspace(5, 4, 39), warm, warmup=500)
    with pytest.raises(FitError, match="0 point"):
        fit([curve])


def test_zero_schedule_is_a_clear_error() -> None:
    curve = Curve("zero", np.arange(1, 100), np.linspace(3, 2, 99), np.zeros(100))
    with pytest.raises(FitError, match="learning rate must be > 0"):
        fit([curve])


def test_unknown_law_and_options() -> None:
    with pytest.raises(LrlawError, match=r"unknown law 'nope'; available: (\w+, )*momentum, "):
        get_law("nope")
    with pytest.raises(LrlawError, match=r"lam=1\.5"):
        MomentumLaw(lam=1.5)


def test_huber() -> None:
    r = np.array([-3e-3, -1e-3, 0.0, 5e-4, 2e-3])
    expected = [1e-3 * (3e-3 - 5e-4), 0.5e-6, 0.0, 0.5 * 25e-8, 1e-3 * (2e-3 - 5e-4)]
    np.testing.assert_allclose(huber(r, 1e-3), expected, rtol=1e-12)


# --- real curves -----------------------------------------------------------------------


def mpl_split(size: str) -> tuple[list[Curve], list[Curve]]:
    return mpl_curves(size, MPL_TRAIN), mpl_curves(size, MPL_TEST)


def held_out(result: FitResult, curves: list[Curve]) -> dict[str, float]:
    from lrlaw.fitting.metrics import curve_metrics

    return mean_metrics([curve_metrics(c.loss, result.predict(c)) for c in curves])


def test_mpl_100m_paper_split() -> None:
    """Fit cosine_24000, constant_24000, wsdcon_9; predict the six others (issue 2)."""
    train, test = mpl_split("100m")
    result = fit(train)
    m = held_out(result, test)
    assert result.converged
    assert m["prede"] <= 0.0015
    assert m["final"] <= 0.0025


def test_mpl_25m_paper_split() -> None:
    train, test = mpl_split("25m")
    result = fit(train)
    assert held_out(result, test)["prede"] <= 0.0016


def test_124m_wsd_cooldown_final_loss(data_dir) -> None:
    """Fit the constant and cosine 124M runs; predict the WSD (20 % linear) cooldown."""
    folder = data_dir / "schaipp-124m" / "canonical"
    train = load_curves([folder / "stable.csv", folder / "cosine.csv"])
    (wsd,) = load_curves([folder / "wsd-0.2-linear.csv"])
    result = fit(train)
    final_pred = result.predict(wsd.lr, wsd.steps[-1:])[0]
    assert abs(final_pred / wsd.loss[-1] - 1) <= 0.005


def test_float64_is_scoped_not_global() -> None:
    """lrlaw computes in float64 without leaving jax_enable_x64 switched on."""

    code = (
        "import jax, numpy as np\n"
        "from lrlaw import schedules\n"
        "v = schedules.cosine(3e-4, 24000, final=3e-5, warmup=2160).values()\n"
        "assert v.dtype == np.float64\n"
        "t = 2288; p = (t - 2160) / (24000 - 2160)\n"
        "exact = 3e-5 + (3e-4 - 3e-5) * (1 + np.cos(np.pi * p)) / 2\n"
        "assert abs(v[t] - exact) < 1e-19, v[t] - exact\n"
        "assert not jax.config.jax_enable_x64\n"
        "print('ok')\n"
    )
    assert run_python(code).stdout.strip() == "ok"


def test_fitting_lambda_recovers_it() -> None:
    """Optionally fit the momentum decay lam (logit-parameterised, areas recomputed)."""
    true = {"L0": 2.9, "A": 0.5, "alpha": 0.45, "C": 0.35, "lam": 0.99}
    law = MomentumLaw(lam=0.99)
    curves = []
    rng = np.random.default_rng(11)
    for i, s in enumerate(
        [
            schedules.cosine(3e-4, 10_000, final=3e-5, warmup=500),
            schedules.multistep(3e-4, milestones=[5000], values=[6e-5], total=10_000, warmup=500),
            schedules.constant(3e-4, total=10_000, warmup=500),
        ]
    ):
        lr = s.values()
        steps = np.arange(500, 10_001, 50)
        clean = predict_curve(law, np.array([2.9, 0.5, 0.45, 0.35]), lr, steps)
        curves.append(
            Curve(f"c{i}", steps, clean * (1 + 2e-4 * rng.standard_normal(steps.size)), lr, 500)
        )
    result = fit(curves, MomentumLaw(fit_lam=True))
    assert set(result.params) == set(true)
    for k, v in true.items():
        assert result.params[k] == pytest.approx(v, rel=0.05), k
    assert FitResult.from_json(result.to_json()) == result


def test_package_attribute_fit_is_the_function() -> None:
    """Regression: a submodule named like the function shadowed ``lrlaw.fit`` once
    another module had imported it (``lrlaw.fit`` was then a module, not callable)."""
    import subprocess
    import sys

    code = (
        "import lrlaw\n"
        "lrlaw.compare_laws\n"  # imports the fitting machinery first
        "assert callable(lrlaw.fit), type(lrlaw.fit)\n"
        "assert lrlaw.fit.__module__ == 'lrlaw.fitting.core'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_identifiability_survives_huge_and_non_finite_jacobians() -> None:
    """Regression: forming J^T J overflowed for a parameter at a degenerate limit and
    np.linalg.pinv raised "SVD did not converge"; a NaN column must give a warning."""
    from lrlaw.fitting.diagnostics import identifiability_warnings

    rng = np.random.default_rng(0)
    j = rng.normal(size=(50, 3))
    r = 1e-3 * rng.normal(size=50)
    j_huge = j.copy()
    j_huge[:, 2] *= 1e200
    warnings = identifiability_warnings(j_huge, r, ["a", "b", "c"])  # no LinAlgError
    assert not any(w.startswith("c ") for w in warnings)
    j_nan = j.copy()
    j_nan[3, 1] = np.nan
    (msg,) = identifiability_warnings(j_nan, r, ["a", "b", "c"])
    assert "sensitivity to b is not finite" in msg
