"""How the canvas looks: its colours for a palette (light or dark) and the colour key under it."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

# Confidence buckets as in the LLaDA demo: under 0.3, under 0.7, above.
LOW, MID = 0.3, 0.7


def bucket(confidence: float) -> int:
    return 0 if confidence < LOW else (1 if confidence < MID else 2)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """t of a and 1 - t of b (an opaque colour between them)."""
    return QColor.fromRgbF(t * a.redF() + (1 - t) * b.redF(), t * a.greenF() + (1 - t) * b.greenF(),
                           t * a.blueF() + (1 - t) * b.blueF())


@dataclass(frozen=True)
class CanvasColors:
    text: QColor
    dim: QColor
    mask_fill: QColor
    mask_fill_active: QColor
    mask_border: QColor
    background: QColor
    buckets: tuple[QColor, QColor, QColor]  # low, mid, high
    bucket_text: QColor
    block_rule: QColor
    pin_fill: QColor  # a pinned word's cell (and an edited one when fresh)
    pin_line: QColor  # its underline, an edited cell's outline
    given_text: QColor  # infilling's written text

    @classmethod
    def for_palette(cls, pal: QPalette) -> CanvasColors:
        bg = pal.color(QPalette.ColorRole.Base)
        dark = bg.lightnessF() < 0.5
        text = pal.color(QPalette.ColorRole.Text)
        dim = QColor(text)
        dim.setAlphaF(0.45)
        if dark:
            return cls(
                text=text, dim=dim, background=bg,
                mask_fill=QColor("#2a2f36"), mask_fill_active=QColor("#3a4452"), mask_border=QColor("#4b5563"),
                buckets=(QColor("#9b3b3b"), QColor("#8a6a12"), QColor("#2e7047")),
                bucket_text=QColor("#ffffff"), block_rule=QColor("#4b5563"),
                pin_fill=QColor("#24375e"), pin_line=QColor("#7aa2f7"), given_text=_mix(text, bg, 0.78),
            )
        return cls(
            text=text, dim=dim, background=bg,
            mask_fill=QColor("#eef0f3"), mask_fill_active=QColor("#dde3ec"), mask_border=QColor("#c3cad5"),
            buckets=(QColor("#f5a3a3"), QColor("#fbd58a"), QColor("#a6dcb4")),
            bucket_text=QColor("#1d1d1d"), block_rule=QColor("#c3cad5"),
            pin_fill=QColor("#dbe6ff"), pin_line=QColor("#2f62d0"), given_text=_mix(text, bg, 0.78),
        )


class Legend(QWidget):
    """The colour key under the canvas."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Colour legend")
        self.setToolTip("What the cell colours mean")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        self._chips: list[tuple[QLabel, int]] = []
        for text, idx in (("masked", -1), ("revealed now, confidence < 0.3", 0), ("< 0.7", 1), ("≥ 0.7", 2),
                          ("pinned / yours", 3)):
            chip = QLabel()
            chip.setFixedSize(14, 14)
            chip.setAccessibleName(f"Legend colour: {text}")
            label = QLabel(text)
            label.setAccessibleName(f"Legend: {text}")
            lay.addWidget(chip)
            lay.addWidget(label)
            lay.addSpacing(8)
            self._chips.append((chip, idx))
        lay.addStretch(1)
        self.refresh()

    def refresh(self) -> None:
        colors = CanvasColors.for_palette(self.palette())
        for chip, idx in self._chips:
            c = colors.mask_fill_active if idx < 0 else colors.pin_fill if idx == 3 else colors.buckets[idx]
            border = colors.pin_line if idx == 3 else colors.mask_border
            chip.setStyleSheet(f"background:{c.name()}; border:1px solid {border.name()}; border-radius:3px;")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.refresh()
        super().changeEvent(event)
