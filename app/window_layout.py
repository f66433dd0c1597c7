"""The window's widgets and how they sit: prompt row, canvas, replay bar, settings column, menus and
status bar. Composition only: what the widgets do lives in the window and its panels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .canvas import TokenCanvas
from .canvas_style import Legend
from .chat_panel import ChatPanel
from .choice_slider import describe
from .controls import ControlsPanel
from .first_run import FirstRunBanner
from .menus import WindowActions
from .replay_bar import ReplayBar
from .status_panel import StatusPanel
from .theme import apply_theme

if TYPE_CHECKING:
    from .window import MainWindow


def build_window(win: MainWindow) -> None:
    """Create the panels of `win`, wire them to its methods, restore settings (the widgets' names
    and types are declared in window_base.WindowBase)."""
    win.prompt = describe(QPlainTextEdit(), "Prompt", "What the model continues (or your chat message). "
                           "Ctrl+Enter generates; Tab moves to the next control.")
    win.prompt.setObjectName("promptEdit")
    win.prompt.setTabChangesFocus(True)
    win.prompt.setPlaceholderText("Type a prompt… (Ctrl+Enter to generate)")
    win.prompt.setMaximumHeight(84)
    win.generate_button = describe(QPushButton("Generate"), "Generate", "Start generating (Ctrl+Enter)")
    win.generate_button.setObjectName("generateButton")
    win.stop_button = describe(QPushButton("Stop"), "Stop", "Stop before the next forward pass (Esc)")
    win.stop_button.setObjectName("stopButton")
    win.chat_mode = describe(QCheckBox("Chat"), "Chat mode",
                              "Multi-turn chat with the model's chat template (only for checkpoints that have one)")
    win.new_chat_button = describe(QPushButton("New chat"), "New chat", "Forget the conversation (Ctrl+N)")
    win.generate_button.clicked.connect(win.generate)
    win.stop_button.clicked.connect(win.stop)
    win.chat_mode.toggled.connect(win._on_chat_mode)
    win.new_chat_button.clicked.connect(win.new_chat)
    win.transcript = ChatPanel()
    win.banner = FirstRunBanner()
    win.banner.examplePicked.connect(win._use_example)
    win.banner.dismissed.connect(lambda: win.settings.setValue("intro_dismissed", True))
    win.banner.hide()

    win.canvas = TokenCanvas()
    win.canvas.cellMenuRequested.connect(win._on_cell_menu)
    win.prompt.textChanged.connect(win._label_generate)
    win.canvas_scroll = QScrollArea()
    win.canvas_scroll.setObjectName("canvasScroll")
    win.canvas_scroll.setWidgetResizable(True)
    win.canvas_scroll.setWidget(win.canvas)
    win.canvas_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the canvas itself takes focus
    describe(win.canvas_scroll, "Generation view", "The generated region, token by token")
    win.legend = Legend()
    win.replay = ReplayBar()
    win.replay.stepChosen.connect(win.canvas.show_step)
    win.replay.copy_button.clicked.connect(win.copy_text)
    win.replay.export_button.clicked.connect(win.export_dialog)
    # The names the tests and the screenshot script use.
    r = win.replay
    win.play_button, win.scrubber, win.scrub_label = r.play_button, r.scrubber, r.label
    win.copy_button, win.export_button = r.copy_button, r.export_button

    buttons = QHBoxLayout()
    for widget in (win.generate_button, win.stop_button):
        buttons.addWidget(widget)
    buttons.addSpacing(12)
    buttons.addWidget(win.chat_mode)
    buttons.addWidget(win.new_chat_button)
    buttons.addStretch(1)
    left = QWidget()
    lv = QVBoxLayout(left)
    lv.setContentsMargins(8, 8, 4, 4)
    lv.addWidget(win.banner)
    lv.addWidget(win.transcript)
    lv.addWidget(win.prompt)
    lv.addLayout(buttons)
    lv.addWidget(win.canvas_scroll, 1)
    lv.addWidget(win.legend)
    lv.addWidget(win.replay)

    win.controls = ControlsPanel()
    win.controls.summary.setObjectName("scheduleSummary")
    win.controls.changed.connect(win._on_controls_changed)
    right = QScrollArea()
    right.setWidgetResizable(True)
    right.setWidget(win.controls)
    # Wide enough for every row of the settings (labels and values never cut off); taller
    # settings than the window scroll vertically.
    bar = right.verticalScrollBar().sizeHint().width()
    right.setMinimumWidth(max(280, win.controls.minimumSizeHint().width() + bar + 2 * right.frameWidth()))
    right.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    right.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # its controls take focus, not the frame
    describe(right, "Sampler settings", "Sampler settings for the next generation")
    win.controls_scroll = right
    win.splitter = QSplitter(Qt.Orientation.Horizontal)
    win.splitter.addWidget(left)
    win.splitter.addWidget(right)
    win.splitter.setStretchFactor(0, 1)
    win.splitter.setStretchFactor(1, 0)
    win.splitter.setChildrenCollapsible(False)
    win.splitter.setSizes([720, 300])
    win.setCentralWidget(win.splitter)
    win.resize(1060, 680)

    win.actions_ = WindowActions(win, win.engine_kind, win.threads, win.theme, win.saved_torch_compile())
    a = win.actions_
    win.act_open, win.act_bundled = a.open, a.bundled
    win.act_export, win.act_export_text = a.export, a.export_text
    win.act_copy, win.act_generate, win.act_stop, win.act_about = a.copy, a.generate, a.stop, a.about
    win.act_new_chat, win.act_replay, win.act_regenerate = a.new_chat, a.replay, a.regenerate
    a.engine_group.triggered.connect(win._on_engine_chosen)
    a.threads_group.triggered.connect(win._on_threads_chosen)
    a.device_group.triggered.connect(win._on_device_chosen)
    a.theme_group.triggered.connect(lambda act: win.set_theme(str(act.data())))
    win.status = StatusPanel(win.statusBar())
    st = win.status
    win.status_step, win.status_block, win.status_speed = st.step, st.block, st.speed
    win.status_elapsed, win.status_engine, win.status_model = st.elapsed, st.engine, st.model
    win._restore_settings()
    app = QApplication.instance()
    if isinstance(app, QApplication):
        apply_theme(app, win.theme)
        app.aboutToQuit.connect(win.shutdown)
        try:
            QGuiApplication.styleHints().colorSchemeChanged.connect(win._system_scheme_changed)
        except AttributeError:
            pass
