"""Writing outputs safely: atomically, and never onto an input.

Every output is written to a temporary file in the target's folder and then
moved into place with ``os.replace``, so a reader never sees half a file and
an interrupted command leaves the old file intact.  :func:`check_output` is
called for every output before any work starts, so a bad ``--out`` fails in
a second, not after the fit.

Imports: :mod:`lrlaw.errors` only (a base module: every layer may write files).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from lrlaw.errors import LrlawError

__all__ = [
    "atomic_output",
    "check_output",
    "write_text_atomic",
]


def check_output(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """Fail early if ``path`` cannot be an output: it is an input, its folder is missing,
    or it is a folder.  Commands call this for every output before doing any work."""
    path = Path(path)
    target = path.resolve()
    for inp in inputs:
        if Path(inp).resolve() == target:
            raise LrlawError(f"{path}: refusing to overwrite an input file")
    if not path.parent.exists():
        raise LrlawError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise LrlawError(f"{path}: is a folder; expected a file name")
    return path


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``.

    Nothing is left behind when the block raises.  Refuses to write onto one
    of ``inputs``.
    """
    path = check_output(path, inputs)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode a plain open()
        # would (0666 minus the umask), or keep the mode of the file it replaces.
        if path.exists():
            mode = path.stat().st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(
    path: str | os.PathLike, text: str, inputs: Sequence[str | os.PathLike] = ()
) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, inputs) as tmp:
        tmp.write_text(text)
