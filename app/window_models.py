"""The window's model: where it comes from (a folder passed in, the last one used, the bundled one,
File > Open model folder…, Model > Models…, Model > Connect to server…), the engine, device and
thread choices, and the load lifecycle on the engine thread (progress, success, failure and the
fallbacks: a GPU that cannot take the model loads it on the CPU, a last model that no longer opens
gives way to the bundled one)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from llada_studio.core.resources import bundled_model_dir

from . import APP_NAME
from .engine_messages import LoadFailure, LoadRequest, ModelInfo, RemoteTarget
from .status_panel import engine_text
from .window_base import UiState, WindowBase
from .worker import describe_failure, model_exists


class WindowModels(WindowBase):
    # -- where a model comes from -------------------------------------------------------------
    def _autoload(self, model_dir: str | None) -> None:
        if model_dir:
            self.open_model(model_dir)
            return
        last = str(self.settings.value("model_dir", "", type=str) or "")
        if last and model_exists(last):
            self.open_model(last, explicit=False)
        elif model_exists(None):
            self.open_model(None, explicit=False)
        else:
            self._show_no_model(
                f"No model loaded.\n\nThe bundled model is not installed here ({bundled_model_dir()}).\n"
                "Use File → Open model folder… (Ctrl+O) to choose a LLaDA-format checkpoint."
            )

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

    # -- loading -------------------------------------------------------------------------------
    def engine_threads(self) -> int:
        """The thread count asked of the engine. Automatic: every core but one, so the GUI thread
        always has a core (tests/bench/RESULTS_gui.md: with all cores busy, a loaded machine
        stalls the window past 50 ms; with one left free it does not)."""
        if self.threads:
            return self.threads
        return max(1, (os.cpu_count() or 2) - 1)

    def open_model(self, model_dir: str | None, explicit: bool = True, engine: str | None = None,
                   device: str | None = None) -> None:
        """Load a model on the engine thread (None: the bundled model)."""
        if self.state in (UiState.RUNNING, UiState.LOADING):
            return
        self._loading = LoadRequest(model_dir, engine or self.engine_kind, self.engine_threads(), explicit,
                                    device=device or self.device)
        self.host.load(self._loading)
        self._set_state(UiState.LOADING)

    def connect_server(self, url: str, api_key: str | None = None) -> None:
        """Use the engine of a `llada-studio serve` elsewhere, with the same canvas and Stop."""
        if self.state in (UiState.RUNNING, UiState.LOADING):
            return
        if "://" not in url:
            url = "http://" + url
        self._loading = LoadRequest(None, self.engine_kind, None, True, RemoteTarget(url, api_key))
        self.host.load(self._loading)
        self._set_state(UiState.LOADING)

    # Worker signals reach these @Slot methods on the GUI thread (queued: the worker lives on the
    # engine thread). They must stay real slots: a plain callable would run on the emitting thread.
    @Slot(object)
    def _on_load_started(self, request: LoadRequest) -> None:
        self.status.start_loading()
        name = Path(request.model_dir).name if request.model_dir else "bundled model"
        self.status.message(f"Loading {name}…")

    @Slot(float, str)
    def _on_load_progress(self, fraction: float, message: str) -> None:
        self.status.loading(fraction)
        self.status.message(f"Loading: {message}")

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        request = self._loading
        self.model = info
        self.status.progress.hide()
        note, self._load_note = self._load_note, None
        if note:  # a fallback: the message says why this model and not the one asked for
            self.status.message(f"Loaded {info.name} in {info.load_seconds:.1f} s: {note}", 15000)
        else:
            self.status.message(f"Loaded {info.name} in {info.load_seconds:.1f} s", 4000)
        if info.remote:
            host = info.path.split("://", 1)[-1].split("/", 1)[0]
            self.status.set_model(info.name, f"{info.description}\nserved at {info.path}",
                                  f"{info.engine} · {info.device} · server {host}")
            self.settings.setValue("remote_url", info.path)
        else:
            self.status.set_model(info.name, f"{info.path}\n{info.num_parameters / 1e6:.1f} M parameters, "
                                  f"{info.weight_dtype}", engine_text(info.engine, info.device, info.threads))
        self._model_dir = request.model_dir if request else None
        if info.remote:
            pass  # the next start opens the last local model; a server may not be up then
        elif self._model_dir is not None:
            self.settings.setValue("model_dir", self._model_dir)
        else:
            self.settings.remove("model_dir")
        if request is not None and not info.remote:  # device and engine choices are kept once a model ran on them
            self.device = request.device
            self.settings.setValue("device", self.device)
            self.engine_kind = request.engine
            self.settings.setValue("engine", self.engine_kind)
        self.actions_.check_engine(self.engine_kind)
        self._forget_run()  # the last run belonged to the model before
        self.controls.set_max_gen_length(max(16, info.max_sequence_length - 64))
        self._use_model_settings(info)
        bundled = not info.remote and Path(info.path).resolve() == bundled_model_dir().resolve()
        self.banner.setVisible(bundled)
        self.banner.set_note_shown(not bool(self.settings.value("intro_dismissed", False, type=bool)))
        self.chat_mode.setEnabled(info.has_chat_template)
        self.chat_mode.setChecked(info.has_chat_template and self._chat_pref)
        self.chat_mode.setToolTip(
            "Multi-turn chat with the model's chat template" if info.has_chat_template
            else "This checkpoint has no chat template: plain continuation only"
        )
        self.transcript.clear_history()
        self.setWindowTitle(f"{info.name} — {APP_NAME}")
        self._set_state(UiState.READY)
        self._show_idle_canvas()
        self.modelLoaded.emit(info)

    @Slot(object)
    def _on_load_failed(self, failure: LoadFailure) -> None:
        self.status.progress.hide()
        title, text = describe_failure(failure)
        self.actions_.check_engine(self.engine_kind)  # a failed engine choice is not kept
        if failure.request.device != "cpu" and failure.request.remote is None and not self._closing:
            # The GPU could not take it (gone, not enough memory, no CUDA): the same model on the CPU.
            self.device = "cpu"
            self.settings.setValue("device", "cpu")
            if self.model is None:
                self.status.message(f"{failure.problem}; loading on the CPU instead", 10000)
                self._load_note = f"on the CPU, because the GPU could not take it ({failure.problem})"
                self._set_state(UiState.EMPTY)
                self.open_model(failure.request.model_dir, explicit=False, device="cpu")
                self.loadFailed.emit(failure)
                return
        self._set_state(UiState.READY if self.model is not None else UiState.EMPTY)
        if self.model is None:
            self._show_no_model(f"No model loaded.\n\n{failure.problem}\n\nUse File → Open model folder… (Ctrl+O).")
        self.status.message(f"{title}: {failure.problem}", 8000)
        self.loadFailed.emit(failure)
        if failure.request.explicit and self.dialogs and not self._closing:
            QMessageBox.warning(self, title, text)
        elif not failure.request.explicit and failure.request.model_dir is not None and self.model is None:
            # The last session's model no longer opens (moved, damaged): start on the bundled one
            # and say so, instead of an empty window.
            self.settings.remove("model_dir")
            if model_exists(None) and not self._closing:
                self._load_note = f"{failure.path} could not be opened ({failure.problem}); using the bundled model"
                self.open_model(None, explicit=False)
                self.status.message(self._load_note, 10000)

    def _show_no_model(self, message: str) -> None:
        self._forget_run()
        self.canvas.reset(0)
        self.canvas.set_message(message)
        self.status.no_model()

    # -- Model > Engine, Device, Threads ----------------------------------------------------------
    def _reload_folder(self) -> str | None:
        """The model to reload on another engine or device: the one shown, or the one that failed."""
        if self.model is not None:
            return self._model_dir
        return self._loading.model_dir if self._loading else None

    def _on_engine_chosen(self, action: QAction) -> None:
        """Reload on the chosen engine; the choice is saved only when that load succeeds."""
        self.open_model(self._reload_folder(), explicit=True, engine=str(action.data()))
        self.actions_.check_engine(self.engine_kind)

    def _on_device_chosen(self, action: QAction) -> None:
        self.open_model(self._reload_folder(), explicit=True, device=str(action.data()))

    def saved_torch_compile(self) -> bool:
        """Model > Compile GPU passes, as last chosen (applied now); else the environment's
        LLADA_TORCH_COMPILE, which a saved choice overrides."""
        from llada_studio.core.torch_compile import compile_enabled, set_compile

        if not self.settings.contains("torch_compile"):
            return compile_enabled()
        on = bool(self.settings.value("torch_compile", False, type=bool))
        set_compile(on)
        return on

    def set_torch_compile(self, on: bool) -> None:
        """torch.compile for the next GPU generations (core/torch_compile.py); no reload needed."""
        from llada_studio.core.torch_compile import describe_compile_cost, set_compile

        set_compile(on)
        self.settings.setValue("torch_compile", on)
        note = f"torch.compile on for GPU runs: {describe_compile_cost()}" if on else "torch.compile off"
        self.statusBar().showMessage(note, 8000)

    def _on_threads_chosen(self, action: QAction) -> None:
        n = int(action.data())
        self.threads = n or None
        self.settings.setValue("threads", n)
        if self.model is not None:
            self.open_model(self._model_dir, explicit=True)
