"""Continual pretraining: predicting across a re-warmup and re-decay phase (issue 4.5).

The laws see LR increases as negative LR changes: the momentum law's S2 falls
(the annealing bonus -C*S2 is partly given back) and the multi-power loss-drop
term shrinks, so the predicted loss rises during a re-warmup and falls again
during the re-decay, while the forward area S1 keeps growing.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpl import mpl_curves

from lrlaw.fitting import fit, predict_curve
from lrlaw.laws import MomentumLaw, MultiPowerLaw
from lrlaw.schedules import parse_schedule

PHASES = (
    "phases:[cosine:peak=3e-4,warmup=2160,total=24000,final=3e-5@0;"
    "rewarm:peak=3e-4,start_lr=3e-5,warmup=1000,total=12000,final=3e-5@24000]"
)


@pytest.fixture(scope="module")
def first_phase_fit():
    """The momentum law fitted on the first phase only (one cosine run)."""
    return fit(mpl_curves("100m", ["cosine_24000"]))


def check_shape(pred: dict[int, float]) -> None:
    assert pred[25_000] > pred[24_000]  # re-warmup: the loss rises
    assert pred[36_000] < pred[25_000]  # re-decay: it falls again
    assert pred[36_000] < pred[24_000]  # and ends below the first phase's end


def test_momentum_law_across_a_rewarmup(first_phase_fit) -> None:
    lr = parse_schedule(PHASES).values()
    np.testing.assert_allclose(lr[24_000], 3e-5)
    np.testing.assert_allclose(lr[25_000], 3e-4)
    steps = np.array([23_999, 24_000, 25_000, 36_000])
    values = first_phase_fit.predict(lr, steps)
    pred = dict(zip(steps.tolist(), values))
    # the first phase is unaffected by what comes after it
    alone = first_phase_fit.predict(lr[:24_001], np.array([23_999, 24_000]))
    np.testing.assert_allclose(values[:2], alone, rtol=1e-12)
    check_shape(pred)


@pytest.mark.parametrize("mode", ["signed", "ignore"])
def test_rewarmup_counts_in_both_warmup_modes(mode: str) -> None:
    """'ignore' drops only the initial warmup's increases; a re-warmup stays signed."""
    lr = parse_schedule(PHASES).values()
    params = np.array([2.69, 0.55, 0.52, 0.48])
    steps = np.array([24_000, 25_000, 36_000])
    check_shape(
        dict(zip(steps.tolist(), predict_curve(MomentumLaw(warmup=mode), params, lr, steps)))
    )


def test_multipower_law_across_a_rewarmup() -> None:
    lr = parse_schedule(PHASES).values()
    published_100m = np.array([2.651, 0.601, 0.453, 437.9, 2.132, 0.598, 0.655])
    steps = np.array([24_000, 25_000, 36_000])
    check_shape(
        dict(zip(steps.tolist(), predict_curve(MultiPowerLaw(), published_100m, lr, steps)))
    )
