"""Small widget pieces the controls are built from: accessible names and tooltips for every
control, and a slider over an explicit list of values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

W = TypeVar("W", bound=QWidget)


def describe(widget: W, name: str, tip: str) -> W:
    """Every control gets an accessible name (screen readers) and a tooltip; returns the widget."""
    widget.setAccessibleName(name)
    widget.setToolTip(tip)
    return widget


class ChoiceSlider(QWidget):
    """A slider over an explicit list of values (ints or floats) with a value label.

    The slider's integer position indexes `values`, so only listed values can be chosen."""

    valueChanged = Signal(object)

    def __init__(self, name: str, tip: str, values: Sequence[Any], fmt: str = "{}",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._values: list[Any] = list(values)
        self._fmt = fmt
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(1)
        self.label = QLabel()
        self.label.setMinimumWidth(44)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        describe(self.slider, name, tip)
        describe(self.label, f"{name} value", tip)
        self.setAccessibleName(name)
        self.setToolTip(tip)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        self.slider.setRange(0, max(0, len(self._values) - 1))
        self.slider.valueChanged.connect(self._moved)
        self._refresh_label()

    def values(self) -> list[Any]:
        return list(self._values)

    def value(self) -> Any:
        return self._values[self.slider.value()]

    def _nearest_index(self, value: Any) -> int:
        return min(range(len(self._values)), key=lambda i: (abs(self._values[i] - value), self._values[i]))

    def setValue(self, value: Any) -> None:
        self.slider.setValue(self._nearest_index(value))

    def setValues(self, values: Sequence[Any], keep: Any | None = None) -> None:
        """Replace the allowed values, keeping `keep` (or the current value) snapped to the nearest."""
        current = self.value() if keep is None else keep
        self._values = list(values)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self._values) - 1))
        self.slider.setValue(self._nearest_index(current))
        self.slider.blockSignals(False)
        self._refresh_label()

    def _moved(self, _index: int) -> None:
        self._refresh_label()
        self.valueChanged.emit(self.value())

    def _refresh_label(self) -> None:
        self.label.setText(self._fmt.format(self.value()))
