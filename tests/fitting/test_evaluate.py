"""Comparing laws on held-out runs: ``lrlaw.fitting.evaluate`` and
``lrlaw evaluate --train ... --law ...``.

The multi-power fit of the paper's three training curves takes ~20-35 s, so it runs
once (the ``comparison`` fixture); the command-line tests that need both laws get that
comparison through a stand-in for ``compare_laws`` that checks what the command asks
for, and one command runs end to end with the momentum law alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import PNG_MAGIC, assert_user_error, run

import lrlaw.fitting.evaluate
from lrlaw.errors import LrlawError
from lrlaw.fitting import FitResult, fit
from lrlaw.fitting.evaluate import LawComparison, compare_laws
from lrlaw.fitting.metrics import curve_metrics, mean_metrics
from lrlaw.io import load_curves
from lrlaw.plot import plot_law_comparison

#: Every test here fits the multi-power law (20-35 s on 2 cores): the module is in the slow set.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MPL = ROOT / "data" / "mpl" / "100m"
SCHEDULES = ROOT / "data" / "schedules.txt"
TRAIN = ("constant_24000", "cosine_24000", "wsdcon_9")  # the paper's split (file order)
TEST = (
    "constant_72000",
    "cosine_72000",
    "wsd_20000_24000",
    "wsdcon_18",
    "wsdcon_3",
    "wsdld_20000_24000",
)
FILES = sorted(MPL.glob("*.csv"))
TRAIN_ARGS = [a for name in TRAIN for a in ("--train", name)]


@pytest.fixture(scope="module")
def curves():
    loaded = load_curves(FILES, schedules_file=SCHEDULES)
    assert tuple(c.name for c in loaded) == tuple(sorted(TRAIN + TEST))
    return [c for c in loaded if c.name in TRAIN], [c for c in loaded if c.name in TEST]


@pytest.fixture(scope="module")
def comparison(curves) -> LawComparison:
    """Momentum vs multi-power on the MPL 100M paper split (the module's only multi-power fit)."""
    train, test = curves
    return compare_laws(train, test, ["momentum", "multipower"])


@pytest.fixture
def reuse_comparison(monkeypatch, comparison):
    """Make the command use ``comparison`` instead of fitting again; record what it asked for."""
    calls = []

    def stand_in(train, test, laws, *, min_step=None):
        calls.append(([c.name for c in train], [c.name for c in test], [law.name for law in laws]))
        return comparison

    monkeypatch.setattr(lrlaw.fitting, "compare_laws", stand_in)  # what `lrlaw evaluate` calls
    return calls


# --------------------------------------------------------------------------- #
# Core
# --------------------------------------------------------------------------- #


def test_comparison_matches_a_direct_fit(comparison, curves):
    train, test = curves
    assert comparison.train == TRAIN
    assert comparison.test == TEST
    assert [s.label for s in comparison.laws] == ["momentum", "multipower"]
    direct = fit(train, "momentum")
    mean = mean_metrics(
        [curve_metrics(c.loss[c.window()], direct.predict(c)[c.window()]) for c in test]
    )
    score = comparison["momentum"]
    assert score.fit.params == pytest.approx(direct.params, rel=1e-9)
    assert score.mean["prede"] == pytest.approx(mean["prede"], rel=1e-9)
    assert score.mean["n"] == mean["n"] == sum(int(np.sum(c.steps >= 2160)) for c in test)
    for s in comparison.laws:
        assert 0 < s.mean["prede"] < 0.002, (s.label, s.mean)
        assert s.fit.converged
        assert s.fit_seconds > 0
        assert [r["name"] for r in s.runs] == list(TEST)
        assert s.mean["prede"] == pytest.approx(np.mean([r["metrics"]["prede"] for r in s.runs]))
    # The fresh multi-power fit reaches a lower training objective than the momentum law.
    assert comparison["multipower"].fit.objective < comparison["momentum"].fit.objective


def test_table_and_dict(comparison):
    lines = comparison.table().splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line.split()}
    for s in comparison.laws:
        row = rows[s.label]
        assert float(row[-3]) == pytest.approx(100 * s.mean["prede"], abs=6e-4)
        assert float(row[-1]) == pytest.approx(100 * s.mean["final"], abs=6e-4)
    for i, name in enumerate(TEST):
        cells = rows[name]
        assert len(cells) == 2 + 2 * len(comparison.laws)
        assert float(cells[4]) == pytest.approx(
            100 * comparison["multipower"].runs[i]["metrics"]["prede"], abs=6e-4
        )
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["train"] == list(TRAIN) and data["test"] == list(TEST)
    law = data["laws"][1]
    assert {"law", "reference", "params", "objective", "fit_seconds", "mean", "runs", "fit"} <= set(
        law
    )
    assert law["reference"].startswith("Luo et al. 2025")
    assert FitResult.from_dict(law["fit"]).params == comparison["multipower"].fit.params


def test_plot(comparison, curves):
    fig = plot_law_comparison(comparison, *curves)
    axes = fig.axes
    assert len(axes) == 4  # loss and error rows, one column per law
    titles = [ax.get_title() for ax in axes if ax.get_title()]
    assert titles == [
        f"{s.label} law: held-out mean PredE {100 * s.mean['prede']:.3f} %" for s in comparison.laws
    ]
    # Same colour for a run in every column; held-out runs dashed.
    for ax in axes[:2]:
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert lines["cosine_24000"].get_linestyle() == "-"
        assert lines["cosine_72000 (held out)"].get_linestyle() == "--"
    first = {ln.get_label(): ln.get_color() for ln in axes[0].get_lines()}
    second = {ln.get_label(): ln.get_color() for ln in axes[1].get_lines()}
    assert {k: v for k, v in first.items() if not k.startswith("_")} == {
        k: v for k, v in second.items() if not k.startswith("_")
    }


def test_compare_laws_rejects_bad_inputs(curves):
    train, test = curves
    with pytest.raises(LrlawError, match="both training and held-out"):
        compare_laws(train, [*test, train[0]], ["momentum"])
    with pytest.raises(LrlawError, match="no held-out runs"):
        compare_laws(train, [], ["momentum"])
    with pytest.raises(LrlawError, match="more than once"):
        compare_laws(train, test, ["momentum", "momentum"])
    with pytest.raises(LrlawError, match="unknown law 'nope'"):
        compare_laws(train, test, ["nope"])


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def test_cli_table(reuse_comparison, comparison):
    result = run("evaluate", *FILES, "--schedules", SCHEDULES, *TRAIN_ARGS,
                 "--law", "momentum", "--law", "multipower")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert reuse_comparison == [(list(TRAIN), list(TEST), ["momentum", "multipower"])]
    assert result.stdout.strip() == comparison.table()
    first = [line.split()[0] for line in result.stdout.splitlines() if line.split()]
    assert first.count("momentum") == first.count("multipower") == 1
    assert [n for n in first if n in TEST] == list(TEST)


def test_cli_json(reuse_comparison):
    result = run("evaluate", *FILES, "--schedules", SCHEDULES, *TRAIN_ARGS,
                 "--law", "momentum", "--law", "multipower", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"train", "test", "min_step", "laws"} <= set(data)
    assert [law["law"] for law in data["laws"]] == ["momentum", "multipower"]
    for law in data["laws"]:
        assert {"params", "objective", "fit_seconds", "mean", "runs", "fit"} <= set(law)
        assert [r["name"] for r in law["runs"]] == list(TEST)
        assert {"r2", "mae", "rmse", "prede", "worste", "final"} <= set(law["mean"])


def test_cli_plot(reuse_comparison, tmp_path):
    plot = tmp_path / "cmp.png"
    result = run("evaluate", *FILES, "--schedules", SCHEDULES, *TRAIN_ARGS,
                 "--law", "momentum", "--law", "multipower", "--plot", plot)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert plot.read_bytes()[:8] == PNG_MAGIC
    assert f"wrote {plot}" in result.stderr


def test_cli_end_to_end_momentum(comparison):
    """No stand-in: the default law (momentum) fitted by the command itself."""
    result = run("evaluate", *FILES, "--schedules", SCHEDULES, *TRAIN_ARGS, "--json")
    assert result.exit_code == 0, result.output
    (law,) = json.loads(result.stdout)["laws"]
    assert law["law"] == "momentum"
    assert law["mean"]["prede"] == pytest.approx(comparison["momentum"].mean["prede"], rel=1e-9)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--train", "cosine_24000", "--train", "nope"), ("nope", "runs: ", "wsdcon_9")),
        ([a for n in TRAIN + TEST for a in ("--train", n)], ("none is held out",)),
        (("--train", "cosine_24000", "--law", "nope"), ("unknown law 'nope'", "momentum")),
        (
            ("--train", "cosine_24000", "--law", "momentum", "--law", "momentum"),
            ("more than once",),
        ),
        ((), ("--train", "runs: ")),
    ],
    ids=["unknown-train", "no-held-out", "unknown-law", "repeated-law", "no-train"],
)
def test_cli_errors(tmp_path, args, fragments):
    plot = tmp_path / "cmp.png"
    result = run("evaluate", *FILES, "--schedules", SCHEDULES, *args, "--plot", plot)
    assert_user_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--train", "--law"])
def test_cli_option_with_saved_fit(comparison, tmp_path, option):
    saved = tmp_path / "fit.json"
    comparison["momentum"].fit.save(saved)
    value = "cosine_72000" if option == "--train" else "multipower"
    result = run("evaluate", saved, *FILES, "--schedules", SCHEDULES, option, value)
    assert_user_error(result, option, "saved fit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]


def test_cli_saved_fit_still_scores(comparison, tmp_path):
    saved = tmp_path / "fit.json"
    comparison["momentum"].fit.save(saved)
    test_files = [MPL / f"{n}.csv" for n in TEST]
    result = run("evaluate", saved, *test_files, "--schedules", SCHEDULES, "--json")
    assert result.exit_code == 0, result.output
    mean = json.loads(result.stdout)["mean"]
    assert mean["prede"] == pytest.approx(comparison["momentum"].mean["prede"], rel=1e-12)
