"""Scoped float64 for JAX.

lrlaw computes in float64 (areas are sums over up to millions of steps and
the fit resolves relative loss differences of 1e-4), but it must not flip
JAX's global ``jax_enable_x64`` flag for the user's whole process.  Public
entry points run their JAX work inside :func:`x64`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import jax

from lrlaw import _jaxcache

_jaxcache.enable()  # persistent XLA compilation cache (off: LRLAW_NO_XLA_CACHE=1)


P = ParamSpec("P")
R = TypeVar("R")


def x64() -> object:
    """Context manager that enables float64 in JAX for the enclosed block only."""
    return jax.enable_x64(True)


def with_x64(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``fn`` with JAX float64 enabled (scoped, not global)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with x64():
            return fn(*args, **kwargs)

    return wrapper
