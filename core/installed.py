"""`python -m core.cli` (and the other `python -m core.X` entry points) from a clone.

Run so, the module is imported as top-level `core`, a second copy beside the installed
`llada_studio.core` that an editable install (`pip install -e .`) maps to the same files; only the
installed name finds the compiled engine (llada_studio.core._engine). So the entry points hand
over to the installed name's function and the run uses one copy of everything.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

INSTALLED_PACKAGE = "llada_studio.core"


def installed(module: str, function: str = "main") -> Callable[..., Any]:
    """`function` of llada_studio.core.<module>, or a clear SystemExit when the project is not
    installed (the clone's folders alone have no compiled engine)."""
    try:
        mod = importlib.import_module(f"{INSTALLED_PACKAGE}.{module}")
    except ImportError as exc:
        raise SystemExit(
            f"{INSTALLED_PACKAGE} is not installed ({exc}); from a clone, run `pip install -e .` first (README)."
        ) from exc
    fn: Callable[..., Any] = getattr(mod, function)
    return fn
