"""`python -m app`: the window (with arguments: the command line, as `llada-studio` does)."""

import sys

# The installed name (llada_studio.app), whose core finds the compiled engine; see core/installed.py.
from llada_studio.app.launcher import main

if __name__ == "__main__":
    sys.exit(main())
