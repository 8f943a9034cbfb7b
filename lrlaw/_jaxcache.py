"""Persistent XLA compilation cache, on by default.

A fresh process compiles every lrlaw kernel again (seconds for a fit; see
``benchmarks/README.md``).  With JAX's persistent compilation cache the
compiled executables are stored on disk and later processes load them instead.

:func:`enable` (run once, when an lrlaw module that compiles JAX code is
imported) points JAX at ``$XDG_CACHE_HOME/lrlaw/xla-<jax>-<jaxlib>`` (or
``~/.cache/lrlaw/...``).  The versions are part of the directory name, so an
upgraded JAX never reads entries written by another version (JAX's own cache
keys include them too).  It does nothing when:

* ``LRLAW_NO_XLA_CACHE=1`` (or any value other than ``""``/``0``) is set;
* the user already configured a cache directory (``jax_compilation_cache_dir``,
  e.g. through ``JAX_COMPILATION_CACHE_DIR``): theirs is kept;
* the directory cannot be created or written (read-only home, no ``$HOME``).

It must run before the process's first JAX compilation to take effect (JAX
decides once whether to use the cache); importing lrlaw before compiling
anything else is enough.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Kernels that compile faster than this are not written to the cache (JAX's default,
#: 1 s, would skip nearly all of lrlaw's kernels; at 0.05 s a warm default fit still
#: compiled its predictors, 20-50 ms each on 2 idle cores, every time).  Below 10 ms
#: reading an entry saves little.
MIN_COMPILE_SECS = 0.01

_done = False
#: The directory in use, or ``None`` (off, unwritable or configured by the user).
cache_dir: Path | None = None


def versioned_dir(kind: str) -> Path:
    """``$XDG_CACHE_HOME/lrlaw/<kind>-<jax>-<jaxlib>`` (default ``~/.cache``): a new jax
    or jaxlib gets a new directory, so stale entries are never read."""
    import jax
    import jaxlib

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lrlaw" / f"{kind}-{jax.__version__}-{jaxlib.__version__}"


def default_dir() -> Path:
    """The persistent XLA cache's directory, ``.../lrlaw/xla-<jax>-<jaxlib>``."""
    return versioned_dir("xla")


def writable(path: Path) -> bool:
    """Create ``path`` if needed; True when a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError:
        return False
    return True


def enable() -> Path | None:
    """Turn the persistent cache on (once per process); return its directory or ``None``."""
    global _done, cache_dir
    if _done:
        return cache_dir
    _done = True
    if os.environ.get("LRLAW_NO_XLA_CACHE", "").strip() not in ("", "0"):
        return None
    try:
        import jax

        if jax.config.jax_compilation_cache_dir:
            return None  # the user's own setting wins
        path = default_dir()
        if not writable(path):
            return None
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECS)
    except Exception:  # never let the cache break an import
        return None
    cache_dir = path
    return path


enable()


def bucket(n: int, minimum: int = 1) -> int:
    """A padded size >= max(n, minimum) from a coarse grid of sizes.

    The grid has 8 sizes per power of two (``j * 2**e`` with ``8 <= j < 16``),
    so padding wastes at most 12.5 % while arrays of similar lengths share
    compiled code (in memory, and in the persistent cache above).
    """
    n = max(int(n), int(minimum), 1)
    step = 1 << max(n.bit_length() - 4, 0)
    return -(-n // step) * step
