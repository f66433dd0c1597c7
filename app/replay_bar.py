"""The row under the canvas: replay, the step scrubber and its label, copy and export.

During a run the scrubber follows the live step (disabled) and its label counts with the status
bar; after a run it scrubs the trajectory. A click on the groove jumps there (not one page), and
Replay starts from step 0 unless a paused replay is resumed. Icons come from the style, never
from font glyphs (a stock Debian font set draws "⏸" as an empty box).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QStyle, QToolButton, QWidget

from .canvas_state import Timeline
from .choice_slider import describe

REPLAY_INTERVAL_MS = 60


class JumpSlider(QSlider):
    """A horizontal slider whose groove click moves the handle to the click (not one page)."""

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.maximum() > self.minimum():
            handle = self.style().pixelMetric(QStyle.PixelMetric.PM_SliderLength, None, self)
            span = max(1, self.width() - handle)
            x = event.position().x() - handle / 2
            value = QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), int(x), span)
            self.setValue(value)
            event.accept()
        super().mousePressEvent(event)


class ReplayBar(QWidget):
    """`stepChosen(step)` fires when the shown step changes by scrub or replay."""

    stepChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.play_button = describe(QToolButton(), "Replay", "Replay the finished run from the first step (Ctrl+R)")
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.scrubber = describe(JumpSlider(Qt.Orientation.Horizontal), "Step scrubber",
                                 "After a run: drag or click to see the canvas at any step")
        self.scrubber.setRange(0, 0)
        self.scrubber.setPageStep(1)
        self.label = describe(QLabel("step 0 / 0"), "Shown step", "The step the canvas shows")
        self.label.setMinimumWidth(96)
        self.speed = describe(QSpinBox(), "Replay delay", "Milliseconds between steps when replaying")
        self.speed.setRange(10, 2000)
        self.speed.setSingleStep(20)
        self.speed.setValue(REPLAY_INTERVAL_MS)
        self.speed.setSuffix(" ms/step")
        self.copy_button = describe(QPushButton("Copy text"), "Copy text",
                                    "Copy the prompt and the generated text (Ctrl+Shift+C)")
        self.export_button = describe(QPushButton("Export…"), "Export",
                                      "Save the text and the whole trajectory as JSON (Ctrl+E)")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.play_button)
        row.addWidget(self.scrubber, 1)
        row.addWidget(self.label)
        row.addWidget(self.speed)
        row.addSpacing(8)
        row.addWidget(self.copy_button)
        row.addWidget(self.export_button)
        self._timer = QTimer(self)
        self._timer.setInterval(REPLAY_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._paused_mid_replay = False
        self.timeline = Timeline()  # the frames of the run shown (a branch has one per edit)
        self.steps = 0
        self.speed.valueChanged.connect(self._timer.setInterval)
        self.play_button.clicked.connect(self.toggle)
        self.scrubber.valueChanged.connect(self._on_scrub)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    # -- run lifecycle ---------------------------------------------------------------------
    def start_run(self, budget: int) -> None:
        self.stop()
        self._paused_mid_replay = False
        self._set_silently(0, 0)
        self.label.setText(f"step 0 / {budget}")

    def live_step(self, step: int, total: int) -> None:
        """During a run: the label counts with the status bar (the scrubber is disabled)."""
        self.label.setText(f"step {step} / {total}")

    def finish(self, last_step: int, timeline: Timeline | None = None, steps: int | None = None) -> None:
        """A run of `steps` steps shown in `last_step` frames (a branch: one more per edit)."""
        self.timeline = timeline or Timeline()
        self.steps = last_step if steps is None else steps
        self._paused_mid_replay = False
        self._set_silently(last_step, last_step)
        self.label.setText(self.timeline.label(last_step, self.steps))

    def clear(self) -> None:
        """No run to show (a new model was loaded)."""
        self.timeline, self.steps = Timeline(), 0
        self.stop()
        self._paused_mid_replay = False
        self._set_silently(0, 0)
        self.label.setText("step 0 / 0")

    def _set_silently(self, maximum: int, value: int) -> None:
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, maximum)
        self.scrubber.setValue(value)
        self.scrubber.blockSignals(False)

    # -- replay ----------------------------------------------------------------------------
    def toggle(self) -> None:
        if self.playing:
            self.stop()
            self._paused_mid_replay = self.scrubber.value() < self.scrubber.maximum()
            return
        if self.scrubber.maximum() == 0 or not self.scrubber.isEnabled():
            return
        if not self._paused_mid_replay or self.scrubber.value() >= self.scrubber.maximum():
            self.scrubber.setValue(0)  # a replay starts from the first step
        self._paused_mid_replay = False
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self.play_button.setToolTip("Pause the replay (Ctrl+R)")
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Replay the finished run from the first step (Ctrl+R)")

    def _tick(self) -> None:
        v = self.scrubber.value() + 1
        self.scrubber.setValue(v)
        if v >= self.scrubber.maximum():
            self.stop()

    def _on_scrub(self, value: int) -> None:
        if not self.playing:
            self._paused_mid_replay = False  # a scrub by hand ends a paused replay
        self.label.setText(self.timeline.label(value, self.steps))
        self.stepChosen.emit(value)
