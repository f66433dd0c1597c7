"""The canvas: the generated region as token cells, painted from the step trajectory.

State is a function of (trajectory, shown step): each position remembers the step that revealed
it, so live streaming and scrubbing through a finished run are the same drawing. Step events are
absorbed as they arrive (cheap), and repaints are throttled to about 30 per second.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QStaticText,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from llada_studio.core.session import MASK_PLACEHOLDER

from .canvas_layout import CellKind, CellView, cell_label, layout_cells
from .canvas_style import CanvasColors, bucket

REPAINT_INTERVAL_MS = 33  # about 30 repaints per second, whatever the step rate

FADE = (0.45, 0.2)  # highlight opacity one and two steps after a reveal

class TokenCanvas(QWidget):
    """Paints `gen_length` cells. Masked: a placeholder; revealed at the shown step: highlighted by
    confidence; revealed earlier: plain text; EOS/EOT padding: a small faint cell."""

    shownStepChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colors: CanvasColors | None = None
        self._widths: dict[str, int] = {}  # text -> advance, for the current font
        # Painting 100+ cells 30 times a second must stay cheap: masks are blitted from two
        # pre-rendered pixmaps and texts are laid out once (QStaticText), not per paint.
        self._mask_pixmaps: dict[tuple[int, int, bool], QPixmap] = {}
        self._static: dict[str, QStaticText] = {}
        self._layout_cache: tuple[int, int, list[QRectF]] | None = None
        self.setAccessibleName("Generation canvas")
        self.setToolTip(
            "The generated text as token cells: grey boxes are still masked, coloured cells were "
            "revealed in the shown step (red: confidence < 0.3, amber: < 0.7, green: above)."
        )
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        f = QFont(self.font())
        f.setPointSizeF(max(10.0, f.pointSizeF() * 1.15))
        self.setFont(f)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REPAINT_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)
        self._dirty = False
        self.message = ""
        self._text_offsets: list[int] = []
        self._selection: tuple[int, int] | None = None  # (anchor, end) cell indices
        # Keyboard users reach the canvas (Tab), select with Ctrl+A and copy with Ctrl+C.
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.reset(0)

    # -- state ---------------------------------------------------------------------------
    def reset(self, gen_length: int, block_length: int | None = None, special_ids: frozenset[int] = frozenset(),
              total_steps: int = 0) -> None:
        self.gen_length = gen_length
        self.block_length = block_length or max(1, gen_length)
        self.special_ids = special_ids
        self.total_steps = total_steps
        self.revealed_at = [0] * gen_length  # step that revealed each position (0: masked)
        self.tokens = [-1] * gen_length
        self.texts = [""] * gen_length
        self.confidences = [0.0] * gen_length
        self.last_step = 0  # the latest step absorbed
        self.shown_step = 0  # the step drawn (== last_step while live)
        self.current_block = 0
        self.step_blocks: dict[int, int] = {}  # step -> the block it worked on (for replay)
        self.live = False
        self._selection = None
        self._layout_cache = None
        self._request_repaint(immediate=True)

    def refresh_colors(self) -> None:
        self._colors = None
        self._mask_pixmaps.clear()
        self.update()

    def _mask_pixmap(self, w: int, h: int, active: bool, colors: CanvasColors) -> QPixmap:
        key = (w, h, active)
        pm = self._mask_pixmaps.get(key)
        if pm is None:
            dpr = self.devicePixelRatioF()
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
            self._mask_pixmaps[key] = pm
        return pm

    def _static_text(self, text: str) -> QStaticText:
        st = self._static.get(text)
        if st is None:
            st = QStaticText(text)
            st.setTextFormat(Qt.TextFormat.PlainText)
            st.prepare(font=self.font())
            self._static[text] = st
        return st

    def _draw_text(self, p: QPainter, r: QRectF, text: str, offset: int) -> None:
        st = self._static_text(text)
        p.drawStaticText(round(r.x() + offset), round(r.y() + (r.height() - st.size().height()) / 2), st)

    def set_message(self, message: str) -> None:
        self.message = message
        self._request_repaint(immediate=True)

    def absorb(self, step: int, block: int, positions: tuple[int, ...], tokens: tuple[int, ...],
               confidences: tuple[float, ...], texts: tuple[str, ...]) -> None:
        """Record one step's reveals (called for every step; painting is throttled separately)."""
        for i, pos in enumerate(positions):
            if 0 <= pos < self.gen_length:
                self.revealed_at[pos] = step
                self.tokens[pos] = tokens[i]
                self.confidences[pos] = float(confidences[i])
                self.texts[pos] = texts[i] if i < len(texts) else ""
        self.last_step = step
        self.current_block = block
        self.step_blocks[step] = block
        if self.live or self.shown_step == step - 1:
            self.shown_step = step
        self._layout_cache = None
        self._request_repaint()

    def set_final_texts(self, texts: tuple[str, ...], tokens: tuple[int, ...]) -> None:
        """After a run: the exact text of every final token (covers positions the events named)."""
        for i, t in enumerate(texts[: self.gen_length]):
            if self.revealed_at[i]:
                self.texts[i] = t
                self.tokens[i] = tokens[i]
        self._layout_cache = None
        self._request_repaint(immediate=True)

    def show_step(self, step: int) -> None:
        step = max(0, min(step, self.last_step))
        if step != self.shown_step:
            self.shown_step = step
            self._layout_cache = None
            self.shownStepChanged.emit(step)
            self._request_repaint(immediate=True)

    def visible_token_count(self) -> int:
        return sum(1 for s in self.revealed_at if 0 < s <= self.shown_step)

    # -- throttled repaint -------------------------------------------------------------------
    def _request_repaint(self, immediate: bool = False) -> None:
        self._dirty = True
        if immediate:
            self._timer.stop()
            self._flush()
        elif not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Draw now whatever is pending (end of a run)."""
        self._timer.stop()
        self._flush()

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            self._relayout()
            self._describe_for_screen_readers()
            self.update()

    # -- text, selection and screen readers ----------------------------------------------
    def shown_text(self, start: int = 0, end: int | None = None) -> str:
        """The text of cells start..end at the shown step; a masked cell reads as ░."""
        parts = []
        for i in range(start, self.gen_length if end is None else end):
            s = self.revealed_at[i]
            if not (s and s <= self.shown_step):
                parts.append(MASK_PLACEHOLDER)
            elif self.tokens[i] not in self.special_ids:
                parts.append(self.texts[i])
        return "".join(parts)

    def _describe_for_screen_readers(self) -> None:
        """The canvas is painted, so it tells assistive technology what it shows in words: how
        many positions are revealed and masked at which step, and the text itself."""
        if self.message:
            self.setAccessibleDescription(self.message)
            return
        shown = self.visible_token_count()
        masked = self.gen_length - shown
        step = f"step {self.shown_step} of {self.total_steps}, " if self.total_steps else ""
        self.setAccessibleDescription(
            f"{step}{shown} of {self.gen_length} tokens revealed, {masked} masked (read as ░). "
            f"Text: {self.shown_text().strip()}"
        )

    def selected_range(self) -> tuple[int, int] | None:
        if self._selection is None:
            return None
        a, b = self._selection
        return min(a, b), max(a, b) + 1

    def selected_text(self) -> str:
        r = self.selected_range()
        return self.shown_text(*r) if r else ""

    def select_all(self) -> None:
        if self.gen_length:
            self._selection = (0, self.gen_length - 1)
            self.update()

    def _cell_at(self, x: float, y: float) -> int | None:
        for i, r in enumerate(self._layout()):
            if r.adjusted(-2, -2, 2, 2).contains(x, y):
                return i
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        i = self._cell_at(event.position().x(), event.position().y())
        self._selection = (i, i) if i is not None else None
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        i = self._cell_at(event.position().x(), event.position().y())
        if self._selection is not None and i is not None:
            self._selection = (self._selection[0], i)
            self.update()

    def focusInEvent(self, event: QFocusEvent) -> None:
        self.update()  # draw the focus indicator
        super().focusInEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self.update()
        super().focusOutEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.SelectAll):
            self.select_all()
        elif event.matches(QKeySequence.StandardKey.Copy):
            text = self.selected_text() or self.shown_text()
            QGuiApplication.clipboard().setText(text.strip())
        else:
            super().keyPressEvent(event)

    # -- layout (canvas_layout.layout_cells) ----------------------------------------------
    def _cell_text(self, i: int) -> str:
        return "" if self.tokens[i] in self.special_ids else cell_label(self.texts[i])

    def _cell_views(self) -> list[CellView]:
        views = []
        for i in range(self.gen_length):
            s = self.revealed_at[i]
            if not (s and s <= self.shown_step):
                views.append(CellView(CellKind.MASKED))
            elif self.tokens[i] in self.special_ids:
                views.append(CellView(CellKind.SPECIAL))
            else:
                views.append(CellView(CellKind.TEXT, self.texts[i]))
        return views

    def _layout(self) -> list[QRectF]:
        width = max(100, self.width())
        key = (width, self.shown_step)
        if self._layout_cache is not None and self._layout_cache[:2] == key:
            return self._layout_cache[2]
        fm = QFontMetrics(self.font())
        widths = self._widths

        def advance(text: str) -> int:
            w = widths.get(text)
            if w is None:
                w = widths[text] = fm.horizontalAdvance(text)
            return w

        layout = layout_cells(self._cell_views(), width, advance, fm.height())
        self._layout_cache = (width, self.shown_step, layout.rects)
        self._text_offsets = layout.text_offsets
        return layout.rects

    def _relayout(self) -> None:
        rects = self._layout()
        bottom = int(max((r.bottom() for r in rects), default=0)) + 12
        if self.message:
            bottom = max(bottom, 120)
        if self.minimumHeight() != bottom:
            self.setMinimumHeight(bottom)

    def changeEvent(self, event: QEvent) -> None:
        kind = QEvent.Type
        if event.type() in (kind.PaletteChange, kind.StyleChange, kind.ApplicationPaletteChange):
            self._colors = None
            self._mask_pixmaps.clear()
        if event.type() == kind.FontChange:
            self._widths.clear()
            self._static.clear()
            self._mask_pixmaps.clear()
            self._layout_cache = None
        super().changeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(640, 320)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._layout_cache = None
        self._relayout()
        super().resizeEvent(event)

    # -- painting ------------------------------------------------------------------------
    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._colors is None:
            self._colors = CanvasColors.for_palette(self.palette())
        colors = self._colors
        p.setFont(self.font())
        if self.gen_length == 0 or self.message:
            p.setPen(colors.dim)
            p.drawText(self.rect().adjusted(24, 24, -24, -24),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            p.end()
            return
        rects = self._layout()
        active_block = self.step_blocks.get(self.shown_step, 0) if self.shown_step else 0
        selected = self.selected_range()
        if selected is not None:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self.palette().color(QPalette.ColorRole.Highlight).lighter(150))
            for r in rects[selected[0]:selected[1]]:
                p.drawRect(r.adjusted(-2, -1, 2, 1))
        if self.hasFocus():  # the keyboard focus indicator
            p.setPen(QPen(self.palette().color(QPalette.ColorRole.Highlight), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        for i, r in enumerate(rects):
            s = self.revealed_at[i]
            if s and s <= self.shown_step:
                if self.tokens[i] in self.special_ids:
                    c = QColor(colors.dim)
                    c.setAlphaF(0.25)
                    p.setPen(Qt.PenStyle.NoPen)
                    p.setBrush(c)
                    p.drawEllipse(r.center(), 2.5, 2.5)
                    if s == self.shown_step:
                        p.setBrush(Qt.BrushStyle.NoBrush)
                        p.setPen(QPen(colors.buckets[bucket(self.confidences[i])], 2))
                        p.drawRoundedRect(r.adjusted(1, 1, -1, -1), 4, 4)
                    continue
                age = self.shown_step - s
                if age == 0:
                    p.setPen(Qt.PenStyle.NoPen)
                    p.setBrush(colors.buckets[bucket(self.confidences[i])])
                    p.drawRoundedRect(r, 4, 4)
                    p.setPen(colors.bucket_text)
                else:
                    if age <= len(FADE):  # the last few steps' reveals fade back to plain text
                        c = QColor(colors.buckets[bucket(self.confidences[i])])
                        c.setAlphaF(FADE[age - 1])
                        p.setPen(Qt.PenStyle.NoPen)
                        p.setBrush(c)
                        p.drawRoundedRect(r, 4, 4)
                    p.setPen(colors.text)
                self._draw_text(p, r, self._cell_text(i), self._text_offsets[i])
            else:
                in_active = (i // self.block_length) == active_block
                pm = self._mask_pixmap(int(r.width()), int(r.height()), in_active, colors)
                p.drawPixmap(int(r.x()), int(r.y()), pm)
        p.end()
