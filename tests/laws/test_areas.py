"""Areas S1, S2 against O(T^2) double sums, closed forms and properties."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from lrlaw.laws.areas import annealing_area, areas_at, forward_area, lr_changes, momentum


def s2_double_sum(lr: np.ndarray, lam: float) -> np.ndarray:
    """S2(s) = sum_{i=0..s} sum_{k=0..i} (eta_{k-1} - eta_k) lam^(i-k), eta_{-1} = 0."""
    out = np.zeros(lr.size)
    for s in range(lr.size):
        total = 0.0
        for i in range(s + 1):
            for k in range(i + 1):
                total += ((lr[k - 1] if k else 0.0) - lr[k]) * lam ** (i - k)
        out[s] = total
    return out


def s1_sum(lr: np.ndarray) -> np.ndarray:
    return np.array([sum(lr[1 : s + 1]) for s in range(lr.size)])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9, 0.999])
def test_recurrence_equals_double_sum(seed: int, lam: float) -> None:
    rng = np.random.default_rng(seed)
    lr = rng.uniform(0, 1e-3, size=60)
    np.testing.assert_allclose(annealing_area(lr, lam), s2_double_sum(lr, lam), atol=1e-15)
    np.testing.assert_allclose(forward_area(lr), s1_sum(lr), rtol=1e-14)


def test_constant_schedule_s2_is_a_noise_floor() -> None:
    """Training starts from rest: a constant LR eta gives S2(s) = -eta (1 - lam^(s+1)) / (1 - lam),
    so -C S2 tends to C eta / (1 - lam), a floor proportional to the LR."""
    lr = np.full(10_000, 3e-4)
    s = np.arange(lr.size)
    expected = -3e-4 * (1 - 0.999 ** (s + 1)) / (1 - 0.999)
    np.testing.assert_allclose(annealing_area(lr), expected, rtol=1e-10)
    np.testing.assert_allclose(forward_area(lr)[-1], 3e-4 * 9_999, rtol=1e-13)


def test_start_lr_leaves_no_permanent_offset() -> None:
    """Regression: with d_0 = 0 a schedule starting at its peak (no warmup) kept S2 higher by
    peak / (1 - lam) for ever than the same schedule warming up from 0, so `lrlaw compare`
    ranked a cosine without warmup 5 % better than with one.  With eta_{-1} = 0 the two
    agree once the warmup's momentum has decayed."""
    peak, lam = 3e-4, 0.999
    tail = np.concatenate([np.full(20_000, peak), np.linspace(peak, 3e-5, 10_000)])
    no_warmup = np.concatenate([[peak], tail])
    warmup = np.concatenate([np.linspace(0.0, peak, 500), tail[499:]])
    assert warmup.size == no_warmup.size
    gap = np.asarray(annealing_area(warmup, lam) - annealing_area(no_warmup, lam))
    # The warmup's transient decays like lam^t: below 1e-6 of peak / (1 - lam) after 15k steps.
    assert abs(gap[-1]) < 1e-6 * peak / (1 - lam)
    assert abs(gap[600]) > 0.1 * peak / (1 - lam)  # there is a transient during/after warmup


def test_lambda_zero_closed_form() -> None:
    lr = np.random.default_rng(1).uniform(0, 1, 500)
    np.testing.assert_allclose(annealing_area(lr, 0.0), -lr, atol=1e-13)


def test_lambda_to_one_closed_form() -> None:
    lr = np.random.default_rng(2).uniform(0, 1, 500)
    expected = -np.cumsum(lr)
    # m_i -> sum_k d_k = -eta_i as lam -> 1 (eta_{-1} = 0); difference is O(1 - lam).
    np.testing.assert_allclose(annealing_area(lr, 1.0), expected, atol=1e-11)
    np.testing.assert_allclose(annealing_area(lr, 1 - 1e-9), expected, atol=1e-4)


def test_lr_changes_modes() -> None:
    lr = np.array([0.0, 1.0, 2.0, 2.0, 1.0, 1.5, 0.5])
    np.testing.assert_array_equal(lr_changes(lr, "signed"), [0, -1, -1, 0, 1, -0.5, 1])
    # "ignore": increases before the first drop vanish; the re-warmup stays signed.
    np.testing.assert_array_equal(lr_changes(lr, "ignore"), [0, 0, 0, 0, 1, -0.5, 1])
    with pytest.raises(ValueError, match="warmup='bogus'"):
        lr_changes(lr, "bogus")  # type: ignore[arg-type]


def test_warmup_then_constant() -> None:
    """Documented warmup behaviour: signed leaves a negative S2, ignore gives exactly 0."""
    warm = np.concatenate([np.linspace(0, 1e-3, 301), np.full(5000, 1e-3)])
    lam = 0.999
    signed = np.asarray(annealing_area(warm, lam, "signed"))
    ignored = np.asarray(annealing_area(warm, lam, "ignore"))
    assert np.all(ignored == 0.0)
    assert np.all(signed[1:] < 0)
    # After the warmup the momentum decays geometrically, so S2 tends to
    # sum of d / (1 - lam) = -peak / (1 - lam) (minus what decayed during warmup).
    m = np.asarray(momentum(warm, lam))
    np.testing.assert_allclose(m[-1], m[300] * lam ** (warm.size - 1 - 300), rtol=1e-10)
    # Geometric tail: S2(inf) = S2(T) + m_T lam / (1 - lam) = (eta_{-1} - peak) / (1 - lam).
    np.testing.assert_allclose(signed[-1] + m[-1] * lam / (1 - lam), -1e-3 / (1 - lam), rtol=1e-9)


def test_rewarmup_reduces_s2() -> None:
    """Continual pretraining: a re-warmup after a decay lowers S2 (the predicted loss
    rises relative to staying at the low LR), and S2 falls once the momentum turns."""
    decay = np.concatenate([np.full(1000, 1e-3), np.linspace(1e-3, 1e-4, 1000)])
    stay = np.concatenate([decay, np.full(1000, 1e-4)])
    rewarm = np.concatenate([decay, np.linspace(1e-4, 1e-3, 200), np.full(800, 1e-3)])
    for mode in ("signed", "ignore"):
        s2 = np.asarray(annealing_area(rewarm, 0.999, mode))
        s2_stay = np.asarray(annealing_area(stay, 0.999, mode))
        assert np.all(s2[2001:] < s2_stay[2001:])
        assert np.asarray(momentum(rewarm, 0.999, mode))[2199] < 0
        assert s2[-1] < s2[2199]
        expected = s2_double_sum_fast(rewarm, 0.999, start_from_rest=mode == "signed")
        np.testing.assert_allclose(s2, expected, rtol=1e-9, atol=1e-12)


def s2_double_sum_fast(lr: np.ndarray, lam: float, start_from_rest: bool = True) -> np.ndarray:
    """Vectorised O(T^2) transcription (for the longer schedules).  ``start_from_rest``:
    the first change is ``d_0 = 0 - eta_0`` (signed mode); else 0 ("ignore" drops it)."""
    d = np.concatenate([[-lr[0] if start_from_rest else 0.0], lr[:-1] - lr[1:]])
    i = np.arange(lr.size)
    kernel = np.where(i[:, None] >= i[None, :], lam ** np.maximum(i[:, None] - i[None, :], 0), 0)
    m = kernel @ d
    return np.cumsum(m)


def test_vmap_batches_schedules() -> None:
    rng = np.random.default_rng(3)
    lrs = rng.uniform(0, 1e-3, (8, 400))
    batched = jax.vmap(annealing_area, in_axes=(0, None))(jnp.asarray(lrs), 0.99)
    for row, lr in zip(np.asarray(batched), lrs):
        np.testing.assert_allclose(row, annealing_area(lr, 0.99), rtol=1e-13, atol=1e-16)
    # vmap over lambda as well
    lams = jnp.array([0.0, 0.5, 0.999])
    per_lam = jax.vmap(annealing_area, in_axes=(None, 0))(jnp.asarray(lrs[0]), lams)
    np.testing.assert_allclose(per_lam[0], -lrs[0], atol=1e-15)


def test_gradient_wrt_lambda_matches_finite_difference() -> None:
    lr = jnp.asarray(np.linspace(1e-3, 1e-4, 300))

    def f(lam: jax.Array) -> jax.Array:
        return annealing_area(lr, lam)[-1]

    g = jax.grad(f)(0.99)
    fd = (f(0.99 + 1e-6) - f(0.99 - 1e-6)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_float64_precision_over_a_million_steps() -> None:
    lr = np.full(1_000_001, 3e-4)
    lr[500_000:] = 3e-5
    s1 = forward_area(lr)
    assert s1.dtype == jnp.float64
    np.testing.assert_allclose(s1[-1], 3e-4 * 499_999 + 3e-5 * 500_001, rtol=1e-12)
    # lam = 0: S2 is exactly minus the current LR
    np.testing.assert_allclose(annealing_area(lr, 0.0)[-1], -3e-5, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(2, 200), elements=st.floats(0, 1e-2)))
def test_s1_is_non_decreasing(lr: np.ndarray) -> None:
    s1 = np.asarray(forward_area(lr))
    assert s1[0] == 0.0
    assert np.all(np.diff(s1) >= 0)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(2, 120), elements=st.floats(0, 1e-2)))
def test_non_increasing_schedule_has_non_negative_s2(lr: np.ndarray) -> None:
    """Past the start-from-rest term ``-eta_0 (1 - lam^(s+1)) / (1 - lam)`` (which
    ``"ignore"`` drops), the drops of a non-increasing schedule only add to S2."""
    lr = np.sort(lr)[::-1].copy()
    lam = 0.999
    drops = np.asarray(annealing_area(lr, lam, "ignore"))
    assert np.all(drops >= -1e-18)
    assert np.all(np.diff(drops) >= -1e-18)
    rest = -lr[0] * (1 - lam ** (np.arange(lr.size) + 1)) / (1 - lam)
    np.testing.assert_allclose(annealing_area(lr, lam), drops + rest, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("mode", ["signed", "ignore"])
def test_sequential_scan_equals_parallel_scan(mode: str) -> None:
    rng = np.random.default_rng(9)
    lr = np.concatenate([np.linspace(0, 1e-3, 50), rng.uniform(0, 1e-3, 500)])
    np.testing.assert_allclose(
        annealing_area(lr, 0.995, mode, method="sequential"),
        annealing_area(lr, 0.995, mode, method="parallel"),
        rtol=1e-12,
        atol=1e-18,
    )


# ----------------------------------------------------------------------------- every kernel

from scipy.signal import lfilter  # noqa: E402

from lrlaw import _native  # noqa: E402
from lrlaw.laws.areas import areas  # noqa: E402

METHODS = (
    ["native", "sequential", "parallel"] if _native.available() else ["sequential", "parallel"]
)


def numpy_areas(lr: np.ndarray, lam: float, warmup: str = "signed"):
    """numpy transcription: S1 = cumsum, m = lfilter of the changes, S2 = cumsum(m)."""
    d = np.concatenate([-lr[:1], lr[:-1] - lr[1:]])
    if warmup == "ignore":
        drops = np.flatnonzero(d > 0)
        t0 = drops[0] if drops.size else d.size
        d[:t0] = np.maximum(d[:t0], 0.0)
    m = lfilter([1.0], [1.0, -lam], d)
    return np.concatenate([[0.0], np.cumsum(lr[1:])]), m, np.cumsum(m)


def schedule(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = max(1, n // 20)
    lr = 1e-3 * (0.55 + 0.45 * np.cos(np.pi * np.arange(n) / n))
    lr[:w] = np.linspace(0, 1e-3, w)
    return lr * rng.uniform(0.9, 1.1, n)  # noisy: increases and drops everywhere


_areas_jit = jax.jit(areas, static_argnames=("warmup", "method"))


def rel_err(a, b) -> float:
    b = np.asarray(b)
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("warmup", ["signed", "ignore"])
@pytest.mark.parametrize("n", [1, 2, 256, 257, 4097])
def test_every_kernel_matches_numpy(method: str, warmup: str, n: int) -> None:
    """Every kernel, eager and under jit, against cumsum + lfilter (lengths 1, around the
    256-step block, not powers of 2; lam -> 0 and -> 1)."""
    lr = schedule(n, seed=n)
    for lam in (0.0, 1e-12, 0.5, 0.999, 1 - 1e-9, 1.0):
        s1_ref, m_ref, s2_ref = numpy_areas(lr, lam, warmup)
        eager = areas(lr, lam, warmup, method)
        for s1, s2 in (eager, _areas_jit(jnp.asarray(lr), lam, warmup, method)):
            assert s1.shape == s2.shape == (n,)
            assert rel_err(s1, s1_ref) <= 1e-13, lam
            assert rel_err(s2, s2_ref) <= 1e-12, lam
        assert rel_err(momentum(lr, lam, warmup, method), m_ref) <= 1e-12, lam
        assert rel_err(annealing_area(lr, lam, warmup, method), s2_ref) <= 1e-12, lam


@pytest.mark.skipif(not _native.available(), reason="native kernel not built")
def test_native_kernel_large_and_batched() -> None:
    """1e6 steps within 1e-12 of lfilter, eager and jitted alike; vmap (one FFI call over
    the batch, lam per row) equals the per-row calls exactly."""
    lr = schedule(1_000_000)
    s1_ref, _, s2_ref = numpy_areas(lr, 0.999)
    s1, s2 = areas(lr, 0.999, method="native")
    assert rel_err(s1, s1_ref) <= 1e-12 and rel_err(s2, s2_ref) <= 1e-12
    # Through XLA (outputs of 8 MB, which the kernel advises for huge pages): the same bits.
    j1, j2 = jax.jit(lambda x: areas(x, 0.999, method="native"))(lr)
    np.testing.assert_array_equal(j1, s1)
    np.testing.assert_array_equal(j2, s2)
    batch = np.stack([schedule(3000, seed=k) for k in range(5)])
    lams = jnp.asarray([0.0, 0.5, 0.9, 0.99, 0.999])
    v1, v2 = jax.jit(jax.vmap(lambda x, lam: areas(x, lam, method="native")))(batch, lams)
    for k in range(5):
        r1, r2 = areas(batch[k], float(lams[k]), method="native")
        np.testing.assert_array_equal(v1[k], r1)
        np.testing.assert_array_equal(v2[k], r2)
    # lam shared (not batched) is broadcast to every row
    _, w2 = jax.vmap(lambda x: areas(x, 0.99, method="native"))(batch)
    np.testing.assert_array_equal(w2[3], v2[3])


@pytest.mark.skipif(not _native.available(), reason="native kernel not built")
@pytest.mark.parametrize("warmup", ["signed", "ignore"])
def test_native_batch_over_threads_and_lanes_equals_the_rows(warmup: str) -> None:
    """A batch big enough for the threaded path (rows x steps >= 2^18: groups of four rows
    interleaved in one loop, spread over XLA's intra-op threads), with a row count that
    is not a multiple of four and a lam per row: every row equals its own one-row call,
    bit for bit, for every output, and the momentum too."""
    rows, n = 11, 30_001
    batch = np.stack([schedule(n, seed=k) for k in range(rows)])
    lams = jnp.asarray(np.linspace(0.9, 0.9995, rows))
    run = jax.jit(
        jax.vmap(
            lambda x, lam: (
                *areas(x, lam, warmup, method="native"),
                momentum(x, lam, warmup, method="native"),
            )
        )
    )
    v1, v2, vm = run(batch, lams)
    one = jax.jit(
        lambda x, lam: (
            *areas(x, lam, warmup, method="native"),
            momentum(x, lam, warmup, method="native"),
        )
    )
    for k in range(rows):
        r1, r2, rm = one(batch[k], lams[k])
        np.testing.assert_array_equal(v1[k], r1)
        np.testing.assert_array_equal(v2[k], r2)
        np.testing.assert_array_equal(vm[k], rm)
    # areas_at over the same batch (one row per thread piece), steps per row and shared
    steps = np.sort(np.random.default_rng(3).integers(0, n, size=(rows, 40)), axis=1)
    at = jax.jit(jax.vmap(lambda x, lam, k: areas_at(x, k, lam, warmup, method="native")))
    a1, a2 = at(batch, lams, jnp.asarray(steps))
    shared = jax.jit(jax.vmap(lambda x, lam: areas_at(x, steps[0], lam, warmup, method="native")))
    b1, _ = shared(batch, lams)
    for k in range(rows):
        np.testing.assert_array_equal(a1[k], np.asarray(v1[k])[steps[k]])
        np.testing.assert_array_equal(a2[k], np.asarray(v2[k])[steps[k]])
        np.testing.assert_array_equal(b1[k], np.asarray(v1[k])[steps[0]])
    # and against the numpy transcription (cumsum, lfilter), within 1e-12
    s1_ref, m_ref, s2_ref = numpy_areas(batch[rows - 1], float(lams[rows - 1]), warmup)
    assert rel_err(v2[rows - 1], s2_ref) <= 1e-12 and rel_err(v1[rows - 1], s1_ref) <= 1e-12
    assert rel_err(vm[rows - 1], m_ref) <= 1e-12


@pytest.mark.skipif(not _native.available(), reason="native kernel not built")
def test_native_build_falls_back_to_one_thread_without_the_ffi_thread_pool(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A jaxlib whose FFI headers lack ``ffi::ThreadPool`` fails the first compile; the
    build is retried with -DLRLAW_NO_THREADPOOL and gives a working library."""
    import ctypes
    import subprocess

    real, calls = subprocess.run, []

    def run(cmd, *args, **kwargs):
        calls.append(list(cmd))
        if "-DLRLAW_NO_THREADPOOL" not in cmd:
            raise subprocess.CalledProcessError(1, cmd, stderr=b"no ffi::ThreadPool")
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(_native.subprocess, "run", run)
    out = tmp_path / "libareas.so"
    _native._build(_native._compiler(), out)
    assert len(calls) == 2 and out.is_file()
    lib = ctypes.cdll.LoadLibrary(str(out))
    assert lib.LrlawAreas and lib.lrlaw_areas_rows


@pytest.mark.skipif(not _native.available(), reason="native kernel not built")
def test_native_kernel_derivatives_equal_the_scans() -> None:
    """The native kernel's jvp/grad (through the scan) in lr and lam: equal to the scan's."""
    lr = jnp.asarray(schedule(700))

    def loss(x, lam, method):
        s1, s2 = areas(x, lam, "signed", method)
        return jnp.sum(s2[::7] ** 2) + jnp.sum(jnp.sqrt(s1[1:]))

    g_nat = jax.grad(loss, argnums=(0, 1))(lr, 0.99, "native")
    g_seq = jax.grad(loss, argnums=(0, 1))(lr, 0.99, "sequential")
    np.testing.assert_allclose(g_nat[0], g_seq[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_nat[1], g_seq[1], rtol=1e-10)
    j_nat = jax.jacfwd(lambda lam: annealing_area(lr, lam, method="native"))(0.99)
    j_seq = jax.jacfwd(lambda lam: annealing_area(lr, lam, method="sequential"))(0.99)
    np.testing.assert_allclose(j_nat, j_seq, rtol=1e-10, atol=1e-15)


def test_unknown_method_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="method='fast'"):
        areas(np.ones(10), 0.9, method="fast")


def test_eager_call_does_not_overwrite_its_input() -> None:
    lr = schedule(1000)
    before = lr.copy()
    areas(lr, 0.999)
    momentum(lr, 0.999, "ignore")
    np.testing.assert_array_equal(lr, before)


@pytest.mark.skipif(not _native.available(), reason="no native areas kernel here")
def test_eager_native_results_are_jax_arrays_on_the_kernels_own_buffers() -> None:
    """The eager native path hands its results to jax through jaxlib's DLPack import
    (``_dlpack_import``, issue 18.4): jax float64 arrays equal to the jitted call's, no
    copy, alive after the numpy side is gone; and a failing import falls back."""
    import gc

    from lrlaw.laws import areas as areas_mod

    assert areas_mod._dlpack_import() is not None, "jaxlib's DLPack entry point moved"
    lr = schedule(5000)
    want = _areas_jit(jnp.asarray(lr), 0.999, "signed", "native")
    got = areas(lr, 0.999, method="native")
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, jax.Array) and g.dtype == jnp.float64 and g.shape == lr.shape
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
    raw = _native._aligned_empty(100)
    raw[:] = np.arange(100.0)
    wrapped = areas_mod._wrap(raw)
    assert wrapped.unsafe_buffer_pointer() == raw.ctypes.data
    del raw
    gc.collect()
    np.testing.assert_array_equal(np.asarray(wrapped + 0.0), np.arange(100.0))
    # the fast eager path is for float64 only: with x64 off, the same call is float32
    with jax.enable_x64(False):
        s1, s2 = areas(lr, 0.999)
    assert s1.dtype == s2.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(s2), np.asarray(want[1]), rtol=1e-4, atol=1e-6)


def test_a_broken_dlpack_import_falls_back_to_the_public_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lrlaw.laws import areas as areas_mod

    def broken(a: np.ndarray) -> jax.Array:
        raise RuntimeError("a jaxlib without the entry point")

    monkeypatch.setattr(areas_mod, "_dlpack_import", lambda: broken)
    a = np.arange(10.0)
    got = areas_mod._wrap(a)
    assert isinstance(got, jax.Array)
    np.testing.assert_array_equal(np.asarray(got), a)


def test_without_the_native_kernel_auto_uses_the_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """No compiler / LRLAW_NO_NATIVE=1: ``auto`` falls back to the lax.scan (same result),
    and asking for ``native`` explicitly is a clear error."""
    lr = schedule(300)
    want = areas(lr, 0.99, method="sequential")
    monkeypatch.setitem(_native._state, "lib", None)
    assert not _native.available()
    got = areas(lr, 0.99)
    np.testing.assert_array_equal(got[1], want[1])
    with pytest.raises(ValueError, match="native areas kernel is unavailable"):
        areas(lr, 0.99, method="native")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("warmup", ["signed", "ignore"])
def test_areas_at_equals_areas_at_those_steps(method: str, warmup: str) -> None:
    """``areas_at`` (unsorted, repeated, negative steps; eager, jit, vmap) = ``areas()[steps]``;
    with the native kernel bit for bit."""
    from lrlaw.laws.areas import areas_at

    lr = schedule(3001, seed=4)
    steps = np.array([5, 3000, 0, 256, 255, 1000, 1000, -1, 511, 512])
    s1, s2 = areas(lr, 0.999, warmup, method)
    want = (np.asarray(s1)[steps], np.asarray(s2)[steps])
    eager = areas_at(lr, steps, 0.999, warmup, method)
    jitted = jax.jit(lambda x, s: areas_at(x, s, 0.999, warmup, method))(lr, steps)
    for got in (eager, jitted):
        for g, w in zip(got, want):
            if method == "native":
                np.testing.assert_array_equal(g, w)
            else:
                assert rel_err(g, w) <= 1e-13
    batch = np.stack([lr, 0.5 * lr])
    _, v2 = jax.vmap(lambda x: areas_at(x, steps, 0.999, warmup, method))(batch)
    np.testing.assert_allclose(v2[1], areas_at(0.5 * lr, steps, 0.999, warmup, method)[1])


@pytest.mark.skipif(not _native.available(), reason="native kernel not built")
def test_areas_at_gradient_equals_the_scans() -> None:
    from lrlaw.laws.areas import areas_at

    lr = jnp.asarray(schedule(900))
    steps = jnp.asarray([899, 10, 450])

    def loss(x, lam, method):
        s1, s2 = areas_at(x, steps, lam, "signed", method)
        return jnp.sum(s2**2) + jnp.sum(jnp.sqrt(s1))

    g_nat = jax.grad(loss, argnums=(0, 1))(lr, 0.99, "native")
    g_seq = jax.grad(loss, argnums=(0, 1))(lr, 0.99, "sequential")
    np.testing.assert_allclose(g_nat[0], g_seq[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_nat[1], g_seq[1], rtol=1e-10)


@pytest.mark.slow
def test_auto_builds_the_native_kernel_only_for_long_schedules(tmp_path):
    """A first fit of ordinary curves must not pay the one-off native build (~3 s)."""
    import subprocess
    import sys

    code = (
        "import jax\n"
        "import numpy as np\n"
        "jax.config.update('jax_enable_x64', True)\n"
        "from lrlaw import _native\nfrom lrlaw.laws import areas\n"
        "areas.areas(np.linspace(1e-3, 1e-4, 24000))\n"
        "print('short', 'lib' in _native._state and _native._state['lib'] is not None)\n"
        "areas.areas(np.linspace(1e-3, 1e-4, areas.NATIVE_BUILD_MIN_STEPS))\n"
        "print('long', _native._state.get('lib') is not None)\n"
    )
    env = {**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("LRLAW_NO_NATIVE", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "short False" in out
    if _native.available():  # a compiler is here: the long schedule built it
        assert "long True" in out


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_prefix_sum_equals_cumsum_with_its_gradient(reverse: bool) -> None:
    """``prefix_sum`` (the native loop on CPU in float64, issue 18.4) against numpy's
    cumsum, jitted, batched under vmap and on a 2-D array, and its VJP (the prefix sum
    the other way) against jax.grad through ``lax.cumsum``."""
    from lrlaw.laws.areas import prefix_sum

    rng = np.random.default_rng(3)
    x = rng.normal(size=20_001)

    def ref(v: np.ndarray) -> np.ndarray:
        return np.flip(np.cumsum(np.flip(v, -1), -1), -1) if reverse else np.cumsum(v, -1)

    with jax.enable_x64(True):
        xj = jnp.asarray(x)
        got = jax.jit(lambda v: prefix_sum(v, reverse))(xj)
        scale = np.max(np.abs(ref(x)))
        np.testing.assert_allclose(np.asarray(got), ref(x), rtol=0, atol=1e-14 * scale)
        batch = np.stack([x, -2 * x, x[::-1]])
        np.testing.assert_allclose(
            np.asarray(jax.vmap(lambda v: prefix_sum(v, reverse))(jnp.asarray(batch))),
            ref(batch), rtol=0, atol=1e-14 * 2 * scale,
        )  # fmt: skip
        np.testing.assert_allclose(
            np.asarray(prefix_sum(jnp.asarray(batch), reverse)), ref(batch),
            rtol=0, atol=1e-14 * 2 * scale,
        )  # fmt: skip
        w = jnp.asarray(rng.normal(size=x.size))

        def loss(f):
            return lambda v: jnp.sum(w * jnp.sin(1e-2 * f(v)))

        g = jax.grad(loss(lambda v: prefix_sum(v, reverse)))(xj)
        g_ref = jax.grad(loss(lambda v: jax.lax.cumsum(v, reverse=reverse)))(xj)
        np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=0, atol=1e-12)
        # float32 (and any other case without the native kernel) is lax.cumsum itself
        x32 = jnp.asarray(x[:100], jnp.float32)
        np.testing.assert_array_equal(
            np.asarray(prefix_sum(x32, reverse)), np.asarray(jax.lax.cumsum(x32, reverse=reverse))
        )
        assert prefix_sum(jnp.zeros(0), reverse).shape == (0,)


@pytest.mark.skipif(not _native.available(), reason="native kernel not built")
def test_prefix_sum_runs_the_native_kernel() -> None:
    """On the CPU in float64 the jitted prefix sum is the FFI call, not XLA's cumsum."""
    from lrlaw.laws.areas import prefix_sum

    with jax.enable_x64(True):
        text = jax.jit(prefix_sum).lower(jnp.zeros(1000)).as_text()
    assert _native.TARGET in text
