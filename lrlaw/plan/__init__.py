"""Planning with a fitted law: rank candidate schedules, optimise one, refine one
from gradient norms, fit and apply the optimal-LR / batch-size laws, and build a
run plan.

Modules: :mod:`~lrlaw.plan.compare` (``lrlaw compare``: candidate schedules),
:mod:`~lrlaw.plan.optimize` (``lrlaw optimize``), :mod:`~lrlaw.plan.refine`
(``lrlaw refine``), :mod:`~lrlaw.plan.hparams` (``lrlaw hparams``) and
:mod:`~lrlaw.plan.run` (``lrlaw plan``).

Layer 5: imports :mod:`lrlaw.fitting` and everything below it.
"""

from lrlaw.plan.compare import (
    ComparisonRow as ComparisonRow,
    ScheduleComparison as ScheduleComparison,
    compare_schedules as compare_schedules,
    final_losses_batched as final_losses_batched,
)
from lrlaw.plan.hparams import (
    PUBLISHED as PUBLISHED,
    CellOptimum as CellOptimum,
    Grid as Grid,
    HParamFit as HParamFit,
    LawFit as LawFit,
    LeaveOneOut as LeaveOneOut,
    PowerLaw as PowerLaw,
    PublishedLaw as PublishedLaw,
    Suggestion as Suggestion,
    fit_hparams as fit_hparams,
    fit_power_law as fit_power_law,
    leave_one_cell_out as leave_one_cell_out,
    load_hparams as load_hparams,
    locate_optima as locate_optima,
    locate_optimum as locate_optimum,
    parse_form as parse_form,
    read_grid as read_grid,
    suggest as suggest,
    suggest_hparams as suggest_hparams,
    suggestion_table as suggestion_table,
)
from lrlaw.plan.optimize import (
    OptimizedSchedule as OptimizedSchedule,
    final_loss as final_loss,
    final_losses as final_losses,
    optimize as optimize,
)
from lrlaw.plan.refine import (
    RefinedComparison as RefinedComparison,
    RefinedSchedule as RefinedSchedule,
    compare_refined as compare_refined,
    grad_norm_per_step as grad_norm_per_step,
    median_smooth as median_smooth,
    read_grad_norms as read_grad_norms,
    refine_schedule as refine_schedule,
    refined_shape as refined_shape,
)
from lrlaw.plan.run import (
    CANDIDATES as CANDIDATES,
    Plan as Plan,
    fit_peak_lr as fit_peak_lr,
    make_plan as make_plan,
)
