"""Tests for lrlaw.schedules.export (tables, optax and LambdaLR adapters) and ``lrlaw schedule``."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_helpers import PNG_MAGIC, run

from lrlaw.errors import DataError, LrlawError, ScheduleError
from lrlaw.schedules import from_array, parse_schedule
from lrlaw.schedules.export import (
    as_lambda_lr,
    as_optax,
    read_schedule_table,
    to_table,
    write_schedule,
)

SPECS = [
    "cosine:peak=0.0003,warmup=50,total=400,final=3e-05",
    "wsd:peak=0.001,warmup=20,total=300,decay_frac=0.2,final=1e-05,shape=exp",
    "multistep:peak=0.1,total=200,milestones=[80,150],factor=0.1",
]


@pytest.mark.parametrize("spec", SPECS)
def test_table_matches_values(spec):
    s = parse_schedule(spec)
    df = to_table(s)
    assert list(df.columns) == ["step", "lr"]
    np.testing.assert_array_equal(df["step"].to_numpy(), np.arange(s.total + 1))
    np.testing.assert_array_equal(df["lr"].to_numpy(), s.values())


def test_table_open_ended_needs_num():
    s = parse_schedule("inverse_sqrt:peak=0.001,warmup=10")
    with pytest.raises(ScheduleError, match="no total"):
        to_table(s)
    assert len(to_table(s, num=30)) == 30


@pytest.mark.parametrize("suffix", [".csv", ".json"])
@pytest.mark.parametrize("spec", SPECS)
def test_round_trip_exact(tmp_path, spec, suffix):
    s = parse_schedule(spec)
    path = write_schedule(s, tmp_path / f"s{suffix}")
    back = read_schedule_table(path)
    assert back.total == s.total
    np.testing.assert_array_equal(back.values(), s.values())  # bit-exact
    assert back.peak == s.peak


def test_json_payload(tmp_path):
    s = parse_schedule(SPECS[0])
    payload = json.loads(write_schedule(s, tmp_path / "s.json").read_text())
    assert payload["spec"] == s.spec
    assert (payload["total"], payload["warmup"], payload["peak"]) == (s.total, s.warmup, s.peak)
    assert payload["lr"] == s.values().tolist()


def test_write_rejects_bad_suffix_and_input(tmp_path):
    s = parse_schedule(SPECS[0])
    with pytest.raises(DataError, match="unsupported"):
        write_schedule(s, tmp_path / "s.txt")
    target = tmp_path / "s.csv"
    target.write_text("keep")
    with pytest.raises(LrlawError, match="input"):
        write_schedule(s, target, inputs=[target])
    assert target.read_text() == "keep"


def test_read_rejects_bad_tables(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("step,lr\n0,0.1\n2,0.2\n")
    with pytest.raises(DataError, match="step"):
        read_schedule_table(bad)
    bad.write_text("step,loss\n0,0.1\n")
    with pytest.raises(DataError, match="lr"):
        read_schedule_table(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"lr": "x"}')
    with pytest.raises(DataError, match="lr"):
        read_schedule_table(bad_json)


@pytest.mark.parametrize("spec", SPECS)
def test_lambda_lr_times_peak_is_lr(spec):
    s = parse_schedule(spec)
    f = as_lambda_lr(s)
    steps = [*range(s.total + 1), s.total + 1, s.total + 17, 10 * s.total]
    got = np.array([f(t) * s.peak for t in steps])
    want = np.asarray(s(jnp.asarray(steps)), dtype=np.float64)
    # (x / p) * p may differ from x by an ulp; anything more is a bug.
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert all(type(f(t)) is float for t in (0, s.total, 10 * s.total))
    assert f(-3) == f(0)


def test_lambda_lr_base_lr():
    s = from_array([0.0, 0.5, 1.0, 0.25])
    assert [as_lambda_lr(s, base_lr=2.0)(t) for t in range(5)] == [0.0, 0.25, 0.5, 0.125, 0.125]
    with pytest.raises(ScheduleError, match="base_lr"):
        as_lambda_lr(s, base_lr=0.0)


@pytest.mark.parametrize("spec", SPECS)
def test_optax_under_jit(spec):
    s = parse_schedule(spec)
    f = jax.jit(as_optax(s))
    steps = np.arange(s.total + 20)
    got = np.array([float(f(jnp.int32(t))) for t in steps[::7]])
    np.testing.assert_allclose(got, np.asarray(s(steps[::7])), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(as_optax(s))(steps)), np.asarray(s(steps)))


def test_optax_sgd():
    optax = pytest.importorskip("optax")
    s = parse_schedule("linear:peak=0.5,total=4")
    opt = optax.sgd(learning_rate=as_optax(s))
    params = jnp.zeros(())
    state = opt.init(params)
    grad = jnp.ones(())
    for t in range(6):

        @jax.jit
        def step(state):
            return opt.update(grad, state, params)

        updates, state = step(state)
        np.testing.assert_allclose(float(updates), -float(s(t)), rtol=1e-6)


def test_cli_writes_csv_json_and_plot(tmp_path):
    spec = SPECS[0]
    s = parse_schedule(spec)
    for suffix in (".csv", ".json"):
        out = tmp_path / f"s{suffix}"
        result = run("schedule", spec, "--out", out)
        assert result.exit_code == 0, result.output
        np.testing.assert_array_equal(read_schedule_table(out).values(), s.values())
    out, plot = tmp_path / "p.csv", tmp_path / "p.png"
    result = run("schedule", spec, "--out", out, "--plot", plot)
    assert result.exit_code == 0, result.output
    assert plot.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    "spec", ["cosine:peak=1e-3,totl=10", "nope", "cosine:peak=-1,total=10", "constant:peak=1"]
)
def test_cli_bad_spec(tmp_path, spec):
    out, plot = tmp_path / "s.csv", tmp_path / "s.png"
    result = run("schedule", spec, "--out", out, "--plot", plot)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert repr(spec) in lines[0]
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_out_suffix(tmp_path):
    result = run("schedule", SPECS[0], "--out", tmp_path / "s.txt")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and ".csv or .json" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_import_does_not_import_torch():
    code = "import sys, lrlaw.schedules.export, lrlaw.cli; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
