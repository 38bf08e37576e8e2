"""``python -m connect_python call URL pkg.Service/Method``: the command-line caller."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m connect_python"))
