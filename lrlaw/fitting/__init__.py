"""Fitting laws to curves: the robust objective and solver, the fit result,
prediction, bands, cross-validation, law selection and the fit report.

Modules: :mod:`~lrlaw.fitting.weighting` (noise level, point weights, start
transient, outliers), :mod:`~lrlaw.fitting.uncertainty` (bootstrap bands),
:mod:`~lrlaw.fitting.diagnostics` (warnings), :mod:`~lrlaw.fitting.metrics`,
:mod:`~lrlaw.fitting.report` (text / JSON / HTML reports),
:mod:`~lrlaw.fitting.core` (:func:`fit`, :class:`FitResult`, :func:`predict_curve`),
:mod:`~lrlaw.fitting.ensemble` (``--law auto``'s combination),
:mod:`~lrlaw.fitting.crossval` (leave-one-run-out, law selection),
and :mod:`~lrlaw.fitting.evaluate` (laws scored on held-out runs).

Layer 4: imports :mod:`lrlaw.laws`, :mod:`lrlaw.io`, :mod:`lrlaw.schedules` and the base modules.
"""

from lrlaw.fitting.core import (
    HUBER_DELTA as HUBER_DELTA,
    FitResult as FitResult,
    fit as fit,
    huber as huber,
    predict_curve as predict_curve,
    predict_many as predict_many,
)
from lrlaw.fitting.crossval import (
    AUTO_LAWS as AUTO_LAWS,
    CV_LAWS as CV_LAWS,
    SELECTION_METRICS as SELECTION_METRICS,
    CrossValidation as CrossValidation,
    Fold as Fold,
    cross_validate as cross_validate,
    fit_auto as fit_auto,
    select_laws as select_laws,
    split_runs as split_runs,
)
from lrlaw.fitting.diagnostics import (
    extrapolation_warnings as extrapolation_warnings,
    identifiability_warnings as identifiability_warnings,
    lr_scale_warnings as lr_scale_warnings,
    range_warnings as range_warnings,
    residual_warnings as residual_warnings,
    schedule_warnings as schedule_warnings,
    trend_warnings as trend_warnings,
    unidentified_params as unidentified_params,
)
from lrlaw.fitting.ensemble import (
    ENSEMBLE as ENSEMBLE,
    EnsembleFit as EnsembleFit,
    EnsembleLaw as EnsembleLaw,
    combine as combine,
)
from lrlaw.fitting.evaluate import (
    LawComparison as LawComparison,
    LawScore as LawScore,
    compare_laws as compare_laws,
)
from lrlaw.fitting.metrics import (
    METRICS as METRICS,
    curve_metrics as curve_metrics,
    mean_metrics as mean_metrics,
    metrics_table as metrics_table,
)
from lrlaw.fitting.report import (
    information_criteria as information_criteria,
    report_dict as report_dict,
    report_html as report_html,
    report_text as report_text,
    window_lines as window_lines,
)
from lrlaw.fitting.uncertainty import (
    ERROR_QUANTILES as ERROR_QUANTILES,
    Uncertainty as Uncertainty,
    block_length as block_length,
    bootstrap_weights as bootstrap_weights,
)
from lrlaw.fitting.weighting import (
    HUBER_C as HUBER_C,
    TRANSIENT_FLOOR as TRANSIENT_FLOOR,
    despiked as despiked,
    huber_thresholds as huber_thresholds,
    noise_level as noise_level,
    outliers as outliers,
    span_weights as span_weights,
    start_transient as start_transient,
)
