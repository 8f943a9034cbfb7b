"""Learning-rate schedules: the :class:`Schedule` type, the family library, the
spec grammar, and export to CSV, optax, PyTorch and trainers' own settings.

Modules: :mod:`~lrlaw.schedules.schedule` (the type and shared machinery),
:mod:`~lrlaw.schedules.families` (the factories), :mod:`~lrlaw.schedules.spec`
(``family:key=value,...`` text), :mod:`~lrlaw.schedules.export`.

Layer 1: imports only the base modules (``errors``, ``output``, ``_x64``).
"""

from lrlaw.schedules.export import (
    as_lambda_lr as as_lambda_lr,
    as_optax as as_optax,
    from_hf as from_hf,
    from_torchtitan as from_torchtitan,
    hf_wsd_lambda as hf_wsd_lambda,
    read_schedule_table as read_schedule_table,
    read_trainer_config as read_trainer_config,
    schedule_table_format as schedule_table_format,
    to_hf as to_hf,
    to_table as to_table,
    to_torchtitan as to_torchtitan,
    torchtitan_lambda as torchtitan_lambda,
    write_schedule as write_schedule,
    write_trainer_config as write_trainer_config,
)
from lrlaw.schedules.families import (
    constant as constant,
    cosine as cosine,
    cyclic as cyclic,
    exponential as exponential,
    from_array as from_array,
    infinite as infinite,
    inverse_sqrt as inverse_sqrt,
    join as join,
    linear as linear,
    multistep as multistep,
    onecycle as onecycle,
    polynomial as polynomial,
    power as power,
    rewarm as rewarm,
    rex as rex,
    step as step,
    wsd as wsd,
)
from lrlaw.schedules.schedule import WSD_SHAPES as WSD_SHAPES, Schedule as Schedule
from lrlaw.schedules.spec import (
    FAMILIES as FAMILIES,
    FIXED_STEP_KEYS as FIXED_STEP_KEYS,
    SCALED_STEP_KEYS as SCALED_STEP_KEYS,
    parse_schedule as parse_schedule,
    rescale as rescale,
)
