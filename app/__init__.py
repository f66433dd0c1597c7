"""LLaDA Studio's desktop window (PySide6). Reaches the engine only through `core`'s public API."""

from ._pyside_fix import protect_singletons

ORG_NAME = "LLaDA Studio"
APP_NAME = "LLaDA Studio"
SETTINGS_APP = "llada-studio"

# Before any signal is emitted: PySide6 6.12.0 drops references to None and True (see _pyside_fix).
protect_singletons()
