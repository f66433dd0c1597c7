"""The status bar's permanent fields: progress, model, engine, step, block, speed, elapsed.

Step events arrive for every step; the text refreshes at most every STATUS_INTERVAL_MS so a fast
model never spends its GUI time on labels.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from llada_studio.core.events import StepEvent
from llada_studio.core.params import plural

from .choice_slider import describe

STATUS_INTERVAL_MS = 100  # status-bar text refreshes at most 10 times a second during a run


class StatusPanel(QObject):
    def __init__(self, bar: QStatusBar) -> None:
        super().__init__(bar)
        self.bar = bar
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        describe(self.progress, "Progress", "Model loading or generation progress")
        self.model = describe(QLabel("no model"), "Model", "The loaded model")
        self.engine = describe(QLabel(""), "Engine", "Engine, device and CPU threads")
        self.step = describe(QLabel(""), "Step", "Current step / total steps")
        self.block = describe(QLabel(""), "Block", "Current block / number of blocks")
        self.speed = describe(QLabel(""), "Speed", "Tokens revealed per second")
        self.elapsed = describe(QLabel(""), "Elapsed", "Time since the generation started")
        # All permanent (right-aligned), so temporary messages on the left never overlap them.
        for w in (self.progress, self.model, self.engine, self.step, self.block, self.speed, self.elapsed):
            bar.addPermanentWidget(w)
        self._pending: tuple[StepEvent, int] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(STATUS_INTERVAL_MS)
        self._timer.timeout.connect(self.flush)

    def message(self, text: str, ms: int = 0) -> None:
        self.bar.showMessage(text, ms)

    def set_model(self, name: str, tooltip: str, engine: str) -> None:
        self.model.setText(name)
        self.model.setToolTip(tooltip)
        self.engine.setText(engine)

    def no_model(self) -> None:
        self.model.setText("no model")
        self.engine.setText("")
        self.clear_run()

    def clear_run(self) -> None:
        """Forget the last run's figures (a new model, or a new run about to start)."""
        self._timer.stop()
        self._pending = None
        for w in (self.step, self.block, self.speed, self.elapsed):
            w.setText("")

    def start_loading(self) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.show()

    def loading(self, fraction: float) -> None:
        self.progress.setValue(int(fraction * 1000))

    def start_run(self, budget: int, num_blocks: int) -> None:
        self.clear_run()
        self.bar.clearMessage()  # the last run's "Done: ..." must not read as this run's
        self.progress.setRange(0, budget)
        self.progress.setValue(0)
        self.progress.show()
        self.step.setText(f"step 0/{budget}")
        self.block.setText(f"block 1/{num_blocks}")

    def step_event(self, event: StepEvent, revealed: int) -> None:
        self._pending = (event, revealed)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        if self._pending is None:
            return
        e, revealed = self._pending
        if self.progress.maximum() != e.total_steps:
            self.progress.setMaximum(e.total_steps)
        self.progress.setValue(e.step)
        self.step.setText(f"step {e.step}/{e.total_steps}")
        self.block.setText(f"block {e.block + 1}/{e.num_blocks}")
        if e.elapsed > 0:
            self.speed.setText(f"{revealed / e.elapsed:.1f} tok/s")
        self.elapsed.setText(f"{e.elapsed:.2f} s")

    def finish(self, total_s: float, revealed: int) -> None:
        self._timer.stop()
        self.flush()
        self._pending = None
        self.progress.hide()
        self.elapsed.setText(f"{total_s:.2f} s")
        if total_s > 0:
            self.speed.setText(f"{revealed / total_s:.1f} tok/s")

    def stop_timers(self) -> None:
        self._timer.stop()


def engine_text(engine: str, device: str, threads: int) -> str:
    where = f" · {device}" if device != "cpu" else ""
    return f"{engine}{where} · {plural(threads, 'thread')}"
