"""Test configuration: float64 JAX for the whole test session, shared fixtures."""

from __future__ import annotations

from pathlib import Path

import jax
import pytest

# Tests compare against float64 numpy transcriptions.  (The package itself
# never flips this flag globally; it scopes float64 to its own calls.)
jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
