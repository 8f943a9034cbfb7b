"""Progress bars for long work: fits, bootstrap refits, schedule optimisation, large files.

Library code marks long work with :func:`task`; nothing is shown unless a
reporter is active.  The ``lrlaw`` command line activates a terminal bar
(:mod:`rich`) when stderr is a terminal and stays quiet otherwise (pipes,
files, CI logs).  In Python or a notebook::

    from lrlaw import progress
    with progress.bars():
        result = lrlaw.fit(curves, bootstrap=200)

Work that runs inside compiled JAX code (the free-form schedule optimiser)
reports from a host callback (:func:`tick`) once per window of steps, so a
bar costs one Python call per few hundred solver steps.

A reporter is any object with ``start(description, total) -> handle``,
``advance(handle, n)`` and ``stop(handle)`` (see :class:`Reporter`); tests
use a recording one.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

__all__ = [
    "Reporter",
    "Task",
    "active",
    "bars",
    "set_default",
    "task",
    "terminal_reporter",
    "tick",
    "use",
]


class Reporter:
    """Receives progress events.  The base class ignores them."""

    def start(self, description: str, total: int | None) -> Any:
        """A task begins (``total`` ``None``: unknown length, a spinner); returns a handle."""
        return None

    def advance(self, handle: Any, n: int) -> None:
        """``n`` more units of the task are done."""

    def stop(self, handle: Any) -> None:
        """The task ended (finished or failed)."""


class _RichReporter(Reporter):
    """A :mod:`rich` progress display on ``file`` (transient: it vanishes when done)."""

    def __init__(self, file: IO[str], force_terminal: bool | None = None) -> None:
        self._file = file
        self._force = force_terminal
        self._progress: Any = None
        self._live = 0

    def _ensure(self) -> Any:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            console = Console(file=self._file, force_terminal=self._force)
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
        if self._live == 0:
            self._progress.start()
        self._live += 1
        return self._progress

    def start(self, description: str, total: int | None) -> Any:
        return self._ensure().add_task(description, total=total)

    def advance(self, handle: Any, n: int) -> None:
        self._progress.advance(handle, n)

    def stop(self, handle: Any) -> None:
        self._progress.remove_task(handle)
        self._live -= 1
        if self._live == 0:
            self._progress.stop()


_LOCK = threading.Lock()
_reporter: Reporter | None = None
# Open tasks, innermost last; tick() (called from JAX host callbacks, possibly on
# another thread) advances the innermost one.
_open: list[Task] = []


class Task:
    """A unit of long work in progress (see :func:`task`)."""

    def __init__(self, reporter: Reporter | None, description: str, total: int | None) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._reporter = reporter
        self._handle = None if reporter is None else reporter.start(description, total)

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` more units done."""
        self.done += n
        if self._reporter is not None:
            self._reporter.advance(self._handle, n)

    def _stop(self) -> None:
        if self._reporter is not None:
            self._reporter.stop(self._handle)


def active() -> bool:
    """Whether progress is being shown (a reporter is in use)."""
    return _reporter is not None


@contextlib.contextmanager
def task(description: str, total: int | None = None) -> Iterator[Task]:
    """Report a long piece of work; ``advance`` the yielded :class:`Task` as it goes.

    Without an active reporter this costs a few attribute updates.
    """
    t = Task(_reporter, description, total)
    with _LOCK:
        _open.append(t)
    try:
        yield t
    finally:
        with _LOCK:
            _open.remove(t)
        t._stop()


def tick(n: Any = 1) -> None:
    """Advance the innermost open task by one unit (for ``jax.debug.callback``).

    The argument is ignored beyond being a JAX value the callback depends on;
    it keeps XLA from hoisting the callback out of a loop.
    """
    del n
    with _LOCK:
        t = _open[-1] if _open else None
    if t is not None:
        t.advance(1)


@contextlib.contextmanager
def use(reporter: Reporter | None) -> Iterator[None]:
    """Send progress events to ``reporter`` (``None``: none) inside the block."""
    global _reporter
    previous, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = previous


def bars(
    enabled: bool | None = None, file: IO[str] | None = None, *, force_terminal: bool | None = None
) -> contextlib.AbstractContextManager[None]:
    """Show progress bars on ``file`` (default stderr) inside the block.

    ``enabled=None`` (default) shows them only when ``file`` is a terminal, so
    piped or logged output stays clean; ``force_terminal`` is passed to rich.
    """
    file = sys.stderr if file is None else file
    if enabled is None:
        enabled = _isatty(file)
    return use(_RichReporter(file, force_terminal) if enabled else None)


def set_default(reporter: Reporter | None) -> None:
    """Use ``reporter`` from now on (the command line sets a terminal bar once per run)."""
    global _reporter
    _reporter = reporter


def terminal_reporter(file: IO[str] | None = None) -> Reporter | None:
    """A rich bar on ``file`` (default stderr) if it is a terminal, else ``None``."""
    file = sys.stderr if file is None else file
    return _RichReporter(file) if _isatty(file) else None


def _isatty(file: IO[str]) -> bool:
    return bool(getattr(file, "isatty", lambda: False)())
