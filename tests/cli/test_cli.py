"""Tests for the ``lrlaw`` command line: fit / predict / evaluate and its error reporting."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import PNG_MAGIC, assert_user_error, run
from mpl import MPL_TEST, MPL_TRAIN

from lrlaw.fitting import FitResult

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
MPL = DATA / "mpl" / "100m"
SCHEDULES = DATA / "schedules.txt"
TRAIN = [MPL / f"{n}.csv" for n in MPL_TRAIN]
TEST_NAMES = MPL_TEST
TEST = [MPL / f"{n}.csv" for n in TEST_NAMES]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Fit once on the paper's three training curves; reused by the whole module."""
    folder = tmp_path_factory.mktemp("fit")
    out, plot = folder / "fit.json", folder / "fit.png"
    result = run("fit", *TRAIN, "--schedules", SCHEDULES, "--out", out, "--plot", plot)
    return result, out, plot


@pytest.fixture(scope="module")
def fit_json(fitted):
    result, out, _ = fitted
    assert result.exit_code == 0, result.output
    return out


# --------------------------------------------------------------------------- #
# End to end on data/mpl/100m
# --------------------------------------------------------------------------- #


def test_fit_prints_report_and_writes_outputs(fitted):
    result, out, plot = fitted
    assert result.exit_code == 0, result.output
    report = result.stdout
    for name in ("L0", "A", "alpha", "C"):
        assert f"  {name} " in report
    for run_name in ("cosine_24000", "constant_24000", "wsdcon_9"):
        assert run_name in report
    assert "converged" in report
    assert f"wrote {out}" in result.stderr
    assert "schedule of cosine_24000: cosine:" in result.stderr
    loaded = FitResult.load(out)
    assert loaded.law == "momentum"
    assert set(loaded.params) == {"L0", "A", "alpha", "C"}
    assert [c["name"] for c in loaded.curves] == ["cosine_24000", "constant_24000", "wsdcon_9"]
    data = plot.read_bytes()
    assert len(data) > 1000
    assert data.startswith(PNG_MAGIC)
    assert sorted(p.name for p in out.parent.iterdir()) == ["fit.json", "fit.png"]


def test_predict_observed_steps(fit_json, tmp_path):
    out = tmp_path / "pred.csv"
    result = run("predict", fit_json, *TEST, "--schedules", SCHEDULES, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"wrote {out}" in result.stderr
    table = pd.read_csv(out)
    # The fit has a bootstrap (the default for momentum), so the band comes along.
    assert list(table.columns) == ["run", "step", "lr", "loss", "pred", "pred_lo", "pred_hi"]
    assert (table["pred_lo"] < table["pred"]).all() and (table["pred"] < table["pred_hi"]).all()
    inside = (table["pred_lo"] <= table["loss"]) & (table["loss"] <= table["pred_hi"])
    assert 0.5 < inside.mean() < 1.0
    assert list(dict.fromkeys(table["run"])) == list(TEST_NAMES)
    for name, path in zip(TEST_NAMES, TEST):
        rows = table[table["run"] == name]
        source = pd.read_csv(path)
        np.testing.assert_array_equal(rows["step"], source["step"])
        np.testing.assert_allclose(rows["loss"], source["loss"], rtol=1e-9)
        np.testing.assert_allclose(rows["lr"], source["lr"], rtol=1e-6)
    assert table["pred"].notna().all()
    rel = np.abs(table["pred"] / table["loss"] - 1)
    assert rel.mean() < 0.005
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.csv"]


def test_predict_every(fit_json, tmp_path):
    out = tmp_path / "pred.csv"
    wsdcon = MPL / "wsdcon_3.csv"
    result = run("predict", fit_json, wsdcon, "--schedules", SCHEDULES, "--every", 1000, "-o", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=True)
    # the wsdcon runs are scheduled for 16000 steps (the log stops at 15936)
    assert table["step"].tolist() == list(range(0, 16001, 1000))
    assert (table["run"] == "wsdcon_3").all()
    # pred is empty at step 0 and inside the 2160-step warmup (steps 1000, 2000)
    assert table["pred"].iloc[:3].isna().all()
    assert table["pred"].iloc[3:].notna().all()
    assert "pred is empty inside the warmup of wsdcon_3 (steps < 2160)" in result.stderr
    assert table["lr"].iloc[0] == 0.0
    observed = pd.read_csv(wsdcon).set_index("step")["loss"]
    for step, loss in zip(table["step"], table["loss"]):
        if step in observed.index:
            assert loss == pytest.approx(observed[step])
        else:
            assert np.isnan(loss), step
    assert table["loss"].notna().sum() == 1  # only step 8000 is logged on this grid


def test_predict_every_ends_at_last_step(fit_json):
    result = run(
        "predict", fit_json, MPL / "cosine_72000.csv", "--schedules", SCHEDULES, "--every", 7000
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    assert table["step"].tolist() == [*range(0, 72000, 7000), 72000]


def test_predict_to_stdout(fit_json, tmp_path):
    result = run("predict", fit_json, MPL / "wsdcon_18.csv", "--schedules", SCHEDULES)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "run,step,lr,loss,pred,pred_lo,pred_hi"
    table = pd.read_csv(io.StringIO(result.stdout))
    assert len(table) == len(pd.read_csv(MPL / "wsdcon_18.csv"))
    assert "wrote" not in result.stderr


def test_evaluate_table(fit_json):
    result = run("evaluate", fit_json, *TEST, "--schedules", SCHEDULES)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "momentum" in lines[0]
    assert lines[1].split()[:2] == ["run", "n"]
    names = [line.split()[0] for line in lines[2:]]
    assert names == [*TEST_NAMES, "mean"]
    mean = lines[-1].split()
    assert int(mean[1]) == sum(int(line.split()[1]) for line in lines[2:-1])


@pytest.fixture(scope="module")
def written_fit(tmp_path_factory) -> Path:
    """A momentum-law result written directly (for tests about reading and output order)."""
    result = FitResult(
        law="momentum", options={"lam": 0.999, "warmup": "signed", "fit_lam": False},
        params={"L0": 2.5, "A": 0.5, "alpha": 0.5, "C": 0.3}, objective=0.0, delta=1e-3,
        n_points=10, converged=True, n_starts=1, n_converged=1, n_near_best=1, num_steps=1,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("written") / "fit.json"
    result.save(path)
    return path


def test_predict_prints_read_before_wrote(written_fit, tmp_path):
    """Regression (issue 17): predict printed "wrote ..." before its "read ..." lines."""
    out, plot = tmp_path / "pred.csv", tmp_path / "pred.png"
    files = [MPL / "wsdcon_3.csv", MPL / "wsdcon_18.csv"]
    result = run(
        "predict", written_fit, *files, "--schedules", SCHEDULES, "-o", out, "--plot", plot
    )
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert [x.split(":")[0] for x in lines] == [
        f"read {files[0]}",
        f"read {files[1]}",
        f"wrote {out} ({len(pd.read_csv(out))} rows)",
        f"wrote {plot}",
    ]


def test_evaluate_saved_fit_prints_what_it_read(written_fit):
    """Regression (issue 17): evaluate FIT FILES printed no "read ..." lines; now the same
    per-run summaries as fit and predict."""
    files = [MPL / "wsdcon_3.csv", MPL / "wsdcon_18.csv"]
    predicted = run("predict", written_fit, *files, "--schedules", SCHEDULES)
    result = run("evaluate", written_fit, *files, "--schedules", SCHEDULES)
    assert result.exit_code == 0, result.output
    read = [x for x in predicted.stderr.splitlines() if x.startswith("read ")]
    assert len(read) == 2
    assert result.stderr.splitlines() == read


def test_evaluate_json(fit_json):
    result = run("evaluate", fit_json, *TEST, "--schedules", SCHEDULES, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {"law", "params", "runs", "mean"} <= set(payload)
    assert payload["law"] == "momentum"
    assert set(payload["params"]) == {"L0", "A", "alpha", "C"}
    assert [r["name"] for r in payload["runs"]] == list(TEST_NAMES)
    mean = payload["mean"]
    assert mean["n"] == sum(r["metrics"]["n"] for r in payload["runs"])
    assert 0 < mean["prede"] < 0.0015
    assert mean["prede"] == pytest.approx(np.mean([r["metrics"]["prede"] for r in payload["runs"]]))


# --------------------------------------------------------------------------- #
# User errors: exit 2, one line on stderr, no traceback, nothing written
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("bogus:peak=3e-4", ("unknown family 'bogus'", "cosine_24000")),
        ("cosine:peak=3e-4,total=24000,foo=1", ("unknown key 'foo'", "cosine_24000")),
    ],
    ids=["unknown-family", "unknown-key"],
)
def test_fit_bad_spec(tmp_path, spec, fragments):
    out = tmp_path / "fit.json"
    result = run("fit", MPL / "cosine_24000.csv", "--schedule", spec, "--out", out)
    assert_user_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_spec_with_a_space_for_the_colon_is_malformed_not_a_run_name(tmp_path):
    """Regression (issue 17): 'cosine peak=3e-4,...' said "no run named 'cosine peak'"."""
    spec = "cosine peak=3e-4,total=24000,warmup=2160"
    result = run("fit", MPL / "cosine_24000.csv", "--schedule", spec, "--out", tmp_path / "f.json")
    line = assert_user_error(result)
    assert line == (
        f"error: --schedule '{spec}': malformed schedule spec; a spec is FAMILY:KEY=VALUE,... "
        "with a colon after the family, e.g. 'cosine:peak=3e-4,total=24000,warmup=2160', and "
        "NAME=SPEC names the run it is for (runs: cosine_24000)"
    )
    assert list(tmp_path.iterdir()) == []
    # a misspelt run name is still one
    typo = run("fit", MPL / "cosine_24000.csv", "--schedule", "cosin_24000=cosine:peak=3e-4")
    assert_user_error(typo, "no run named 'cosin_24000'; runs: cosine_24000")
    # the same for the schedules of compare and predict --candidate (no fit needed: the
    # specs are checked first)
    for args in (["compare", tmp_path / "fit.json", "--schedule"], ["predict", "fit.json", "-c"]):
        line = assert_user_error(run(*args, spec))
        assert f"'{spec}': malformed schedule spec; a spec is FAMILY:KEY=VALUE" in line
        assert line.endswith("NAME=SPEC names the schedule")


def test_fit_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    result = run("fit", missing, "--out", tmp_path / "fit.json")
    assert_user_error(result, str(missing), "no such file")
    assert list(tmp_path.iterdir()) == []


def test_fit_mpl_without_schedule(tmp_path):
    result = run("fit", MPL / "cosine_24000.csv", "--out", tmp_path / "fit.json")
    assert_user_error(result, "cosine_24000.csv", "--schedule", "--warmup")
    assert list(tmp_path.iterdir()) == []


def test_fit_unknown_law(tmp_path):
    result = run(
        "fit", MPL / "cosine_24000.csv", "--schedules", SCHEDULES, "--law", "nope",
        "--out", tmp_path / "fit.json",
    )  # fmt: skip
    assert_user_error(result, "unknown law 'nope'", "momentum")
    assert list(tmp_path.iterdir()) == []


def test_predict_out_equal_to_input(fit_json, tmp_path):
    src = tmp_path / "wsdcon_3.csv"
    src.write_bytes((MPL / "wsdcon_3.csv").read_bytes())
    before = src.read_bytes()
    result = run("predict", fit_json, src, "--schedules", SCHEDULES, "--out", src)
    assert_user_error(result, "refusing to overwrite an input file")
    assert result.stdout == ""
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wsdcon_3.csv"]


def test_predict_out_equal_to_fit_file(fit_json, tmp_path):
    before = fit_json.read_bytes()
    result = run(
        "predict", fit_json, MPL / "wsdcon_3.csv", "--schedules", SCHEDULES, "-o", fit_json
    )
    assert_user_error(result, "refusing to overwrite an input file")
    assert fit_json.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("step,loss\n0,1\n", "not valid JSON"),
        ('{"a": 1}', "not an lrlaw fit result (no 'format' key); give a file written by"),
        ('{"format": "lrlaw.fit/9"}', "'format' is 'lrlaw.fit/9', not 'lrlaw.fit/1'"),
        ('{"format": "lrlaw.fit/1", "law": "momentum"}', "missing"),
    ],
    ids=["not-json", "other-json", "other-format", "incomplete"],
)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_not_a_fit_result(tmp_path, command, text, fragment):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    extra = ["--out", tmp_path / "pred.csv"] if command == "predict" else []
    result = run(command, bad, MPL / "wsdcon_3.csv", "--schedules", SCHEDULES, *extra)
    if command == "evaluate" and text == '{"a": 1}':
        # evaluate also takes JSON training logs, so a JSON that is no fit is read as one
        fragment = "unrecognised JSON layout"
    assert_user_error(result, str(bad), fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


@pytest.mark.parametrize("damage", ["array", "missing-param", "bad-option"])
def test_damaged_fit_result(fit_json, tmp_path, damage):
    data = json.loads(fit_json.read_text())
    if damage == "array":
        data = [data]
    elif damage == "missing-param":
        del data["params"]["A"]
    else:
        data["options"]["zzz"] = 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = run("evaluate", bad, MPL / "wsdcon_3.csv", "--schedules", SCHEDULES)
    assert_user_error(result, str(bad))


def test_predict_unsupported_plot_format(fit_json, tmp_path):
    out = tmp_path / "pred.csv"
    result = run(
        "predict", fit_json, MPL / "wsdcon_3.csv", "--schedules", SCHEDULES,
        "--out", out, "--plot", tmp_path / "pred.xyz",
    )  # fmt: skip
    assert_user_error(result, "xyz")
    assert list(tmp_path.iterdir()) == []


def test_predict_candidates_not_run_yet(fit_json, tmp_path):
    """A schedule that has not been run (a spec, or the table `lrlaw schedule` writes) gets
    its predicted curve, with an empty loss column; was "no loss column" for the table."""
    from lrlaw.fitting import FitResult
    from lrlaw.schedules import parse_schedule

    spec = "inverse_sqrt:peak=3e-4,warmup=500,total=20000,cooldown=4000"
    table = tmp_path / "isq.csv"
    assert run("schedule", spec, "--out", table).exit_code == 0
    out = tmp_path / "pred.csv"
    result = run("predict", fit_json, "-c", table, "-c", "cos=cosine:peak=3e-4,total=24000,"
                 "final=3e-5,warmup=2160", "--every", 4000, "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert list(df["run"].unique()) == ["isq", "cos"]
    assert df["loss"].isna().all()
    fit = FitResult.load(fit_json)
    isq = df[df["run"] == "isq"]
    assert isq["step"].tolist() == [0, 4000, 8000, 12000, 16000, 20000]
    lr = parse_schedule(spec).values()
    np.testing.assert_allclose(isq["pred"][1:], fit.predict(lr, isq["step"][1:]), rtol=1e-9)
    assert np.isnan(isq["pred"].iloc[0])  # the law is undefined at step 0
    # default: about 1000 rows per candidate
    result = run("predict", fit_json, "-c", table, "--out", tmp_path / "dense.csv")
    assert 1000 <= len(pd.read_csv(tmp_path / "dense.csv")) <= 1002
    assert_user_error(run("predict", fit_json), "nothing to predict")
    assert_user_error(run("predict", fit_json, "-c", "cosine:peak=3e-4"), "missing required key")
    assert_user_error(run("predict", fit_json, "-c", tmp_path / "no.csv"), "no such schedule file")
    assert_user_error(
        run("predict", fit_json, "-c", table, "--plot", tmp_path / "p.png"), "lrlaw compare"
    )
    # a candidate named like a run in FILES, a training log given as a candidate
    clash = run(
        "predict", fit_json, MPL / "wsdcon_3.csv", "--schedules", SCHEDULES,
        "-c", "wsdcon_3=cosine:peak=3e-4,total=100",
    )  # fmt: skip
    assert_user_error(clash, "wsdcon_3 also name runs in FILES")
    assert_user_error(run("predict", fit_json, "-c", MPL / "wsdcon_3.csv"), "go in FILES")
    result = run("predict", fit_json, "-c", "cosine:peak=3e-4,total=100", "--every", 50)
    assert result.stdout.splitlines()[1].startswith("cosine-1,0,")  # named as compare does


def test_predict_out_with_an_image_suffix_is_refused(fit_json, tmp_path):
    """Regression: `predict --out pred.png` wrote CSV into pred.png (over an earlier plot)."""
    image = tmp_path / "pred.png"
    image.write_bytes(PNG_MAGIC)
    result = run(
        "predict", fit_json, MPL / "wsdcon_3.csv", "--schedules", SCHEDULES, "--out", image
    )
    assert_user_error(result, "pred.png", "--out writes a table or JSON, not a .png image")
    assert image.read_bytes() == PNG_MAGIC


def test_fit_bad_s2_warmup_names_the_option(tmp_path):
    """Regression: the error named the law's internal parameter (warmup='foo')."""
    result = run(
        "fit", MPL / "wsdcon_3.csv", "--schedules", SCHEDULES, "--s2-warmup", "foo",
        "--out", tmp_path / "fit.json",
    )  # fmt: skip
    assert_user_error(result, "--s2-warmup 'foo': expected signed or ignore")
    assert list(tmp_path.iterdir()) == []


def test_fit_quiet_without_out_is_refused_before_any_work(tmp_path, monkeypatch):
    """Regression (issue 17): fit -q without --out computed the fit and threw it away."""
    import lrlaw.io

    def no_reading(*args, **kwargs):
        raise AssertionError("read the curves")

    monkeypatch.setattr(lrlaw.io, "load_curves", no_reading)
    result = run("fit", MPL / "cosine_24000.csv", "--schedules", SCHEDULES, "-q")
    assert_user_error(result, "--quiet without --out", "add --out FIT.json")
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["fit.csv", "fit", "fit.JSONL"])
def test_fit_out_must_be_json(tmp_path, name):
    """Regression (issue 17): fit --out f.csv wrote JSON into a .csv (which evaluate then
    took for a curve table)."""
    out = tmp_path / name
    result = run("fit", MPL / "cosine_24000.csv", "--schedules", SCHEDULES, "--out", out)
    assert_user_error(result, f"{out}: --out writes the fit result as JSON; name it FILE.json")
    assert list(tmp_path.iterdir()) == []
    result = run("hparams", "fit", DATA / "steplaw" / "dense_lr_bs_loss.csv", "--out", out)
    assert_user_error(result, f"{out}: --out writes the fit as JSON; name it FILE.json")
    assert list(tmp_path.iterdir()) == []


def test_predict_plot_in_missing_folder_writes_nothing(fit_json, tmp_path):
    out = tmp_path / "pred.csv"
    result = run(
        "predict", fit_json, MPL / "wsdcon_3.csv", "--schedules", SCHEDULES,
        "--out", out, "--plot", tmp_path / "missing" / "pred.png",
    )  # fmt: skip
    assert_user_error(result, "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_fit_out_equal_to_input_refused_before_fitting(tmp_path):
    lr = [1e-3 * min(s, 50) / 50 for s in range(401)]
    area = np.cumsum(lr)
    rows = [
        f"{s},{lr[s]!r}," + (repr(2.5 + 0.1 / float(area[s] + 1e-3) ** 0.5) if s % 20 == 0 else "")
        for s in range(401)
    ]
    src = tmp_path / "tiny.csv"
    src.write_text("step,lr,loss\n" + "\n".join(rows) + "\n")
    before = src.read_bytes()
    result = run("fit", src, "--out", src)
    assert src.read_bytes() == before
    assert_user_error(result, "refusing to overwrite an input file")
    assert result.stdout == ""


# --------------------------------------------------------------------------- #
# Entry points
# --------------------------------------------------------------------------- #


def test_cli_py_shim_help():
    proc = subprocess.run(
        [sys.executable, "cli.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("fit", "predict", "evaluate"):
        assert command in proc.stdout


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "from lrlaw.cli import app\n"
        "for args in (['--help'], ['fit', '--help'], ['predict', '--help'], ['--version']):\n"
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
    assert "Usage" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_version():
    """Regression (issue 16): there was no --version."""
    import lrlaw

    proc = subprocess.run(
        [sys.executable, "cli.py", "--version"], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"lrlaw {lrlaw.__version__}\n"
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["predict", "fit.json", "run.csv", "--every", "0"],
            "error: invalid value for '--every': Input should be greater than or equal to 1 "
            "(see 'lrlaw predict --help')",
        ),
        (["predict", "fit.json", "--every", "abc"], "invalid value for '--every'"),
        (["fit", "run.csv", "--out"], "error: option '--out' requires an argument"),
        (["fit"], "error: missing argument 'files' (see 'lrlaw fit --help')"),
        (["fit", "run.csv", "--nope"], "error: no such option: --nope"),
        (["hparams", "fit", "g.csv", "--min-runs", "2"], "(see 'lrlaw hparams fit --help')"),
        (["nope"], "error: no such command 'nope' (see 'lrlaw --help')"),
    ],
    ids=["out-of-range", "not-an-int", "missing-value", "missing-argument", "unknown-option",
         "subgroup", "unknown-command"],
)  # fmt: skip
def test_argument_parser_errors_are_one_line(args, expected):
    """Regression (issue 17): the argument parser's errors printed a usage block."""
    line = assert_user_error(run(*args))
    assert expected in line
    assert "Usage" not in line


def test_help_without_arguments_still_prints_help():
    for args in ([], ["hparams"]):
        result = run(*args)
        assert "Usage:" in result.output and "Commands:" in result.output
    result = run("fit", "--help")
    assert result.exit_code == 0 and "Usage:" in result.stdout and "--out" in result.stdout


def test_help_texts_of_the_shared_options_fit_every_command():
    """Regression (issue 17): predict --help said --loss-kind picks the loss 'to fit' (and
    --smooth smooths 'before fitting'); evaluate --help listed only CSV/TSV/parquet."""
    formats = (
        "CSV/TSV/parquet tables (step, loss[, lr][, run]), JSONL, W&B exports (JSON or panel "
        "CSV), Hugging Face trainer_state.json, TensorBoard event files or folders"
    )
    for command in ("fit", "predict", "evaluate"):
        result = run(command, "--help")
        assert result.exit_code == 0, result.output
        text = " ".join(result.stdout.split())
        assert "Which loss to use when a log has both a validation and a training loss" in text
        assert "Smooth the loss as it is read" in text
        assert "to fit when" not in text and "before fitting" not in text
        if command != "predict":  # predict's FILES: "any format 'lrlaw fit' reads"
            assert formats in text, command
    assert "(default: momentum; with --cv: momentum, multipower and efflr)" in " ".join(
        run("evaluate", "--help").stdout.split()
    )


def test_hparams_fit_missing_column_names_the_option():
    """Regression (issue 17): 'name the right one with the N column option'."""
    grid = DATA / "steplaw" / "dense_lr_bs_loss.csv"
    result = run("hparams", "fit", grid, "--n-col", "params")
    assert_user_error(
        result, "no column 'params' (the N column)", "with --n-col (n_col= in Python)"
    )
    result = run("hparams", "fit", grid, "--batch-col", "batch")
    assert_user_error(result, "with --batch-col (batch_col= in Python)")


def test_evaluate_takes_a_wandb_json_export_as_first_curve_file(data_dir) -> None:
    """Regression: evaluate treated any .json given first as a saved fit."""
    d = data_dir / "schaipp-124m"
    r = run(
        "evaluate",
        d / "stable-124m-lr0.001.json",
        d / "cos-zero-124m-lr0.001.json",
        d / "ann124-0.2-lr0.001.json",
        "--base",
        d / "stable-124m-lr0.001.json",
        "--initial-lr",
        "1e-5",
        "--train",
        "stable-124m-lr0.001",
        "--train",
        "cos-zero-124m-lr0.001",
    )
    assert r.exit_code == 0, r.output
    assert "held out  1 run(s)" in r.stdout and "ann124-0.2-lr0.001" in r.stdout
    read = [line for line in r.stderr.splitlines() if line.startswith("read ")]
    assert len(read) == 3  # the per-run read summaries, as fit and predict print
