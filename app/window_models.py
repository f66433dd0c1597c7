"""Where the window's model comes from, beyond a folder passed in: File > Open model folder…,
Model > Models… (the library and downloads) and Model > Connect to server… (a remote engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .worker import LoadRequest, RemoteTarget


class WindowModels:
    settings: Any
    state: Any
    engine_kind: str
    host: Any
    _loading: Any

    def open_model_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        start = str(self.settings.value("model_dir", "", type=str) or "") or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open model folder", start)
        if folder:
            self.open_model(folder)

    def models_dialog(self) -> None:
        from .models_dialog import ModelsDialog

        dialog = ModelsDialog(self)
        dialog.modelChosen.connect(self.open_model)
        dialog.open()  # window-modal, not a nested event loop
        self.models_window = dialog

    def connect_dialog(self) -> None:
        from PySide6.QtWidgets import QInputDialog, QLineEdit

        last = str(self.settings.value("remote_url", "", type=str) or "") or "http://127.0.0.1:8000"
        url, ok = QInputDialog.getText(self, "Connect to server",
                                       "Address of a server started with llada-studio serve:", text=last)
        if not ok or not url.strip():
            return
        key, ok = QInputDialog.getText(self, "Connect to server", "API key (empty if the server has none):",
                                       QLineEdit.EchoMode.Password)
        if ok:
            self.connect_server(url.strip(), key.strip() or None)

    def connect_server(self, url: str, api_key: str | None = None) -> None:
        """Use the engine of a `llada-studio serve` elsewhere, with the same canvas and Stop."""
        if self.state in ("running", "loading"):
            return
        if "://" not in url:
            url = "http://" + url
        self._loading = LoadRequest(None, self.engine_kind, None, True, RemoteTarget(url, api_key))
        self.host.load(self._loading)
        self._set_state(type(self.state)("loading"))

