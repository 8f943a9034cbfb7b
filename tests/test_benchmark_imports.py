"""Every ``from lrlaw... import NAME`` in the benchmark and docs scripts resolves.

The benchmarks are not run by the test suite (they take minutes to hours), so a moved
name breaks them silently: after the subpackage split, ``bench_multipower.py`` (in the
code it runs in a subprocess) and ``band_methods.py`` read names that had left
``lrlaw.fitting``.  The scan reads the files' text, so imports inside code strings are
checked too.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("docs/*.py")])
IMPORT = re.compile(r"^\s*from (lrlaw(?:\.\w+)*) import ([\w, ]+?)\s*(?:#.*)?$", re.M)


def imports(text: str) -> list[tuple[str, str]]:
    """(module, name) of every one-line ``from lrlaw... import a, b`` in ``text``."""
    return [
        (module, name.split(" as ")[0].strip())
        for module, names in IMPORT.findall(text)
        for name in names.split(",")
        if name.strip()
    ]


def test_the_scan_finds_imports_in_code_strings() -> None:
    text = (
        'CODE = """\nfrom lrlaw.fitting.core import _Problem\n"""\nfrom lrlaw import io as x  # y\n'
    )
    assert imports(text) == [("lrlaw.fitting.core", "_Problem"), ("lrlaw", "io")]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_lrlaw_import_resolves(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    missing = []
    for module, name in imports(text):
        mod = importlib.import_module(module)
        if not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"from {module} import {name}")
    assert not missing, f"{path.name}: {missing}"
