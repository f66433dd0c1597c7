"""How one revealed canvas cell is painted: the confidence highlight of a fresh reveal fading back
to plain text, and the marks of the cells the user gave (pinned words, edits, written text).

The painter is left with the pen the cell's text is drawn in.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap

from .canvas_state import Cell, Origin
from .canvas_style import CanvasColors, bucket

FADE = (0.45, 0.2)  # highlight opacity one and two steps after a reveal


def paint_cell(p: QPainter, r: QRectF, c: Cell, age: int, special: bool, colors: CanvasColors) -> None:
    """Paint revealed cell `c` in `r`, `age` frames after it was revealed."""
    if special:  # EOS/EOT padding: a faint dot, ringed in the step that revealed it
        dot = QColor(colors.dim)
        dot.setAlphaF(0.25)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(dot)
        p.drawEllipse(r.center(), 2.5, 2.5)
        if age == 0 and c.origin is Origin.MODEL:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(colors.buckets[bucket(c.confidence)], 2))
            p.drawRoundedRect(r.adjusted(1, 1, -1, -1), 4, 4)
        return
    if c.origin is Origin.PIN:  # pinned: a tinted cell underlined in the pin colour, at every step
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colors.pin_fill)
        p.drawRoundedRect(r, 4, 4)
        p.setPen(QPen(colors.pin_line, 2))
        p.drawLine(QPointF(r.left() + 3, r.bottom() - 1.5), QPointF(r.right() - 3, r.bottom() - 1.5))
        p.setPen(colors.text)
        return
    if c.origin is Origin.GIVEN:  # infilling's written text: plain, a little dimmer than the model's
        p.setPen(colors.given_text)
        return
    if c.origin is Origin.EDIT:  # the user's token: outlined in the pin colour
        p.setBrush(colors.pin_fill if age == 0 else Qt.BrushStyle.NoBrush)
        p.setPen(QPen(colors.pin_line, 1.5, Qt.PenStyle.DashLine))
        p.drawRoundedRect(r.adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
        p.setPen(colors.text)
        return
    if age == 0:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colors.buckets[bucket(c.confidence)])
        p.drawRoundedRect(r, 4, 4)
        p.setPen(colors.bucket_text)
        return
    if age <= len(FADE):  # the last few steps' reveals fade back to plain text
        fade = QColor(colors.buckets[bucket(c.confidence)])
        fade.setAlphaF(FADE[age - 1])
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(fade)
        p.drawRoundedRect(r, 4, 4)
    p.setPen(colors.text)


def mask_pixmap(cache: dict[tuple[int, int, bool], QPixmap], w: int, h: int, active: bool, colors: CanvasColors,
                dpr: float) -> QPixmap:
    """A masked cell's box, rendered once per size (painting 100+ cells 30 times a second blits
    these instead of drawing each): solid in the block being worked on, dashed elsewhere."""
    key = (w, h, active)
    pm = cache.get(key)
    if pm is None:
        pm = QPixmap(int(w * dpr), int(h * dpr))
        pm.setDevicePixelRatio(dpr)
        pm.fill(Qt.GlobalColor.transparent)
        q = QPainter(pm)
        q.setRenderHint(QPainter.RenderHint.Antialiasing)
        style = Qt.PenStyle.SolidLine if active else Qt.PenStyle.DashLine
        q.setPen(QPen(colors.mask_border, 1, style))
        q.setBrush(colors.mask_fill_active if active else colors.mask_fill)
        q.drawRoundedRect(QRectF(0.5, 0.5, w - 1, h - 1), 4, 4)
        q.end()
        cache[key] = pm
    return pm
