"""Planning a run from N and D (lrlaw.plan, ``lrlaw plan``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import PNG_MAGIC, assert_user_error, run
from mpl import DATA, MPL_TRAIN

from lrlaw import schedules
from lrlaw.errors import LrlawError
from lrlaw.fitting import FitResult
from lrlaw.io import read_schedules_file
from lrlaw.laws import get_law
from lrlaw.plan import PUBLISHED, fit_hparams, fit_peak_lr, make_plan, read_grid
from lrlaw.plot import plot_plan

ROOT = Path(__file__).resolve().parents[2]
STEPLAW = ROOT / "data" / "steplaw" / "dense_lr_bs_loss.csv"
N, D = 1e8, 5e8  # a small run: Step-Law gives 26 sequences, ~9400 steps
ITERS = 200


def published_fit(name: str, params: list[float]) -> FitResult:
    """A fit result with given parameters, as if fitted on the MPL paper's training curves."""
    law = get_law(name)
    specs = read_schedules_file(DATA / "schedules.txt")
    return FitResult(
        law=law.name,
        options=law.options,
        params=dict(zip(law.param_names, params)),
        objective=0.0,
        delta=1e-3,
        n_points=0,
        converged=True,
        n_starts=1,
        n_converged=1,
        n_near_best=1,
        num_steps=0,
        curves=[{"name": n, "schedule": specs[n]} for n in MPL_TRAIN],
    )


@pytest.fixture(scope="module")
def law() -> FitResult:
    """Momentum law fitted to the MPL 100M curves (peak LR 3e-4; as as in bench_optimize)."""
    return published_fit("momentum", [2.693, 0.553, 0.524, 0.475])


@pytest.fixture(scope="module")
def plan_fit(law):
    return make_plan(N, D, fit=law, iters=ITERS)


def test_hyperparameters_steps_and_candidates_without_a_law() -> None:
    plan = make_plan(N, D)
    step = PUBLISHED["step-law"]
    assert plan.peak == float(f"{step.lr(N=N, D=D):.3g}")
    assert plan.batch_seqs == round(step.batch(D=D) / 2048)
    assert plan.steps == round(D / (plan.batch_seqs * 2048))
    assert plan.warmup == round(0.01 * plan.steps)
    assert abs(plan.tokens - D) <= plan.batch_tokens
    assert list(plan.schedules) == ["cosine", "wsd-linear-20", "wsd-sqrt-20", "wsd-linear-10"]
    for s in plan.schedules.values():
        assert s.total == plan.steps and s.warmup == plan.warmup
        assert np.max(s.values()) == pytest.approx(plan.peak)
    assert plan.comparison is None and plan.ranking() == []
    assert "not predicted" in plan.report()
    ds = make_plan(N, D, hparams="deepseek", batch=64, warmup=50)
    assert ds.batch_seqs == 64 and ds.warmup == 50
    assert ds.peak == float(f"{0.3118 * (6 * N * D) ** -0.125:.3g}")


@pytest.mark.slow
def test_fitted_hyperparameter_law_is_used() -> None:
    hp = fit_hparams(read_grid(STEPLAW), n_boot=0)
    plan = make_plan(4e8, 3e10, hparams=hp)
    assert plan.peak == float(f"{hp.lr.law(N=4e8, D=3e10):.3g}")
    assert plan.batch_seqs == round(hp.batch.law(D=3e10) / 2048)
    assert plan.suggestions[-1].name == "fitted" and not plan.warnings
    far = make_plan(1e8, 1e9, hparams=hp)
    assert any("extrapolates in N" in w for w in far.warnings)


def test_ranked_predictions_at_the_fitted_peak(plan_fit, law) -> None:
    plan = plan_fit
    assert fit_peak_lr(law) == pytest.approx(3e-4)
    assert plan.fit_peak == pytest.approx(3e-4) and plan.predict_peak == pytest.approx(3e-4)
    assert any("predicted with their LRs scaled to the fitted peak" in n for n in plan.notes)
    ranking = plan.ranking()
    names = [r["name"] for r in ranking]
    assert set(names) == {*plan.schedules} and len(names) == 6
    assert list(plan.schedules) == names  # schedules are listed best first
    losses = [r["final_loss"] for r in ranking]
    assert losses == sorted(losses)
    # Every prediction is the law's prediction of the schedule scaled to the fitted peak.
    scale = plan.predict_peak / plan.peak
    for r in ranking:
        lr = plan.schedules[r["name"]].values()
        assert np.max(lr) == pytest.approx(plan.peak)
        pred = law.predict(lr * scale, np.array([plan.steps]))[0]
        assert pred == pytest.approx(r["final_loss"], rel=1e-9)
    # The optimised schedules beat the fixed candidates.
    best_fixed = min(r["final_loss"] for r in ranking if r["name"] in ("cosine", "wsd-linear-20"))
    assert {names[0], names[1]} == {"free-form", "optimised-wsd"}
    assert ranking[0]["final_loss"] < best_fixed
    assert names[-1] == "cosine"
    # Compute to match: the best spec schedule is the reference; the others need fewer steps.
    ref = plan.comparison.best.name
    assert ref == "optimised-wsd"
    for r in ranking:
        if r["name"] not in ("free-form", ref):
            assert r["match_pct"] < 0
    text = plan.report()
    assert "optimised-wsd needs" in text and "(ref)" in text
    assert "free-form" in text and "with LRs scaled to the fitted curves' peak 0.0003" in text


def test_predict_at_suggested_peak_warns_when_far(law) -> None:
    kw = {"optimize_schedule": False, "compute_to_match": False}
    plan = make_plan(N, D, fit=law, predict_at="suggested", **kw)
    assert plan.predict_peak == plan.peak
    assert any("extrapolates in LR" in w for w in plan.warnings)
    for r in plan.ranking():
        lr = plan.schedules[r["name"]].values()
        assert law.predict(lr, np.array([plan.steps]))[0] == pytest.approx(r["final_loss"])
    near = make_plan(N, D, fit=law, predict_at="suggested", peak=4e-4, **kw)
    assert not near.warnings and near.predict_peak == 4e-4
    from_column = dataclasses.replace(  # curves read from an lr column: fit() records peak_lr
        law,
        curves=[{**c, "schedule": "lr column (every step)", "peak_lr": 3e-4} for c in law.curves],
    )
    assert fit_peak_lr(from_column) == pytest.approx(3e-4)
    assert make_plan(N, D, fit=from_column, **kw).fit_peak == pytest.approx(3e-4)
    no_spec = dataclasses.replace(  # a fit saved before peak_lr was recorded
        law,
        curves=[
            {k: v for k, v in c.items() if k != "peak_lr"} | {"schedule": "lr column"}
            for c in law.curves
        ],
    )
    unknown = make_plan(N, D, fit=no_spec, **kw)
    assert unknown.fit_peak is None and unknown.predict_peak == unknown.peak
    assert any("is unknown" in w for w in unknown.warnings)
    given = make_plan(N, D, fit=no_spec, fit_peak=6e-4, **kw)
    assert given.predict_peak == 6e-4 and not given.warnings


def _finals(law: FitResult, family: str) -> np.ndarray:
    """Predicted final loss of a 9000-step schedule at peaks 3e-4 (the fitted peak) .. 4.8e-3."""
    out = []
    for p in (3e-4, 6e-4, 1.2e-3, 2.4e-3, 4.8e-3):
        if family == "constant":
            s = schedules.constant(p, total=9000, warmup=90)
        else:
            s = schedules.cosine(p, 9000, final=p / 10, warmup=90)
        out.append(law.predict(s.values(), [9000])[0])
    return np.array(out)


def test_the_laws_do_not_model_the_peak(law) -> None:
    """Why plan predicts at the fitted peak (docs/readme_hparams.md, lrlaw.plan)."""
    mpl = published_fit("multipower", [3.040, 0.525, 0.508, 363.8, 2.066, 0.583, 0.641])
    # Signed warmup term (default): a constant LR gets worse as the peak grows.
    assert np.all(np.diff(_finals(law, "constant")) > 0)
    assert np.all(np.diff(_finals(mpl, "constant")) > 0)
    # Without it, the momentum law's prediction keeps falling, far below any measured loss.
    ignore = dataclasses.replace(law, options={**law.options, "warmup": "ignore"})
    finals = _finals(ignore, "cosine")
    assert np.all(np.diff(finals) < 0) and finals[-1] < 1.0


def test_plot_and_json(plan_fit, law) -> None:
    fig = plot_plan(plan_fit, law)
    assert len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels[0].startswith("1. ") and len(labels) == 6
    data = json.loads(json.dumps(plan_fit.to_dict()))
    assert data["ranking"][0]["rank"] == 1 and data["steps"] == plan_fit.steps
    assert len(data["schedules"]["free-form"]["lr"]) == plan_fit.steps + 1
    assert data["schedules"]["cosine"]["spec"].startswith("cosine:")


def test_bad_arguments() -> None:
    with pytest.raises(LrlawError, match="N=0 must be a number > 0"):
        make_plan(0, D)
    with pytest.raises(LrlawError, match="only 3 steps"):
        make_plan(N, 2e5, batch=32)
    with pytest.raises(LrlawError, match="warmup=10000 must be in"):
        make_plan(N, D, warmup=10_000)
    with pytest.raises(LrlawError, match="unknown hyper-parameter law"):
        make_plan(N, D, hparams="chinchilla")
    with pytest.raises(LrlawError, match="predict_at"):
        make_plan(N, D, predict_at="best")


def test_cli_plan(law, tmp_path) -> None:
    fit_file = tmp_path / "fit.json"
    law.save(fit_file)
    out, png = tmp_path / "plan.md", tmp_path / "plan.png"
    args = ["plan", "-N", N, "-D", D, "--fit", fit_file, "--iters", ITERS, "--no-match"]
    r = run(*args, "--out", out, "--plot", png)
    assert r.exit_code == 0, r.output
    assert "peak LR" in r.stdout and "rank  schedule" in r.stdout
    assert out.read_text() == r.stdout
    assert png.read_bytes()[:8] == PNG_MAGIC
    r = run("plan", "-N", N, "-D", D, "--law", "power", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["peak_lr"] == float(f"{4.6 * data['batch_seqs'] * D**-0.51:.3g}")
    assert_user_error(run(*args, "--out", tmp_path / "plan.csv"), "use a .md, .txt or .json")
    assert_user_error(run(*args, "--out", fit_file), "refusing to overwrite an input file")
    assert_user_error(run("plan", "-N", N, "-D", D, "--law", "x"), "unknown hyper-parameter law")
