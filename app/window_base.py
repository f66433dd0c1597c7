"""What the window's parts share: the UI state, the window's public signals, the widgets
`window_layout.build_window` creates, and the state rule that enables them.

MainWindow (window.py) is composed of parts, each a class over this base in its own file:
WindowModels (where a model comes from and how it loads), WindowChat, WindowIO (copy, export,
saved runs, theme, About), WindowSettings (QSettings). Declaring the shared fields here once, with
their types, lets mypy check every part against the same window.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QWidget,
)

from .canvas import TokenCanvas
from .canvas_state import Timeline
from .canvas_style import Legend
from .chat_panel import ChatPanel
from .controls import ControlsPanel
from .engine_messages import GenerationRequest, LoadRequest, ModelInfo, RunOutcome
from .first_run import FirstRunBanner
from .menus import WindowActions
from .replay_bar import JumpSlider, ReplayBar
from .status_panel import StatusPanel
from .worker import EngineHost


def _enable(items: Iterable[QWidget | QAction], on: bool) -> None:
    for item in items:
        item.setEnabled(on)


class UiState(str, Enum):
    EMPTY = "empty"  # no model
    LOADING = "loading"
    READY = "ready"
    RUNNING = "running"


class WindowBase(QMainWindow):
    # The window's public signals: what tests, the self-test, scripts and other panels follow.
    stateChanged = Signal(str)  # UiState's value
    modelLoaded = Signal(object)  # ModelInfo
    loadFailed = Signal(object)  # LoadFailure
    stepShown = Signal(object)  # StepUpdate, on the GUI thread, after the canvas and status bar took it
    runFinished = Signal(object)  # RunOutcome
    runFailed = Signal(object)  # RunFailure

    # -- state (MainWindow.__init__) ----------------------------------------------------------
    settings: QSettings
    state: UiState
    host: EngineHost
    model: ModelInfo | None
    model_key: str | None  # the settings group of the loaded model's own settings
    outcome: RunOutcome | None  # the run on screen (finished, or opened from a file)
    engine_kind: str
    device: str
    threads: int | None
    theme: str
    dialogs: bool  # False in the self-test: failures are reported, never shown modally
    _run_id: int
    _loading: LoadRequest | None
    # Why the model now loading replaces the one asked for (a fallback), shown once it has loaded.
    _load_note: str | None
    _model_dir: str | None  # the loaded model's folder (None: the bundled one)
    _plain_prompt: str  # the continuation prompt, kept while chat mode has the box
    _chat_pref: bool  # chat mode as the user last chose it (kept while a model has no template)
    _closing: bool
    _current: GenerationRequest | None  # the run in progress
    _timeline: Timeline  # the frames of the run in progress (a branch: one more per edit)

    # -- widgets (window_layout.build_window) -----------------------------------------------
    prompt: QPlainTextEdit
    generate_button: QPushButton
    stop_button: QPushButton
    chat_mode: QCheckBox
    new_chat_button: QPushButton
    transcript: ChatPanel
    banner: FirstRunBanner
    canvas: TokenCanvas
    canvas_scroll: QScrollArea
    legend: Legend
    replay: ReplayBar
    controls: ControlsPanel
    controls_scroll: QScrollArea
    splitter: QSplitter
    actions_: WindowActions
    status: StatusPanel
    # Short names for widgets of the panels above (the window's state rule, tests, screenshots).
    play_button: QToolButton
    scrubber: JumpSlider
    scrub_label: QLabel
    copy_button: QPushButton
    export_button: QPushButton
    act_open: QAction
    act_bundled: QAction
    act_export: QAction
    act_export_text: QAction
    act_copy: QAction
    act_generate: QAction
    act_stop: QAction
    act_about: QAction
    act_new_chat: QAction
    act_replay: QAction
    act_regenerate: QAction
    status_step: QLabel
    status_block: QLabel
    status_speed: QLabel
    status_elapsed: QLabel
    status_engine: QLabel
    status_model: QLabel

    def _set_state(self, state: UiState) -> None:
        """Enter `state` and enable what it allows (the one place the widgets' enabled state is set)."""
        self.state = state
        running, ready, idle = state == UiState.RUNNING, state == UiState.READY, state in (UiState.READY, UiState.EMPTY)
        # Chat availability first: the labels below depend on it (it is off while a run goes on).
        self.chat_mode.setEnabled(not running and self.model is not None and self.model.has_chat_template)
        chat = self.chat_mode.isChecked() and (self.chat_mode.isEnabled() or running)
        self._label_generate()
        _enable((self.generate_button, self.act_generate), ready)
        _enable((self.stop_button, self.act_stop), running)
        self.controls.setEnabled(idle)
        self.actions_.set_idle(idle)
        has_result = self.outcome is not None and not running
        _enable((self.copy_button, self.export_button, self.scrubber, self.play_button, self.act_copy,
                 self.actions_.copy_answer, self.act_export, self.act_export_text, self.actions_.export_film,
                 self.act_replay), has_result)
        self.act_regenerate.setEnabled(has_result and ready)
        self.actions_.score.setEnabled(has_result and ready and self.model is not None and not self.model.remote)
        self._update_edit_actions()
        self.new_chat_button.setVisible(chat)
        _enable((self.new_chat_button, self.act_new_chat), chat and not running)
        self.stateChanged.emit(state.value)

    def _chat_active(self) -> bool:
        return self.chat_mode.isEnabled() and self.chat_mode.isChecked()

    # -- what one part asks of another (each implemented once, in the file named) -----------------
    def _forget_run(self) -> None:
        """No run on screen (window.py)."""
        raise NotImplementedError

    def _show_idle_canvas(self) -> None:
        """The masked region the current settings would fill (window.py)."""
        raise NotImplementedError

    def _update_edit_actions(self) -> None:
        """Regenerate selection / Continue enabled, or why not (window_branch.py)."""
        raise NotImplementedError

    def _label_generate(self) -> None:
        """Generate, Send or Fill blanks on the button (window_pins.py)."""
        raise NotImplementedError

    def _use_model_settings(self, info: ModelInfo) -> None:
        """Show the settings this model last used, else its defaults (window_settings.py)."""
        raise NotImplementedError
