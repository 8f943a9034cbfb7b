"""lrlaw.cli.run, the console script's entry point: main(), then os._exit after the exit
handlers and a flush (issue 18.2: Python's teardown of a process that imported JAX costs
~0.3 s CPU). The same output, files and exit status as main()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = "cosine:peak=3e-4,total=2000,warmup=100,final=3e-5"

_RUN = (
    "import atexit, sys\n"
    "atexit.register(print, 'exit handler ran')\n"
    "sys.argv = ['lrlaw', *sys.argv[1:]]\n"
    "from lrlaw.cli import {entry}\n"
    "{entry}()\n"
)


def _cli(entry: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.run(
        [sys.executable, "-c", _RUN.format(entry=entry), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("schedule", SPEC, "--out", "lr.csv"),  # imports JAX, writes a file
        ("schedule", "cosine:peak=-3,total=2000", "--out", "bad.csv"),  # an error
        ("--help",),  # no JAX: the ordinary exit
    ],
)
def test_run_exits_as_main_does(tmp_path, args):
    outs = []
    for entry in ("main", "run"):
        folder = tmp_path / entry
        folder.mkdir()
        proc = _cli(entry, folder, *args)
        written = sorted(p.name for p in folder.iterdir() if p.suffix == ".csv")
        text = (folder / "lr.csv").read_text() if "lr.csv" in written else None
        outs.append((proc.returncode, proc.stdout, proc.stderr, written, text))
    assert outs[0] == outs[1]
    assert outs[1][1].rstrip().endswith("exit handler ran")  # atexit handlers still run
    if args[1:2] == (SPEC,):
        assert outs[1][0] == 0 and outs[1][3] == ["lr.csv"]
        assert len(outs[1][4].splitlines()) == 2002  # header + steps 0..2000, all flushed
    elif args[0] == "schedule":
        assert outs[1][0] != 0 and "peak" in outs[1][2]


def test_checkout_runner_and_console_script_use_run():
    assert "from lrlaw.cli import run" in (ROOT / "cli.py").read_text()
    assert 'lrlaw = "lrlaw.cli:run"' in (ROOT / "pyproject.toml").read_text()
