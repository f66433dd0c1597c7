"""Light and dark themes: Fusion with an explicit palette, following the system unless the user
picks one. Small style tweaks live in resources/styles/<theme>.qss."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from llada_studio.core.resources import resources_dir

THEMES = ("system", "light", "dark")


def system_is_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    try:
        return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5: guess from the default window colour
        return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightnessF() < 0.5


def effective(theme: str) -> str:
    if theme == "system":
        return "dark" if system_is_dark() else "light"
    return theme if theme in ("light", "dark") else "light"


def palette_for(kind: str) -> QPalette:
    pal = QPalette()
    R, G = QPalette.ColorRole, QPalette.ColorGroup
    if kind == "dark":
        colors = {
            R.Window: "#1f2228", R.WindowText: "#e6e6e6", R.Base: "#16181d", R.AlternateBase: "#23262d",
            R.ToolTipBase: "#2b2f36", R.ToolTipText: "#e6e6e6", R.Text: "#e6e6e6", R.Button: "#2b2f36",
            R.ButtonText: "#e6e6e6", R.BrightText: "#ff6b6b", R.Highlight: "#3d7bd9",
            R.HighlightedText: "#ffffff", R.Link: "#6ea8fe", R.PlaceholderText: "#8a9099",
            R.Light: "#3a3f47", R.Midlight: "#30343b", R.Mid: "#2a2d33", R.Dark: "#121418", R.Shadow: "#000000",
        }
        disabled = "#6b7280"
    else:
        colors = {
            R.Window: "#f3f4f6", R.WindowText: "#1d1d1f", R.Base: "#ffffff", R.AlternateBase: "#f6f7f9",
            R.ToolTipBase: "#ffffdc", R.ToolTipText: "#1d1d1f", R.Text: "#1d1d1f", R.Button: "#eceef1",
            R.ButtonText: "#1d1d1f", R.BrightText: "#d00000", R.Highlight: "#2f6fd1",
            R.HighlightedText: "#ffffff", R.Link: "#1f5fbf", R.PlaceholderText: "#8a8f98",
            R.Light: "#ffffff", R.Midlight: "#e5e7eb", R.Mid: "#c9cdd3", R.Dark: "#9aa0a6", R.Shadow: "#5f6368",
        }
        disabled = "#9aa0a6"
    for role, value in colors.items():
        pal.setColor(role, QColor(value))
    for role in (R.WindowText, R.Text, R.ButtonText):
        pal.setColor(G.Disabled, role, QColor(disabled))
    return pal


def stylesheet_for(kind: str) -> str:
    path = resources_dir() / "styles" / f"{kind}.qss"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    # Style sheets name images relative to the icons folder, wherever resources/ is installed.
    return text.replace("@ICONS@", (resources_dir() / "icons").as_posix())


def apply_theme(app: QApplication, theme: str) -> str:
    """Apply `theme` ("system", "light", "dark") to the whole application; returns light or dark."""
    kind = effective(theme)
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(palette_for(kind))
    app.setStyleSheet(stylesheet_for(kind))
    app.setProperty("lladaTheme", kind)
    return kind
