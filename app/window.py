"""The main window: prompt, canvas, scrubber, controls, status bar, menus."""

from __future__ import annotations

import html
import json
import os
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.engine import cpp_engine_available
from core.resources import bundled_model_dir, resources_dir

from . import APP_NAME, ORG_NAME, SETTINGS_APP
from .canvas import Legend, TokenCanvas
from .controls import ControlsPanel, describe
from .theme import THEMES, apply_theme
from .worker import (
    EngineHost,
    GenerationRequest,
    LoadFailure,
    LoadRequest,
    ModelInfo,
    RunFailure,
    RunOutcome,
    RunStarted,
    StepUpdate,
    describe_failure,
    model_exists,
)

STATUS_INTERVAL_MS = 100  # status-bar text refreshes at most 10 times a second during a run
ENGINE_LABELS = {"auto": "Automatic (C++ when built)", "cpp": "C++", "torch": "PyTorch (reference)"}
EXPORT_FORMAT = "llada-studio.trajectory/1"


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


class MainWindow(QMainWindow):
    """States: "empty" (no model), "loading", "ready", "running"."""

    stateChanged = Signal(str)
    modelLoaded = Signal(object)  # ModelInfo
    runFinished = Signal(object)  # RunOutcome
    runFailed = Signal(object)  # RunFailure
    loadFailed = Signal(object)  # LoadFailure
    stepShown = Signal(object)  # StepUpdate, re-emitted on the GUI thread after the canvas took it

    def __init__(self, settings: QSettings | None = None, model_dir: str | None = None, autoload: bool = True,
                 engine: str | None = None, threads: int | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else make_settings()
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setAccessibleName(APP_NAME)
        self.model: ModelInfo | None = None
        self.outcome: RunOutcome | None = None
        self.state = "empty"
        self.history: list[tuple[str, str]] = []  # chat turns (role, content)
        self._run_id = 0
        self._current: GenerationRequest | None = None
        self._pending_status: StepUpdate | None = None
        self._loading_path: str | None = None
        self._model_dir: str | None = None  # the loaded model's folder (None: the bundled one)
        self.dialogs = True  # False in the self-test: failures are reported, never shown modally
        self._closing = False
        self.step_updates_received = 0
        self.last_step_thread: int | None = None
        self.engine_kind = engine or str(self.settings.value("engine", "auto", type=str) or "auto")
        saved_threads = int(self.settings.value("threads", 0, type=int) or 0)
        self.threads: int | None = threads if threads is not None else (saved_threads or None)
        self.theme = str(self.settings.value("theme", "system", type=str) or "system")

        # Worker signals reach these @Slot methods on the GUI thread (queued: the worker lives on
        # the engine thread). They must stay real slots: a plain callable would run on the
        # emitting thread.
        self.host = EngineHost(self)
        w = self.host.worker
        w.loadStarted.connect(self._on_load_started)
        w.loadProgress.connect(self._on_load_progress)
        w.loaded.connect(self._on_loaded)
        w.loadFailed.connect(self._on_load_failed)
        w.runStarted.connect(self._on_run_started)
        w.step.connect(self._on_step)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)

        try:
            self._build()
        except BaseException:
            self.host.shutdown()  # never leave a running QThread behind a failed constructor
            raise
        if autoload:
            self._autoload(model_dir)

    def _build(self) -> None:
        self._build_widgets()
        self._build_actions()
        self._build_status_bar()
        self._restore_settings()
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.setInterval(STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self._flush_status)
        self._play_timer = QTimer(self)
        self._play_timer.setInterval(60)
        self._play_timer.timeout.connect(self._play_tick)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, self.theme)
            app.aboutToQuit.connect(self.shutdown)
            try:
                QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_scheme_changed)
            except AttributeError:
                pass
        self._set_state("empty")
        self._show_idle_canvas()

    # ======================================================================================
    # building
    # ======================================================================================
    def _build_widgets(self) -> None:
        self.prompt = describe(QPlainTextEdit(), "Prompt", "What the model continues (or your chat message). "
                               "Ctrl+Enter generates.")
        self.prompt.setObjectName("promptEdit")
        self.prompt.setPlaceholderText("Type a prompt… (Ctrl+Enter to generate)")
        self.prompt.setMaximumHeight(84)

        self.generate_button = describe(QPushButton("Generate"), "Generate", "Start generating (Ctrl+Enter)")
        self.generate_button.setObjectName("generateButton")
        self.stop_button = describe(QPushButton("Stop"), "Stop", "Stop before the next forward pass (Esc)")
        self.stop_button.setObjectName("stopButton")
        self.chat_mode = describe(QCheckBox("Chat"), "Chat mode",
                                  "Multi-turn chat with the model's chat template (only for checkpoints that have one)")
        self.new_chat_button = describe(QPushButton("New chat"), "New chat", "Forget the conversation (Ctrl+N)")
        self.generate_button.clicked.connect(self.generate)
        self.stop_button.clicked.connect(self.stop)
        self.chat_mode.toggled.connect(self._on_chat_mode)
        self.new_chat_button.clicked.connect(self.new_chat)

        self.transcript = describe(QTextBrowser(), "Conversation", "The conversation so far (chat mode)")
        self.transcript.setObjectName("chatTranscript")
        self.transcript.setMaximumHeight(160)
        self.transcript.hide()

        self.canvas = TokenCanvas()
        self.canvas_scroll = QScrollArea()
        self.canvas_scroll.setObjectName("canvasScroll")
        self.canvas_scroll.setWidgetResizable(True)
        self.canvas_scroll.setWidget(self.canvas)
        describe(self.canvas_scroll, "Generation view", "The generated region, token by token")
        self.legend = Legend()

        self.play_button = describe(QToolButton(), "Replay", "Replay the finished run step by step")
        self.play_button.setText("▶")
        self.play_button.clicked.connect(self.toggle_replay)
        self.scrubber = describe(QSlider(Qt.Orientation.Horizontal), "Step scrubber",
                                 "After a run: drag to see the canvas at any step")
        self.scrubber.setRange(0, 0)
        self.scrubber.setPageStep(1)
        self.scrubber.valueChanged.connect(self._on_scrub)
        self.scrub_label = describe(QLabel("step 0 / 0"), "Shown step", "The step the canvas shows")
        self.scrub_label.setMinimumWidth(90)
        self.copy_button = describe(QPushButton("Copy text"), "Copy text", "Copy the generated text (Ctrl+Shift+C)")
        self.export_button = describe(QPushButton("Export…"), "Export",
                                      "Save the text and the whole trajectory as JSON (Ctrl+E)")
        self.copy_button.clicked.connect(self.copy_text)
        self.export_button.clicked.connect(self.export_dialog)

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button)
        buttons.addWidget(self.stop_button)
        buttons.addSpacing(12)
        buttons.addWidget(self.chat_mode)
        buttons.addWidget(self.new_chat_button)
        buttons.addStretch(1)

        scrub_row = QHBoxLayout()
        scrub_row.addWidget(self.play_button)
        scrub_row.addWidget(self.scrubber, 1)
        scrub_row.addWidget(self.scrub_label)
        scrub_row.addSpacing(8)
        scrub_row.addWidget(self.copy_button)
        scrub_row.addWidget(self.export_button)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(8, 8, 4, 4)
        lv.addWidget(self.transcript)
        lv.addWidget(self.prompt)
        lv.addLayout(buttons)
        lv.addWidget(self.canvas_scroll, 1)
        lv.addWidget(self.legend)
        lv.addLayout(scrub_row)

        self.controls = ControlsPanel()
        self.controls.summary.setObjectName("scheduleSummary")
        self.controls.changed.connect(self._on_controls_changed)
        right = QScrollArea()
        right.setWidgetResizable(True)
        right.setWidget(self.controls)
        right.setMinimumWidth(280)
        describe(right, "Sampler settings", "Sampler settings for the next generation")
        self.controls_scroll = right

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setSizes([720, 300])
        self.setCentralWidget(self.splitter)
        self.resize(1060, 680)

    def _action(self, text: str, slot: Any, shortcut: str | list[str] | None = None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut:
            keys = [shortcut] if isinstance(shortcut, str) else shortcut
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setToolTip(tip or text)
        a.setStatusTip(tip or text)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        self.act_open = self._action("&Open model folder…", self.open_model_dialog, "Ctrl+O",
                                     "Open any LLaDA-format checkpoint folder")
        self.act_bundled = self._action("Use &bundled model", lambda: self.open_model(None), None,
                                        "Load the model that ships with LLaDA Studio")
        self.act_export = self._action("&Export text and trajectory…", self.export_dialog, "Ctrl+E",
                                       "Save the text and every step as JSON")
        self.act_export_text = self._action("Export &text only…", self.export_text_dialog, "Ctrl+Shift+E",
                                            "Save the generated text")
        self.act_quit = self._action("&Quit", self.close, "Ctrl+Q")
        self.act_copy = self._action("&Copy generated text", self.copy_text, "Ctrl+Shift+C")
        self.act_generate = self._action("&Generate", self.generate, ["Ctrl+Return", "Ctrl+Enter"],
                                         "Start generating")
        self.act_stop = self._action("&Stop", self.stop, "Esc", "Stop before the next forward pass")
        self.act_new_chat = self._action("&New chat", self.new_chat, "Ctrl+N", "Forget the conversation")
        self.act_replay = self._action("&Replay steps", self.toggle_replay, "Ctrl+R", "Replay the last run")
        self.act_toggle_theme = self._action("Toggle &dark theme", self.toggle_theme, "Ctrl+Shift+T",
                                             "Switch between light and dark")
        self.act_about = self._action("&About LLaDA Studio", self.show_about, "F1")

        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.act_open, self.act_bundled])
        m.addSeparator()
        m.addActions([self.act_export, self.act_export_text])
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Edit")
        m.addAction(self.act_copy)
        m = mb.addMenu("&Run")
        m.addActions([self.act_generate, self.act_stop, self.act_new_chat, self.act_replay])
        m = mb.addMenu("&Model")
        em = m.addMenu("&Engine")
        self.engine_group = QActionGroup(self)
        for kind, label in ENGINE_LABELS.items():
            a = QAction(label, self, checkable=True)
            a.setData(kind)
            a.setChecked(kind == self.engine_kind)
            if kind == "cpp" and not cpp_engine_available():
                a.setEnabled(False)
                a.setText(label + " (not built)")
            self.engine_group.addAction(a)
            em.addAction(a)
        self.engine_group.triggered.connect(self._on_engine_chosen)
        tm = m.addMenu("&Threads")
        self.threads_group = QActionGroup(self)
        cpu = os.cpu_count() or 1
        counts = [t for t in (1, 2, 4, 8, 16, 32) if t <= cpu]
        for n in [0] + counts + ([cpu] if cpu not in counts else []):
            a = QAction(f"Automatic ({max(1, cpu - 1)}: all cores but one)" if n == 0 else str(n), self, checkable=True)
            a.setData(n)
            a.setChecked(n == (self.threads or 0))
            self.threads_group.addAction(a)
            tm.addAction(a)
        self.threads_group.triggered.connect(self._on_threads_chosen)
        m = mb.addMenu("&View")
        thm = m.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        for t in THEMES:
            a = QAction({"system": "Follow the system", "light": "Light", "dark": "Dark"}[t], self, checkable=True)
            a.setData(t)
            a.setChecked(t == self.theme)
            self.theme_group.addAction(a)
            thm.addAction(a)
        self.theme_group.triggered.connect(lambda a: self.set_theme(a.data()))
        m.addAction(self.act_toggle_theme)
        m = mb.addMenu("&Help")
        m.addAction(self.act_about)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        describe(self.progress, "Progress", "Model loading or generation progress")
        self.status_model = describe(QLabel("no model"), "Model", "The loaded model")
        self.status_engine = describe(QLabel(""), "Engine", "Engine and CPU threads")
        self.status_step = describe(QLabel(""), "Step", "Current step / total steps")
        self.status_block = describe(QLabel(""), "Block", "Current block / number of blocks")
        self.status_speed = describe(QLabel(""), "Speed", "Tokens revealed per second")
        self.status_elapsed = describe(QLabel(""), "Elapsed", "Time since the generation started")
        # All permanent (right-aligned), so temporary messages on the left never overlap them.
        for w in (self.progress, self.status_model, self.status_engine, self.status_step, self.status_block,
                  self.status_speed, self.status_elapsed):
            sb.addPermanentWidget(w)

    # ======================================================================================
    # settings
    # ======================================================================================
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
        s.setValue("prompt", self.prompt.toPlainText())
        s.setValue("chat_mode", self.chat_mode.isChecked() if self.chat_mode.isEnabled() else self._chat_pref)
        s.setValue("theme", self.theme)
        s.setValue("engine", self.engine_kind)
        s.setValue("threads", int(self.threads or 0))
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/splitter", self.splitter.saveState())
        s.sync()

    # ======================================================================================
    # model
    # ======================================================================================
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

    def engine_threads(self) -> int:
        """The thread count asked of the engine. Automatic: every core but one, so the GUI thread
        always has a core (tests/bench/RESULTS_gui.md: with all cores busy, a loaded machine
        stalls the window past 50 ms; with one left free it does not)."""
        if self.threads:
            return self.threads
        return max(1, (os.cpu_count() or 2) - 1)

    def open_model_dialog(self) -> None:
        start = str(self.settings.value("model_dir", "", type=str) or "") or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open model folder", start)
        if folder:
            self.open_model(folder)

    def open_model(self, model_dir: str | None, explicit: bool = True) -> None:
        """Load a model on the engine thread (None: the bundled model)."""
        if self.state in ("running", "loading"):
            return
        self._loading_path = model_dir
        self.host.load(LoadRequest(model_dir, self.engine_kind, self.engine_threads(), explicit))
        self._set_state("loading")

    @Slot(object)
    def _on_load_started(self, request: LoadRequest) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.show()
        name = Path(request.model_dir).name if request.model_dir else "bundled model"
        self.statusBar().showMessage(f"Loading {name}…")

    @Slot(float, str)
    def _on_load_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.statusBar().showMessage(f"Loading: {message}")

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        self.model = info
        self.progress.hide()
        self.statusBar().showMessage(f"Loaded {info.name} in {info.load_seconds:.1f} s", 4000)
        self.status_model.setText(info.name)
        self.status_model.setToolTip(f"{info.path}\n{info.num_parameters / 1e6:.1f} M parameters, {info.weight_dtype}")
        self.status_engine.setText(f"{info.engine} · {info.threads} thread{'s' if info.threads != 1 else ''}")
        self._model_dir = self._loading_path
        if self._loading_path is not None:
            self.settings.setValue("model_dir", self._loading_path)
        else:
            self.settings.remove("model_dir")
        self.controls.set_max_gen_length(max(16, info.max_sequence_length - 64))
        self.chat_mode.setEnabled(info.has_chat_template)
        self.chat_mode.setChecked(info.has_chat_template and self._chat_pref)
        self.chat_mode.setToolTip(
            "Multi-turn chat with the model's chat template" if info.has_chat_template
            else "This checkpoint has no chat template: plain continuation only"
        )
        self.history.clear()
        self._refresh_transcript()
        self.setWindowTitle(f"{info.name} — {APP_NAME}")
        self._set_state("ready")
        self._show_idle_canvas()
        self.modelLoaded.emit(info)

    @Slot(object)
    def _on_load_failed(self, failure: LoadFailure) -> None:
        self.progress.hide()
        title, text = describe_failure(failure)
        self._set_state("ready" if self.model is not None else "empty")
        if self.model is None:
            self._show_no_model(f"No model loaded.\n\n{failure.problem}\n\nUse File → Open model folder… (Ctrl+O).")
        self.statusBar().showMessage(f"{title}: {failure.problem}", 8000)
        self.loadFailed.emit(failure)
        if failure.request.explicit and self.dialogs and not self._closing:
            QMessageBox.warning(self, title, text)

    def _show_no_model(self, message: str) -> None:
        self.canvas.reset(0)
        self.canvas.set_message(message)
        self.status_model.setText("no model")
        self.status_engine.setText("")

    def _on_engine_chosen(self, action: QAction) -> None:
        self.engine_kind = str(action.data())
        self.settings.setValue("engine", self.engine_kind)
        if self.model is not None:
            self.open_model(self._model_dir, explicit=True)

    def _on_threads_chosen(self, action: QAction) -> None:
        n = int(action.data())
        self.threads = n or None
        self.settings.setValue("threads", n)
        if self.model is not None:
            self.open_model(self._model_dir, explicit=True)

    # ======================================================================================
    # generation
    # ======================================================================================
    def current_request(self) -> GenerationRequest:
        """What Generate would send now (tests read it)."""
        chat = self.chat_mode.isEnabled() and self.chat_mode.isChecked()
        return GenerationRequest(
            run_id=self._run_id + 1,
            prompt=self.prompt.toPlainText(),
            params=self.controls.params(),
            chat=chat,
            history=tuple(self.history) if chat else (),
        )

    def generate(self) -> bool:
        if self.state != "ready":
            return False
        request = self.current_request()
        if not request.prompt.strip():
            self.statusBar().showMessage("Type a prompt first.", 4000)
            return False
        self._stop_replay()
        self._run_id = request.run_id
        self._current = request
        self.outcome = None
        p = request.params
        specials = frozenset({self.model.eos_id, self.model.eot_id}) if self.model else frozenset()
        budget = p.step_budget  # fixed: max_steps; parallel decoding: at most one step per token
        self.canvas.reset(p.gen_length, p.block_length, specials, budget)
        self.canvas.set_message("")
        self.canvas.live = True
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, 0)
        self.scrubber.blockSignals(False)
        self.scrub_label.setText(f"step 0 / {budget}")
        self.progress.setRange(0, budget)
        self.progress.setValue(0)
        self.progress.show()
        self.status_step.setText(f"step 0/{budget}")
        self.status_block.setText(f"block 1/{p.num_blocks}")
        self.status_speed.setText("")
        self.status_elapsed.setText("")
        if request.chat:
            self._refresh_transcript(pending=request.prompt)
        self._set_state("running")
        self.save_settings()
        self.host.generate(request)
        return True

    def stop(self) -> None:
        if self.state == "running" and self._current is not None:
            self._current.cancel.cancel()
            self.statusBar().showMessage("Stopping…")

    @Slot(object)
    def _on_run_started(self, started: RunStarted) -> None:
        if started.run_id == self._run_id:
            self.prompt_ids = started.prompt_ids

    @Slot(object)
    def _on_step(self, update: StepUpdate) -> None:
        if update.run_id != self._run_id:
            return  # a late event from a run that was replaced
        self.step_updates_received += 1
        self.last_step_thread = threading.get_ident()
        e = update.event
        self.canvas.absorb(e.step, e.block, e.positions[0], e.tokens[0], e.confidences[0], update.texts)
        self._pending_status = update
        if not self._status_timer.isActive():
            self._status_timer.start()
        self.stepShown.emit(update)

    def _flush_status(self) -> None:
        u = self._pending_status
        if u is None:
            return
        e = u.event
        if self.progress.maximum() != e.total_steps:
            self.progress.setMaximum(e.total_steps)
        self.progress.setValue(e.step)
        self.status_step.setText(f"step {e.step}/{e.total_steps}")
        self.status_block.setText(f"block {e.block + 1}/{e.num_blocks}")
        revealed = self.canvas.visible_token_count()
        if e.elapsed > 0:
            self.status_speed.setText(f"{revealed / e.elapsed:.1f} tok/s")
        self.status_elapsed.setText(f"{e.elapsed:.2f} s")

    @Slot(object)
    def _on_finished(self, outcome: RunOutcome) -> None:
        if outcome.run_id != self._run_id:
            return
        self.outcome = outcome
        self._current = None
        self._status_timer.stop()
        self._flush_status()
        res = outcome.result
        self.canvas.live = False
        self.canvas.set_final_texts(outcome.token_texts, res.generated_ids[0] if res.generated_ids else ())
        self.canvas.flush()
        n = self.canvas.last_step
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, n)
        self.scrubber.setValue(n)
        self.scrubber.blockSignals(False)
        self.scrub_label.setText(f"step {n} / {n}")
        self.progress.hide()
        total = float(res.timings.get("total_s", res.trajectory[-1].elapsed if res.trajectory else 0.0))
        revealed = self.canvas.visible_token_count()
        self.status_elapsed.setText(f"{total:.2f} s")
        if total > 0:
            self.status_speed.setText(f"{revealed / total:.1f} tok/s")
        if res.cancelled:
            self.statusBar().showMessage(f"Stopped after {n} of {outcome.request.params.step_budget} steps", 6000)
        else:
            self.statusBar().showMessage(f"Done: {n} steps in {total:.2f} s", 6000)
        if outcome.request.chat:
            if not res.cancelled:
                self.history.append(("user", outcome.request.prompt))
                self.history.append(("assistant", outcome.text))
                self.prompt.clear()
            self._refresh_transcript()
        self._set_state("ready")
        self.runFinished.emit(outcome)

    @Slot(object)
    def _on_failed(self, failure: RunFailure) -> None:
        if failure.run_id != self._run_id:
            return
        self._current = None
        self.canvas.live = False
        self.progress.hide()
        self._set_state("ready" if self.model is not None else "empty")
        self._refresh_transcript()
        self.statusBar().showMessage(f"Generation failed: {failure.message}", 8000)
        self.runFailed.emit(failure)
        if self.dialogs and not self._closing:
            QMessageBox.warning(self, "Generation failed", failure.message)

    def _on_controls_changed(self) -> None:
        if self.state == "ready" and self.outcome is None:
            self._show_idle_canvas()

    def _show_idle_canvas(self) -> None:
        """Before a run: the masked region the current settings would fill."""
        if self.model is None:
            return
        p = self.controls.params()
        self.canvas.reset(p.gen_length, p.block_length, frozenset(), p.max_steps)
        self.canvas.set_message("")

    # ======================================================================================
    # chat
    # ======================================================================================
    def _on_chat_mode(self, on: bool) -> None:
        if self.chat_mode.isEnabled():
            self._chat_pref = on
        self.transcript.setVisible(on)
        self.new_chat_button.setVisible(on)
        self.prompt.setPlaceholderText("Your message… (Ctrl+Enter to send)" if on
                                       else "Type a prompt… (Ctrl+Enter to generate)")
        self._refresh_transcript()

    def new_chat(self) -> None:
        if self.state == "running":
            return
        self.history.clear()
        self._refresh_transcript()

    def _refresh_transcript(self, pending: str | None = None) -> None:
        parts = []
        for role, content in self.history:
            who = "You" if role == "user" else "Model"
            parts.append(f"<p><b>{who}:</b> {html.escape(content).replace(chr(10), '<br>')}</p>")
        if pending is not None:
            parts.append(f"<p><b>You:</b> {html.escape(pending)}</p><p><i>Model is writing…</i></p>")
        if not parts:
            parts.append("<p><i>New conversation. Your messages and the model's answers appear here.</i></p>")
        self.transcript.setHtml("".join(parts))
        sb = self.transcript.verticalScrollBar()
        sb.setValue(sb.maximum())

    # ======================================================================================
    # after a run: scrub, replay, copy, export
    # ======================================================================================
    def _on_scrub(self, value: int) -> None:
        self.canvas.show_step(value)
        self.scrub_label.setText(f"step {value} / {self.scrubber.maximum()}")

    def toggle_replay(self) -> None:
        if self._play_timer.isActive():
            self._stop_replay()
            return
        if self.outcome is None or self.state == "running" or self.scrubber.maximum() == 0:
            return
        if self.scrubber.value() >= self.scrubber.maximum():
            self.scrubber.setValue(0)
        self.play_button.setText("⏸")
        self._play_timer.start()

    def _stop_replay(self) -> None:
        self._play_timer.stop()
        self.play_button.setText("▶")

    def _play_tick(self) -> None:
        v = self.scrubber.value() + 1
        self.scrubber.setValue(v)
        if v >= self.scrubber.maximum():
            self._stop_replay()

    def result_text(self) -> str:
        return self.outcome.text if self.outcome is not None else ""

    def copy_text(self) -> None:
        if self.outcome is not None:
            QGuiApplication.clipboard().setText(self.result_text())
            self.statusBar().showMessage("Copied the generated text", 3000)

    def export_data(self) -> dict[str, Any]:
        o = self.outcome
        if o is None:
            raise ValueError("nothing to export yet: generate first")
        res = o.result
        return {
            "format": EXPORT_FORMAT,
            "model": {"name": o.model.name, "path": o.model.path, "license": o.model.license,
                      "engine": o.model.engine, "threads": o.model.threads, "device": o.model.device},
            "prompt": o.request.prompt,
            "chat": o.request.chat,
            "history": [{"role": r, "content": c} for r, c in o.request.history],
            "prompt_ids": list(o.prompt_ids),
            "params": o.request.params.to_dict(),
            "text": o.text,
            "generated_ids": list(res.generated_ids[0]) if res.generated_ids else [],
            "token_texts": list(o.token_texts),
            "cancelled": res.cancelled,
            "timings": {k: float(v) for k, v in res.timings.items()},
            "trajectory": [e.to_json(0) for e in res.trajectory],
        }

    def export_json(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.export_data(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return p

    def export_text(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.result_text() + "\n", encoding="utf-8")
        return p

    def _export_start(self, suffix: str) -> str:
        folder = str(self.settings.value("export_dir", "", type=str) or "") or str(Path.home())
        stem = self.model.name if self.model else "generation"
        return str(Path(folder) / f"{stem}-run{self._run_id}{suffix}")

    def export_dialog(self) -> None:
        if self.outcome is None:
            self.statusBar().showMessage("Nothing to export yet: generate first", 4000)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export text and trajectory", self._export_start(".json"),
                                              "Trajectory JSON (*.json);;Text (*.txt)")
        if path:
            self._export_to(path)

    def export_text_dialog(self) -> None:
        if self.outcome is None:
            self.statusBar().showMessage("Nothing to export yet: generate first", 4000)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export text", self._export_start(".txt"), "Text (*.txt)")
        if path:
            self._export_to(path)

    def _export_to(self, path: str) -> None:
        try:
            out = self.export_text(path) if path.lower().endswith(".txt") else self.export_json(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}:\n{exc}")
            return
        self.settings.setValue("export_dir", str(out.parent))
        self.statusBar().showMessage(f"Saved {out}", 5000)

    # ======================================================================================
    # theme, about, state
    # ======================================================================================
    def set_theme(self, theme: str) -> None:
        self.theme = theme if theme in THEMES else "system"
        for a in self.theme_group.actions():
            a.setChecked(a.data() == self.theme)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, self.theme)
        self.legend.refresh()
        self.canvas.refresh_colors()
        self.settings.setValue("theme", self.theme)

    def toggle_theme(self) -> None:
        app = QApplication.instance()
        current = app.property("lladaTheme") if app is not None else "light"
        self.set_theme("light" if current == "dark" else "dark")

    def _system_scheme_changed(self, *_args: Any) -> None:
        if self.theme == "system":
            self.set_theme("system")

    def about_text(self) -> str:
        m = self.model
        if m is None:
            model = "<p>No model is loaded.</p>"
        else:
            model = (
                f"<p><b>Model:</b> {html.escape(m.name)}<br>"
                f"<b>Licence:</b> {html.escape(m.license or 'unknown')}<br>"
                f"{m.num_parameters / 1e6:.1f} M parameters ({html.escape(m.weight_dtype)})<br>"
                f"<b>Engine:</b> {html.escape(m.engine)} on {html.escape(m.device)}, {m.threads} threads<br>"
                f"<small>{html.escape(m.path)}</small></p>"
            )
        return (
            f"<h3>{APP_NAME}</h3><p>Watch masked-diffusion language models (LLaDA format) write, "
            f"one denoising step at a time, on your own computer.</p>{model}"
        )

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", self.about_text())

    def _set_state(self, state: str) -> None:
        self.state = state
        running, ready = state == "running", state == "ready"
        self.generate_button.setEnabled(ready)
        self.act_generate.setEnabled(ready)
        self.stop_button.setEnabled(running)
        self.act_stop.setEnabled(running)
        self.controls.setEnabled(state in ("ready", "empty"))
        idle = state in ("ready", "empty")
        for a in (self.act_open, self.act_bundled):
            a.setEnabled(idle)
        for a in self.engine_group.actions() + self.threads_group.actions():
            if a.data() != "cpp" or cpp_engine_available():
                a.setEnabled(idle)
        has_result = self.outcome is not None and not running
        for w in (self.copy_button, self.export_button, self.scrubber, self.play_button):
            w.setEnabled(has_result)
        for a in (self.act_copy, self.act_export, self.act_export_text, self.act_replay):
            a.setEnabled(has_result)
        self.new_chat_button.setEnabled(not running)
        self.new_chat_button.setVisible(self.chat_mode.isChecked())
        self.chat_mode.setEnabled(not running and self.model is not None and self.model.has_chat_template)
        self.stateChanged.emit(state)

    # ======================================================================================
    # shutdown
    # ======================================================================================
    def shutdown(self) -> None:
        """Stop, quit, wait: the engine thread ends before the window goes."""
        self._closing = True
        self._stop_replay()
        self._status_timer.stop()
        self.host.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            try:
                self.save_settings()
            except Exception:  # never keep a window open because settings could not be written
                pass
        self.shutdown()
        event.accept()
