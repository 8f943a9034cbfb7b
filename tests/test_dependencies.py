"""The caps in pyproject.toml's dependencies still admit the jax they are there for."""

from __future__ import annotations

import importlib.metadata as metadata
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _dependencies() -> list[Requirement]:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, flags=re.S | re.M)
    assert block, "pyproject.toml: no dependencies list"
    return [Requirement(r) for r in re.findall(r'^\s*"([^"]+)",', block.group(1), flags=re.M)]


#: Released ml_dtypes versions below lrlaw's cap.
_OLDER = [Version(v) for v in ("0.5.0", "0.5.1", "0.5.3", "0.5.4", "0.6.0")]


def _ml_dtypes_cap() -> Requirement:
    (cap,) = [r for r in _dependencies() if canonicalize_name(r.name) == "ml-dtypes"]
    return cap


def _admits_both(cap: Requirement, need: Requirement) -> bool:
    return any(v in cap.specifier and v in need.specifier for v in _OLDER)


def test_ml_dtypes_cap_admits_the_installed_jax():
    """lrlaw caps ml_dtypes below 0.7 (its import costs 0.55 s more, issue 18.2): that holds
    only while jax and jaxlib accept an older one. When this fails, lift the cap."""
    cap = _ml_dtypes_cap()
    assert any(v in cap.specifier for v in _OLDER), f"pyproject.toml: {cap} admits no release"
    for dist in ("jax", "jaxlib"):
        for text in metadata.requires(dist) or []:
            need = Requirement(text)
            if canonicalize_name(need.name) != "ml-dtypes":
                continue
            assert _admits_both(cap, need), (
                f"{dist} {metadata.version(dist)} needs {need}, which lrlaw's {cap} excludes: "
                "lift the cap in pyproject.toml (and the notes in docs/data.md)"
            )


def test_the_cap_check_can_fail():
    cap = _ml_dtypes_cap()
    assert _admits_both(cap, Requirement("ml_dtypes>=0.5.0"))
    assert not _admits_both(cap, Requirement("ml_dtypes>=0.7"))
