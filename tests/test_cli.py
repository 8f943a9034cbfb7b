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

from lrlaw.fitting import FitResult

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
MPL = DATA / "mpl" / "100m"
SCHEDULES = DATA / "schedules.txt"
TRAIN = [MPL / f"{n}.csv" for n in ("cosine_24000", "constant_24000", "wsdcon_9")]
TEST_NAMES = (
    "cosine_72000",
    "constant_72000",
    "wsd_20000_24000",
    "wsdld_20000_24000",
    "wsdcon_3",
    "wsdcon_18",
)
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
        "for args in (['--help'], ['fit', '--help'], ['predict', '--help']):\n"
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
