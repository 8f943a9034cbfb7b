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


def law_table(text: str) -> dict[str, dict[str, float]]:
    """The per-law rows of an ``evaluate --train ... --law ...`` table, by law and column."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("law ") and "PredE%" in line)
    cols = lines[start].split()
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        fields = line.split()
        rows[fields[0]] = {c: float(v) for c, v in zip(cols[1:], fields[1:], strict=True)}
    return rows


def _prose(path: Path) -> str:
    return " ".join(path.read_text(encoding="utf-8").split())


def test_docs_prose_figures_match_the_snippets():
    """Figures the pages quote in prose (not included from a snippet) match the snippets."""
    laws_25m = law_table((SNIPPETS / "laws_25m.txt").read_text())
    laws_100m = law_table((SNIPPETS / "laws_100m.txt").read_text())
    prede, final = evaluate_mean((SNIPPETS / "quickstart_evaluate.txt").read_text())
    data = _prose(DOCS / "data.md")
    assert f"mean PredE {prede:.3f} %, mean final-loss error {final:.3f} %" in data
    assert f"| MPL 25M: same split | mean PredE {laws_25m['momentum']['PredE%']:.3f} % |" in data
    compare = _prose(DOCS / "guide" / "compare-laws.md")
    m25, p25 = laws_25m["momentum"]["PredE%"], laws_25m["multipower"]["PredE%"]
    m100, p100 = laws_100m["momentum"]["PredE%"], laws_100m["multipower"]["PredE%"]
    assert p25 < m25 and m100 < p100, "compare-laws.md: which law wins at each size changed"
    assert f"mean PredE ({p25:.3f} % against {m25:.3f} %)" in compare
    assert f"mean PredE ({m100:.3f} % against {p100:.3f} %)" in compare
    assert f"held-out PredE is {p25:.3f} % and {p100:.3f} %" in compare


def test_law_table_parser():
    text = "fitted on 3\nlaw  objective  PredE%  final%\nmomentum  0.1  0.152  0.220\n\nrun x\n"
    assert law_table(text) == {"momentum": {"objective": 0.1, "PredE%": 0.152, "final%": 0.220}}


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


#: ``lrlaw.a.b`` names in prose, Python and notebooks, but not format tags or file names.
_NAME = re.compile(r"(?<![\w/.-])lrlaw(?:\.[A-Za-z_]\w*)+")
_NOT_NAMES = ("lrlaw.fit/", "lrlaw.watch.state/", "lrlaw.plan.hparams/", "lrlaw.md")


def _resolves(name: str) -> bool:
    """Whether ``name`` is an importable module or an attribute path inside one."""
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module)
        except ImportError:
            continue
        except Exception:  # an optional extra is missing (lrlaw.integrations.hf): it exists
            return importlib.util.find_spec(module) is not None
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_docs_name_only_real_lrlaw_objects():
    """README, the docs pages, the notebooks and benchmarks/README name modules and functions
    (``lrlaw.plan.compare_schedules``); after the package moved into subpackages, every such
    name must still exist, or a reader following it finds nothing."""
    pages = [ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
    pages += sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = set()
    for page in pages:
        if "snippets" in page.parts:
            continue
        text = page.read_text()
        for m in _NAME.finditer(text):
            name = m.group(0).rstrip(".")
            found = text[m.start() : m.end() + 1]
            if name.endswith((".py", ".json", ".png", ".csv")) or found.startswith(_NOT_NAMES):
                continue
            if not _resolves(name):
                missing.add(f"{page.relative_to(ROOT)}: {name}")
    assert not missing, "names of lrlaw objects that do not exist:\n" + "\n".join(sorted(missing))


def test_the_name_check_can_fail():
    assert _resolves("lrlaw.plan.compare_schedules") and _resolves("lrlaw.fitting.core.fit")
    assert not _resolves("lrlaw.nosuchmodule.fit") and not _resolves("lrlaw.fitting.nope")
