"""Helpers shared by the command-line tests."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from lrlaw.cli import app

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args: object):
    """Invoke the app in-process; stdout and stderr are captured separately."""
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_user_error(result, *fragments: str) -> str:
    """Exit code 2, exactly one line on stderr starting with 'error:', no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (nothing imported yet); assert it exits 0."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out
