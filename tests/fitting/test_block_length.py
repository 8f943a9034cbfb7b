"""The Politis-White (2004) / Patton-Politis-White (2009) block length against the known
optimum of an AR(1) series, next to the Sokal rule the fit's bootstrap keeps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from lrlaw.fitting.uncertainty import block_length


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal(n + 500)
    return lfilter([1.0], [1.0, -phi], e)[500:]


@pytest.mark.parametrize("phi, n", [(0.5, 5000), (0.7, 10000), (0.9, 20000)])
def test_politis_white_finds_the_ar1_optimum(phi: float, n: int) -> None:
    """MBB-optimal block of an AR(1): b* = (6 phi^2 / (1 - phi^2)^2)^(1/3) n^(1/3)."""
    best = (6 * phi**2 / (1 - phi**2) ** 2) ** (1 / 3) * n ** (1 / 3)
    found = np.median([block_length(_ar1(phi, n, s), "politis-white") for s in range(9)])
    assert found == pytest.approx(best, rel=0.15), (found, best)


def test_politis_white_on_white_noise_and_its_cap() -> None:
    white = np.random.default_rng(3).standard_normal(2000)
    assert block_length(white, "politis-white") <= 5
    cap = int(np.ceil(min(3 * np.sqrt(400), 400 / 3)))  # b <= min(3 sqrt(n), n / 3)
    walk = np.cumsum(np.random.default_rng(4).standard_normal(400))
    for series in (walk, np.linspace(0, 1, 400) ** 2):  # no insignificant lag: M = its cap
        assert 10 < block_length(series, "politis-white") <= cap
    assert block_length(np.ones(3), "politis-white") == 1


def test_sokal_rule_is_the_default_and_grows_with_dependence() -> None:
    x = _ar1(0.97, 2000, 0)
    assert block_length(x) == block_length(x, "sokal")
    assert block_length(x) > block_length(_ar1(0.5, 2000, 0))
    with pytest.raises(ValueError, match="rule="):
        block_length(x, "andrews")
