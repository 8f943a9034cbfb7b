"""Traced solvers kept across processes: ``jax.export`` of a jitted function, on disk.

With a warm persistent XLA cache (:mod:`lrlaw._jaxcache`) a fresh process still
traces and lowers every jitted function before it can look its executable up:
for the fit's solver (optimistix's Levenberg-Marquardt under ``vmap``) that is
about a second of Python per process, plus the import of optimistix.
:func:`call` runs a jitted function through :mod:`jax.export` instead:

* the first call for a key exports the function for the arguments' shapes (one
  trace and lowering, as ``jax.jit`` does), writes the serialised module to
  ``$XDG_CACHE_HOME/lrlaw/export-<jax>-<jaxlib>/<name>-<key>.jaxexport`` and calls
  it;
* a later process reads that file and calls the module without tracing the
  function (only the thin ``Exported.call`` wrapper is lowered; its executable
  comes from the XLA cache);
* later calls in the same process reuse the jitted wrapper: no trace, no compile.

The exported module is the function's own StableHLO, so the results are the same
bits as a plain ``jax.jit`` call (``tests/fitting/test_export_cache.py``).

The file's key is a SHA-256 over the name, the static arguments, the pytree
structure, shapes and dtypes of the arguments, the versions of jax, jaxlib and
the libraries traced into lrlaw's solvers (optimistix, equinox, lineax), the
default backend and a digest of lrlaw's own source files: an edited lrlaw or an
upgraded JAX never reads a stale module.  Only static arguments that are lrlaw's
own (its laws, numbers, strings) are written to disk; a law class defined
elsewhere (user code, tests) is kept in memory only, since lrlaw's digest does
not cover its source.

Every exported module lowered for the CPU makes jaxlib look up its LAPACK
kernels (the fit's solver calls QR kernels), which it takes from
``scipy.linalg.cython_blas`` and ``scipy.linalg.cython_lapack``; importing those
the usual way runs ``scipy/linalg/__init__.py`` (~0.3 s of a fresh process, most
of it scipy's array-API layer).  :func:`_lapack_modules` loads just those two
extension modules while the first call is lowered, then leaves ``sys.modules``
as an ordinary import of scipy.linalg would (``tests/fitting/test_export_cache.py``).

:func:`cached_values` keeps small results of compiled kernels on disk beside
the modules (``values-<key>.npy``): a learning-rate schedule given by its spec
(:func:`lrlaw.io.load.curve_from_table`) is one jitted call per spec and length,
whose trace, lowering and executable read cost a fresh process 30-50 ms each;
read back, the array is the kernel's own output, bit for bit.

Off switch: ``LRLAW_NO_XLA_CACHE=1`` (the XLA cache's) keeps everything in memory
(export and call still, so that results never depend on the cache).  A read or
write error, a missing ``flatbuffers`` (jax's serialisation needs it) or a
function that cannot be exported fall back silently: to memory, or to calling
the jitted function directly.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np

#: Native custom-call targets of lrlaw (:mod:`lrlaw._native`: the areas kernels and the
#: effective-LR law's terms); a module that uses them needs the library registered
#: before it is compiled.
_NATIVE_MARKS = ("lrlaw_areas", "lrlaw_efflr_at")
_SUFFIX = ".jaxexport"

#: In-process wrappers: memory key -> jitted ``Exported.call`` (or the plain jitted
#: function, where exporting failed).
_memo: dict[Hashable, Callable[..., Any]] = {}
#: What happened, for tests and benchmarks: counts of "export", "load", "write",
#: "memo", "fallback".
stats: dict[str, int] = {}
#: The same for :func:`cached_values`: counts of "load" and "write".
values_stats: dict[str, int] = {}


class _NoNative(Exception):
    """A saved module calls lrlaw's C loop, which this process could not build."""


def _count(what: str, counts: dict[str, int] = stats) -> None:
    counts[what] = counts.get(what, 0) + 1


def clear() -> None:
    """Forget the in-process wrappers (the files stay) and reset :data:`stats` and
    :data:`values_stats`."""
    _memo.clear()
    stats.clear()
    values_stats.clear()


def enabled() -> bool:
    """Whether exported modules are read from and written to disk."""
    return os.environ.get("LRLAW_NO_XLA_CACHE", "").strip() in ("", "0")


@functools.cache
def export_dir() -> Path | None:
    """``$XDG_CACHE_HOME/lrlaw/export-<jax>-<jaxlib>`` (created), or None if unwritable."""
    from lrlaw import _jaxcache

    path = _jaxcache.versioned_dir("export")
    return path if _jaxcache.writable(path) else None


@functools.cache
def _environment() -> str:
    """Versions, backend and the digest of lrlaw's source: part of every file key."""
    from importlib import metadata

    import jaxlib

    parts = [f"jax={jax.__version__}", f"jaxlib={jaxlib.__version__}"]
    for dist in ("optimistix", "equinox", "lineax", "numpy"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=none")
    parts.append(f"backend={jax.default_backend()}")
    # Whether lrlaw's C loops may be used (traced into the module): a process without
    # them (LRLAW_NO_NATIVE=1, no compiler) must not read a module that calls them.
    from lrlaw import _native

    parts.append(f"native={int(_native.enabled())}")
    parts.append(f"lrlaw={source_digest()}")
    return ";".join(parts)


@functools.cache
def source_digest() -> str:
    """SHA-256 of every ``.py`` file of the lrlaw package (paths and contents)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _stable(value: Any) -> str | None:
    """A text that identifies a static argument across processes, or None (memory only)."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        inner = _stable(value[1])  # a keyword argument
        return None if inner is None else f"{value[0]}={inner}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return f"{type(value).__name__}:{value!r}"
    cls = type(value)
    if cls.__module__.startswith("lrlaw.") and hasattr(value, "options"):
        return f"{cls.__module__}.{cls.__qualname__}({sorted(value.options.items())!r})"
    return None


def _avals(leaves: list[Any]) -> tuple[tuple[tuple[int, ...], str], ...]:
    out = []
    for x in leaves:
        dtype = jax.dtypes.canonicalize_dtype(x.dtype if hasattr(x, "dtype") else type(x))
        out.append((tuple(getattr(x, "shape", ())), str(dtype)))
    return tuple(out)


def call(
    name: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    static_args: tuple[Hashable, ...] = (),
    static_kwargs: dict[str, Hashable] | None = None,
) -> Any:
    """``fn(*static_args, *args, **static_kwargs)`` through a cached export (module docstring).

    ``fn`` is jitted with its static (hashable) arguments bound; ``args`` are arrays or
    pytrees of arrays, whose structure, shapes and dtypes (and ``jax_enable_x64``)
    select the exported module.  ``name`` names the file.
    """
    statics = (*static_args, *sorted((static_kwargs or {}).items()))
    leaves, tree = jax.tree_util.tree_flatten(args)
    avals = _avals(leaves)
    x64 = bool(jax.config.jax_enable_x64)
    memo_key = (name, fn, statics, tree, avals, x64)
    wrapped = _memo.get(memo_key)
    if wrapped is not None:
        _count("memo")
        return wrapped(*args)
    bound = functools.partial(fn, *static_args, **(static_kwargs or {}))
    with _lapack_modules():  # the export and the first call lower the module
        wrapped = _load_or_export(name, bound, statics, args, tree, avals, x64)
        _memo[memo_key] = wrapped
        return wrapped(*args)


_SCIPY_LAPACK = ("scipy.linalg.cython_blas", "scipy.linalg.cython_lapack")


@contextlib.contextmanager
def _lapack_modules() -> Iterator[None]:
    """Within: scipy's BLAS/LAPACK extension modules importable without scipy.linalg.

    jaxlib's LAPACK initialisation imports ``scipy.linalg.cython_blas`` and
    ``scipy.linalg.cython_lapack`` (once per process) for their kernels' addresses;
    an import finds a module already in ``sys.modules`` without importing its parent
    package.  So the two extension modules are loaded from scipy's folder and put
    there, and taken out again on leaving (their code stays loaded, and a later
    import loads them as usual), unless ``scipy.linalg`` was imported meanwhile, in
    which case they become its attributes, as an ordinary import would leave them.
    Does nothing when ``scipy.linalg`` is imported already, or on any error (then
    jax imports scipy.linalg itself, as it would without lrlaw).
    """
    added: list[str] = []
    if "scipy.linalg" not in sys.modules:
        try:
            import importlib.machinery
            import importlib.util

            import scipy

            folder = [os.path.join(os.path.dirname(scipy.__file__), "linalg")]
            for full in _SCIPY_LAPACK:
                if full in sys.modules:
                    continue
                spec = importlib.machinery.PathFinder.find_spec(full, folder)
                if spec is None or spec.loader is None:
                    break
                module = importlib.util.module_from_spec(spec)
                sys.modules[full] = module
                added.append(full)
                spec.loader.exec_module(module)
        except Exception:  # another scipy layout: leave it to jax
            for full in added:
                sys.modules.pop(full, None)
            added = []
    try:
        yield
    finally:
        package = sys.modules.get("scipy.linalg")
        for full in added:
            module = sys.modules.get(full) if package is not None else sys.modules.pop(full, None)
            if package is not None and module is not None:
                setattr(package, full.rpartition(".")[2], module)


def cached_values(name: str, key: str, compute: Callable[[], Any]) -> np.ndarray:
    """``compute()`` (a 1-D float64 array), kept on disk under ``name`` and ``key``.

    ``key`` must say everything the result depends on besides lrlaw's source, the
    versions and the backend (which :func:`_environment` adds, with ``XLA_FLAGS`` and
    the machine type); a later process with the same key reads the file instead of
    computing.  Returns a fresh array either way.  Off (always computed) under
    ``LRLAW_NO_XLA_CACHE=1`` or without a writable cache; a damaged file is computed
    and written again.
    """
    import platform

    folder = export_dir() if enabled() else None
    if folder is None:
        return np.array(compute(), dtype=np.float64)
    text = "\n".join(
        [name, key, f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}", platform.machine()]
    )
    digest = hashlib.sha256(f"{text}\n{_environment()}".encode()).hexdigest()[:40]
    path = folder / f"values-{name}-{digest}.npy"
    if path.is_file():
        try:
            out = np.load(path, allow_pickle=False)
            if out.dtype == np.float64 and out.ndim == 1:
                _count("load", values_stats)
                return out
        except Exception:  # damaged: compute and write again below
            pass
    out = np.array(compute(), dtype=np.float64)
    try:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, out, allow_pickle=False)
        os.replace(tmp, path)
        _count("write", values_stats)
    except Exception:  # full disk, read-only cache: computed every time
        pass
    return out


def _file_key(name: str, statics: tuple[Any, ...], tree: Any, avals: Any, x64: bool) -> str | None:
    texts = [_stable(s) for s in statics]
    if any(t is None for t in texts):
        return None
    text = "\n".join([name, *texts, str(tree), repr(avals), f"x64={x64}", _environment()])
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _load_or_export(
    name: str,
    bound: Callable[..., Any],
    statics: tuple[Any, ...],
    args: tuple[Any, ...],
    tree: Any,
    avals: Any,
    x64: bool,
) -> Callable[..., Any]:
    from jax import export

    folder = export_dir() if enabled() else None
    key = None if folder is None else _file_key(name, statics, tree, avals, x64)
    path = None if key is None else folder / f"{name}-{key}{_SUFFIX}"  # type: ignore[operator]
    if path is not None and path.is_file():
        try:
            blob = path.read_bytes()
            if blob[:1] == b"\1":  # first byte: 1 when the module calls lrlaw's C loop
                from lrlaw import _native

                if not _native.available():  # registers the custom-call targets
                    # The build failed in this process: trace again (a module without
                    # the C loop), and keep the file for the processes that have it.
                    raise _NoNative
            exported = export.deserialize(bytearray(blob[1:]))
            _count("load")
            return jax.jit(exported.call)
        except _NoNative:
            path = None
        except Exception:  # a damaged or foreign file: export again below
            pass
    jitted = jax.jit(bound)
    try:
        exported = export.export(
            jitted, disabled_checks=[export.DisabledSafetyCheck.custom_call("ALL")]
        )(*args)
    except Exception:  # an op jax cannot export: call the jitted function directly
        _count("fallback")
        return jitted
    _count("export")
    if path is not None:
        try:
            text = exported.mlir_module()
            native = any(mark in text for mark in _NATIVE_MARKS)
            blob = (b"\1" if native else b"\0") + bytes(exported.serialize())
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, path)
            _count("write")
        except Exception:  # no flatbuffers, full disk, read-only cache: memory only
            pass
    return jax.jit(exported.call)
