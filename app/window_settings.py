"""What the window remembers between runs (QSettings): geometry, splitter, controls, prompt, chat
preference, theme and threads. The engine is saved only once a model has loaded on it (window.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QIcon

from llada_studio.core.resources import resources_dir

from . import ORG_NAME, SETTINGS_APP
from .engine_messages import ModelInfo
from .window_base import WindowBase


def make_settings() -> QSettings:
    return QSettings(ORG_NAME, SETTINGS_APP)


def app_icon() -> QIcon:
    icons = resources_dir() / "icons"
    icon = QIcon()
    for name in ("llada-studio.svg", "llada-studio-256.png", "llada-studio-64.png"):
        p = icons / name
        if p.is_file():
            icon.addFile(str(p))
    return icon


def repair_settings(settings: QSettings) -> str | None:
    """A settings file Qt cannot parse (a crash mid-write, a bad hand edit) is put aside as
    FILE.corrupt and the window starts from defaults; returns what to tell the user, else None."""
    if settings.status() == QSettings.Status.NoError:
        return None
    path = Path(settings.fileName())
    kept = path.with_name(path.name + ".corrupt")
    try:
        if path.is_file():
            shutil.copyfile(path, kept)
    except OSError:
        kept = path
    settings.clear()
    settings.sync()
    return f"The settings file {path} could not be read and was reset (the old one is kept as {kept.name})."


def saved_int(settings: QSettings, key: str, default: int, low: int, high: int) -> int:
    """An integer setting within [low, high]; anything else (garbage, out of range) is the default."""
    try:
        raw = settings.value(key, default, type=int)  # an int, or TypeError/ValueError
    except (TypeError, ValueError):
        return default
    if not isinstance(raw, int) or isinstance(raw, bool):
        return default
    value = raw or default
    return value if low <= value <= high else default


def model_settings_group(info: ModelInfo) -> str:
    """The QSettings group of one model's own settings: its name and a digest of where it is."""
    import hashlib

    digest = hashlib.sha1(info.path.encode("utf-8", "replace")).hexdigest()[:10]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in info.name)[:40]
    return f"models/{name}-{digest}"


class WindowSettings(WindowBase):
    def _saved_engine(self, asked: str | None) -> str:
        from llada_studio.core.engine import engine_unavailable_reason

        kind = asked or str(self.settings.value("engine", "auto", type=str) or "auto")
        if kind not in ("auto", "cpp", "torch") or (asked is None and engine_unavailable_reason(kind)):
            return "auto"  # a saved engine this installation cannot run never blocks the start
        return kind

    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        split = s.value("window/splitter")
        if isinstance(split, QByteArray):
            self.splitter.restoreState(split)
        self.controls.restore(s)
        self.prompt.setPlainText(str(s.value("prompt", "", type=str) or ""))
        self._chat_pref = bool(s.value("chat_mode", False, type=bool))

    def save_settings(self) -> None:
        s = self.settings
        self.controls.save(s)
        if self.model_key:
            self.controls.save(s, self.model_key)
        s.setValue("prompt", self.prompt.toPlainText() if not self._chat_active() else self._plain_prompt)
        s.setValue("chat_mode", self.chat_mode.isChecked() if self.chat_mode.isEnabled() else self._chat_pref)
        s.setValue("theme", self.theme)
        s.setValue("threads", int(self.threads or 0))
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/splitter", self.splitter.saveState())
        s.sync()

    def _use_model_settings(self, info: ModelInfo) -> None:
        """Each model keeps its own settings: the ones last used with it, else its defaults (the
        bundled model's tested ones, or the published LLaDA ones for an 8B model)."""
        if self.model_key is not None:
            self.controls.save(self.settings, self.model_key)  # the model being replaced keeps its own
        key = self.model_key = model_settings_group(info)
        if key in self.settings.childGroups() or self.settings.contains(key + "/max_steps"):
            self.controls.restore(self.settings, key)
        else:
            from llada_studio.core.model_defaults import defaults_for

            self.controls.set_params(defaults_for(info.path, info.name, info.has_chat_template, info.has_eot))
