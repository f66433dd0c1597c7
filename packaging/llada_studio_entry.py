"""Entry point of the PyInstaller bundle: the same `main` as the `llada-studio` console script.

No arguments: the window. `--self-test`: load the bundled model offscreen, generate, print a
summary, exit 0. Anything else: the command line (`core.cli`)."""

import sys

from llada_studio.app.launcher import main

if __name__ == "__main__":
    sys.exit(main())
