"""The reference schedules every planning report compares against.

``lrlaw optimize`` and ``lrlaw refine`` print their result next to the same two
references, built here once: a cosine decay to ``peak / 10`` (the common default,
e.g. Hoffmann et al. 2022) and a warmup-stable-decay schedule with a linear decay
to 0 over the last 20 % of steps (Hägele et al. 2024, "Scaling Laws and
Compute-Optimal Training Beyond Fixed Training Durations").

Imports: :mod:`lrlaw.schedules` only.
"""

from __future__ import annotations

from lrlaw.errors import LrlawError, ScheduleError
from lrlaw.schedules import Schedule, cosine, wsd

__all__ = ["reference_schedules"]


def reference_schedules(
    total: int, peak: float, warmup: int, warmup_start: float = 0.0
) -> dict[str, Schedule]:
    """Cosine to ``peak/10`` and WSD with a 20 % linear decay to 0, on the same length,
    peak and warmup: ``{"cosine": ..., "wsd": ...}``.

    The cosine is ``lr(t) = final + (peak - final) (1 + cos(pi p)) / 2`` with
    ``final = peak / 10`` and ``p`` the progress after warmup; the WSD holds ``peak``
    and decays linearly to 0 from step ``T - round(0.2 T)`` (never before warmup ends).
    """
    try:
        return {
            "cosine": cosine(
                peak, total, final=peak / 10, warmup=warmup, warmup_start=warmup_start
            ),
            "wsd": wsd(
                peak, total, decay_frac=0.2, final=0.0, warmup=warmup, warmup_start=warmup_start
            ),
        }
    except ScheduleError as exc:
        raise LrlawError(f"cannot build the reference schedules: {exc}") from None
