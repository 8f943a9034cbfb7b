"""Regenerate every command-line example of the docs from the shipped data.

Run from anywhere::

    python docs/make_examples.py                  # all examples, then the gallery figures
    python docs/make_examples.py --no-figures     # examples only
    python docs/make_examples.py quickstart_fit compare_schedules   # some (--list names them)

Each example is a shell command line, run by ``bash`` exactly as the docs print it, in a
scratch folder that links ``data/`` and ``tests/`` of the checkout (so outputs such as
``fit.json`` land there, never in the repository).  ``lrlaw`` on that ``PATH`` runs this
checkout's ``lrlaw.cli`` (``PYTHONPATH`` points at the checkout).  For example ``NAME``
the script writes

- ``docs/snippets/NAME.sh``: the command line, as the pages show it;
- ``docs/snippets/NAME.txt``: what it printed (stdout and stderr, in order).

The pages include both with ``--8<--`` (pymdownx.snippets), so the docs cannot drift from
the code: after a change, rerun this script and commit ``docs/snippets``.  A few snippets
are computed from an example's outputs (``quickstart_coverage.txt``: the share of held-out
points inside the band of ``pred.csv``; ``compare_check.md``: measured against predicted
final losses).  ``tests/test_readme.py`` checks the numbers README quotes against the
committed snippets.  Then it runs ``docs/make_gallery.py`` (``docs/gallery/*.png``) and
copies the law-comparison figure to ``docs/law_comparison_100m.png``.

All the examples take 7.5 minutes of CPU time (22 minutes of wall time on two busy shared
cores); the leave-one-curve-out and ``--law auto`` examples take most of it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = ROOT / "docs" / "snippets"
sys.path.insert(0, str(ROOT / "docs"))  # make_gallery, next to this file

MPL_TRAIN = "--train cosine_24000 --train constant_24000 --train wsdcon_9"
HELD_OUT_100M = [
    "cosine_72000",
    "constant_72000",
    "wsd_20000_24000",
    "wsdld_20000_24000",
    "wsdcon_3",
    "wsdcon_18",
]
SPEC_100M = "peak=3e-4,total=24000,warmup=2160"


def wrap(command: str, width: int = 88) -> str:
    """``command`` broken into lines of at most ``width`` characters with `` \\`` continuations.

    Breaks go before `` --option``, `` -c`` and `` && `` (always before ``&&``) only, so
    bash runs the wrapped command exactly as the one-line one; a longer piece stays whole.
    """
    pieces = re.split(r" (?=--|-c |&& )", command)
    lines = [pieces[0]]
    for piece in pieces[1:]:
        if not piece.startswith("&&") and len(lines[-1]) + 1 + len(piece) + 2 <= width:
            lines[-1] += " " + piece
        else:
            lines.append("    " + piece)
    return " \\\n".join(lines)


@dataclass(frozen=True)
class Example:
    """One documented command line: its snippet name, the command, the exit code it must give."""

    name: str
    command: str
    rc: int = 0


#: The quick start's command 1 is these three joined by `` && `` after ``pip install .``.
QUICKSTART = [
    Example(
        "quickstart_fit",
        "lrlaw fit data/mpl/100m/{cosine_24000,constant_24000,wsdcon_9}.csv"
        " --schedules data/schedules.txt --out fit.json --plot fit.png",
    ),
    Example(
        "quickstart_predict",
        "lrlaw predict fit.json data/mpl/100m/*.csv --schedules data/schedules.txt"
        " --out pred.csv --plot pred.png",
    ),
    Example(
        "quickstart_evaluate",
        "lrlaw evaluate fit.json data/mpl/100m/{"
        + ",".join(HELD_OUT_100M)
        + "}.csv --schedules data/schedules.txt",
    ),
]
QUICKSTART_COMMAND = "pip install . && " + " && ".join(e.command for e in QUICKSTART)
TEST_COMMAND = "pip install -e '.[test]' && pytest"


def _wrapped(name: str, command: str, rc: int = 0) -> Example:
    """An :class:`Example` whose command is wrapped for the page (:func:`wrap`)."""
    return Example(name, wrap(command), rc)


EXAMPLES: list[Example] = [
    *QUICKSTART,
    Example("help", "lrlaw --help"),
    _wrapped(
        "bad_input",
        "lrlaw fit tests/bad_inputs/steps_backwards.csv --out bad.json",
        rc=2,
    ),
    _wrapped(
        "fit124m_wandb",
        "lrlaw fit data/schaipp-124m/stable-124m-lr0.001.json"
        " data/schaipp-124m/cos-zero-124m-lr0.001.json"
        " --initial-lr 1e-5 --bootstrap 0 --out fit124m_wandb.json",
    ),
    _wrapped(
        "fit124m_cooldowns",
        "lrlaw fit data/schaipp-124m/ann124-0.2-lr0.001.json"
        " data/schaipp-124m/ann124-0.2sqrt-lr0.001.json"
        " --base data/schaipp-124m/stable-124m-lr0.001.json --initial-lr 1e-5"
        " --bootstrap 0 --out cooldowns.json",
    ),
    _wrapped(
        "fit124m",
        "lrlaw fit data/schaipp-124m/canonical/stable.csv data/schaipp-124m/canonical/cosine.csv"
        " --schedules data/schedules.txt --out fit124m.json",
    ),
    _wrapped(
        "schedule_export",
        "lrlaw schedule 'cosine:peak=3e-4,warmup=2160,total=24000,final=3e-5' --out cosine.csv"
        " && lrlaw schedule 'wsd:peak=3e-4,warmup=2160,total=24000,decay_start=20000,final=3e-5'"
        " --out wsd.json --plot wsd.png",
    ),
    _wrapped(
        "predict_candidates",
        "lrlaw schedule 'inverse_sqrt:peak=3e-4,warmup=500,total=20000,cooldown=4000'"
        " --out isq.csv && lrlaw predict fit.json -c isq.csv"
        " -c 'cos=cosine:peak=3e-4,total=24000,final=3e-5,warmup=2160' --out cand.csv",
    ),
    _wrapped(
        "laws_25m",
        f"lrlaw evaluate data/mpl/25m/*.csv --schedules data/schedules.txt {MPL_TRAIN}"
        " --law momentum --law multipower --law convex",
    ),
    _wrapped(
        "laws_100m",
        f"lrlaw evaluate data/mpl/100m/*.csv --schedules data/schedules.txt {MPL_TRAIN}"
        " --law momentum --law multipower --law convex --plot law_comparison_100m.png",
    ),
    _wrapped(
        "laws_124m",
        "lrlaw evaluate data/schaipp-124m/canonical/*.csv --schedules data/schedules.txt"
        " --train stable --train cosine --law momentum --law multipower --law convex",
    ),
    _wrapped(
        "cv_25m",
        "lrlaw evaluate data/mpl/25m/*.csv --schedules data/schedules.txt --cv --law momentum",
    ),
    _wrapped(
        "auto_25m",
        "lrlaw fit data/mpl/25m/{cosine_24000,constant_24000,wsdcon_9}.csv"
        " --schedules data/schedules.txt --law auto --out fit_auto.json",
    ),
    _wrapped(
        "compare_schedules",
        "lrlaw compare fit.json"
        f" --schedule cosine=cosine:{SPEC_100M},final=3e-5"
        f" --schedule constant=constant:{SPEC_100M}"
        f" --schedule wsd=wsd:{SPEC_100M},decay_start=20000,final=3e-5,shape=exp"
        f" --schedule wsd-linear=wsd:{SPEC_100M},decay_start=20000,final=3e-5,shape=linear"
        " --out compare.csv --plot compare.png",
    ),
    _wrapped(
        "optimize",
        "lrlaw optimize fit.json --total-steps 24000 --peak 3e-4 --warmup 2160"
        " --out schedule.csv --plot optimum.png",
    ),
    _wrapped(
        "fit124m_convex",
        "lrlaw fit data/schaipp-124m/canonical/stable.csv data/schaipp-124m/canonical/cosine.csv"
        " --schedules data/schedules.txt --law convex --out fit124m_convex.json",
    ),
    _wrapped(
        "refine",
        "lrlaw refine data/schaipp-124m/stable-124m-lr0.001.json --peak 1e-3 --warmup 300"
        " --warmup-start 1e-5 --out refined.csv --fit fit124m.json --plot refined.png",
    ),
    _wrapped(
        "refine_convex",
        "lrlaw refine data/schaipp-124m/stable-124m-lr0.001.json --peak 1e-3 --warmup 300"
        " --warmup-start 1e-5 --out refined_convex.csv --fit fit124m_convex.json",
    ),
    _wrapped(
        "hparams_fit",
        "lrlaw hparams fit data/steplaw/dense_lr_bs_loss.csv --out hp.json"
        " --plot-laws laws.png --plot-landscape landscape.png",
    ),
    Example("hparams_suggest", "lrlaw hparams suggest --params 1e9 --tokens 1e11 --fit hp.json"),
    _wrapped(
        "plan",
        "lrlaw plan --params 4.29e8 --tokens 4e10 --fit fit.json --out plan.md --plot plan.png",
    ),
]
BY_NAME = {e.name: e for e in EXAMPLES}


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def scratch_dir() -> Path:
    """A fresh working folder with ``data`` and ``tests`` linked and ``lrlaw`` on a bin path."""
    work = Path(tempfile.mkdtemp(prefix="lrlaw-examples-"))
    for name in ("data", "tests"):
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    bindir = work / ".bin"
    bindir.mkdir()
    shim = bindir / "lrlaw"
    # a Python script named lrlaw, so that usage lines read "lrlaw ...", as installed
    shim.write_text(f"#!{sys.executable}\nfrom lrlaw.cli import run\n\nrun()\n")
    shim.chmod(0o755)
    return work


def run_example(example: Example, work: Path) -> str:
    """Run ``example.command`` with bash in ``work``; return its output (stdout + stderr)."""
    env = dict(os.environ)
    env.update(
        PATH=f"{work / '.bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep),
        COLUMNS="100",
        NO_COLOR="1",
        TERM="dumb",
    )
    proc = subprocess.run(
        ["bash", "-c", example.command],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if proc.returncode != example.rc:
        raise SystemExit(
            f"example {example.name!r} exited with {proc.returncode}, expected {example.rc}:\n"
            f"$ {example.command}\n{proc.stdout}"
        )
    return proc.stdout


def band_coverage(pred_csv: Path, runs: list[str]) -> tuple[int, float]:
    """Number of observed points of ``runs`` in ``pred_csv`` with a band, and the share inside.

    A point counts when its ``loss``, ``pred_lo`` and ``pred_hi`` are all given (the band is
    empty at step 0 and inside the warmup); it is inside when ``pred_lo <= loss <= pred_hi``.
    """
    import pandas as pd

    df = pd.read_csv(pred_csv)
    held = df[df["run"].isin(runs)].dropna(subset=["loss", "pred_lo", "pred_hi"])
    inside = (held["loss"] >= held["pred_lo"]) & (held["loss"] <= held["pred_hi"])
    return len(held), float(inside.mean())


def coverage_snippet(work: Path) -> str:
    """The quick start's band coverage over the six held-out 100M runs, as one line."""
    n, share = band_coverage(work / "pred.csv", HELD_OUT_100M)
    return (
        f"held-out points inside the 90 % band: {100 * share:.1f} % of {n}"
        f" ({', '.join(HELD_OUT_100M)})\n"
    )


def compare_check_snippet(work: Path) -> str:
    """Markdown table: each compared schedule's measured final loss against its prediction."""
    import pandas as pd

    runs = {
        "wsd": "wsd_20000_24000",
        "wsd-linear": "wsdld_20000_24000",
        "cosine": "cosine_24000",
        "constant": "constant_24000",
    }
    table = pd.read_csv(work / "compare.csv")  # rank,name,spec,...,final_loss,band_lo,band_hi,...
    banded = {"band_lo", "band_hi"} <= set(table.columns)
    rows = []
    for name, run in runs.items():
        data = pd.read_csv(ROOT / "data" / "mpl" / "100m" / f"{run}.csv").dropna(subset=["loss"])
        pred = table[table["name"] == name].iloc[0]
        measured = float(data["loss"].iloc[-1])
        band, inside = "-", "-"
        if banded:
            band = f"{pred['band_lo']:.4f}–{pred['band_hi']:.4f}"
            inside = "yes" if pred["band_lo"] <= measured <= pred["band_hi"] else "no"
        rows.append(
            (
                name,
                run,
                measured,
                int(data["step"].iloc[-1]),
                float(pred["final_loss"]),
                band,
                inside,
            )
        )
    measured_rank = {r[0]: i + 1 for i, r in enumerate(sorted(rows, key=lambda r: r[2]))}
    predicted_rank = {r[0]: i + 1 for i, r in enumerate(sorted(rows, key=lambda r: r[4]))}
    lines = [
        "| schedule | measured final loss (step) | predicted final loss | 90 % band "
        "| measured inside the band | measured rank | predicted rank |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, run, measured, step, predicted, band, inside in rows:
        lines.append(
            f"| {name} (`{run}`) | {measured:.4f} ({step}) | {predicted:.4f} | {band} | {inside} "
            f"| {measured_rank[name]} | {predicted_rank[name]} |"
        )
    return "\n".join(lines) + "\n"


DERIVED = {
    "quickstart_coverage.txt": ("quickstart_predict", coverage_snippet),
    "compare_check.md": ("compare_schedules", compare_check_snippet),
}


def main(argv: list[str] | None = None) -> int:
    """Run the examples named (all by default), write their snippets, redraw the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="examples to run (default: all; see --list)")
    parser.add_argument("--list", action="store_true", help="print the example names and exit")
    parser.add_argument("--out", type=Path, default=SNIPPETS, help="snippet folder")
    parser.add_argument("--no-figures", action="store_true", help="skip docs/make_gallery.py")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(f"{e.name}: {e.command}" for e in EXAMPLES))
        return 0
    unknown = [n for n in args.names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown example(s) {', '.join(unknown)}; see --list")
    wanted = set(args.names) or set(BY_NAME)
    # an example may need the outputs of the ones before it (fit.json, fit124m.json, hp.json)
    needed = {
        "quickstart_predict": {"quickstart_fit"},
        "quickstart_evaluate": {"quickstart_fit"},
        "predict_candidates": {"quickstart_fit"},
        "compare_schedules": {"quickstart_fit"},
        "optimize": {"quickstart_fit"},
        "plan": {"quickstart_fit"},
        "refine": {"fit124m"},
        "refine_convex": {"fit124m_convex"},
        "hparams_suggest": {"hparams_fit"},
    }
    run = set(wanted)
    for name in wanted:
        run |= needed.get(name, set())
    work = scratch_dir()
    try:
        for example in EXAMPLES:
            if example.name not in run:
                continue
            start = time.perf_counter()
            output = run_example(example, work)
            if example.name in wanted:
                _write(args.out / f"{example.name}.sh", example.command + "\n")
                _write(args.out / f"{example.name}.txt", output)
            print(f"{example.name:22s} {time.perf_counter() - start:6.1f} s", flush=True)
            for snippet, (source, make) in DERIVED.items():
                if source == example.name and source in wanted:
                    _write(args.out / snippet, make(work))
            if example.name == "laws_100m" and args.out == SNIPPETS:
                from make_gallery import shrink_png, write_png

                raw = (work / "law_comparison_100m.png").read_bytes()
                write_png(shrink_png(raw), ROOT / "docs" / "law_comparison_100m.png")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.no_figures or args.names:
        return 0
    import make_gallery

    return make_gallery.main([])


if __name__ == "__main__":
    raise SystemExit(main())
