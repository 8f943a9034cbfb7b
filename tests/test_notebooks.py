"""The tutorial notebooks in notebooks/: committed without outputs, and they run.

Each notebook is executed top to bottom with nbclient in a fresh IPython
kernel that runs the interpreter running the tests, with the repository
root as working directory (so the notebooks' relative data paths resolve).
Any cell error fails the test; so does a notebook that draws no figure or
leaves a file behind in the repository.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

#: Each notebook runs for 10-35 s: the whole module is part of the slow set.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_fit_and_predict", "02_plan_a_schedule", "03_optimal_lr_and_batch"]
CELL_TIMEOUT_S = 300
KERNEL = "lrlaw-test-python"


def test_the_three_tutorials_are_there() -> None:
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    """Outputs are stripped in git: no outputs, no execution counts, valid nbformat 4."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} has outputs; strip them"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"
        assert "attachments" not in cell, f"{path.name}: cell {i} has attachments"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def _snapshot() -> set[Path]:
    """Files a notebook could plausibly leave behind: the root, notebooks/, data/."""
    files = {p for p in ROOT.iterdir() if p.is_file()}
    for sub in ("notebooks", "data"):
        files |= {p for p in (ROOT / sub).rglob("*") if p.is_file()}
    return {p for p in files if ".ipynb_checkpoints" not in p.parts}


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec that runs *this* interpreter (not whatever 'python3' resolves to)."""
    base = tmp_path_factory.mktemp("kernels")
    spec = base / KERNEL
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "lrlaw tests", "language": "python"})
    )
    return base


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, kernel_dir: Path) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(path, as_version=4)
    km = KernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)])
    )
    client = nbclient.NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT_S,
        allow_errors=False,
        resources={"metadata": {"path": str(ROOT)}},
    )
    before = _snapshot()
    client.execute()  # raises CellExecutionError on the first failing cell
    left = sorted(str(p.relative_to(ROOT)) for p in _snapshot() - before)
    assert not left, f"{path.name} wrote into the repository: {left}"

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, f"{path.name} displayed no figure"
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
