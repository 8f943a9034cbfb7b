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


def test_cli_xla_flags_are_added_only_where_they_were_checked() -> None:
    """The command line's own XLA flags (issue 18.2: a faster cold compile): appended to
    the user's XLA_FLAGS for the jaxlib versions they were checked on; never with
    LRLAW_NO_XLA_FLAGS=1, for another jaxlib (XLA stops at an unknown flag), or over the
    user's own setting of the same flag."""
    from lrlaw.cli import CLI_XLA_FLAGS, cli_xla_flags

    flag = CLI_XLA_FLAGS[0]
    assert cli_xla_flags({}, "0.10.2") == " ".join(CLI_XLA_FLAGS)
    assert cli_xla_flags({"XLA_FLAGS": "--xla_dump_to=/tmp/d"}, "0.10.7") == (
        "--xla_dump_to=/tmp/d " + " ".join(CLI_XLA_FLAGS)
    )
    name = flag.split("=")[0]
    assert cli_xla_flags({"XLA_FLAGS": f"{name}=true"}, "0.10.2") is None
    assert cli_xla_flags({"LRLAW_NO_XLA_FLAGS": "1"}, "0.10.2") is None
    assert cli_xla_flags({}, "0.11.0") is None and cli_xla_flags({}, "0.9.1") is None
    assert cli_xla_flags({}, "") is None and cli_xla_flags({}, "dev") is None


def test_the_cli_xla_flags_leave_a_fit_bit_identical(tmp_path: Path) -> None:
    """A fit and its band through the console entry, with and without the command line's
    XLA flags: the same bits (checked for every law when they were added; one here)."""
    import json

    mpl = ROOT / "data" / "mpl" / "100m"
    args = ("fit", *(str(mpl / f"{n}.csv") for n in ("cosine_24000", "constant_24000")),
            "--schedules", str(ROOT / "data" / "schedules.txt"), "--bootstrap", "40")  # fmt: skip
    fits = []
    for off in ("0", "1"):
        os.environ["LRLAW_NO_XLA_FLAGS"] = off
        try:
            out = _cli("run", tmp_path, *args, "--out", f"fit{off}.json")
        finally:
            del os.environ["LRLAW_NO_XLA_FLAGS"]
        assert out.returncode == 0, out.stderr
        fits.append(json.loads((tmp_path / f"fit{off}.json").read_text()))
    assert fits[0]["params"] == fits[1]["params"]
    assert fits[0]["uncertainty"]["params"] == fits[1]["uncertainty"]["params"]
    # ... and the console entry did set them in its process (where this jaxlib gets them)
    import jaxlib.version

    from lrlaw.cli import CLI_XLA_FLAGS, cli_xla_flags

    show = "import os\nfrom lrlaw.cli import _set_cli_xla_flags\n_set_cli_xla_flags()\n"
    show += "print(os.environ.get('XLA_FLAGS', ''))"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = str(ROOT)
    got = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    if cli_xla_flags({}, jaxlib.version.__version__) is not None:
        assert got.stdout.split() == list(CLI_XLA_FLAGS)
    else:
        assert got.stdout.strip() == ""


_FAULTS = (
    "import resource, sys\n"
    "import numpy as np\n"
    "from lrlaw._malloc import tune_malloc\n"
    "tuned = tune_malloc() if sys.argv[1] == 'tune' else False\n"
    "np.ones(6_250_000).sum()  # 50 MB, once, before counting\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "for _ in range(5):\n"
    "    np.ones(6_250_000).sum()\n"
    "print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
)


@pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"),
    reason="glibc's mallopt",
)
def test_tune_malloc_reuses_large_buffers_instead_of_faulting_them_in() -> None:
    """Issue 18.1 (session 16): a 50 MB buffer allocated and freed five times faults its
    pages in every time with glibc's defaults (a fresh mmap each), and almost never
    once the thresholds are raised (the freed heap is reused)."""
    counts = {}
    for mode in ("default", "tune"):
        out = subprocess.run(
            [sys.executable, "-c", _FAULTS, mode],
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        counts[mode] = (out[0], int(out[1]))
    assert counts["tune"][0] == "True" and counts["default"][0] == "False"
    assert counts["default"][1] > 5 * 10  # at least the huge pages of 5 fresh mappings
    assert counts["tune"][1] < counts["default"][1] / 10


_APPLIED = (
    "import lrlaw.cli as cli, lrlaw._malloc as m\n"
    "cli.main = lambda: print('applied', m.applied())\n"
    "cli.run()\n"
)


def test_the_command_line_tunes_malloc_unless_switched_off() -> None:
    """``lrlaw.cli.run`` applies ``tune_malloc`` in its own process (where glibc has it),
    and not with ``LRLAW_NO_MALLOC_TUNING=1``; the library alone never does."""
    from lrlaw._malloc import tune_malloc

    outs = {}
    for switch in ("", "1"):
        env = dict(os.environ, PYTHONPATH=str(ROOT), LRLAW_NO_MALLOC_TUNING=switch)
        proc = subprocess.run(
            [sys.executable, "-c", _APPLIED], env=env, capture_output=True, text=True
        )
        outs[switch] = proc.stdout.strip()
    library = subprocess.run(
        [sys.executable, "-c", "import lrlaw, lrlaw._malloc as m; lrlaw.fit; print(m.applied())"],
        env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    glibc = sys.platform.startswith("linux") and (
        os.confstr("CS_GNU_LIBC_VERSION") or ""
    ).startswith("glibc")
    assert outs[""] == f"applied {glibc}"
    assert outs["1"] == "applied False"
    assert library == "False"
    assert callable(tune_malloc)
