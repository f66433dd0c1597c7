"""The window's actions and menus (File, Edit, Run, Model, View, Help).

An engine that cannot run in this installation is listed disabled with the reason, so it can
never be chosen, saved, and then fail at every later start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow

from llada_studio.core.engine import engine_unavailable_reason
from llada_studio.core.torch_compile import describe_compile_cost

from .theme import THEMES

ENGINE_LABELS = {"auto": "Automatic (C++ when built)", "cpp": "C++", "torch": "PyTorch (reference)"}
THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}


def max_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class WindowActions:
    """Every QAction of the window, built once; the window connects and enables them."""

    def __init__(
        self, win: QMainWindow, engine: str, threads: int | None, theme: str, compile_on: bool = False
    ) -> None:
        self.win = win

        def action(text: str, slot: Callable[..., Any], shortcut: str | list[str] | None = None,
                   tip: str = "") -> QAction:
            a = QAction(text, win)
            if shortcut:
                keys = [shortcut] if isinstance(shortcut, str) else shortcut
                a.setShortcuts([QKeySequence(k) for k in keys])
                a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.setToolTip(tip or text)
            a.setStatusTip(tip or text)
            a.triggered.connect(slot)
            win.addAction(a)
            return a

        w: Any = win
        self.open = action("&Open model folder…", w.open_model_dialog, "Ctrl+O",
                           "Open any LLaDA-format checkpoint folder")
        self.bundled = action("Use &bundled model", lambda: w.open_model(None), None,
                              "Load the model that ships with LLaDA Studio")
        self.open_run = action("Open &run…", w.open_run_dialog, "Ctrl+Shift+O",
                               "Open a saved run (exported, or printed by llada-studio generate --json) to replay")
        self.export = action("&Export text and trajectory…", w.export_dialog, "Ctrl+E",
                             "Save the text and every step as JSON")
        self.export_film = action("Export &film…", w.export_film_dialog, None,
                                  "Save the reveal as an animated GIF (a frame per step) or an HTML page")
        self.export_text = action("Export &text only…", w.export_text_dialog, "Ctrl+Shift+E", "Save the generated text")
        self.quit = action("&Quit", w.close, "Ctrl+Q")
        self.copy = action("&Copy prompt and text", w.copy_text, "Ctrl+Shift+C",
                           "Copy the prompt followed by the generated text")
        self.copy_answer = action("Copy &answer only", w.copy_answer, None, "Copy only the generated text")
        self.generate = action("&Generate", w.generate, ["Ctrl+Return", "Ctrl+Enter"], "Start generating")
        self.regenerate = action("&Regenerate", w.regenerate, "Ctrl+Shift+Return",
                                 "Generate again from the same prompt with a new seed")
        self.regenerate_selection = action("Regenerate se&lection", w.regenerate_selection, None,
                                           "Re-mask the selected answer text and let the model write it again")
        self.continue_run = action("C&ontinue", w.continue_stopped, None, "Continue the stopped run from its last step")
        self.stop = action("&Stop", w.stop, "Esc", "Stop before the next forward pass")
        self.score = action("S&core the answer", w.score_answer, "Ctrl+L",
                            "How likely the model finds the answer after its prompt (Monte-Carlo ELBO, 64 samples)")
        self.new_chat = action("&New chat", w.new_chat, "Ctrl+N", "Forget the conversation")
        self.replay = action("&Replay steps", w.toggle_replay, "Ctrl+R", "Replay the last run from its first step")
        self.toggle_theme = action("Toggle &dark theme", w.toggle_theme, "Ctrl+Shift+T",
                                   "Switch between light and dark")
        self.about = action("&About LLaDA Studio", w.show_about, "F1")

        mb = win.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.open, self.bundled])
        m.addSeparator()
        m.addActions([self.open_run, self.export, self.export_text, self.export_film])
        m.addSeparator()
        m.addAction(self.quit)
        m = mb.addMenu("&Edit")
        m.addActions([self.copy, self.copy_answer])
        m = mb.addMenu("&Run")
        m.addActions([self.generate, self.regenerate, self.regenerate_selection, self.continue_run, self.stop,
                      self.score, self.new_chat, self.replay])
        m = mb.addMenu("&Model")
        self.models = action("&Models…", w.models_dialog, "Ctrl+M",
                             "The models library: open a model, or download a LLaDA checkpoint into it")
        m.addAction(self.models)
        self.connect = action("&Connect to server…", w.connect_dialog, None,
                              "Run on the engine of a LLaDA Studio server (llada-studio serve) elsewhere")
        m.addAction(self.connect)
        m.addSeparator()
        em = m.addMenu("&Engine")
        self.engine_group = QActionGroup(win)
        for kind, label in ENGINE_LABELS.items():
            a = QAction(label, win, checkable=True)
            a.setData(kind)
            reason = engine_unavailable_reason(kind)
            if reason:
                a.setEnabled(False)
                a.setText(f"{label} — {reason}")
                a.setToolTip(reason)
            a.setChecked(kind == engine)
            self.engine_group.addAction(a)
            em.addAction(a)
        self.device_menu = m.addMenu("&Device")
        self.device_group = QActionGroup(win)
        # Filled when the menu opens: finding the GPUs imports torch, which the start must not wait for.
        self.device_menu.aboutToShow.connect(self.fill_devices)
        # torch.compile for the GPU passes: its one-time cost stated where it is chosen.
        self.compile = QAction("Compile GPU passes (&torch.compile)", win, checkable=True)
        tip = f"NVIDIA GPU runs only (no effect on the CPU): {describe_compile_cost()}"
        self.compile.setToolTip(tip)
        self.compile.setStatusTip(tip)
        self.compile.setChecked(compile_on)
        self.compile.toggled.connect(w.set_torch_compile)
        m.addAction(self.compile)
        tm = m.addMenu("&Threads")
        self.threads_group = QActionGroup(win)
        cpu = max_threads()
        counts = [t for t in (1, 2, 4, 8, 16, 32) if t <= cpu]
        for n in [0] + counts + ([cpu] if cpu not in counts else []):
            text = f"Automatic ({max(1, cpu - 1)}: all cores but one)" if n == 0 else str(n)
            a = QAction(text, win, checkable=True)
            a.setData(n)
            a.setChecked(n == (threads or 0))
            self.threads_group.addAction(a)
            tm.addAction(a)
        m = mb.addMenu("&View")
        thm = m.addMenu("&Theme")
        self.theme_group = QActionGroup(win)
        for t in THEMES:
            a = QAction(THEME_LABELS[t], win, checkable=True)
            a.setData(t)
            a.setChecked(t == theme)
            self.theme_group.addAction(a)
            thm.addAction(a)
        m.addAction(self.toggle_theme)
        m = mb.addMenu("&Help")
        m.addAction(self.about)

    def fill_devices(self) -> None:
        from llada_studio.core.engine import available_devices

        current = str(getattr(self.win, "device", "cpu"))
        for a in self.device_group.actions():
            self.device_group.removeAction(a)
            self.device_menu.removeAction(a)
        for device, label, reason in available_devices():
            a = QAction(label if not reason else f"{label} — {reason}", self.win, checkable=True)
            a.setData(device)
            a.setEnabled(reason is None and getattr(self.win, "state", "ready") in ("ready", "empty"))
            a.setChecked(device == current or (device.startswith("cuda") and current == device + ":0"))
            self.device_group.addAction(a)
            self.device_menu.addAction(a)

    def check_engine(self, kind: str) -> None:
        for a in self.engine_group.actions():
            a.setChecked(a.data() == kind)

    def set_idle(self, idle: bool) -> None:
        """Model and engine choices only while nothing loads or runs; unavailable engines never."""
        for a in (self.open, self.bundled, self.models, self.connect, *self.threads_group.actions()):
            a.setEnabled(idle)
        for a in self.engine_group.actions():
            a.setEnabled(idle and engine_unavailable_reason(str(a.data())) is None)
