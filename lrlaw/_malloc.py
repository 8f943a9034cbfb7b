"""Large buffers reused, not mapped afresh: glibc's ``mallopt`` for the command line.

XLA:CPU allocates every output of a compiled call with ``malloc``.  glibc serves a
request above its mmap threshold (dynamic, at most 32 MiB on 64-bit) with a fresh
``mmap`` and returns it to the kernel on ``free``, so each call that writes a large
output faults its pages in, and the kernel zeroes them, again.  The areas of 256
schedules of 24 000 steps (two 49 MB outputs) took 14-26 ms a call that way in one
process against 21-23 ms for a Python loop of one-schedule calls, whose small outputs
are recycled; with the thresholds below, 7.7-8.1 ms (``benchmarks/README.md``, issue
18.1, session 16).

:func:`tune_malloc` raises the mmap threshold and the trim threshold to
:data:`THRESHOLD`, so that buffers up to that size come from the heap and freed ones
are reused by the next call.  The price is memory: up to :data:`THRESHOLD` of freed
heap stays with the process.  The ``lrlaw`` command line applies it to its own
process (:func:`lrlaw.cli.run`; ``LRLAW_NO_MALLOC_TUNING=1`` turns it off); the
library never does, since a user's process is theirs to tune: call it yourself (e.g.
at the top of a notebook that batches many long schedules).
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["THRESHOLD", "tune_malloc"]

#: Bytes: allocations up to this size come from the heap, and up to this much free heap
#: is kept (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD).
THRESHOLD = 256 << 20
_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3

_state: dict[str, bool] = {}


def tune_malloc(threshold: int = THRESHOLD) -> bool:
    """Set glibc's ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` to ``threshold`` bytes
    for this process (module docstring).  Returns whether it was applied: ``False``
    off Linux with glibc (musl, macOS, Windows: nothing is changed) or if ``mallopt``
    refused a value."""
    if not sys.platform.startswith("linux") or not _glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    value = int(min(max(threshold, 0), 2**31 - 1))
    ok = bool(mallopt(_M_MMAP_THRESHOLD, value)) and bool(mallopt(_M_TRIM_THRESHOLD, value))
    _state["applied"] = ok
    return ok


def _glibc() -> bool:
    """Whether this process runs on glibc (``confstr``, without reading the executable
    as :func:`platform.libc_ver` does)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False


def applied() -> bool:
    """Whether :func:`tune_malloc` has been applied in this process."""
    return _state.get("applied", False)
