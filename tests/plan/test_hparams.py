"""Optimal LR / batch-size power laws (lrlaw.plan.hparams, ``lrlaw hparams``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import PNG_MAGIC, assert_user_error, run, run_python

from lrlaw.errors import DataError, FitError, LrlawError
from lrlaw.plan import (
    PUBLISHED,
    PowerLaw,
    fit_hparams,
    fit_power_law,
    load_hparams,
    locate_optimum,
    parse_form,
    read_grid,
    suggest,
)

ROOT = Path(__file__).resolve().parents[2]
STEPLAW = ROOT / "data" / "steplaw" / "dense_lr_bs_loss.csv"

# Synthetic truth: lr* = 2 N^-0.7 D^0.3, B* = 0.5 D^0.55 tokens.
TRUE = {"c": 2.0, "a": -0.7, "b": 0.3, "d": 0.5, "g": 0.55}
NS, DS = (1e8, 3e8, 1e9), (2e9, 1e10, 5e10)
LRS = 1e-4 * 2.0 ** (np.arange(18) / 2)  # 1e-4 .. 5.2e-2
SEQS = 2.0 ** np.arange(3, 11)  # 8 .. 1024 sequences of 2048 tokens


def synth_rows(noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Quadratic bowls in (log lr, log B) around the true optima, one per (N, D) cell."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in NS:
        for d in DS:
            lr_opt = TRUE["c"] * n ** TRUE["a"] * d ** TRUE["b"]
            b_opt = TRUE["d"] * d ** TRUE["g"]
            base = 2.0 + 40 * n**-0.2
            for lr in LRS:
                for bs in SEQS:
                    u, v = math.log(lr / lr_opt), math.log(bs * 2048 / b_opt)
                    loss = base + 0.02 * u * u + 0.01 * v * v + 0.004 * u * v
                    loss += noise * rng.standard_normal()
                    rows.append({"N": n, "D": d, "lr": lr, "bs": bs, "smooth loss": loss})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def synth_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grid") / "grid.csv"
    synth_rows().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def steplaw_fit():
    return fit_hparams(read_grid(STEPLAW))


# --------------------------------------------------------------------------- synthetic recovery


@pytest.mark.slow
def test_exact_grid_recovers_the_power_laws(synth_csv: Path) -> None:
    fit = fit_hparams(read_grid(synth_csv), n_boot=100)
    assert all(c.located for c in fit.cells) and len(fit.cells) == 9
    assert fit.lr.law.exponents["N"] == pytest.approx(TRUE["a"], abs=1e-9)
    assert fit.lr.law.exponents["D"] == pytest.approx(TRUE["b"], abs=1e-9)
    assert fit.lr.law.coef == pytest.approx(TRUE["c"], rel=1e-7)
    assert fit.batch.law.exponents["D"] == pytest.approx(TRUE["g"], abs=1e-9)
    assert fit.batch.law.coef == pytest.approx(TRUE["d"], rel=1e-7)
    # Hold-out: the law is exact, so every prediction is the true optimum.
    for r in fit.loo.rows:
        assert r["lr_ratio"] == pytest.approx(1, abs=1e-7)
        assert r["batch_ratio"] == pytest.approx(1, abs=1e-7)
        assert 0 <= r["penalty"] < 1e-3  # linear interpolation between grid points
    assert fit.loo.n_outside == 0 and not fit.warnings


@pytest.mark.parametrize("method, tol_exp", [("quadratic", 0.005), ("near", 0.02)])
def test_noisy_grid_recovers_exponents(tmp_path, method, tol_exp) -> None:
    path = tmp_path / "noisy.csv"
    synth_rows(noise=5e-4, seed=1).to_csv(path, index=False)
    fit = fit_hparams(read_grid(path), method=method, n_boot=300)
    for lf, var, true in ((fit.lr, "N", "a"), (fit.lr, "D", "b"), (fit.batch, "D", "g")):
        assert lf.law.exponents[var] == pytest.approx(TRUE[true], abs=tol_exp)
        lo, hi = lf.ci[var]
        if method == "quadratic":  # the near-optimal set is biased by the grid's spacing
            assert lo < TRUE[true] < hi
    assert fit.loo.mean_penalty < 5e-4


def test_power_law_forms_in_compute() -> None:
    N = np.array([1e8, 2e8, 4e8, 8e8, 1.6e9])
    D = 20 * N
    y = 0.3 * (6 * N * D) ** -0.125
    fit = fit_power_law("lr", y, N, D, "C", n_boot=20)
    assert fit.law.exponents == {"C": pytest.approx(-0.125)}
    assert fit.law.coef == pytest.approx(0.3)
    with pytest.raises(FitError, match="collinear"):
        fit_power_law("lr", y, N, D, "N,D", n_boot=0)  # D = 20 N
    with pytest.raises(FitError, match="need at least"):
        fit_power_law("lr", y[:2], N[:2], D[:2], "C")
    with pytest.raises(LrlawError, match="unknown variable"):
        parse_form("N,T")
    with pytest.raises(LrlawError, match="at most two"):
        parse_form("N,D,C")


def _scipy_reference(y, N, D, n_boot, level, seed):
    """The bootstrap of fit_power_law("N,D") spelt out: scipy, one OLS per resample."""
    from scipy.stats import bootstrap

    design = np.column_stack([np.ones(y.size), np.log(N), np.log(D)])

    def refit(idx):
        c, _, rank, _ = np.linalg.lstsq(design[idx], np.log(y[idx]), rcond=None)
        return np.r_[np.exp(c[0]), c[1:]] if rank == 3 else np.full(3, np.nan)

    with warnings.catch_warnings():  # NaN replicates: scipy warns and gives NaN bounds
        warnings.simplefilter("ignore")
        return bootstrap(
            (np.arange(y.size),),
            refit,
            n_resamples=n_boot,
            vectorized=False,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )


def test_power_law_bootstrap_is_scipys_percentile_interval() -> None:
    """Batched refits give scipy's own percentile interval (same draws, same quantiles)."""
    rng = np.random.default_rng(5)
    N = np.repeat([1e8, 3e8, 1e9], 4)
    D = N * rng.uniform(5, 100, N.size)
    y = 2.0 * N**-0.7 * D**0.3 * np.exp(0.1 * rng.standard_normal(N.size))
    fit = fit_power_law("lr", y, N, D, "N,D", n_boot=400, level=0.8, seed=3)
    ref = _scipy_reference(y, N, D, 400, 0.8, 3)
    assert fit.n_boot == 400
    for i, k in enumerate(["coef", "N", "D"]):
        assert fit.ci[k] == pytest.approx(
            (ref.confidence_interval.low[i], ref.confidence_interval.high[i]), rel=1e-9
        )
        assert fit.se[k] == pytest.approx(ref.standard_error[i], rel=1e-9)


def test_power_law_bootstrap_leaves_out_draws_that_do_not_determine_the_law() -> None:
    """Four cells, three coefficients: many resamples hold < 3 distinct cells.  scipy's
    bounds are NaN then; the interval is formed from the identified replicates."""
    N = np.array([1e8, 1e8, 4e8, 4e8])
    D = np.array([1e9, 1e10, 2e9, 3e10])
    y = 2.0 * N**-0.7 * D**0.3 * np.exp([0.05, -0.03, 0.02, -0.04])
    fit = fit_power_law("lr", y, N, D, "N,D", n_boot=300, seed=1)
    ref = _scipy_reference(y, N, D, 300, 0.9, 1)
    b = ref.bootstrap_distribution
    ok = np.all(np.isfinite(b), axis=0)
    assert 0 < ok.sum() < 300 and fit.n_boot == ok.sum()
    assert np.isnan(ref.confidence_interval.low).all()  # what scipy gives on its own
    lo, hi = np.quantile(b[:, ok], [0.05, 0.95], axis=1)
    for i, k in enumerate(["coef", "N", "D"]):
        assert fit.ci[k] == pytest.approx((lo[i], hi[i]), rel=1e-9)
        assert math.isfinite(fit.se[k])


# --------------------------------------------------------------------------- shipped data


def test_steplaw_exponents_against_published(steplaw_fit) -> None:
    """The measured exponents quoted in docs/readme_hparams.md (see there for why they differ)."""
    pub = PUBLISHED["step-law"]
    lr, b = steplaw_fit.lr.law.exponents, steplaw_fit.batch.law.exponents
    assert all(c.located for c in steplaw_fit.cells) and len(steplaw_fit.cells) == 17
    # Batch: within 0.05 of Step-Law's D^0.571.
    assert abs(b["D"] - pub.batch.exponents["D"]) < 0.05
    assert b["D"] == pytest.approx(0.585, abs=0.001)
    # LR: N^-0.835 D^0.226 measured, against N^-0.713 D^0.307 published.
    assert lr["N"] == pytest.approx(-0.835, abs=0.001)
    assert lr["D"] == pytest.approx(0.226, abs=0.001)
    # Published exponents at or just beyond the 90 % bootstrap intervals' edges.
    _lo_n, hi_n = steplaw_fit.lr.ci["N"]
    _lo_d, hi_d = steplaw_fit.lr.ci["D"]
    assert hi_n == pytest.approx(-0.741, abs=0.01) and pub.lr.exponents["N"] > hi_n
    assert hi_d == pytest.approx(0.307, abs=0.01)


def test_steplaw_near_optimal_method(tmp_path) -> None:
    fit = fit_hparams(read_grid(STEPLAW), method="near", n_boot=200)
    assert fit.lr.law.exponents["N"] == pytest.approx(-0.797, abs=0.001)
    assert fit.lr.law.exponents["D"] == pytest.approx(0.219, abs=0.001)
    assert fit.batch.law.exponents["D"] == pytest.approx(0.595, abs=0.001)


def test_steplaw_leave_one_cell_out_penalty(steplaw_fit) -> None:
    loo = steplaw_fit.loo
    assert len(loo.rows) == 17 and loo.n_outside == 0
    assert loo.mean_penalty < 0.005  # the bar: 0.5 %
    assert loo.mean_penalty == pytest.approx(0.00122, abs=5e-5)
    assert all(r["penalty"] >= 0 for r in loo.rows)
    s = loo.summary()
    assert s["mean_located_penalty"] < loo.mean_penalty + 1e-3


def test_steplaw_batch_units(tmp_path) -> None:
    """The same runs with the batch in tokens give the same fit."""
    frame = pd.read_csv(STEPLAW)
    frame["tokens"] = frame["bs"] * 2048
    path = tmp_path / "tokens.csv"
    frame.to_csv(path, index=False)
    a = fit_hparams(read_grid(STEPLAW), n_boot=0)
    b = fit_hparams(read_grid(path, batch_col="tokens", batch_unit="tokens"), n_boot=0)
    assert b.batch.law.coef == pytest.approx(a.batch.law.coef, rel=1e-9)
    assert b.lr.law.exponents == pytest.approx(a.lr.law.exponents)


def test_save_and_load_roundtrip(steplaw_fit, tmp_path) -> None:
    path = tmp_path / "hp.json"
    steplaw_fit.save(path)
    back = load_hparams(path)
    assert back.lr.law == steplaw_fit.lr.law and back.batch.law == steplaw_fit.batch.law
    assert back.cells == steplaw_fit.cells
    assert back.loo.mean_penalty == pytest.approx(steplaw_fit.loo.mean_penalty)
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(LrlawError, match="not an lrlaw hparams fit"):
        load_hparams(tmp_path / "bad.json")


# --------------------------------------------------------------------------- cells that fail


def _bowl(shift: float = 0.0):
    lr = 1e-3 * 2.0 ** (np.arange(-4, 5) / 2)
    bs = 2048 * 2.0 ** np.arange(4, 12)
    L, B = np.meshgrid(lr, bs, indexing="ij")
    return L, B, np.log(L / 1e-3) - shift, np.log(B / 2**19)


def test_edge_and_unlocated_optima() -> None:
    L, B, u, v = _bowl(shift=3.0)  # true optimum far above the largest LR tested
    edge = locate_optimum(L.ravel(), B.ravel(), (2 + 0.02 * u**2 + 0.01 * v**2).ravel())
    assert not edge.located and edge.status == "edge"
    assert "largest learning rate" in edge.message and "not a located optimum" in edge.message
    L, B, u, v = _bowl()
    saddle = 2.01 + 0.02 * u**2 - 0.001 * v**2
    saddle[4, 4] = 2.0  # best run in the middle of a saddle
    r = locate_optimum(L.ravel(), B.ravel(), saddle.ravel())
    assert not r.located and r.status == "no-minimum"
    slope = 2.01 - 0.002 * u + 0.01 * v**2 + 0.0001 * u**2
    slope[4, 4] = 2.0
    r = locate_optimum(L.ravel(), B.ravel(), slope.ravel())
    assert not r.located and r.status == "outside" and "extrapolation" in r.message
    r = locate_optimum(L[:2].ravel(), B[:2].ravel(), (2 + u[:2] ** 2).ravel())
    assert not r.located and r.status == "too-few" and "2 learning rate(s)" in r.message
    for method in ("near", "best"):
        L, B, u, v = _bowl(shift=3.0)
        r = locate_optimum(L.ravel(), B.ravel(), (2 + u**2 + v**2).ravel(), method=method)
        assert r.status == "edge"


def test_unlocated_cells_are_left_out_with_a_warning(tmp_path) -> None:
    frame = synth_rows()
    cell = (frame.N == NS[0]) & (frame.D == DS[0])
    lr_opt = TRUE["c"] * NS[0] ** TRUE["a"] * DS[0] ** TRUE["b"]
    frame = frame[~(cell & (frame.lr > lr_opt))]  # that cell stops below its optimum
    small = (frame.N == NS[1]) & (frame.D == DS[1])
    frame = frame[~small | (frame.bs == 64)]  # one batch size only
    path = tmp_path / "g.csv"
    frame.to_csv(path, index=False)
    fit = fit_hparams(read_grid(path), n_boot=50)
    status = {(c.N, c.D): c.status for c in fit.cells}
    assert status[(NS[0], DS[0])] == "edge" and status[(NS[1], DS[1])] == "too-few"
    assert fit.lr.n_cells == 7 and len(fit.loo.rows) == 7
    assert sum("left out of the fit" in w for w in fit.warnings) == 2
    assert fit.lr.law.exponents["N"] == pytest.approx(TRUE["a"], abs=1e-9)
    assert "NOT LOCATED (edge)" in fit.table()


def test_too_few_located_cells_is_an_error(tmp_path) -> None:
    frame = synth_rows()
    frame = frame[(frame.N == NS[0]) & (frame.D <= DS[1])]
    path = tmp_path / "g.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(FitError, match="need at least 4"):
        fit_hparams(read_grid(path))


# --------------------------------------------------------------------------- bad grid files


@pytest.mark.parametrize(
    "col, value, fragment",
    [
        ("lr", "0", "column 'lr', line 3: expected a learning rate > 0, got '0'"),
        ("bs", "-8", "column 'bs', line 3: expected a batch size > 0, got '-8'"),
        ("smooth loss", "-1", "column 'smooth loss', line 3: expected a loss > 0"),
        ("N", "abc", "column 'N', line 3: expected a number, got 'abc'"),
        ("D", "", "column 'D', line 3: expected a token count > 0"),
    ],
)
def test_bad_values_name_file_column_line(tmp_path, col, value, fragment) -> None:
    frame = synth_rows().head(20).astype(str)
    frame.loc[1, col] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        read_grid(path)
    assert str(e.value).startswith(str(path)) and fragment in str(e.value)


def test_missing_column_and_diverged_runs(tmp_path) -> None:
    frame = synth_rows()
    path = tmp_path / "g.csv"
    frame.drop(columns=["smooth loss"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="no column 'smooth loss' \\(the loss column\\)"):
        read_grid(path)
    frame.loc[[3, 7], "smooth loss"] = np.nan
    frame.to_csv(path, index=False)
    grid = read_grid(path)
    assert grid.loss.size == len(frame) - 2
    assert "2 run(s) without a finite 'smooth loss' (lines 5, 9)" in grid.warnings[0]
    with pytest.raises(LrlawError, match="batch_unit"):
        read_grid(path, batch_unit="samples")


# --------------------------------------------------------------------------- published laws


def test_published_laws_and_suggest() -> None:
    n, d = 4e8, 4e10
    rows = {r.name: r for r in suggest(n, d, seq_len=4096)}
    step = rows["Step-Law"]
    assert step.lr == pytest.approx(1.79 * n**-0.713 * d**0.307)
    assert step.batch_tokens == pytest.approx(0.58 * d**0.571)
    assert step.batch_seqs == pytest.approx(step.batch_tokens / 4096)
    ds = rows["DeepSeek LLM"]
    c = 6 * n * d
    assert ds.lr == pytest.approx(0.3118 * c**-0.125)
    assert ds.batch_tokens == pytest.approx(0.2920 * c**0.3271)
    pw = rows["Power scheduler"]
    assert pw.lr == pytest.approx(4.6 * step.batch_seqs * d**-0.51) and pw.batch_tokens is None
    given = {r.name: r for r in suggest(n, d, compute=1e21, batch=256)}
    assert given["DeepSeek LLM"].lr == pytest.approx(0.3118 * 1e21**-0.125)
    assert given["Power scheduler"].lr == pytest.approx(4.6 * 256 * d**-0.51)
    with pytest.raises(LrlawError, match="must be a number > 0"):
        suggest(-1, d)
    with pytest.raises(LrlawError, match="needs D"):
        PowerLaw("lr", 1.0, {"D": 0.3})(N=1e8)


def test_suggest_with_fitted_law_flags_extrapolation(steplaw_fit) -> None:
    inside = suggest(4e8, 3e10, fitted=steplaw_fit)[-1]
    assert inside.lr == pytest.approx(steplaw_fit.lr.law(N=4e8, D=3e10))
    assert "extrapolates" not in inside.note
    far = suggest(7e10, 2e12, fitted=steplaw_fit)[-1]
    assert "extrapolates in N" in far.note and "extrapolates in D" in far.note


# --------------------------------------------------------------------------- command line


@pytest.mark.slow
def test_cli_fit_on_steplaw(tmp_path) -> None:
    out, laws, land = tmp_path / "hp.json", tmp_path / "laws.png", tmp_path / "land.png"
    r = run("hparams", "fit", STEPLAW, "--out", out, "--plot-laws", laws, "--plot-landscape", land)
    assert r.exit_code == 0, r.output
    assert "lr = 131.2 · N^-0.8346 · D^0.2259" in r.stdout
    assert "mean penalty 0.122%" in r.stdout
    for png in (laws, land):
        assert png.read_bytes()[:8] == PNG_MAGIC
    data = json.loads(out.read_text())
    assert data["lr_law"]["law"]["exponents"]["N"] == pytest.approx(-0.8346, abs=1e-4)
    assert data["leave_one_out"]["summary"]["mean_penalty"] < 0.005
    r = run("hparams", "fit", STEPLAW, "--json", "--method", "near", "--bootstrap", "20")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["settings"]["method"] == "near" and data["lr_law"]["n_boot"] == 20
    r = run("hparams", "suggest", "--params", "1e9", "--tokens", "1e11", "--fit", out)
    assert r.exit_code == 0, r.output
    for name in ("Step-Law", "DeepSeek LLM", "Power scheduler", "fitted (hp.json)"):
        assert name in r.stdout
    r = run("hparams", "suggest", "-N", "1e9", "-D", "1e11", "--json")
    assert json.loads(r.stdout)["laws"][0]["lr"] == pytest.approx(1.79 * 1e9**-0.713 * 1e11**0.307)


def test_cli_errors(tmp_path, synth_csv) -> None:
    r = run("hparams", "fit", synth_csv, "--loss-col", "loss")
    assert_user_error(r, "no column 'loss' (the loss column)", "smooth loss")
    r = run("hparams", "fit", synth_csv, "--out", synth_csv)
    assert_user_error(r, "refusing to overwrite an input file")
    r = run("hparams", "fit", synth_csv, "--method", "cubic")
    assert_user_error(r, "method='cubic' must be one of quadratic, near, best")
    r = run("hparams", "suggest", "-N", "0", "-D", "1e9")
    assert_user_error(r, "N=0.0 must be a number > 0")
    assert not list(tmp_path.glob("*.json"))


def test_help_does_not_import_jax() -> None:
    code = (
        "import sys\n"
        "from lrlaw.cli import app\n"
        "for args in (['hparams', '--help'], ['hparams', 'fit', '--help'], "
        "['hparams', 'suggest', '--help'], ['plan', '--help']):\n"
        "    try:\n"
        "        app(args, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('jax', 'pandas', 'matplotlib') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "suggest" in proc.stdout and "--predict-at" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_the_hyperparameter_laws_do_not_import_jax() -> None:
    """`lrlaw hparams` needs numpy and scipy only.  Regression: the plan package's eager
    re-exports imported lrlaw.plan.compare, and JAX with it (2 s), for `read_grid`."""
    code = (
        "import sys\n"
        "from lrlaw.plan import fit_hparams, read_grid, suggest\n"
        "import lrlaw.plan.hparams, lrlaw.io.table\n"
        "assert 'jax' not in sys.modules, sorted(m for m in sys.modules if 'lrlaw' in m)\n"
    )
    run_python(code)
