"""The installed package's layout over a clone, for tools that read files rather than import.

A wheel installs the repository's `core/` and `app/` folders as `llada_studio.core` and
`llada_studio.app`; in a clone an editable install (`pip install -e .`) maps those names to the
folders with an import hook. Tools that look for files on disk (mypy, import-linter, PyInstaller)
cannot follow an import hook, so this writes build/view/llada_studio/ with links to the folders
(copies where links are not allowed, as on Windows without developer mode) and prints the folder
to put on their path.

    python3 packaging/package_view.py        # prints .../build/view
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEW = ROOT / "build" / "view"
PARTS = ("core", "app", "resources")


def write_view(view: Path = VIEW) -> Path:
    """Make (or refresh) view/llada_studio and return `view`, the folder for the tools' path."""
    package = view / "llada_studio"
    package.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "packaging" / "llada_studio_package.py", package / "__init__.py")
    for part in PARTS:
        link = package / part
        if link.is_symlink() and link.resolve() == (ROOT / part).resolve():
            continue
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        try:
            link.symlink_to(ROOT / part, target_is_directory=True)
        except OSError:  # no symlinks here: a copy (refreshed on every call)
            shutil.copytree(ROOT / part, link, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
    return view


if __name__ == "__main__":
    print(write_view())
    sys.exit(0)
