"""Cleaning logged series before fitting: resumed runs, NaN/inf, order, gaps, smoothing, resampling.

Real training logs are messy.  The functions here take one logged series
(steps and values in file order) and make it usable, counting everything
they change so that the command line can report it in one summary line per
run (see :mod:`lrlaw.io.readers`):

- **Resumed runs.**  A run restarted from a checkpoint logs some steps again.
  When the steps go back to a step that was logged before, the later entries
  replace the earlier ones: for every step the *last* entry in file order
  wins (the value of the trajectory that continued).
- **Steps going backwards** to a step that was never logged is not a
  resumption but a disordered or corrupted log: an error naming the row,
  unless ``sort_steps=True`` asks to sort the entries by step (they are then
  counted as "out of order").
- **NaN/inf values** (a diverged or failed evaluation) are dropped and
  counted.  Missing cells (an empty CSV cell, a JSON ``null``) are no value at
  all and are not counted.
- **Gaps**: intervals between consecutive steps longer than
  :data:`GAP_FACTOR` times the median interval are reported (not filled).
- **Branch merging**: :func:`join_base` joins a run that holds only its last
  segment (a WSD cooldown resumed from a checkpoint of a base run) to the base
  run.
- **Logged averages**: a trainer that logs the mean loss of the steps since its last
  log (Hugging Face ``Trainer``, Megatron-LM) or a running mean writes each value at
  the *end* of the steps it averages; :func:`place_averages` moves it to their
  centre (:func:`average_centres`), where the law is compared with it.
- **Smoothing** (opt-in): a debiased exponential moving average or a centred
  moving average of the loss (:func:`smooth`).
- **Resampling**: :func:`resample` averages a long series in step bins (equal
  width, narrower early in the run: :func:`bin_edges`), so a per-step log of a
  million steps gives a bounded number of fitting points.  The learning rate
  is never resampled: the laws need it at every step.

All functions are pure numpy (no pandas), vectorised, and O(n log n).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from lrlaw.errors import DataError, LrlawError

__all__ = [
    "DEFAULT_MAX_POINTS",
    "GAP_FACTOR",
    "LOSS_AVERAGES",
    "CleanRun",
    "Series",
    "SeriesReport",
    "average_centres",
    "bin_edges",
    "clean_series",
    "find_gaps",
    "join_base",
    "parse_averaging",
    "parse_smoothing",
    "place_averages",
    "resample",
    "resample_counts",
    "smooth",
    "summarise_reports",
    "union_sorted",
]

#: Default bound on the number of loss points per run used for fitting.
DEFAULT_MAX_POINTS = 1000
#: An interval between consecutive logged steps is a gap when it exceeds this
#: multiple of the median interval.
GAP_FACTOR = 5.0


@dataclass(frozen=True)
class SeriesReport:
    """What cleaning did to one series (all counts are entries of the log)."""

    entries: int = 0  # entries with a value, as read
    repeated: int = 0  # entries replaced by a later entry of the same step
    restarts: int = 0  # times the steps went back to a step logged before (resumed runs)
    reordered: int = 0  # entries that went back to a new step and were sorted in
    nonfinite: int = 0  # NaN/inf values dropped
    kept: int = 0  # entries left
    gaps: tuple[tuple[int, int], ...] = ()  # (from, to) steps of the large gaps

    def notes(self, noun: str = "values") -> list[str]:
        """The non-trivial counts as short phrases, for a summary line."""
        out = []
        if self.repeated:
            restart = f" after {self.restarts} restart(s)" if self.restarts else ""
            out.append(f"{self.repeated} repeated step(s){restart} (resumed run: kept the last)")
        if self.reordered:
            out.append(f"{self.reordered} step(s) out of order (sorted)")
        if self.nonfinite:
            out.append(f"{self.nonfinite} NaN/inf {noun} dropped")
        if self.gaps:
            a, b = max(self.gaps, key=lambda g: g[1] - g[0])
            out.append(f"{len(self.gaps)} gap(s) (largest: steps {a}-{b})")
        return out


@dataclass(frozen=True, eq=False)
class Series:
    """A cleaned series: strictly increasing int64 steps and finite float64 values.

    ``pos`` holds the file position (line / row / entry) of each value for
    messages; ``from_base`` marks values taken from a base run by
    :func:`join_base` (``None`` when there are none).
    """

    label: str
    step: np.ndarray
    value: np.ndarray
    pos: np.ndarray
    report: SeriesReport = field(default_factory=SeriesReport)
    from_base: np.ndarray | None = None
    count: np.ndarray | None = None  # logged values averaged into each value (None: 1 each)


@dataclass(frozen=True, eq=False)
class CleanRun:
    """The cleaned series of one run, ready to become a :class:`~lrlaw.curves.Curve`.

    ``loss_kind`` is ``"validation"``, ``"training"`` or ``"given"`` (a
    column named by the user); ``notes`` are the phrases of the summary line.
    """

    name: str
    source: str
    pos_kind: str
    loss: Series
    lr: Series | None = None
    tokens: Series | None = None
    loss_kind: str = "given"
    notes: tuple[str, ...] = ()
    base_source: str | None = None
    columns: tuple[str, ...] = ()  # every column the log has (for messages)
    #: how each logged loss was averaged (:func:`parse_averaging`'s form; ``None``: a value
    #: at its step), as :func:`place_averages` placed them
    loss_average: tuple[str, float] | None = None

    @property
    def first_step(self) -> int:
        """The first step with any logged value (the branch point of a cooldown run)."""
        firsts = [int(s.step[0]) for s in (self.loss, self.lr, self.tokens) if s and s.step.size]
        return min(firsts)

    @property
    def last_step(self) -> int:
        """The last step with any logged value."""
        lasts = [int(s.step[-1]) for s in (self.loss, self.lr, self.tokens) if s and s.step.size]
        return max(lasts)

    def summary(self) -> str:
        """One line: where the run came from and what cleaning did."""
        return f"{self.source}: run {self.name!r}: " + "; ".join(self.notes)


def clean_series(
    step: np.ndarray,
    value: np.ndarray,
    missing: np.ndarray,
    pos: np.ndarray,
    *,
    label: str,
    where: str,
    pos_kind: str = "line",
    sort_steps: bool = False,
    step_label: str | None = None,
) -> Series:
    """Clean one logged series: resumed runs (last wins), order, NaN/inf, gaps.

    Args:
        step: int64 step of each entry, in file order.
        value: float64 value of each entry (NaN where ``missing`` or NaN).
        missing: True for entries without a value (empty cell, ``null``).
        pos: file position of each entry (for messages).
        label: the column's name in messages.
        where: the file (and run), prefixed to messages.
        pos_kind: ``"line"``, ``"row"`` or ``"entry"``.
        sort_steps: accept steps that go back to a step never logged before
            and sort them in (otherwise that is an error naming the row).
        step_label: the step column's name in messages (default ``label``).

    Returns:
        The series with strictly increasing steps and finite values, and a
        :class:`SeriesReport` of what was changed.

    Raises:
        DataError: the steps go back to a step never logged before (and
            ``sort_steps`` is false).

    >>> s = clean_series(np.array([0, 10, 20, 10, 20, 30]), np.array([5.0, 4, 3, 4.1, 3.1, np.inf]),
    ...                  np.zeros(6, bool), np.arange(2, 8), label="loss", where="log.csv")
    >>> s.step.tolist(), s.value.tolist(), s.report.repeated, s.report.nonfinite
    ([0, 10, 20], [5.0, 4.1, 3.1], 2, 1)
    """
    keep = ~np.asarray(missing, dtype=bool)
    s = np.asarray(step, dtype=np.int64)[keep]
    v = np.asarray(value, dtype=np.float64)[keep]
    p = np.asarray(pos)[keep]
    entries = int(s.size)
    restarts = reordered = 0
    back = np.flatnonzero(np.diff(s) < 0) + 1
    if back.size:
        # A step that goes back to a step logged before starts a resumed segment;
        # one that goes back to a new step means the log is out of order.
        _, first, inverse = np.unique(s, return_index=True, return_inverse=True)
        seen = first[inverse[back]] < back
        unseen = back[~seen]
        if unseen.size and not sort_steps:
            i = int(unseen[0])
            raise DataError(
                f"{where}: column '{step_label or label}', {pos_kind} {p[i]}: step goes back to "
                f"{s[i]} after {s[i - 1]} ({pos_kind} {p[i - 1]}) and step {s[i]} was not logged "
                "before; "
                "expected increasing steps (a resumed run may repeat steps it logged before); "
                "pass --sort-steps to sort the rows by step"
            )
        restarts, reordered = int(seen.sum()), int(unseen.size)
    # Last entry of each step in file order: stable sort, keep the last of each group.
    order = np.argsort(s, kind="stable")
    ss = s[order]
    last = np.ones(ss.size, dtype=bool)
    last[:-1] = ss[1:] != ss[:-1]
    idx = order[last]
    repeated = entries - int(idx.size)
    s, v, p = s[idx], v[idx], p[idx]
    finite = np.isfinite(v)
    nonfinite = int(finite.size - finite.sum())
    if nonfinite:
        s, v, p = s[finite], v[finite], p[finite]
    report = SeriesReport(
        entries=entries,
        repeated=repeated,
        restarts=restarts,
        reordered=reordered,
        nonfinite=nonfinite,
        kept=int(s.size),
        gaps=tuple(find_gaps(s)),
    )
    return Series(label, s, v, p, report)


def find_gaps(steps: np.ndarray, factor: float = GAP_FACTOR) -> list[tuple[int, int]]:
    """Intervals ``(a, b)`` between consecutive steps longer than ``factor`` x the median one.

    >>> find_gaps(np.array([0, 10, 20, 30, 200, 210]))
    [(30, 200)]
    """
    steps = np.asarray(steps, dtype=np.int64)
    if steps.size < 3:
        return []
    d = np.diff(steps)
    typical = float(np.median(d))
    big = np.flatnonzero(d > factor * typical)
    return [(int(steps[i]), int(steps[i + 1])) for i in big]


def join_base(branch: CleanRun, base: CleanRun, base_name: str) -> CleanRun:
    """Join a run that holds only its last segment to the run it branched from.

    A WSD cooldown is often run as a new job resumed from a checkpoint of the
    constant-LR run at step ``J``; its log then starts at ``J`` (the 124M runs
    of Hägele et al. 2024: cooldown files hold steps 40000-50000).  The joined
    run takes every series from the base at steps ``< J`` and from the branch
    at steps ``>= J``; where the branch has no value of a series at ``J``
    itself (e.g. it logs its first LR one logging interval later), the base's
    value at ``J`` is kept: the checkpoint is the same.

    ``J`` is the branch's first logged step (any series).

    Raises:
        DataError: the branch starts after the base run ends, or the two runs
            log different kinds of loss (validation vs training).
    """
    j = branch.first_step
    if j > base.last_step:
        raise DataError(
            f"{branch.source}: run {branch.name!r} starts at step {j}, after the last step "
            f"{base.last_step} of its base run {base_name!r} ({base.source}); expected a base "
            "run that reaches the branch point"
        )
    kinds = {branch.loss_kind, base.loss_kind} - {"given"}
    if len(kinds) > 1:
        raise DataError(
            f"{branch.source}: run {branch.name!r} logs {branch.loss_kind} loss "
            f"'{branch.loss.label}' but its base {base_name!r} ({base.source}) logs "
            f"{base.loss_kind} loss '{base.loss.label}'; choose one with --loss-kind"
        )

    def merge(b: Series | None, a: Series | None) -> Series | None:
        if a is None:
            return b
        take = a.step < j
        if b is None or not np.any(b.step == j):
            take |= a.step == j
        if b is None:
            b = Series(a.label, a.step[:0], a.value[:0], a.pos[:0])
        from_base = np.concatenate([np.ones(int(take.sum()), bool), np.zeros(b.step.size, bool)])
        return replace(
            b,
            step=np.concatenate([a.step[take], b.step]),
            value=np.concatenate([a.value[take], b.value]),
            pos=np.concatenate([a.pos[take], b.pos]),
            from_base=from_base,
        )

    loss = merge(branch.loss, base.loss)
    n_loss = int(loss.from_base.sum())
    lr = merge(branch.lr, base.lr)
    n_lr = 0 if lr is None or lr.from_base is None else int(lr.from_base.sum())
    note = (
        f"joined to base run {base_name!r} ({base.source}) at step {j}: "
        f"{n_loss} loss(es) and {n_lr} lr value(s) up to it come from the base"
    )
    return replace(
        branch,
        loss=loss,
        lr=lr,
        tokens=merge(branch.tokens, base.tokens),
        notes=(*branch.notes, note),
        base_source=base.source,
    )


#: How a trainer may have averaged the losses it logged (``--loss-average``).
LOSS_AVERAGES = "none, since-last, window:K (an integer K >= 1) or ema:BETA (0 <= BETA < 1)"


def parse_averaging(text: str | None) -> tuple[str, float] | None:
    """Parse how each logged loss was averaged: ``none``, ``since-last``, ``window:K``
    or ``ema:BETA`` (see :func:`average_centres`).

    >>> parse_averaging("since-last"), parse_averaging("window:100"), parse_averaging("none")
    (('since-last', 0.0), ('window', 100.0), None)
    """
    if text is None or text.strip().lower() in ("", "none"):
        return None
    method, _, arg = text.strip().lower().partition(":")
    method = method.strip()
    if method == "since-last" and not arg.strip():
        return ("since-last", 0.0)
    try:
        x = float(arg)
    except ValueError:
        x = float("nan")
    if method == "window" and x >= 1 and x == int(x):
        return ("window", x)
    if method == "ema" and 0 <= x < 1:
        return ("ema", x)
    raise LrlawError(f"loss average {text!r}: expected {LOSS_AVERAGES}")


def average_centres(
    steps: np.ndarray, spec: str | tuple[str, float] | None, logged: np.ndarray | None = None
) -> np.ndarray:
    r"""The centre (mean step) of the steps each logged loss averages.

    A law gives the loss at a step; a logged value that averages the per-step losses
    of a stretch ``W_i`` of training is compared with it at the stretch's centre
    ``c_i = \sum_{s \in W_i} w_s s / \sum w_s``.  The mean of a smooth curve over a
    stretch equals its value at the centre up to the curvature term
    ``L''(c) Var_w(s) / 2``, about ``alpha (alpha + 1) delta^2 / 24`` relative for a power
    law ``s^-alpha`` over a stretch of relative width ``delta`` (as for the resampling
    bins, :func:`bin_edges`); placed at the logged (last) step instead, it is off by
    half the stretch, a first-order error.  ``steps`` are the logged steps (strictly
    increasing), counted from the start of training:

    - ``since-last``: the mean of the steps after the previous logged one,
      ``W_i = (s_{i-1}, s_i]`` (Hugging Face ``Trainer``'s ``loss``, Megatron-LM's
      ``lm loss`` over ``--log-interval``, fairseq), ``c_i = (s_{i-1} + 1 + s_i) / 2``.
      ``logged`` (sorted) are all the steps the log has an entry for, those whose
      value was dropped (NaN) included: they still ended a stretch (default ``steps``).
      The first value is taken to average as many steps as the next one (a regular
      logging interval), from step 0 at most.
    - ``window:K``: the mean of the last ``K`` steps, ``W_i = [max(0, s_i - K + 1), s_i]``.
    - ``ema:BETA``: a debiased exponential moving average updated every step,
      weights ``beta^(s_i - k)`` for ``k = 0..s_i``, so ``c_i = s_i - lag`` with
      ``lag = sum_j j beta^j / sum_j beta^j`` over ``j = 0..s_i`` (``beta / (1 - beta)``
      once ``s_i`` is large).

    >>> average_centres(np.array([500, 1000, 1500]), "since-last").tolist()
    [250.5, 750.5, 1250.5]
    >>> average_centres(np.array([10, 1000]), "window:100").tolist()
    [5.0, 950.5]
    >>> round(float(average_centres(np.array([100000]), "ema:0.99")[0]), 6)
    99901.0
    """
    parsed = parse_averaging(spec) if isinstance(spec, str) or spec is None else spec
    s = np.asarray(steps, dtype=np.float64)
    if parsed is None or s.size == 0:
        return s.copy()
    kind, arg = parsed
    if kind == "since-last":
        every = s if logged is None else np.asarray(logged, dtype=np.float64)
        i = np.searchsorted(every, s)  # every[i - 1] < s[k]: the log before each value
        first = every[1] - every[0] if every.size > 1 else every[0]
        before = np.concatenate([[max(every[0] - first, -1.0)], every])
        return 0.5 * (before[i] + 1.0 + s)
    if kind == "window":
        return 0.5 * (np.maximum(0.0, s - arg + 1.0) + s)
    beta = float(arg)
    if beta == 0.0:
        return s.copy()
    t = np.maximum(s, 0.0)
    # sum_{j<=t} j b^j = b (1 - (t+1) b^t + t b^(t+1)) / (1-b)^2,
    # sum_{j<=t} b^j = (1 - b^(t+1)) / (1-b)
    bt = beta**t
    num = beta * (1.0 - (t + 1.0) * bt + t * bt * beta) / (1.0 - beta) ** 2
    den = (1.0 - bt * beta) / (1.0 - beta)
    return s - num / den


def place_averages(
    series: Series, spec: str | tuple[str, float] | None, logged: np.ndarray | None = None
) -> Series:
    """``series`` with each value moved to the centre of the steps it averages
    (:func:`average_centres`, rounded half up to a step).  Values whose centres round
    to one step (an EMA logged every step, in its first steps) are merged into their
    mean, their ``count`` summed.  ``logged``: as for :func:`average_centres`.

    >>> s = Series("loss", np.array([500, 1000]), np.array([3.0, 2.9]), np.array([2, 3]))
    >>> place_averages(s, "since-last").step.tolist()
    [251, 751]
    """
    parsed = parse_averaging(spec) if isinstance(spec, str) or spec is None else spec
    if parsed is None or series.step.size == 0:
        return series
    centre = np.floor(average_centres(series.step, parsed, logged) + 0.5).astype(np.int64)
    uniq, inv = np.unique(centre, return_inverse=True)
    if uniq.size == centre.size:
        return replace(series, step=centre)
    n = np.ones(centre.size) if series.count is None else np.asarray(series.count, np.float64)
    w = np.bincount(inv, n)
    value = np.bincount(inv, series.value * n) / w
    last = np.zeros(uniq.size, dtype=np.int64)
    last[inv] = np.arange(centre.size)  # the last entry of each merged group (steps ascend)
    base = None if series.from_base is None else series.from_base[last]
    return replace(series, step=uniq, value=value, pos=series.pos[last], from_base=base, count=w)


def parse_smoothing(text: str | None) -> tuple[str, float] | None:
    """Parse a smoothing spec: ``none``, ``ema:BETA`` (0 <= BETA < 1) or ``window:K`` (odd K).

    >>> parse_smoothing("ema:0.9"), parse_smoothing("window:51"), parse_smoothing("none")
    (('ema', 0.9), ('window', 51.0), None)
    """
    if text is None or text.strip().lower() in ("", "none"):
        return None
    method, _, arg = text.strip().partition(":")
    method = method.strip().lower()
    expected = "expected none, ema:BETA (0 <= BETA < 1) or window:K (an odd K >= 1)"
    try:
        x = float(arg)
    except ValueError:
        raise LrlawError(f"smoothing {text!r}: {expected}") from None
    if method == "ema" and 0 <= x < 1:
        return ("ema", x)
    if method == "window" and x >= 1 and x == int(x) and int(x) % 2 == 1:
        return ("window", x)
    raise LrlawError(f"smoothing {text!r}: {expected}")


def smooth(values: np.ndarray, method: str | tuple[str, float] | None) -> np.ndarray:
    r"""Smooth a noisy series (e.g. per-step training loss), point by point.

    - ``ema:BETA``: the debiased exponential moving average of Adam (Kingma &
      Ba 2015) and TensorBoard's smoothing slider,
      :math:`m_t = \beta m_{t-1} + (1-\beta) x_t`, :math:`m_{-1} = 0`,
      output :math:`m_t / (1 - \beta^{t+1})`.  It lags a decreasing curve:
      prefer a centred window for fitting.
    - ``window:K``: the centred moving average over ``K`` (odd) points,
      :math:`\frac{1}{|W_t|}\sum_{i \in W_t} x_i` with
      :math:`W_t = [t - h, t + h] \cap [0, n)`, ``h = (K - 1) / 2`` (shrunk at
      the ends).  Unbiased for a locally linear curve.

    >>> smooth(np.array([1.0, 2.0, 3.0, 10.0]), "window:3").tolist()
    [1.5, 2.0, 5.0, 6.5]
    >>> smooth(np.array([2.0, 2.0, 2.0]), "ema:0.9").tolist()
    [2.0, 2.0, 2.0]
    """
    spec = parse_smoothing(method) if isinstance(method, str) or method is None else method
    x = np.asarray(values, dtype=np.float64)
    if spec is None or x.size == 0:
        return x.copy()
    kind, arg = spec
    if kind == "ema":
        from scipy.signal import lfilter

        beta = float(arg)
        m = lfilter([1.0 - beta], [1.0, -beta], x)
        return m / (1.0 - beta ** np.arange(1, x.size + 1))
    h = (int(arg) - 1) // 2
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(x.size)
    lo, hi = np.maximum(i - h, 0), np.minimum(i + h + 1, x.size)
    return (c[hi] - c[lo]) / (hi - lo)


#: A resampling bin spans at most this fraction of its first step (see :func:`bin_edges`).
REL_BIN_WIDTH = 0.05


def bin_edges(steps: np.ndarray, max_points: int) -> np.ndarray:
    r"""Edges of the resampling bins of ``steps``: equal width, narrower early on.

    A bin starting at step ``e`` is ``min(w, max(0.05 e, 1))`` steps wide, and ``w`` is
    the largest width that keeps at most ``max_points`` non-empty bins (bisection).
    Averaging a curve over a bin and placing the mean at the bin's mean step is
    biased by its curvature: for a power law ``s^-alpha`` over a bin of relative
    width ``delta`` by about ``alpha (alpha + 1) delta^2 / 24``.  Equal-width bins of a
    long run span far more than their step early on (a 200-step bin at step 110
    averaged losses from 7.4 down to 6.6 into 9.7 at the first fitted point, and
    straddled the end of the warmup); capping ``delta`` at 5 % keeps the bias below
    1e-4 relative.  Where ``max_points`` is too small for that cap (it needs about
    ``20 ln(span / 20)`` bins), the bins grow geometrically with the smallest cap
    that fits.
    """
    lo, hi = float(steps[0]), float(steps[-1]) + 1.0

    def edges_for(width: float, rel: float = REL_BIN_WIDTH) -> np.ndarray:
        out, e = [lo], lo
        while e < hi:
            e += min(width, max(rel * e, 1.0))
            out.append(min(e, hi))
        return np.asarray(out)

    def count(edges: np.ndarray) -> int:  # non-empty bins (steps are sorted)
        return 1 + int(np.count_nonzero(np.diff(np.searchsorted(edges, steps, side="right"))))

    def bisect(fits, small: float, large: float) -> float:
        """The smallest value in [small, large] that fits (fits(large) holds)."""
        for _ in range(60):
            mid = 0.5 * (small + large)
            small, large = (small, mid) if fits(mid) else (mid, large)
            if large - small < 1e-3 * large:
                break
        return large

    span = hi - lo
    if count(edges_for(span)) > max_points:
        # Too few bins for the 5 % cap: geometric bins with the smallest cap that fits.
        rel = bisect(lambda r: count(edges_for(span, r)) <= max_points, REL_BIN_WIDTH, 1e6)
        return edges_for(span, rel)
    small = span / max_points
    if count(edges_for(small)) <= max_points:
        return edges_for(small)
    return edges_for(bisect(lambda w: count(edges_for(w)) <= max_points, small, span))


def resample(
    steps: np.ndarray, values: np.ndarray, max_points: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Average a long series into at most ``max_points`` step bins.

    Series with at most ``max_points`` points (or ``max_points=None``) are
    returned unchanged.  Otherwise the steps are cut into bins of equal width,
    except early in the run, where a bin spans at most 5 % of its step so that
    the curvature of a falling loss does not bias the averages (:func:`bin_edges`);
    each non-empty bin gives one point at the mean of its steps (rounded to an
    integer) with the mean of its values.  Averaging also reduces the noise of a
    per-step training loss (by about the square root of the bin size);
    equal-width bins keep the weighting of evenly logged points.

    >>> s, v = resample(np.arange(100, 110), np.arange(10.0), 5)
    >>> s.tolist(), v.tolist()
    ([100, 102, 104, 106, 108], [0.5, 2.5, 4.5, 6.5, 8.5])
    """
    steps, values, _ = resample_counts(steps, values, max_points)
    return steps, values


def resample_counts(
    steps: np.ndarray, values: np.ndarray, max_points: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`resample`, also returning how many values each point averages.

    >>> resample_counts(np.arange(100, 110), np.arange(10.0), 5)[2].tolist()
    [2, 2, 2, 2, 2]
    """
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if max_points is None or steps.size <= max_points:
        return steps, values, np.ones(steps.size, dtype=np.int64)
    if max_points < 1:
        raise LrlawError(f"max_points={max_points} must be >= 1")
    edges = bin_edges(steps, max_points)
    n_bins = edges.size - 1
    b = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(b, minlength=n_bins)
    full = counts > 0
    mean_step = np.bincount(b, steps.astype(np.float64), n_bins)[full] / counts[full]
    mean_val = np.bincount(b, values, n_bins)[full] / counts[full]
    # Rounding keeps the steps increasing; merge the rare bins that round alike.
    rounded = np.rint(mean_step).astype(np.int64)
    uniq, inv = np.unique(rounded, return_inverse=True)
    n = counts[full]
    if uniq.size < rounded.size:
        w = n.astype(np.float64)
        mean_val = np.bincount(inv, mean_val * w) / np.bincount(inv, w)
        n = np.bincount(inv, n).astype(np.int64)
    return uniq, mean_val, n


def union_sorted(*arrays: np.ndarray) -> np.ndarray:
    """Sorted union of int64 arrays (``np.union1d``, by sorting: numpy's hash-based unique is
    slow for millions of steps).

    >>> union_sorted(np.array([0, 5, 10]), np.array([5, 7])).tolist()
    [0, 5, 7, 10]
    """
    s = np.concatenate([np.asarray(a, dtype=np.int64) for a in arrays])
    s.sort(kind="stable")
    keep = np.ones(s.size, dtype=bool)
    keep[1:] = s[1:] != s[:-1]
    return s[keep]


def summarise_reports(parts: Sequence[tuple[str, Series | None]]) -> list[str]:
    """Summary phrases for several series, e.g. ``("loss 'val_loss'", series)``."""
    out = []
    for head, series in parts:
        if series is None:
            continue
        r = series.report
        noun = "losses" if head.startswith("loss") else "values"
        out.append(", ".join([f"{head}: {r.kept} {noun}", *r.notes(noun)]))
    return out
