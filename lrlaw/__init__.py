"""lrlaw: fit loss-curve scaling laws to training curves and plan LR schedules.

The public API is re-exported here lazily (PEP 562), so that ``import lrlaw``
-- and ``lrlaw --help`` -- do not import JAX until a name that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Curve": "lrlaw.curves",
    "FitResult": "lrlaw.fitting",
    "fit": "lrlaw.fitting",
    "predict_curve": "lrlaw.fitting",
    "load_curves": "lrlaw.io",
    "compare_laws": "lrlaw.compare",
    "MultiPowerLaw": "lrlaw.laws",
    "read_table": "lrlaw.io",
    "parse_schedule": "lrlaw.schedules",
    "forward_area": "lrlaw.areas",
    "annealing_area": "lrlaw.areas",
    "get_law": "lrlaw.laws",
    "MomentumLaw": "lrlaw.laws",
    "ConvexLaw": "lrlaw.laws",
    "refine_schedule": "lrlaw.refine",
    "curve_metrics": "lrlaw.metrics",
    "read_grid": "lrlaw.hparams",
    "fit_hparams": "lrlaw.hparams",
    "suggest_hparams": "lrlaw.hparams",
    "make_plan": "lrlaw.plan",
    "Watcher": "lrlaw.watch",
    "Prediction": "lrlaw.watch",
    "LrlawError": "lrlaw.errors",
    "DataError": "lrlaw.errors",
    "FitError": "lrlaw.errors",
    "ScheduleError": "lrlaw.errors",
}

#: Submodules reachable as attributes without importing them first (``lrlaw.progress``).
_SUBMODULES = ("plot", "planning", "progress", "optimize", "crossval", "schedules", "export")

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"lrlaw.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lrlaw' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
