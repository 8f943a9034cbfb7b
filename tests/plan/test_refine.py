"""Refined schedules from gradient norms (Defazio et al. 2023) and ``lrlaw refine``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import PNG_MAGIC, assert_user_error, run

from lrlaw.errors import DataError, LrlawError
from lrlaw.fitting import FitResult
from lrlaw.plan.refine import (
    compare_refined,
    grad_norm_per_step,
    median_smooth,
    read_grad_norms,
    refine_schedule,
    refined_shape,
)
from lrlaw.schedules import parse_schedule
from lrlaw.schedules.export import read_schedule_table


def shape_loop(g):
    """eta_t = w_t * sum_{p=t+1..T} w_p, w_t = G_t^-2, transcribed with plain loops."""
    w = [1.0 / (x * x) for x in g]
    return np.array([w[t] * sum(w[p] for p in range(t + 1, len(g))) for t in range(len(g))])


def median_loop(x, window):
    """Running median, window centred, edges padded with the edge value."""
    h = window // 2
    padded = np.concatenate([np.full(h, x[0]), x, np.full(h, x[-1])])
    return np.array([np.median(padded[i : i + window]) for i in range(len(x))])


def test_refined_shape_matches_the_formula():
    g = np.random.default_rng(0).uniform(0.2, 3.0, 57)
    np.testing.assert_allclose(refined_shape(g), shape_loop(g), rtol=1e-12)
    assert refined_shape(g)[-1] == 0.0
    # constant norms: a linear decay to zero
    np.testing.assert_allclose(refined_shape(np.full(5, 2.0)), np.array([4, 3, 2, 1, 0]) / 16)
    with pytest.raises(LrlawError, match=r"grad_norm\[3\]"):
        refined_shape(np.array([1.0, 1.0, 1.0, 0.0]))


def test_median_smooth_and_interpolation():
    x = np.random.default_rng(1).uniform(0, 1, 40)
    for window in (1, 3, 7, 39):
        np.testing.assert_allclose(median_smooth(x, window), median_loop(x, window))
    with pytest.raises(LrlawError, match="odd"):
        median_smooth(x, 4)
    per_step = grad_norm_per_step(np.array([10, 20]), np.array([2.0, 4.0]), 25)
    assert per_step[:11].tolist() == [2.0] * 11 and per_step[15] == 3.0 and per_step[25] == 4.0


def test_refine_schedule_pipeline_matches_a_numpy_transcription():
    rng = np.random.default_rng(2)
    steps = np.arange(10, 1001, 10)
    norms = 0.3 + 2.0 * np.exp(-steps / 100) + 0.05 * rng.uniform(size=steps.size)
    r = refine_schedule(steps, norms, peak=2e-3, warmup=50, warmup_start=1e-5, width=0.05)
    assert r.window == 5 and r.schedule.total == 1000 and r.schedule.warmup == 50
    g = np.interp(np.arange(1001), steps, median_loop(norms, 5))
    shape = shape_loop(g)
    want = 2e-3 * shape / shape[50:].max()
    want[:50] = 1e-5 + (want[50] - 1e-5) * np.arange(50) / 50
    np.testing.assert_allclose(r.lr, want, rtol=1e-10, atol=1e-18)
    assert r.lr.max() == pytest.approx(2e-3) and r.schedule.peak == pytest.approx(2e-3)
    # A longer run stretches the logged profile: same shape on a finer grid.
    long = refine_schedule(steps, norms, peak=2e-3, width=0.05, total=2000)
    assert long.schedule.total == 2000
    np.testing.assert_allclose(long.grad_norm[::2], refine_schedule(
        steps, norms, peak=2e-3, width=0.05).grad_norm, rtol=1e-12)  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"peak": 0.0}, "peak=0.0"),
        ({"peak": 1e-3, "warmup": 1000}, "warmup=1000"),
        ({"peak": 1e-3, "width": 1.5}, "width=1.5"),
        ({"peak": 1e-3, "warmup_start": 1.0}, "warmup_start=1.0"),
        ({"peak": 1e-3, "total": 1}, "total=1"),
    ],
)
def test_refine_schedule_rejects_bad_arguments(kwargs, message):
    with pytest.raises(LrlawError, match=message):
        refine_schedule(np.arange(0, 1001, 10), np.ones(101), **kwargs)


def stable_grad_norms(data_dir, path):
    """The 124M constant run's logged grad_norm (W&B export) as a step,grad_norm CSV.

    Resumed runs repeat an iter; the last value in list order wins (as make_canonical.py).
    """
    run_ = json.loads((data_dir / "schaipp-124m" / "stable-124m-lr0.001.json").read_text())
    train = run_["history"]["train"]
    by_step = dict(zip(train["iter"], train["grad_norm"]))
    path.write_text("step,grad_norm\n" + "".join(f"{s},{by_step[s]!r}\n" for s in sorted(by_step)))
    return path


def test_124m_constant_run_gives_warmup_and_rapid_annealing(data_dir, tmp_path):
    """Defazio et al.: refining with real gradient norms yields warmup-like growth at the
    start (norms fall early) and a rapid anneal at the end (the tail sum vanishes)."""
    steps, norms = read_grad_norms(stable_grad_norms(data_dir, tmp_path / "g.csv"))
    assert steps.size == 1000 and steps[0] == 50 and steps[-1] == 50_000
    # the W&B export itself gives the same series (lrlaw.io.readers)
    wandb = read_grad_norms(data_dir / "schaipp-124m" / "stable-124m-lr0.001.json")
    np.testing.assert_array_equal(wandb[0], steps)
    np.testing.assert_array_equal(wandb[1], norms)
    r = refine_schedule(steps, norms, peak=1e-3, warmup=300, warmup_start=1e-5)
    lr, total = r.lr, r.schedule.total
    top = int(np.argmax(lr))
    # warmup-like growth well beyond the 300-step linear warmup
    assert lr[300] < 0.35 * lr[top] and top > 3000
    assert np.all(np.diff(lr[300:top:100]) > -0.02 * lr[top])  # (nearly) monotone rise
    # rapid annealing at the end: the LR keeps falling at about its mid-run rate right down
    # to exactly 0 (a cosine flattens out instead), losing > 90 % of the peak in the last 10 %
    assert lr[-1] == 0.0 and lr[int(0.9 * total)] < 0.15 * lr[top]
    assert lr[int(0.99 * total)] < 0.02 * lr[top]
    mid = (lr[int(0.3 * total)] - lr[int(0.7 * total)]) / (0.4 * total)
    last = (lr[int(0.99 * total)] - lr[total]) / (total - int(0.99 * total))
    assert last > 0.5 * mid
    # the smoothed norms fall early (the source of the warmup) and end higher than their minimum
    assert r.grad_norm[300] > 1.5 * r.grad_norm[top] and r.grad_norm[-1] > r.grad_norm.min()


def _log(tmp_path, name="g.csv", n=2000):
    steps = np.arange(20, n + 1, 20)
    norms = 0.2 + 0.8 * np.exp(-steps / 150)
    path = tmp_path / name
    path.write_text(
        "step,grad_norm\n" + "".join(f"{s},{float(g)!r}\n" for s, g in zip(steps, norms))
    )
    return path, steps, norms


def _fit_file(tmp_path, law, params, options):
    result = FitResult(
        law=law,
        options=options,
        params=params,
        objective=0.0,
        delta=1e-3,
        n_points=10,
        converged=True,
        n_starts=1,
        n_converged=1,
        n_near_best=1,
        num_steps=1,
    )
    path = tmp_path / f"{law}.json"
    result.save(path)
    return path


def test_cli_refine_writes_the_schedule_and_compares(tmp_path):
    log, steps, norms = _log(tmp_path)
    out = tmp_path / "refined.csv"
    res = run("refine", log, "--peak", "1e-3", "--warmup", "100", "--out", out)
    assert res.exit_code == 0, res.output
    assert "refined schedule: steps 0..2000" in res.stdout
    want = refine_schedule(steps, norms, peak=1e-3, warmup=100).lr
    np.testing.assert_array_equal(read_schedule_table(out).values(), want)
    # With a fit: the predicted final loss next to cosine and WSD, and a figure.
    momentum = _fit_file(
        tmp_path,
        "momentum",
        {"L0": 2.77, "A": 0.91, "alpha": 0.53, "C": 0.22},
        {"lam": 0.999, "warmup": "signed", "fit_lam": False},
    )
    png = tmp_path / "refined.png"
    args = ["--peak", "1e-3", "--warmup", "100", "--out", tmp_path / "r.json"]
    res = run("refine", log, *args, "--fit", momentum, "--plot", png)
    assert res.exit_code == 0, res.output
    table = res.stdout.split("\n\n", 1)[1]
    ranked = [line.split()[1] for line in table.splitlines()[1:4]]
    assert sorted(ranked) == ["cosine", "refined", "wsd"] and ranked[0] != "refined"
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert json.loads((tmp_path / "r.json").read_text())["lr"] == want.tolist()
    # When the refined schedule is best it cannot be rescaled: it is reported next to the
    # ranked references (here a reference far below the peak, which it clearly beats).
    refined = read_schedule_table(out)
    low = {"low": parse_schedule("constant:peak=1e-5,total=2000,warmup=100")}
    comparison = compare_refined(FitResult.load(momentum), refined, low)
    assert comparison.refined_best and comparison.table.best.name == "low"
    assert comparison.refined_loss < comparison.table.best.final_loss
    assert "refined: predicted final loss" in comparison.text()
    assert "below the best reference (low)" in comparison.text()
    with pytest.raises(LrlawError, match="taken"):
        compare_refined(FitResult.load(momentum), refined, {"refined": refined})


def test_cli_refine_errors(tmp_path):
    log, _, _ = _log(tmp_path)
    out = tmp_path / "s.csv"
    assert_user_error(
        run("refine", log, "--peak", "1e-3", "--out", out, "--grad-col", "gnorm"),
        "g.csv",
        "no column 'gnorm'",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("step,grad_norm\n0,1.0\n10,0\n")
    assert_user_error(
        run("refine", bad, "--peak", "1e-3", "--out", out),
        "bad.csv: column 'grad_norm', step 10: expected a gradient norm > 0, got 0.0",
    )
    assert_user_error(run("refine", log, "--peak", "1e-3", "--out", tmp_path / "s.txt"), ".txt")
    assert_user_error(
        run("refine", log, "--peak", "1e-3", "--warmup", "5000", "--out", out), "warmup=5000"
    )
    assert_user_error(run("refine", log, "--peak", "1e-3", "--out", log), "g.csv")
    multi = tmp_path / "multi.csv"
    multi.write_text("run,step,grad_norm\na,0,1.0\na,10,1.0\nb,0,1.0\nb,10,2.0\n")
    assert_user_error(run("refine", multi, "--peak", "1e-3", "--out", out), "2 runs (a, b)")
    res = run("refine", multi, "--peak", "1e-3", "--out", out, "--run", "b", "--width", "0")
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "s.txt").exists()
    with pytest.raises(DataError, match="no run 'c'"):
        read_grad_norms(multi, run="c")
