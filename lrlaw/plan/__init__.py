"""Planning with a fitted law: rank candidate schedules, optimise one, refine one
from gradient norms, fit and apply the optimal-LR / batch-size laws, and build a
run plan.

Modules: :mod:`~lrlaw.plan.compare` (``lrlaw compare``: candidate schedules),
:mod:`~lrlaw.plan.optimal` (``lrlaw optimize``), :mod:`~lrlaw.plan.refine`
(``lrlaw refine``), :mod:`~lrlaw.plan.grid`, :mod:`~lrlaw.plan.powerlaws`,
:mod:`~lrlaw.plan.hparams` (``lrlaw hparams``; these three need no JAX) and
:mod:`~lrlaw.plan.run` (``lrlaw plan``).  The names below are imported on first use.

Layer 5: imports :mod:`lrlaw.fitting` and everything below it.
"""

from lrlaw._lazy import attach

#: Public name -> the module that defines it (imported on first use: see lrlaw._lazy).
_EXPORTS = {
    "ComparisonRow": "lrlaw.plan.compare",
    "ScheduleComparison": "lrlaw.plan.compare",
    "compare_schedules": "lrlaw.plan.compare",
    "final_losses_batched": "lrlaw.plan.compare",
    "METHODS": "lrlaw.plan.grid",
    "CellOptimum": "lrlaw.plan.grid",
    "Grid": "lrlaw.plan.grid",
    "locate_optima": "lrlaw.plan.grid",
    "locate_optimum": "lrlaw.plan.grid",
    "read_grid": "lrlaw.plan.grid",
    "HParamFit": "lrlaw.plan.hparams",
    "Suggestion": "lrlaw.plan.hparams",
    "fit_hparams": "lrlaw.plan.hparams",
    "load_hparams": "lrlaw.plan.hparams",
    "suggest": "lrlaw.plan.hparams",
    "suggest_hparams": "lrlaw.plan.hparams",
    "suggestion_table": "lrlaw.plan.hparams",
    "OptimizedSchedule": "lrlaw.plan.optimal",
    "final_loss": "lrlaw.plan.optimal",
    "final_losses": "lrlaw.plan.optimal",
    "optimize": "lrlaw.plan.optimal",
    "PUBLISHED": "lrlaw.plan.powerlaws",
    "VARIABLES": "lrlaw.plan.powerlaws",
    "LawFit": "lrlaw.plan.powerlaws",
    "LeaveOneOut": "lrlaw.plan.powerlaws",
    "PowerLaw": "lrlaw.plan.powerlaws",
    "PublishedLaw": "lrlaw.plan.powerlaws",
    "fit_power_law": "lrlaw.plan.powerlaws",
    "leave_one_cell_out": "lrlaw.plan.powerlaws",
    "parse_form": "lrlaw.plan.powerlaws",
    "RefinedComparison": "lrlaw.plan.refine",
    "RefinedSchedule": "lrlaw.plan.refine",
    "compare_refined": "lrlaw.plan.refine",
    "grad_norm_per_step": "lrlaw.plan.refine",
    "median_smooth": "lrlaw.plan.refine",
    "read_grad_norms": "lrlaw.plan.refine",
    "refine_schedule": "lrlaw.plan.refine",
    "refined_shape": "lrlaw.plan.refine",
    "CANDIDATES": "lrlaw.plan.run",
    "Plan": "lrlaw.plan.run",
    "fit_peak_lr": "lrlaw.plan.run",
    "make_plan": "lrlaw.plan.run",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
