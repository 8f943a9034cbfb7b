"""Run the lrlaw command line from a checkout: ``python cli.py --help``."""

from lrlaw.cli import main

if __name__ == "__main__":
    main()
