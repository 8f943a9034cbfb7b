"""Exceptions raised for bad user input.

Every error a user can cause (a malformed file, a bad schedule spec, a fit
that cannot succeed) raises a subclass of :class:`LrlawError`.  The command
line prints its message as one line and exits with a non-zero code; anything
else escaping is a bug in lrlaw.
"""

from __future__ import annotations

__all__ = ["DataError", "FitError", "LrlawError", "ScheduleError"]


class LrlawError(ValueError):
    """Base class of every error caused by user input."""


class ScheduleError(LrlawError):
    """A schedule (factory arguments or spec string) is invalid."""


class DataError(LrlawError):
    """A curve file or table is malformed; the message names file, column and row."""


class FitError(LrlawError):
    """A fit cannot succeed (too few points, degenerate schedules, ...)."""
