"""``--law auto``: separation test, stacking weights, the combined fit (lrlaw.fitting.crossval,
lrlaw.fitting.ensemble)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from cli_helpers import run
from mpl import MPL_TEST, MPL_TRAIN, mpl_curves

from lrlaw import schedules
from lrlaw.curves import Curve
from lrlaw.errors import LrlawError
from lrlaw.fitting import FitResult, fit, predict_curve
from lrlaw.fitting.crossval import CrossValidation, Fold, _end_error, _simplex_qp, select_laws
from lrlaw.fitting.ensemble import EnsembleFit, combine
from lrlaw.laws import MomentumLaw
from lrlaw.laws.base import LAWS

TRUE = np.array([2.5, 0.5, 0.4, 300.0])
T, W, PEAK = 3000, 100, 1e-3


def _cv(errors: dict[str, list[np.ndarray]], scheme: str = "leave-one-curve-out"):
    """A cross-validation whose held-out relative errors are ``errors[law][run]``."""
    folds = []
    for law, per_run in errors.items():
        for i, e in enumerate(per_run):
            steps = np.arange(10, 10 * (e.size + 1), 10)
            obs = np.full(e.size, 3.0)
            pred = obs * (1 - e)
            m = {"mse": float(np.mean(e**2)), "prede": float(np.mean(np.abs(e)))}
            m |= {"final": abs(float(e[-1])), "worste": float(np.max(np.abs(e))), "n": e.size}
            pts = ({"name": f"r{i}", "steps": steps, "observed": obs, "pred": pred},)
            m["end"] = _end_error(pts[0])
            folds.append(Fold(law, (), ({"name": f"r{i}", "metrics": m},), {}, 0.0, points=pts))
    return CrossValidation(scheme, tuple(errors), tuple(folds), 0.9)


def test_simplex_qp_is_the_exact_minimum() -> None:
    rng = np.random.default_rng(0)
    grid = [np.array(w) / 20 for w in itertools.product(range(21), repeat=3) if sum(w) == 20]
    for _ in range(5):
        a = rng.standard_normal((3, 6))
        m = a @ a.T
        w = _simplex_qp(m)
        assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
        assert w @ m @ w <= min(g @ m @ g for g in grid) + 1e-12


def test_a_law_worse_on_every_run_is_separated_and_the_best_is_picked_alone() -> None:
    rng = np.random.default_rng(1)
    base = [1e-3 * rng.standard_normal(50) for _ in range(4)]
    errs = {"a": base, "b": [e + 0.01 * (1 + 0.1 * i) for i, e in enumerate(base)]}
    sel = select_laws(_cv(errs))
    assert sel["separated"] and sel["weights"] == {"a": 1.0}
    assert sel["differences"]["b"]["separated"]
    assert "because it is separated from every other law" in sel["reason"]


def test_laws_the_folds_do_not_separate_are_stacked() -> None:
    # a overshoots and b undershoots by similar amounts, and which is better flips
    # between runs: no separation; their average is far better than either.
    sizes = [(0.010, 0.012), (0.012, 0.010), (0.011, 0.009)]
    errs = {
        "a": [np.full(40, sa) for sa, _ in sizes],
        "b": [np.full(40, -sb) for _, sb in sizes],
        "c": [np.full(40, 0.05 + 0.01 * i) for i in range(3)],  # clearly worse
    }
    sel = select_laws(_cv(errs))
    assert not sel["separated"]
    assert sel["differences"]["c"]["separated"] and "c" not in sel["weights"]
    w = sel["weights"]
    assert set(w) == {"a", "b"} and abs(sum(w.values()) - 1) < 1e-12
    assert 0.3 < w["a"] < 0.7
    assert "laws combined by --law auto" in sel["reason"] and "not separated" in sel["reason"]


def test_one_held_out_run_never_separates() -> None:
    errs = {"a": [np.full(30, 0.001)], "b": [np.full(30, -0.002)]}
    sel = select_laws(_cv(errs, "forward split"))
    assert not sel["differences"]["b"]["separated"]
    # stacking on the one run: w_a * 0.001 - w_b * 0.002 = 0
    np.testing.assert_allclose([sel["weights"]["a"], sel["weights"]["b"]], [2 / 3, 1 / 3])
    assert "no estimate of the cross-validation noise" in sel["reason"]
    with pytest.raises(LrlawError, match="metric"):
        select_laws(_cv(errs), "nope")


def _runs(mix: float = 0.0) -> list[Curve]:
    """Momentum-law runs (lam 0.999), or with ``mix`` that share of a lam = 0.99 law."""
    rng = np.random.default_rng(0)
    out = []
    for name, s in [
        ("const", schedules.constant(PEAK, total=T, warmup=W)),
        ("cos", schedules.cosine(PEAK, T, warmup=W)),
        ("wsd", schedules.wsd(PEAK, T, decay_frac=0.2, warmup=W)),
    ]:
        steps = np.arange(W, T + 1, 25)
        loss = (1 - mix) * predict_curve(MomentumLaw(), TRUE, s.values(), steps)
        loss += mix * predict_curve(MomentumLaw(lam=0.99), TRUE, s.values(), steps)
        loss = loss * np.exp(5e-4 * rng.standard_normal(loss.size))
        out.append(Curve(name, steps, loss, s.values(), warmup=W))
    return out


@pytest.mark.slow
def test_a_combination_is_a_first_class_fit(tmp_path) -> None:
    runs = _runs(mix=0.5)
    a = fit(runs, MomentumLaw(), bootstrap=20)
    b = fit(runs, MomentumLaw(lam=0.99), bootstrap=0)  # a member without a band
    ens = combine([a, b], [0.7, 0.3], runs, {"report": "why", "chosen": "ensemble"})
    assert isinstance(ens, EnsembleFit) and ens.law == "ensemble"
    lr = schedules.wsd(PEAK, 4000, decay_frac=0.5, warmup=W).values()
    steps = np.arange(W, 4001, 50)
    pa, pb, pe = a.predict(lr, steps), b.predict(lr, steps), ens.predict(lr, steps)
    np.testing.assert_allclose(pe, 0.7 * pa + 0.3 * pb, rtol=1e-12)
    lo, hi = ens.predict_band(lr, steps, 0.9)
    alo, ahi = a.predict_band(lr, steps, 0.9)
    assert np.all(lo <= np.minimum.reduce([pa, pb, pe, alo]))
    assert np.all(hi >= np.maximum.reduce([pa, pb, pe, ahi]))
    # in-sample metrics are those of the combined prediction
    c = runs[1]
    mask = c.steps >= ens.curves[1]["window"][0]
    pred = 0.7 * a.predict(c.lr, c.steps[mask]) + 0.3 * b.predict(c.lr, c.steps[mask])
    rel = np.abs(pred - c.loss[mask]) / c.loss[mask]
    assert ens.curves[1]["metrics"]["prede"] == pytest.approx(rel.mean(), rel=1e-9)
    text = ens.report()
    assert "momentum1 0.700, momentum2 0.300" in text and "why" in text
    assert "--- member momentum1 (weight 0.700) ---" in text
    path = tmp_path / "ens.json"
    ens.save(path)
    back = FitResult.load(path)
    assert isinstance(back, EnsembleFit) and back == ens
    np.testing.assert_allclose(back.predict(lr, steps), pe, rtol=1e-12)
    np.testing.assert_allclose(back.predict_band(lr, steps, 0.9), (lo, hi), rtol=1e-12)
    assert back.stderr is not None and np.isfinite(back.stderr["momentum1.L0"])
    assert np.isnan(back.stderr["momentum2.L0"])  # that member has no bootstrap
    bad = json.loads(path.read_text())
    bad["options"]["weights"] = [0.9, 0.3]
    with pytest.raises(LrlawError, match="sum to 1"):
        FitResult.from_dict(bad)
    # one member with weight 1 is that member, not an ensemble
    assert type(combine([a], [1.0], runs)) is FitResult


class _MomentumFast(MomentumLaw):
    """A second candidate for the command-line test: the momentum law with lam 0.99."""

    name = "momentum-lam0.99"

    def __init__(self, lam: float = 0.99, warmup: str = "signed", fit_lam: bool = False) -> None:
        super().__init__(lam, warmup, fit_lam)  # type: ignore[arg-type]


@pytest.mark.slow
def test_cli_fit_law_auto_combines_then_predict_compare_evaluate(tmp_path, monkeypatch) -> None:
    import lrlaw.fitting.crossval

    monkeypatch.setitem(LAWS, _MomentumFast.name, _MomentumFast)
    for where in (lrlaw.fitting.crossval, lrlaw.fitting):  # the module, and what the CLI imports
        monkeypatch.setattr(where, "AUTO_LAWS", ("momentum", _MomentumFast.name))
    real = lrlaw.fitting.crossval.select_laws

    def even(cv, *args, **kwargs):
        # The selection is tested above; this test is about a combination going through
        # the command line, so the weights are set to 0.6 / 0.4 after the real selection.
        sel = real(cv, *args, **kwargs)
        return sel | {"weights": {"momentum": 0.6, _MomentumFast.name: 0.4}}

    monkeypatch.setattr(lrlaw.fitting.crossval, "select_laws", even)
    (c,) = _runs(mix=0.5)[1:2]
    path = tmp_path / "run.csv"
    path.write_text(
        "step,loss\n" + "\n".join(f"{s},{float(v)!r}" for s, v in zip(c.steps, c.loss)) + "\n"
    )
    spec = f"cosine:peak={PEAK},total={T},warmup={W}"
    out = tmp_path / "fit.json"
    r = run("fit", path, "--schedule", spec, "--law", "auto", "--bootstrap", "10", "--out", out)
    assert r.exit_code == 0, r.output
    assert "ensemble (weighted mean of 2 fitted laws): momentum 0.600" in r.stdout
    assert "no estimate of the cross-validation noise" in r.stdout
    saved = json.loads(out.read_text())
    assert saved["law"] == "ensemble" and saved["selection"]["chosen"] == "ensemble"
    assert saved["selection"]["weights"] == {"momentum": 0.6, _MomentumFast.name: 0.4}
    pred = tmp_path / "pred.csv"
    r = run("predict", out, path, "--schedule", spec, "--out", pred, "--plot", tmp_path / "p.png")
    assert r.exit_code == 0, r.output
    import pandas as pd

    table = pd.read_csv(pred).dropna()
    assert (table.pred_lo <= table.pred).all() and (table.pred <= table.pred_hi).all()
    r = run(
        "compare",
        out,
        "--schedule",
        f"wsd:peak={PEAK},total={T},warmup={W},decay_frac=0.2",
        "--schedule",
        spec,
    )
    assert r.exit_code == 0, r.output
    r = run("evaluate", out, path, "--schedule", spec, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["law"] == "ensemble"


@pytest.mark.slow
def test_auto_on_the_shipped_curves_is_not_worse_than_the_best_law() -> None:
    """MPL 100M split: auto over two momentum variants against each alone, on the six
    held-out runs, within the paired standard error of the difference."""
    from lrlaw.fitting.crossval import fit_auto
    from lrlaw.fitting.metrics import curve_metrics

    train, test = mpl_curves("100m", MPL_TRAIN), mpl_curves("100m", MPL_TEST)
    laws = [MomentumLaw(), MomentumLaw(lam=0.99)]
    auto = fit_auto(train, laws, bootstrap=0)

    def finals(result: FitResult) -> np.ndarray:
        return np.array(
            [
                curve_metrics(c.loss[c.window()], result.predict(c.lr, c.steps[c.window()]))[
                    "final"
                ]
                for c in test
            ]
        )

    mine = finals(auto)
    for law in laws:
        single = finals(fit(train, law, bootstrap=0))
        d = mine - single
        assert d.mean() <= 2 * d.std(ddof=1) / np.sqrt(d.size) + 1e-12, (law, mine, single)


def test_compare_laws_scores_auto_like_any_law(monkeypatch) -> None:
    import lrlaw.fitting.crossval
    from lrlaw.fitting.evaluate import compare_laws

    monkeypatch.setattr(lrlaw.fitting.crossval, "AUTO_LAWS", ("momentum",))
    runs = _runs()
    lr = schedules.linear(PEAK, T, warmup=W).values()
    steps = np.arange(W, T + 1, 25)
    held = Curve("lin", steps, predict_curve(MomentumLaw(), TRUE, lr, steps), lr, warmup=W)
    comparison = compare_laws(runs, [held], ["momentum", "auto"])
    auto = comparison["auto"]
    assert auto.fit.selection["chosen"] == "momentum"
    assert auto.mean["prede"] == pytest.approx(comparison["momentum"].mean["prede"], rel=1e-9)
    assert "auto" in comparison.table()
    with pytest.raises(LrlawError, match="more than once"):
        compare_laws(runs, [held], ["auto", "auto"])


def test_auto_candidates_leave_out_multipower_and_cv_keeps_it() -> None:
    """Issue 16.3/16.5: auto's candidates are momentum and efflr (multi-power was picked
    where it extrapolated worst, and was most of auto's time); ``lrlaw evaluate --cv``
    still compares all three by default."""
    from lrlaw.fitting import AUTO_LAWS, CV_LAWS

    assert AUTO_LAWS == ("momentum", "efflr")
    assert CV_LAWS == ("momentum", "multipower", "efflr")


def test_auto_separates_by_the_final_loss_error_by_default() -> None:
    """Issue 16.3: auto's paired test scores each held-out run by its final-loss error
    (what planning uses), read off the mean error over the run's last tenth (``end``).
    Law "a" fits the held-out points better on the whole but misses every run's last
    tenth by 0.5 %; "b" is a little worse everywhere else but ends right: scored by the
    final-loss error (``end`` or the last point) "b" is separated and picked alone, by
    MSE "a" would be."""
    import inspect

    from lrlaw.fitting.crossval import fit_auto

    assert inspect.signature(fit_auto).parameters["metric"].default == "end"
    rng = np.random.default_rng(4)
    a, b = [], []
    tail = np.r_[np.zeros(180), np.ones(20)]  # the last tenth of 200 points
    for _ in range(4):
        e = 1e-4 * rng.standard_normal(200)
        a.append(e + 5e-3 * (1 + 0.1 * rng.standard_normal()) * tail)
        b.append(e + 2e-3 * (1 + 0.1 * rng.standard_normal(200)) * (1 - tail))
    cv = _cv({"a": a, "b": b})
    for metric in ("end", "final"):
        sel = select_laws(cv, metric)
        assert sel["separated"] and sel["weights"] == {"b": 1.0}, metric
    assert select_laws(cv, "mse")["best"] == "a"
