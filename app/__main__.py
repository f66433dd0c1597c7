"""`python -m app`: the window (with arguments: the command line, as `llada-studio` does)."""

import sys

from .launcher import main

if __name__ == "__main__":
    sys.exit(main())
