"""Schedules in the trainers' own words: HF get_wsd_schedule and torchtitan lr_scheduler.

The trainers' formulas are transcribed here independently of lrlaw.schedules.export:

* ``hf_lambda``: transformers 5.25.0, ``src/transformers/optimization.py``,
  ``_get_wsd_scheduler_lambda`` (and ``TrainingArguments.get_warmup_steps``).
  Where transformers is installed, the installed function's own source is also
  executed (it needs only ``math``; the module itself imports torch).
* ``torchtitan_lambda_``: torchtitan ``torchtitan/components/lr_scheduler.py``,
  ``build_lr_schedulers`` / ``linear_warmup_stable_decay``, the 2025 version with
  ``min_lr_factor`` and the virtual last step ``stable_steps = T + 1 - W - D``.

A round trip lrlaw schedule -> trainer settings -> per-step LRs must give the
schedule's own per-step LRs, and the settings must read back to the same schedule.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_user_error, run

from lrlaw.errors import ScheduleError
from lrlaw.schedules import parse_schedule
from lrlaw.schedules.export import (
    from_hf,
    from_torchtitan,
    read_trainer_config,
    to_hf,
    to_torchtitan,
)


def hf_lambda(t, *, num_warmup_steps, num_stable_steps, num_decay_steps, decay_type,
              min_lr_ratio, warmup_type="linear", num_cycles=0.5):  # fmt: skip
    if t < num_warmup_steps:
        progress = float(t) / float(max(1, num_warmup_steps))
        assert warmup_type == "linear"
        factor = progress * (1.0 - min_lr_ratio) + min_lr_ratio
        return max(0.0, factor)
    if t < num_warmup_steps + num_stable_steps:
        return 1.0
    if t < num_warmup_steps + num_stable_steps + num_decay_steps:
        progress = float(t - num_warmup_steps - num_stable_steps) / float(max(1, num_decay_steps))
        if decay_type == "linear":
            factor = 1.0 - progress
        elif decay_type == "cosine":
            factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
        elif decay_type == "1-sqrt":
            factor = 1.0 - math.sqrt(progress)
        factor = factor * (1.0 - min_lr_ratio) + min_lr_ratio
        return max(0.0, factor)
    return min_lr_ratio


def _installed_hf_lambda():
    """transformers' own ``_get_wsd_scheduler_lambda``, from its installed source."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "optimization.py"
    tree = ast.parse(path.read_text())
    fn = next(
        n for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name == "_get_wsd_scheduler_lambda"
    )  # fmt: skip
    space = {"math": math}
    exec(compile(ast.Module([fn], []), str(path), "exec"), space)
    return space["_get_wsd_scheduler_lambda"]


def torchtitan_lambda_(t, *, training_steps, warmup_steps, decay_ratio, decay_type, min_lr_factor):
    warmup_steps = min(int(warmup_steps), training_steps)
    if decay_ratio is not None:
        decay_steps = round(training_steps * decay_ratio)
        if warmup_steps + decay_steps > training_steps:
            decay_steps = training_steps - warmup_steps
    else:
        decay_steps = training_steps - warmup_steps
    stable_steps = training_steps + 1 - warmup_steps - decay_steps
    warmup_stable_steps = warmup_steps + stable_steps
    if t < warmup_steps:
        return float((t + 1) / warmup_steps)
    if t < warmup_stable_steps:
        return 1.0
    progress = float((t + 1) - warmup_stable_steps) / decay_steps
    if decay_type == "linear":
        adj = 1 - progress
    elif decay_type == "sqrt":
        adj = 1 - math.sqrt(progress)
    elif decay_type == "cosine":
        adj = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_lr_factor + (1 - min_lr_factor) * adj


def _hf_lrs(settings, lam=hf_lambda):
    kw = settings["lr_scheduler_kwargs"]
    w = settings["warmup_steps"]
    w = int(w) if w >= 1 else math.ceil(settings["max_steps"] * w)
    extra = {} if lam is hf_lambda else {"warmup_type": "linear", "num_cycles": 0.5}
    return settings["learning_rate"] * np.array(
        [lam(t, num_warmup_steps=w, **kw, **extra) for t in range(settings["max_steps"] + 1)]
    )


HF_SPECS = [
    "wsd:peak=3e-4,total=24000,decay_start=20000,final=3e-5,shape=linear,warmup=2160,"
    "warmup_start=3e-5",
    "wsd:peak=1e-3,total=5000,decay_frac=0.2,final=0,shape=sqrt",
    "wsd:peak=1e-3,total=5000,decay_frac=0.3,final=1e-4,shape=cosine,warmup=100,warmup_start=1e-4",
    "cosine:peak=3e-4,total=2400,final=3e-5,warmup=216,warmup_start=3e-5",
    "linear:peak=2e-3,total=1000",
]


@pytest.mark.parametrize("spec", HF_SPECS)
def test_hf_round_trip(spec):
    s = parse_schedule(spec)
    settings = to_hf(s)
    assert settings["lr_scheduler_type"] == "warmup_stable_decay"
    want = s.values()
    np.testing.assert_allclose(_hf_lrs(settings), want, rtol=1e-12, atol=1e-18)
    installed = _installed_hf_lambda()
    if installed is not None:
        np.testing.assert_allclose(_hf_lrs(settings, installed), want, rtol=1e-12, atol=1e-18)
    back = from_hf(json.loads(json.dumps(settings)))
    np.testing.assert_allclose(back.values(), want, rtol=1e-12, atol=1e-18)


TT_SPECS = [
    "wsd:peak=1e-3,total=5000,decay_frac=0.2,final=1e-4,shape=cosine,warmup=299,"
    "warmup_start=3.3333333333333333e-06",
    "wsd:peak=1e-3,total=5000,decay_start=4000,final=0,shape=sqrt",
    "wsd:peak=3e-4,total=1000,decay_start=700,final=3e-5,shape=linear,warmup=9,warmup_start=3e-5",
    "linear:peak=1e-3,total=777",
]


@pytest.mark.parametrize("spec", TT_SPECS)
def test_torchtitan_round_trip(spec):
    s = parse_schedule(spec)
    cfg = to_torchtitan(s)
    sec = cfg["lr_scheduler"]
    t_steps = cfg["training"]["steps"]
    lrs = cfg["optimizer"]["lr"] * np.array(
        [torchtitan_lambda_(t, training_steps=t_steps, **sec) for t in range(t_steps + 1)]
    )
    np.testing.assert_allclose(lrs, s.values(), rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(from_torchtitan(cfg).values(), s.values(), rtol=1e-12, atol=1e-18)


def test_settings_a_trainer_cannot_express_are_refused():
    with pytest.raises(ScheduleError, match="no 'exp' decay"):
        to_hf(parse_schedule("wsd:peak=3e-4,total=2400,decay_start=2000,final=3e-5,shape=exp"))
    with pytest.raises(ScheduleError, match="warms up from min_lr_ratio"):
        to_hf(parse_schedule("cosine:peak=3e-4,total=2400,final=3e-5,warmup=216"))
    with pytest.raises(ScheduleError, match=r"torchtitan warms up as \(t \+ 1\) / W"):
        to_torchtitan(parse_schedule("cosine:peak=3e-4,total=2400,warmup=216"))
    with pytest.raises(ScheduleError, match="express wsd, cosine and linear"):
        to_torchtitan(parse_schedule("constant:peak=3e-4,total=2400"))
    with pytest.raises(ScheduleError, match="not max_steps"):
        kwargs = {"num_stable_steps": 50, "num_decay_steps": 10}
        from_hf(
            {"learning_rate": 1e-3, "max_steps": 100, "warmup_steps": 10,
             "lr_scheduler_kwargs": kwargs}
        )  # fmt: skip


def test_schedule_command_formats_and_read_back(tmp_path):
    spec = HF_SPECS[0]
    hf = tmp_path / "hf.json"
    result = run("schedule", spec, "--format", "hf", "--out", hf)
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads(hf.read_text())["lr_scheduler_kwargs"]["num_decay_steps"] == 4000
    table = tmp_path / "back.csv"
    result = run("schedule", hf, "--out", table)
    assert result.exit_code == 0, (result.output, result.exception)
    import pandas as pd

    np.testing.assert_allclose(pd.read_csv(table)["lr"], parse_schedule(spec).values(), rtol=1e-12)
    tt = tmp_path / "tt.toml"
    result = run("schedule", TT_SPECS[0], "--format", "torchtitan", "--out", tt)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "[lr_scheduler]" in tt.read_text() and "min_lr_factor = 0.1" in tt.read_text()
    np.testing.assert_allclose(
        read_trainer_config(tt).values(), parse_schedule(TT_SPECS[0]).values(), rtol=1e-12
    )
    assert_user_error(
        run("schedule", spec, "--format", "hf", "--out", tmp_path / "x.toml"), ".json"
    )
    assert_user_error(
        run("schedule", "cosine:peak=3e-4,total=2400,warmup=216", "--format", "torchtitan",
            "--out", tmp_path / "y.toml"),
        "torchtitan warms up",
    )  # fmt: skip
