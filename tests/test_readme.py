"""README and docs snippets: the figures README quotes match what the commands print.

``docs/make_examples.py`` runs every documented command on the shipped data and writes its
output to ``docs/snippets``; the docs pages include those files, so they cannot drift.
README quotes a few figures in prose. The fast tests here check README against the
committed snippets (and the snippets against the script's command list); the slow test
reruns the quick start and checks the committed snippets against what the code prints now.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
SNIPPETS = DOCS / "snippets"


def _load_examples():
    spec = importlib.util.spec_from_file_location("make_examples", DOCS / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_examples", module)
    spec.loader.exec_module(module)
    return module


examples = _load_examples()


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def evaluate_mean(text: str) -> tuple[float, float]:
    """Mean PredE % and final-loss error % from the ``mean`` row of an ``evaluate`` table."""
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("run ") and "PredE%" in line)
    cols = header.split()
    row = next(line for line in lines if line.startswith("mean "))
    values = dict(zip(cols, row.split(), strict=True))
    return float(values["PredE%"]), float(values["final%"])


def coverage_percent(text: str) -> float:
    """The share (in %) from ``quickstart_coverage.txt``."""
    match = re.search(r"inside the 90 % band: ([\d.]+) %", text)
    assert match, f"quickstart_coverage.txt: no coverage line in {text!r}"
    return float(match.group(1))


def readme_quickstart_figures(text: str) -> tuple[float, float, float]:
    """PredE %, final-loss error % and band coverage % as README's quick start quotes them."""
    prose = " ".join(text.split())
    match = re.search(
        r"mean PredE of ([\d.]+) % and a mean final-loss error of ([\d.]+) %, and ([\d.]+) % of"
        r" the held-out points lie inside the 90 % band",
        prose,
    )
    assert match, "README.md: the quick-start sentence quoting PredE, final-loss error and band"
    return tuple(float(g) for g in match.groups())


def test_readme_is_short_and_keeps_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    blocks = [b.strip() for b in _bash_blocks(text)]
    assert blocks[0] == examples.QUICKSTART_COMMAND
    assert blocks[1] == examples.TEST_COMMAND
    assert examples.TEST_COMMAND in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_figures_match_the_snippets():
    prede, final, coverage = readme_quickstart_figures(README.read_text(encoding="utf-8"))
    got_prede, got_final = evaluate_mean((SNIPPETS / "quickstart_evaluate.txt").read_text())
    assert (prede, final) == (got_prede, got_final)
    assert coverage == coverage_percent((SNIPPETS / "quickstart_coverage.txt").read_text())


def test_readme_figure_parsers_catch_a_drift():
    """The checks above must fail when README and the snippet disagree."""
    evaluate = "run   n  PredE%  final%\na  3  0.100  0.200\nmean  3  0.150  0.250\n"
    assert evaluate_mean(evaluate) == (0.150, 0.250)
    readme = (
        "gives a mean\nPredE of 0.140 % and a mean final-loss error of 0.195 %, and 93.0 % of the\n"
        "held-out points lie inside the 90 % band"
    )
    assert readme_quickstart_figures(readme) == (0.140, 0.195, 93.0)
    assert readme_quickstart_figures(readme)[:2] != evaluate_mean(evaluate)


def test_every_example_has_committed_snippets_of_its_current_command():
    for example in examples.EXAMPLES:
        sh = SNIPPETS / f"{example.name}.sh"
        assert sh.exists(), f"{sh}: missing; run python docs/make_examples.py {example.name}"
        assert sh.read_text().strip() == example.command, (
            f"{sh}: the command changed in docs/make_examples.py; rerun it for {example.name}"
        )
        assert (SNIPPETS / f"{example.name}.txt").exists()
    for name in examples.DERIVED:
        assert (SNIPPETS / name).exists(), name


def test_pages_include_only_existing_snippets_and_links():
    included = set()
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        for name in re.findall(r'--8<-- "([^"]+)"', text):
            included.add(name)
            assert (SNIPPETS / name).exists() or (ROOT / name).exists(), f"{page}: {name}"
    produced = {p.name for p in SNIPPETS.iterdir()}
    assert produced <= included | {f"{e.name}.sh" for e in examples.EXAMPLES}, (
        f"snippets no page includes: {sorted(produced - included)}"
    )
    for target in re.findall(r"\]\(((?:docs|notebooks|data)/[^)#\s]+)", README.read_text()):
        assert (ROOT / target).exists(), f"README.md links to a missing file {target}"


@pytest.mark.slow
def test_quickstart_snippets_match_what_the_code_prints(tmp_path):
    """Rerun the quick start; the committed snippets must hold the figures it prints now."""
    names = [e.name for e in examples.QUICKSTART]
    subprocess.run(
        [sys.executable, str(DOCS / "make_examples.py"), *names, "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    for name in ("quickstart_evaluate.txt", "quickstart_coverage.txt"):
        assert (tmp_path / name).read_text() == (SNIPPETS / name).read_text(), (
            f"docs/snippets/{name} is stale: run python docs/make_examples.py"
        )
    fit_now = (tmp_path / "quickstart_fit.txt").read_text()
    fit_committed = (SNIPPETS / "quickstart_fit.txt").read_text()
    params = re.compile(r"^  (?:L0|A|alpha|C) .*$", re.M)
    assert params.findall(fit_now) and params.findall(fit_now) == params.findall(fit_committed)
