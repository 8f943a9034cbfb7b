"""Issue 18.2: the fit's solver through jax.export (lrlaw._jaxexport): the same bits as a
plain jit call, no compilation for a second fit in a process, read from disk by a later
process, and file keys that change with whatever the traced module depends on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from mpl import MPL_TRAIN, mpl_curves

from lrlaw import _jaxexport
from lrlaw.fitting import core, fit
from lrlaw.laws import get_law
from lrlaw.laws.momentum import MomentumLaw

ROOT = Path(__file__).resolve().parents[2]


def _solver_args(law):
    curves = mpl_curves("25m", MPL_TRAIN)
    problem = core._Problem.build(curves, law, None)
    starts = law.to_unconstrained(
        law.initial_guesses(problem.prepared, [np.asarray(y) for y in problem.losses])
    )
    weights = np.broadcast_to(problem.mask * problem.weight, (len(starts), problem.mask.size))
    n = np.int32(len(starts))
    return (problem.prepared, problem.log_obs, np.array(weights), problem.thresholds, starts, n)


def test_exported_solver_gives_the_bits_of_the_jitted_one(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LRLAW_NO_XLA_CACHE", raising=False)
    _jaxexport.export_dir.cache_clear()
    _jaxexport.clear()
    law = get_law("momentum")
    args = _solver_args(law)
    statics = {"delta": 1e-3, "max_steps": 1000}
    try:
        via = _jaxexport.call("solve", core._solve, args, static_args=(law,), static_kwargs=statics)
        assert _jaxexport.stats == {"export": 1, "write": 1}
        written = list((tmp_path / "lrlaw").glob("export-*/solve-*.jaxexport"))
        assert len(written) == 1
        _jaxexport.clear()  # as a new process: read the file, do not trace
        again = _jaxexport.call(
            "solve", core._solve, args, static_args=(law,), static_kwargs=statics
        )
        assert _jaxexport.stats == {"load": 1}
    finally:
        _jaxexport.export_dir.cache_clear()
    direct = core._solve(law, *args, **statics)
    for a, b, c in zip(via, again, direct):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
        np.testing.assert_array_equal(np.asarray(b), np.asarray(c))


def test_a_second_fit_in_a_process_traces_and_compiles_nothing() -> None:
    curves = mpl_curves("25m", MPL_TRAIN)
    first = fit(curves, bootstrap=20, seed=0)
    events: list[str] = []

    def listen(event: str, duration: float, **_: object) -> None:
        if event.startswith("/jax/core/compile/"):
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        second = fit(curves, bootstrap=20, seed=0)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert events == []
    assert second == first


def test_file_keys_follow_versions_source_shapes_and_options(monkeypatch) -> None:
    law = MomentumLaw()
    leaves, tree = jax.tree_util.tree_flatten((np.zeros(3), np.zeros((2, 3))))
    avals = _jaxexport._avals(leaves)

    def key(statics=(law, ("delta", 1e-3)), avals=avals, x64=True):
        return _jaxexport._file_key("solve", statics, tree, avals, x64)

    base = key()
    assert base is not None and key() == base
    assert key(statics=(MomentumLaw(lam=0.99), ("delta", 1e-3))) != base
    assert key(statics=(law, ("delta", 1e-4))) != base
    assert key(avals=_jaxexport._avals([np.zeros(4), np.zeros((2, 3))])) != base
    assert key(x64=False) != base
    # a new jax, or an edit of lrlaw's source, changes every key
    for target, name, value in [
        (jax, "__version__", "0.0.0-test"),
        (_jaxexport, "source_digest", lambda: "edited"),
    ]:
        monkeypatch.setattr(target, name, value)
        _jaxexport._environment.cache_clear()
        try:
            assert key() != base
        finally:
            monkeypatch.undo()
            _jaxexport._environment.cache_clear()
    assert key() == base

    class Mine(MomentumLaw):  # not lrlaw's source: memory only, never a file
        pass

    assert key(statics=(Mine(), ("delta", 1e-3))) is None


def test_off_switch_keeps_exports_in_memory(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("LRLAW_NO_XLA_CACHE", "1")
    _jaxexport.clear()
    law = get_law("momentum")
    out = _jaxexport.call(
        "solve",
        core._solve,
        _solver_args(law),
        static_args=(law,),
        static_kwargs={"delta": 1e-3, "max_steps": 20},
    )
    assert _jaxexport.stats == {"export": 1} and np.all(np.isfinite(np.asarray(out[1])))
    assert not (tmp_path / "lrlaw").exists()


_FIT = (
    "import json, sys; from lrlaw import _jaxexport; from lrlaw.cli import main\n"
    "sys.argv = ['lrlaw', 'fit', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "print(json.dumps(_jaxexport.stats))\n"
)


@pytest.mark.slow
def test_a_later_process_reads_the_solver_from_disk(tmp_path) -> None:
    """``lrlaw fit`` twice in fresh processes with one cache: the second exports nothing
    and writes the same fit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LRLAW_", "JAX_COMP"))}
    env |= {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    files = [str(ROOT / "data" / "mpl" / "25m" / f"{n}.csv") for n in MPL_TRAIN]
    outs, stats = [], []
    for i in range(2):
        out = tmp_path / f"fit{i}.json"
        args = [*files, "--schedules", str(ROOT / "data" / "schedules.txt"), "--out", str(out)]
        proc = subprocess.run(
            [sys.executable, "-c", _FIT, *args, "--bootstrap", "20", "-q"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        stats.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        data = json.loads(out.read_text())
        outs.append((data["params"], data["objective"], data["uncertainty"]))
    assert stats[0].get("export") == 1 and stats[0].get("write") == 1
    assert stats[1].get("load") == 1 and "export" not in stats[1]
    assert outs[0] == outs[1]


_LAPACK_CALL = """
import json, sys
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from lrlaw import _jaxexport
a = np.array([[4.0, 1.0, 0.5], [2.0, 3.0, 1.0], [0.0, 1.0, 5.0]])
b = np.array([1.0, 2.0, 3.0])
solve = jax.jit(lambda a, b: jnp.linalg.solve(a, b))
x = _jaxexport.call("lapack", solve, (a, b))
x2 = _jaxexport.call("lapack", solve, (a[:2, :2], b[:2]))  # another shape, another module
after_call = sorted(m for m in sys.modules if m.startswith("scipy.linalg"))
q, r = jax.jit(jnp.linalg.qr)(a)  # a plain jitted LAPACK call afterwards
import scipy.linalg, scipy.linalg.cython_lapack
from scipy.optimize import minimize
ok = [
    bool(np.allclose(np.asarray(x), np.linalg.solve(a, b), rtol=1e-13))
    and bool(np.allclose(np.asarray(x2), np.linalg.solve(a[:2, :2], b[:2]), rtol=1e-13)),
    bool(np.allclose(np.asarray(q) @ np.asarray(r), a, rtol=1e-13)),
    scipy.linalg.cython_lapack is sys.modules["scipy.linalg.cython_lapack"],
    bool(np.allclose(scipy.linalg.solve(a, b), np.linalg.solve(a, b))),
    bool(np.allclose(minimize(lambda v: ((v - 3) ** 2).sum(), np.zeros(2)).x, 3, atol=1e-4)),
]
print(json.dumps({"after_call": after_call, "ok": ok}))
"""


def test_exported_lapack_calls_do_not_import_scipy_linalg(tmp_path) -> None:
    """jaxlib's LAPACK kernels come from scipy's two extension modules alone
    (_jaxexport._lapack_modules); afterwards sys.modules is as if nothing was imported,
    and scipy.linalg, its cython_lapack and jitted LAPACK calls work as usual."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LRLAW_", "JAX_COMP"))}
    env |= {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    for run in ("export", "load"):
        proc = subprocess.run(
            [sys.executable, "-c", _LAPACK_CALL],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out == {"after_call": [], "ok": [True] * 5}, run


def test_scipy_linalg_imported_meanwhile_gets_its_modules() -> None:
    """An import of scipy.linalg within _lapack_modules leaves the extension modules as
    its attributes, as an ordinary import would."""
    code = (
        "import sys\n"
        "from lrlaw import _jaxexport\n"
        "with _jaxexport._lapack_modules():\n"
        "    assert 'scipy.linalg' not in sys.modules\n"
        "    assert 'scipy.linalg.cython_blas' in sys.modules\n"
        "    import scipy.linalg\n"
        "print(scipy.linalg.cython_blas is sys.modules['scipy.linalg.cython_blas'],\n"
        "      scipy.linalg.cython_lapack is sys.modules['scipy.linalg.cython_lapack'])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert proc.stdout.split() == ["True", "True"]


def test_cached_values_are_read_back_bit_for_bit(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LRLAW_NO_XLA_CACHE", raising=False)
    _jaxexport.export_dir.cache_clear()
    _jaxexport.clear()
    calls = []

    def compute(scale=1.0):
        calls.append(scale)
        return np.linspace(0.0, scale, 7) / 3.0

    try:
        first = _jaxexport.cached_values("test", "a", compute)
        again = _jaxexport.cached_values("test", "a", compute)
        assert calls == [1.0] and _jaxexport.values_stats == {"write": 1, "load": 1}
        assert again.tobytes() == first.tobytes() == compute().tobytes()
        # another key, another file; a damaged file is computed and written again
        _jaxexport.cached_values("test", "b", lambda: compute(2.0))
        files = sorted((tmp_path / "lrlaw").glob("export-*/values-test-*.npy"))
        assert len(files) == 2
        for f in files:
            f.write_bytes(b"not an array")
        calls.clear()
        assert _jaxexport.cached_values("test", "a", compute).tobytes() == first.tobytes()
        assert calls == [1.0]
        # an edit of lrlaw's source is another key
        monkeypatch.setattr(_jaxexport, "source_digest", lambda: "edited")
        _jaxexport._environment.cache_clear()
        calls.clear()
        _jaxexport.cached_values("test", "a", compute)
        assert calls == [1.0]
    finally:
        monkeypatch.undo()
        _jaxexport._environment.cache_clear()
        _jaxexport.export_dir.cache_clear()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "off"))
    monkeypatch.setenv("LRLAW_NO_XLA_CACHE", "1")
    _jaxexport.export_dir.cache_clear()
    try:
        calls.clear()
        _jaxexport.cached_values("test", "a", compute)
        _jaxexport.cached_values("test", "a", compute)
        assert calls == [1.0, 1.0] and not (tmp_path / "off").exists()
    finally:
        _jaxexport.export_dir.cache_clear()


@pytest.mark.parametrize(
    "spec, num",
    [
        ("cosine:peak=0.0003,warmup=2160,total=24000,final=3e-05", 24001),
        ("multistep:peak=0.0003,warmup=2160,total=16000,milestones=[8000],values=[9e-05]", 15937),
        ("wsd:peak=1e-3,total=1000,decay_frac=0.2,warmup=50", 1001),
    ],
)
def test_spec_values_from_disk_are_the_schedules_own(monkeypatch, tmp_path, spec, num) -> None:
    """lrlaw.io.load._spec_values: what curve_from_table uses for a --schedule spec."""
    from lrlaw.io import load
    from lrlaw.schedules import parse_schedule

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LRLAW_NO_XLA_CACHE", raising=False)
    _jaxexport.export_dir.cache_clear()
    _jaxexport.clear()
    schedule = parse_schedule(spec)
    try:
        written = load._spec_values(schedule, num)
        read = load._spec_values(schedule, num)
        shorter = load._spec_values(schedule, num - 5)  # same length bucket: same file
    finally:
        _jaxexport.export_dir.cache_clear()
    assert _jaxexport.values_stats == {"write": 1, "load": 2}
    direct = schedule.values(num)
    assert written.tobytes() == read.tobytes() == direct.tobytes()
    assert shorter.tobytes() == schedule.values(num - 5).tobytes()


def test_modules_calling_the_efflr_c_loop_are_marked_and_need_it(monkeypatch, tmp_path) -> None:
    """A saved module that calls a C loop of lrlaw (here the effective-LR law's terms)
    is marked so that a later process registers the kernels before compiling it; a
    process that cannot have them traces again instead (and leaves the file), and the
    file keys tell processes with and without the kernels apart."""
    from lrlaw import _native
    from lrlaw.laws import efflr

    if not _native.available():
        pytest.skip("native kernels not built")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LRLAW_NO_XLA_CACHE", raising=False)
    _jaxexport.export_dir.cache_clear()
    _jaxexport.clear()

    def terms(lr, steps, rk):
        return efflr._terms(lr, steps, rk[0], rk[1], 0.5, 1e-3)

    with jax.enable_x64(True):
        args = (np.linspace(1e-3, 1e-4, 3000), np.arange(10, 3000, 10), np.array([0.7, 0.02]))
        try:
            first = _jaxexport.call("terms", terms, args)
            (path,) = (tmp_path / "lrlaw").glob("export-*/terms-*.jaxexport")
            assert path.read_bytes()[:1] == b"\1"
            _jaxexport.clear()
            monkeypatch.setitem(_native._state, "lib", None)  # as if the build had failed
            again = _jaxexport.call("terms", terms, args)
            assert _jaxexport.stats == {"export": 1}  # traced again, the file kept
            assert path.read_bytes()[:1] == b"\1"
        finally:
            _jaxexport.export_dir.cache_clear()
            _jaxexport.clear()
        for a, b in zip(first, again):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13)
    leaves, tree = jax.tree_util.tree_flatten(args)
    avals = _jaxexport._avals(leaves)
    monkeypatch.undo()
    _jaxexport._environment.cache_clear()
    with_native = _jaxexport._file_key("terms", (), tree, avals, True)
    monkeypatch.setenv("LRLAW_NO_NATIVE", "1")
    monkeypatch.setitem(_native._state, "lib", None)
    _jaxexport._environment.cache_clear()
    try:
        assert _jaxexport._file_key("terms", (), tree, avals, True) != with_native
    finally:
        monkeypatch.undo()
        _jaxexport._environment.cache_clear()
