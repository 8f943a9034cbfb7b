"""Lazy re-exports for a package ``__init__`` (PEP 562), so that importing one light module
of a package does not import its heavy siblings.

``lrlaw.plan.grid`` and ``lrlaw.plan.powerlaws`` need only numpy and scipy, while
``lrlaw.plan.compare`` needs JAX (2 s to import); with eager re-exports,
``from lrlaw.plan import read_grid`` -- and ``lrlaw hparams`` -- would pay for JAX.
A package that uses :func:`attach` names each public name's module in one table; the
module is imported on first access of the name, and the value cached in the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``, whose public names are the keys
    of ``exports`` and live in the modules its values name
    (``{"read_grid": "lrlaw.plan.grid"}``)."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            try:  # a submodule, e.g. `lrlaw.plan.hparams` as an attribute
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError:
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__, sorted(exports)
