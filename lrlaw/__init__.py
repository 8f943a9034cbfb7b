"""lrlaw: fit loss-curve scaling laws to training curves and plan LR schedules.

The package is layered; each layer imports only the layers above it in this list
(``tests/test_layers.py`` enforces it, and that there is no import cycle):

0. base modules: :mod:`lrlaw.errors`, :mod:`lrlaw.curves`, :mod:`lrlaw.progress`,
   :mod:`lrlaw.output` (atomic writes) and the private JAX helpers;
1. :mod:`lrlaw.schedules`: schedule families, spec strings, export;
2. :mod:`lrlaw.io`: reading logs into curves;
3. :mod:`lrlaw.laws`: the laws and their areas (``S1``, ``S2``);
4. :mod:`lrlaw.fitting`: fit, predict, bands, cross-validation, reports;
5. :mod:`lrlaw.plan`: compare, optimise and refine schedules, hyper-parameter laws, run plans;
6. :mod:`lrlaw.plot`: figures of all of the above;
7. :mod:`lrlaw.watch`: the live prediction loop;
8. :mod:`lrlaw.integrations` (trainer callbacks) and :mod:`lrlaw.cli` (the ``lrlaw`` command).

The public API is re-exported here lazily (PEP 562), so that ``import lrlaw``
-- and ``lrlaw --help`` -- do not import JAX until a name that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # curves and errors (base)
    "Curve": "lrlaw.curves",
    "LrlawError": "lrlaw.errors",
    "DataError": "lrlaw.errors",
    "FitError": "lrlaw.errors",
    "ScheduleError": "lrlaw.errors",
    # schedules
    "Schedule": "lrlaw.schedules",
    "parse_schedule": "lrlaw.schedules",
    # io
    "load_curves": "lrlaw.io",
    "read_table": "lrlaw.io",
    # laws and areas
    "get_law": "lrlaw.laws",
    "MomentumLaw": "lrlaw.laws",
    "MultiPowerLaw": "lrlaw.laws",
    "EffectiveLRLaw": "lrlaw.laws",
    "ConvexLaw": "lrlaw.laws",
    "forward_area": "lrlaw.laws.areas",
    "annealing_area": "lrlaw.laws.areas",
    # fitting
    "fit": "lrlaw.fitting",
    "FitResult": "lrlaw.fitting",
    "predict_curve": "lrlaw.fitting",
    "curve_metrics": "lrlaw.fitting",
    "compare_laws": "lrlaw.fitting",
    "cross_validate": "lrlaw.fitting",
    # plan
    "compare_schedules": "lrlaw.plan",
    "optimize": "lrlaw.plan",
    "refine_schedule": "lrlaw.plan",
    "read_grid": "lrlaw.plan",
    "fit_hparams": "lrlaw.plan",
    "suggest_hparams": "lrlaw.plan",
    "make_plan": "lrlaw.plan",
    # watch
    "Watcher": "lrlaw.watch",
    "Prediction": "lrlaw.watch",
}

#: Subpackages and modules reachable as attributes without importing them first
#: (``lrlaw.plot.plot_fit``, ``lrlaw.progress``).
_SUBMODULES = ("schedules", "io", "laws", "fitting", "plan", "plot", "watch", "progress")

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
