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


@pytest.fixture(scope="session")
def mpl_100m_fit():
    """The momentum law fitted with lrlaw's defaults (90 % band included) to the Multi-Power
    Law paper's three 100M training runs: one fit shared by every test module that needs it
    (a default fit with its bootstrap costs seconds)."""
    from mpl import MPL_TRAIN, mpl_curves

    from lrlaw.fitting import fit

    return fit(mpl_curves("100m", MPL_TRAIN))
