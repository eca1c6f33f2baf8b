"""``python -m demo``: the command-line interface (see demo/cli.py)."""

import sys

from demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
