"""Cross-validation of laws (lrlaw.fitting.crossval, ``lrlaw evaluate --cv``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import assert_user_error, run
from mpl import MPL_TEST, MPL_TRAIN, mpl_curves

from lrlaw import schedules
from lrlaw.curves import Curve
from lrlaw.errors import LrlawError
from lrlaw.fitting import predict_curve
from lrlaw.fitting.crossval import cross_validate
from lrlaw.laws import MomentumLaw

TRUE = np.array([2.5, 0.5, 0.4, 300.0])
T, W, PEAK = 3000, 100, 1e-3


def _runs(noise: float = 0.0, seed: int = 0) -> list[Curve]:
    rng = np.random.default_rng(seed)
    out = []
    for name, s in [
        ("const", schedules.constant(PEAK, total=T, warmup=W)),
        ("cos", schedules.cosine(PEAK, T, warmup=W)),
        ("wsd", schedules.wsd(PEAK, T, decay_frac=0.2, warmup=W)),
        ("lin", schedules.linear(PEAK, T, warmup=W)),
    ]:
        steps = np.arange(W, T + 1, 25)
        loss = predict_curve(MomentumLaw(), TRUE, s.values(), steps)
        loss = loss * np.exp(noise * rng.standard_normal(loss.size))
        out.append(Curve(name, steps, loss, s.values(), warmup=W))
    return out


def test_loco_never_fits_the_held_out_run_and_recovers_a_true_law() -> None:
    cv = cross_validate(_runs(), ["momentum"], bootstrap=0)
    assert cv.scheme == "leave-one-curve-out" and len(cv.folds) == 4
    for fold in cv.folds:
        (held,) = fold.runs
        assert held["name"] not in fold.train and len(fold.train) == 3
        np.testing.assert_allclose(list(fold.params.values()), TRUE, rtol=1e-4)
    summary = cv.summary()["momentum"]
    assert summary["runs"] == 4 and summary["prede"] < 1e-6 and summary["failed"] == 0
    assert np.isnan(summary["coverage"])  # no bootstrap, no band
    assert cv.best() == "momentum"


def test_coverage_of_the_bands_with_noise() -> None:
    cv = cross_validate(_runs(noise=2e-3), ["momentum"], bootstrap=30)
    cov = [r["metrics"]["coverage"] for f in cv.folds for r in f.runs]
    assert all(0.0 <= c <= 1.0 for c in cov)
    # Noise is i.i.d. here, so a 90 % band covers most held-out points, not all or none.
    assert 0.5 < np.mean(cov) <= 1.0
    assert 0 < cv.summary()["momentum"]["prede"] < 5e-3
    assert "cov90%" in cv.table()


def test_split_and_forward_split_and_failed_folds() -> None:
    runs = _runs()
    cv = cross_validate(runs, ["momentum"], train=["const", "cos"], bootstrap=0)
    assert cv.scheme == "split" and len(cv.folds) == 1
    assert [r["name"] for r in cv.folds[0].runs] == ["wsd", "lin"]
    one = cross_validate(runs[1:2], ["momentum"], bootstrap=0)
    assert one.scheme == "forward split"
    (held,) = one.folds[0].runs
    assert held["metrics"]["n"] == runs[1].steps.size - int(0.6 * runs[1].steps.size)
    # Two runs: leaving one out would fit a single schedule.  Each run's last 40 % is
    # held out in turn, fitted with the other run whole and its own first 60 %.
    two = cross_validate(runs[:2], ["momentum"], bootstrap=0)
    assert two.scheme == "leave-one-tail-out" and len(two.folds) == 2
    for fold, c, other in zip(two.folds, runs[:2], runs[1::-1]):
        (r,) = fold.runs
        assert r["name"] == c.name and fold.train == (other.name, c.name)
        assert r["metrics"]["n"] == c.steps.size - int(0.6 * c.steps.size)
        (pts,) = fold.points
        assert pts["steps"][0] == c.steps[int(0.6 * c.steps.size)]
    # A fold that cannot be fitted (2 points per run, 7 parameters) is recorded, not raised.
    tiny = [Curve(c.name, c.steps[:2], c.loss[:2], c.lr, warmup=W) for c in runs[:3]]
    bad = cross_validate(tiny, ["multipower"], bootstrap=0)
    assert all(f.error and "needs at least" in f.error for f in bad.folds)
    assert bad.summary()["multipower"]["failed"] == 3 and "failed" in bad.table()
    with pytest.raises(LrlawError, match="unknown run"):
        cross_validate(runs, ["momentum"], train=["nope"])
    with pytest.raises(LrlawError, match="none is held out"):
        cross_validate(runs, ["momentum"], train=[c.name for c in runs])
    with pytest.raises(LrlawError, match="more than once"):
        cross_validate(runs, ["momentum", MomentumLaw()])


def test_split_on_real_curves_matches_the_law_comparison() -> None:
    from lrlaw.fitting.evaluate import compare_laws

    curves = mpl_curves("100m", MPL_TRAIN + MPL_TEST)
    train = [c for c in curves if c.name in MPL_TRAIN]
    test = [c for c in curves if c.name not in MPL_TRAIN]
    cv = cross_validate(curves, ["momentum"], train=list(MPL_TRAIN), bootstrap=0)
    ref = compare_laws(train, test, ["momentum"])["momentum"].mean
    got = cv.summary()["momentum"]
    for key in ("prede", "worste", "final"):
        assert got[key] == pytest.approx(ref[key], rel=1e-9)
    assert got["prede"] == pytest.approx(0.00140, abs=5e-5)  # README: 0.140 %


def test_cli_cv(tmp_path) -> None:
    files = []
    for c in _runs(noise=1e-3):
        path = tmp_path / f"{c.name}.csv"
        rows = "\n".join(f"{s},{float(v)!r}" for s, v in zip(c.steps, c.loss))
        path.write_text("step,loss\n" + rows + "\n")
        files.append(path)
    specs = [
        f"const=constant:peak={PEAK},total={T},warmup={W}",
        f"cos=cosine:peak={PEAK},total={T},warmup={W}",
        f"wsd=wsd:peak={PEAK},total={T},decay_frac=0.2,warmup={W}",
        f"lin=linear:peak={PEAK},total={T},warmup={W}",
    ]
    sched = [a for s in specs for a in ("--schedule", s)]
    r = run("evaluate", *files, *sched, "--cv", "--law", "momentum", "--bootstrap", "0")
    assert r.exit_code == 0, r.output
    assert "leave-one-curve-out" in r.stdout and "fold 4/4: momentum" in r.stderr
    r = run(
        "evaluate",
        *files,
        *sched,
        "--cv",
        "--law",
        "momentum",
        "--bootstrap",
        "0",
        "--train",
        "const",
        "--train",
        "cos",
        "--json",
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["scheme"] == "split" and data["summary"]["momentum"]["runs"] == 2
    assert_user_error(
        run("evaluate", *files, *sched, "--cv", "--plot", tmp_path / "x.png"), "--plot"
    )
    assert_user_error(run("evaluate", *files, *sched, "--cv", "--law", "nope"), "nope")
    assert not (tmp_path / "x.png").exists()


def test_fit_auto_picks_the_law_that_cross_validates_best(tmp_path) -> None:
    from lrlaw.fitting import FitResult
    from lrlaw.fitting.crossval import fit_auto

    runs = _runs(noise=5e-4)
    result = fit_auto(runs, [MomentumLaw(lam=0.9), MomentumLaw()], bootstrap=0)
    sel = result.selection
    assert sel["chosen"] == "momentum(lam=0.999,warmup=signed,fit_lam=False)"
    assert result.options["lam"] == 0.999
    s = sel["summary"]
    assert s[sel["chosen"]]["prede"] < s["momentum(lam=0.9,warmup=signed,fit_lam=False)"]["prede"]
    assert "law chosen by --law auto" in result.report()
    path = tmp_path / "auto.json"
    result.save(path)
    assert FitResult.load(path).selection["chosen"] == sel["chosen"]
    with pytest.raises(LrlawError, match="metric"):
        fit_auto(runs, ["momentum"], metric="nope")


@pytest.mark.slow
def test_cli_fit_law_auto(tmp_path, monkeypatch) -> None:
    import lrlaw.fitting.crossval

    monkeypatch.setattr(lrlaw.fitting.crossval, "AUTO_LAWS", ("momentum",))
    path = tmp_path / "run.csv"
    (c,) = _runs(noise=5e-4)[1:2]
    rows = "\n".join(f"{s},{float(v)!r}" for s, v in zip(c.steps, c.loss))
    path.write_text("step,loss\n" + rows + "\n")
    spec = f"cosine:peak={PEAK},total={T},warmup={W}"
    out = tmp_path / "fit.json"
    r = run("fit", path, "--schedule", spec, "--law", "auto", "--bootstrap", "0", "--out", out)
    assert r.exit_code == 0, r.output
    assert "law chosen by --law auto: momentum" in r.stdout and "forward split" in r.stdout
    assert json.loads(out.read_text())["selection"]["chosen"] == "momentum"


def test_forward_split_of_a_binned_log_keeps_its_counts(tmp_path) -> None:
    """A run logged densely is binned when read (``Curve.counts``: losses per bin).  The
    forward split of one or two runs (``cross_validate``, ``--law auto``) cut the
    steps and losses but not the counts, and failed with "counts must be >= 1, one per
    observed loss" (found by bench_logging.py: auto on the 124M pair logged every 10
    steps with 1 % noise).  Built from the shipped 124M pair, densified the same way."""
    import pandas as pd
    from conftest import DATA

    from lrlaw.io import load_curves

    rng = np.random.default_rng(0)
    paths = []
    for name in ("stable", "cosine"):
        shipped = pd.read_csv(DATA / "schaipp-124m" / "canonical" / f"{name}.csv")
        logged = shipped[shipped.loss.notna() & (shipped.step > 0)]
        steps = np.arange(0, int(logged.step.iloc[-1]) + 1, 10)
        with np.errstate(divide="ignore"):
            log_loss = np.interp(np.log(steps), np.log(logged.step), np.log(logged.loss))
        loss = np.exp(log_loss) * (1 + 0.01 * rng.standard_normal(steps.size))
        loss[steps < logged.step.iloc[0]] = np.nan  # the LR from step 0, losses as shipped
        lr = np.interp(steps, shipped.step, shipped.lr)
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"step": steps, "loss": loss, "lr": lr}).to_csv(path, index=False)
        paths.append(path)
    curves = load_curves(paths)
    assert all(c.counts is not None and c.counts.max() > 1 for c in curves)
    cv = cross_validate(curves, ["momentum"], bootstrap=0)
    assert cv.scheme == "leave-one-tail-out"
    assert all(fold.error is None for fold in cv.folds), [f.error for f in cv.folds]
    head = curves[0].subset(curves[0].steps < 20_000)
    assert head.counts.shape == head.steps.shape == head.loss.shape


def test_end_error_reads_the_final_loss_error_off_the_last_tenth() -> None:
    """``end`` (auto's default score, issue 16): the span-weighted mean signed error over
    the last tenth of the held-out steps.  It ignores the rest of the run, and under
    per-step noise of 1 % it stays near the law's 0.2 % error at the end, where the last
    point alone (``final``) is mostly noise."""
    from lrlaw.fitting.crossval import _end_error

    steps = np.arange(1000, 11_001)
    true = 3.0 + 2.0 * (steps / 1000.0) ** -0.5
    pred = true * np.where(steps < 10_000, 1.05, 1.002)  # 5 % off before the last tenth
    exact = _end_error({"steps": steps, "observed": true, "pred": pred})
    np.testing.assert_allclose(exact, 0.002 / 1.0, rtol=1e-9, atol=1e-12)
    rng = np.random.default_rng(0)
    finals, ends = [], []
    for _ in range(50):
        noisy = true * (1 + 0.01 * rng.standard_normal(steps.size))
        e = (noisy - pred) / noisy
        finals.append(abs(e[-1]))
        ends.append(_end_error({"steps": steps, "observed": noisy, "pred": pred}))
    # 1000 points of 1 % noise: the tail mean's standard error is 0.03 %.
    assert abs(np.mean(ends) - 0.002) < 3e-4 and np.std(ends) < 6e-4
    assert np.std(finals) > 5e-3  # the last point carries the whole noise
    assert np.isnan(_end_error({"steps": steps[:0], "observed": true[:0], "pred": pred[:0]}))


def test_two_runs_score_each_tail_with_the_other_run_whole() -> None:
    """Leave-one-tail-out (issue 16): a fold of two runs fits the other run whole, so a
    law that needs the whole of the other schedule is judged as the final fit will use
    it.  Here the held-out tail of each run is predicted from the true law's fit as
    well as a full-data fit predicts it, and ``end`` is scored for every fold."""
    runs = _runs()[1:3]  # cos, wsd
    cv = cross_validate(runs, ["momentum"], bootstrap=0)
    assert cv.scheme == "leave-one-tail-out"
    for fold in cv.folds:
        np.testing.assert_allclose(list(fold.params.values()), TRUE, rtol=1e-4)
        (r,) = fold.runs
        assert r["metrics"]["end"] < 1e-6 and r["metrics"]["final"] < 1e-6
    assert cv.summary()["momentum"]["end"] < 1e-6
