"""Check that a change keeps behaviour: rerun the documented examples, diff their outputs.

Run from anywhere::

    python docs/compare_examples.py                      # every example (7.5 CPU minutes)
    python docs/compare_examples.py quickstart_fit help  # some (make_examples.py --list)
    python docs/compare_examples.py --keep DIR           # keep the new outputs in DIR
    python docs/compare_examples.py --against DIR        # compare a folder made before; run nothing

``docs/snippets/*.txt`` hold what each command of README and the docs printed when they
were last regenerated (``docs/make_examples.py``).  This script runs the same commands
with this checkout's code into a scratch folder and compares every output line by line.
Wall-clock times (``1.8 s``, ``fitted in 3.2 s``) are masked, since they differ from run
to run; every other character must agree, numbers included.  It prints one line per
example (``same`` / ``DIFFERS``) and the differing lines, and exits 1 when any differs.
It writes nothing into the repository.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = ROOT / "docs" / "snippets"
#: A wall-clock time as the commands print it: "3.2 s", "12 ms", "0.4 min", "(7 s)".
TIME = re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s|min|seconds)\b")


def masked(text: str) -> list[str]:
    """``text``'s lines with every wall-clock time replaced by ``<t>``: times with a unit,
    and the cells of a table column headed ``..._s`` (``fit_s``: seconds)."""
    out, column, width = [], None, 0
    for line in text.splitlines():
        cells = line.split()
        heads = [i for i, c in enumerate(cells) if c.endswith("_s")]
        if heads:
            column, width = heads[0], len(cells)
        elif column is not None and len(cells) == width:
            cells[column] = "<t>"
            line = " ".join(cells)
        else:
            column = None
        out.append(TIME.sub("<t>", line))
    return out


def compare(old: Path, new: Path, names: list[str]) -> int:
    """Compare the ``.txt`` snippets of ``names`` (default: all in ``new``); 1 if any differ."""
    names = names or sorted(p.stem for p in new.glob("*.txt"))
    differ = 0
    for name in names:
        a, b = old / f"{name}.txt", new / f"{name}.txt"
        if not a.is_file() or not b.is_file():
            print(f"{name}: MISSING in {'the committed snippets' if not a.is_file() else new}")
            differ += 1
            continue
        diff = list(
            difflib.unified_diff(
                masked(a.read_text()), masked(b.read_text()), "committed", "now", lineterm="", n=0
            )
        )
        if diff:
            differ += 1
            print(f"{name}: DIFFERS")
            print("\n".join("    " + line for line in diff[2:]))
        else:
            print(f"{name}: same")
    print(f"{len(names) - differ} of {len(names)} examples print the same (times masked)")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="examples to compare (default: all)")
    parser.add_argument(
        "--against", type=Path, help="a folder of snippets already made: compare only, run nothing"
    )
    parser.add_argument(
        "--keep", type=Path, help="write the new outputs here (default: a temp folder)"
    )
    args = parser.parse_args(argv)
    if args.against is not None:
        return compare(SNIPPETS, args.against, args.names)
    run = [sys.executable, str(ROOT / "docs" / "make_examples.py"), "--no-figures"]
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        subprocess.run([*run, "--out", str(args.keep), *args.names], check=True)
        return compare(SNIPPETS, args.keep, args.names)
    with tempfile.TemporaryDirectory(prefix="lrlaw-examples-") as tmp:
        subprocess.run([*run, "--out", tmp, *args.names], check=True)
        return compare(SNIPPETS, Path(tmp), args.names)


if __name__ == "__main__":
    sys.exit(main())
