"""Where the app's resources live: the source tree, an installed wheel, or a PyInstaller bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path

BUNDLED_MODEL_NAME = "llada-studio-tiny"


def resources_dir() -> Path:
    """The `resources/` folder. Order: $LLADA_STUDIO_RESOURCES, a PyInstaller bundle, the source
    tree beside `core/` (a wheel installs it the same way, as llada_studio/resources)."""
    env = os.environ.get("LLADA_STUDIO_RESOURCES")
    candidates = [Path(env)] if env else []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    here = Path(__file__).resolve().parent.parent
    candidates.append(here / "resources")  # the source tree beside core/, or a wheel beside llada_studio/core
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[-1]


def bundled_model_dir() -> Path:
    """The model the app uses when none is named: the one folder under resources/models (or the
    one named BUNDLED_MODEL_NAME when there are several)."""
    models = resources_dir() / "models"
    preferred = models / BUNDLED_MODEL_NAME
    if preferred.is_dir():
        return preferred
    found = sorted(p for p in models.glob("*") if (p / "config.json").is_file()) if models.is_dir() else []
    if found:
        return found[0]
    return preferred  # does not exist: load_checkpoint says so clearly
