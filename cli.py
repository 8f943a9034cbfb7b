"""Run the lrlaw command line from a checkout: ``python cli.py --help``."""

from lrlaw.cli import run

if __name__ == "__main__":
    run()
