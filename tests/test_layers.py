"""The package's architecture, checked: layers import only downwards, and nothing cycles.

Every ``import`` in ``lrlaw/`` counts, also those inside functions (a deferred import
is still a dependency); only those under ``if TYPE_CHECKING:`` are left out, since they
never run.  The layers are those of ``lrlaw/__init__.py``'s docstring.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "lrlaw"

#: Layer of each top-level part of the package, lowest first.
LAYERS = {
    "lrlaw": 0,  # the package itself: lazy re-exports and __version__ only
    "lrlaw.errors": 0,
    "lrlaw.curves": 0,
    "lrlaw.progress": 0,
    "lrlaw.output": 0,
    "lrlaw._x64": 0,
    "lrlaw._jaxcache": 0,
    "lrlaw._native": 0,
    "lrlaw._jaxexport": 0,
    "lrlaw.schedules": 1,
    "lrlaw.io": 2,
    "lrlaw.laws": 3,
    "lrlaw.fitting": 4,
    "lrlaw.plan": 5,
    "lrlaw.plot": 6,
    "lrlaw.watch": 7,
    "lrlaw.integrations": 8,
    "lrlaw.cli": 9,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every lrlaw module imported at run time (not under TYPE_CHECKING), with its line."""
    out: list[tuple[str, int]] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names if a.name.startswith("lrlaw"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name.startswith("lrlaw"):
                for alias in node.names:  # `from lrlaw.plan import hparams` imports a module
                    sub = f"{name}.{alias.name}"
                    known = _MODULES.get(sub) is not None
                    out.append((sub if known else name, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


_FILES = sorted(ROOT.rglob("*.py"))
_MODULES = {_module_name(p): p for p in _FILES}


def _graph() -> dict[str, list[tuple[str, int]]]:
    graph = {}
    for name, path in _MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = _imports(tree, name, path.name == "__init__.py")
    return graph


def _layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return key, LAYERS[key]
    raise KeyError(module)


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in _MODULES if not any(m == k or m.startswith(k + ".") for k in LAYERS)]
    assert not unplaced, f"modules without a layer in tests/test_layers.py: {unplaced}"


def test_layers_import_only_downwards() -> None:
    bad = []
    for module, imports in _graph().items():
        part, level = _layer(module)
        for target, line in imports:
            if target == "lrlaw":
                continue
            tpart, tlevel = _layer(target)
            if tlevel > level or (tlevel == level and tpart != part and level > 0):
                bad.append(f"{module} (line {line}) imports {target}: layer {level} -> {tlevel}")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, []):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return found


def test_no_import_cycles() -> None:
    # A package's __init__ re-exports its modules; a module importing its own package's
    # __init__ would be a cycle by construction, so imports of a package count as
    # imports of its __init__ module, and that is what must not loop.
    graph = {
        m: sorted({t for t, _ in imps if t in _MODULES and t != m}) for m, imps in _graph().items()
    }
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    # The checker itself must be able to fail: a -> b -> c -> a is one component.
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from lrlaw.plot import run_colors\n", ["lrlaw.plot"]),
        ("def f():\n    from lrlaw.fitting.core import fit\n", ["lrlaw.fitting.core"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lrlaw.plot\n", []),
        ("from lrlaw.plan import hparams\n", ["lrlaw.plan.hparams"]),
    ],
)
def test_imports_are_read_as_written(source: str, expected: list[str]) -> None:
    found = [t for t, _ in _imports(ast.parse(source), "lrlaw.x.y", False)]
    assert found == expected
