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

Off switch: ``LRLAW_NO_XLA_CACHE=1`` (the XLA cache's) keeps everything in memory
(export and call still, so that results never depend on the cache).  A read or
write error, a missing ``flatbuffers`` (jax's serialisation needs it) or a
function that cannot be exported fall back silently: to memory, or to calling
the jitted function directly.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import jax

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


class _NoNative(Exception):
    """A saved module calls lrlaw's C loop, which this process could not build."""


def _count(what: str) -> None:
    stats[what] = stats.get(what, 0) + 1


def clear() -> None:
    """Forget the in-process wrappers (the files stay) and reset :data:`stats`."""
    _memo.clear()
    stats.clear()


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
    if wrapped is None:
        bound = functools.partial(fn, *static_args, **(static_kwargs or {}))
        wrapped = _load_or_export(name, bound, statics, args, tree, avals, x64)
        _memo[memo_key] = wrapped
    else:
        _count("memo")
    return wrapped(*args)


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
