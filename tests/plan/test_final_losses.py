"""lrlaw.plan.optimal.final_losses: the final loss of many schedules at once (vmapped, chunked)."""

from __future__ import annotations

import numpy as np
import pytest

from lrlaw import schedules
from lrlaw.errors import LrlawError
from lrlaw.fitting import predict_curve
from lrlaw.laws import ConvexLaw, Law, MomentumLaw, MultiPowerLaw, get_law
from lrlaw.plan.optimal import final_losses

T = 3000
MPL_100M = np.array([2.651, 0.601, 0.453, 437.9, 2.132, 0.598, 0.655])
MOMENTUM = np.array([2.7, 0.5, 0.5, 0.3])


def candidates(n: int, total: int = T, seed: int = 0) -> list[schedules.Schedule]:
    """``n`` varied WSD (every shape, final 0 included) and cosine schedules of ``total`` steps."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        peak = float(rng.uniform(1e-4, 1e-3))
        warmup = int(rng.integers(0, total // 10))
        final = float(rng.choice([0.0, rng.uniform(0.01, 0.3) * peak]))
        if i % 3 == 2:
            out.append(schedules.cosine(peak, total, final=final, warmup=warmup))
        else:
            shape = schedules.WSD_SHAPES[i % len(schedules.WSD_SHAPES)]
            if shape == "exp" and final == 0.0:
                final = 0.01 * peak
            frac = float(rng.uniform(0.05, 0.8))
            frac = min(frac, (total - warmup) / total)
            out.append(
                schedules.wsd(peak, total, decay_frac=frac, final=final, shape=shape, warmup=warmup)
            )
    return out


class _NoFinalLoss(MomentumLaw):
    """A law that does not implement the interface's closed-form final loss."""

    name = "plain"
    final_loss = Law.final_loss


def one_at_a_time(law, params, lrs: np.ndarray) -> np.ndarray:
    steps = np.array([lrs.shape[1] - 1])
    return np.array([predict_curve(law, np.asarray(params), lr, steps)[0] for lr in lrs])


LAWS = [
    pytest.param(MomentumLaw(), MOMENTUM, id="momentum"),
    pytest.param(MomentumLaw(lam=0.99, warmup="ignore"), MOMENTUM, id="momentum-ignore"),
    pytest.param(MomentumLaw(fit_lam=True), [*MOMENTUM, 0.995], id="momentum-fit-lam"),
    pytest.param(MultiPowerLaw(merge_tol=0.0), MPL_100M, id="multipower"),
    pytest.param(ConvexLaw(), [2.5, 0.4, 300.0], id="convex"),
    pytest.param(get_law("efflr"), [2.8, 40.0, 0.5, 0.25, 2e-3, 0.7], id="efflr"),
]


@pytest.mark.parametrize(("law", "params"), LAWS)
def test_matches_predict_curve_one_at_a_time(law, params) -> None:
    lrs = np.stack([s.values() for s in candidates(7)])
    got = final_losses(law, lrs, params=params, chunk=4)
    want = one_at_a_time(law, params, lrs)
    assert got.shape == (7,)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)
    assert np.ptp(got) > 1e-3  # the schedules really differ in predicted loss


def test_multipower_merged_changes_stay_close_to_the_exact_final_loss() -> None:
    """``final_losses`` sums every LR change; ``predict_curve`` with the default law
    merges them into blocks (``merge_tol=0.2``): within 1e-5 of each other."""
    lrs = np.stack([s.values() for s in candidates(7)])
    got = final_losses(MultiPowerLaw(), lrs, params=MPL_100M, chunk=4)
    np.testing.assert_allclose(got, one_at_a_time(MultiPowerLaw(), MPL_100M, lrs), rtol=1e-5)


def test_schedule_objects_and_law_names_give_the_same_values() -> None:
    cands = candidates(5, seed=1)
    stacked = np.stack([s.values() for s in cands])
    by_array = final_losses(MultiPowerLaw(), stacked, params=MPL_100M)
    by_schedule = final_losses("multipower", cands, params=MPL_100M)
    by_list = final_losses("multipower", [s.values().tolist() for s in cands], params=MPL_100M)
    np.testing.assert_array_equal(by_schedule, by_array)
    np.testing.assert_array_equal(by_list, by_array)


@pytest.mark.parametrize("n", [1, 4, 5, 9])
def test_chunk_boundaries(n: int) -> None:
    """n = 1, n = chunk, chunk + 1 and 2 chunks + 1: padding never leaks into the results."""
    lrs = np.stack([s.values() for s in candidates(9, seed=2)])[:n]
    want = one_at_a_time(MomentumLaw(), MOMENTUM, lrs)
    got = final_losses("momentum", lrs, params=MOMENTUM, chunk=4)
    assert got.shape == (n,)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)
    # the default chunk (32) gives the same numbers
    np.testing.assert_allclose(final_losses("momentum", lrs, MOMENTUM), got, rtol=1e-12)


def test_empty_input_gives_empty_output() -> None:
    assert final_losses("momentum", [], params=MOMENTUM).shape == (0,)
    assert final_losses("momentum", np.zeros((0, 10)), params=MOMENTUM).shape == (0,)


def test_constant_schedule_annealing_term_is_a_noise_floor() -> None:
    """Momentum law on a constant LR from rest: S2(T) = -eta (1 - lam^(T+1)) / (1 - lam), so
    L(T) = L0 + A (T eta)^-alpha + C eta (1 - lam^(T+1)) / (1 - lam) exactly."""
    lr = np.full((1, 1001), 2e-4)
    l0, a, alpha, c = MOMENTUM
    expect = l0 + a * (1000 * 2e-4) ** (-alpha) + c * 2e-4 * (1 - 0.999**1001) / (1 - 0.999)
    assert final_losses("momentum", lr, params=MOMENTUM)[0] == pytest.approx(expect, rel=1e-12)


def test_bad_inputs_raise_clear_errors() -> None:
    good = candidates(2)
    with pytest.raises(LrlawError, match="2-D array"):
        final_losses("momentum", good[0].values(), params=MOMENTUM)
    with pytest.raises(LrlawError, match="2-D array"):
        final_losses("momentum", np.zeros((2, 3, 4)), params=MOMENTUM)
    with pytest.raises(LrlawError, match="one Schedule"):
        final_losses("momentum", good[0], params=MOMENTUM)
    with pytest.raises(LrlawError, match="at least 2 steps"):
        final_losses("momentum", np.ones((3, 1)), params=MOMENTUM)
    with pytest.raises(LrlawError, match=r"schedule 2 has 2002 steps .* schedule 0 has 3001"):
        final_losses("momentum", [*good, schedules.cosine(1e-3, 2001)], params=MOMENTUM)
    with pytest.raises(LrlawError, match="schedule 1 has 11 steps"):
        final_losses("momentum", [np.ones(10), np.ones(11)], params=MOMENTUM)
    with pytest.raises(LrlawError, match=r"schedule 1 .* has no total"):
        final_losses("momentum", [good[0], schedules.constant(1e-3)], params=MOMENTUM)
    with pytest.raises(LrlawError, match="schedule 0: expected a 1-D array"):
        final_losses("momentum", [0.1, 0.2], params=MOMENTUM)
    bad = np.stack([s.values() for s in good])
    bad[1, 17] = np.nan
    with pytest.raises(LrlawError, match="schedule 1, step 17: lr = nan is not finite"):
        final_losses("momentum", bad, params=MOMENTUM)
    bad[1, 17] = np.inf
    with pytest.raises(LrlawError, match="schedule 1, step 17: lr = inf is not finite"):
        final_losses("momentum", bad, params=MOMENTUM)
    bad[1, 17] = -1e-4
    with pytest.raises(LrlawError, match=r"schedule 1, step 17: lr = -0\.0001 is negative"):
        final_losses("momentum", bad, params=MOMENTUM)
    with pytest.raises(LrlawError, match="lrs must be"):
        final_losses("momentum", 3.0, params=MOMENTUM)
    for chunk in (0, -1, 2.5, True):
        with pytest.raises(LrlawError, match="chunk="):
            final_losses("momentum", good, params=MOMENTUM, chunk=chunk)
    with pytest.raises(LrlawError, match="momentum has 4 parameters"):
        final_losses("momentum", good, params=MPL_100M)
    with pytest.raises(LrlawError, match="params are required"):
        final_losses("momentum", good)
    with pytest.raises(LrlawError, match="not 'plain'"):
        final_losses(_NoFinalLoss(), good, params=MOMENTUM)


@pytest.mark.parametrize(
    ("name", "params"), [("momentum", np.array([2.7, 0.5, 0.45, 0.5])), ("multipower", MPL_100M)]
)
def test_starting_lr_does_not_shift_the_prediction(name: str, params: np.ndarray) -> None:
    """Regression: `lrlaw compare` ranked a cosine without warmup 5 % better than the same
    cosine with a 100-step warmup (a momentum fit of the MPL 100M runs).  The start LR entered
    the annealing term as a permanent offset (C eta_peak / (1 - lam), B eta_peak); training
    now starts from rest (eta_{-1} = 0), so the warmup only changes the loss through its
    small loss of LR area.  Checked on both evaluation paths (final_losses and predict)."""
    total = 24_000
    runs = [schedules.cosine(3e-4, total, final=3e-5, warmup=w).values() for w in (0, 100, 2160)]
    finals = final_losses(name, np.stack(runs), params=params)
    law = get_law(name)
    curves = [predict_curve(law, params, lr, np.array([total]))[0] for lr in runs]
    np.testing.assert_allclose(finals, curves, rtol=1e-6)
    assert abs(finals[1] / finals[0] - 1) < 2e-4  # a 100-step warmup: was +5 %
    assert 0 < finals[2] / finals[0] - 1 < 2e-3  # 2160 warmup steps cost a little LR area
