"""The canvas: the generated region as token cells, painted from the step trajectory.

State is a function of (trajectory, shown step): each position remembers the step that revealed
it, so live streaming and scrubbing through a finished run are the same drawing. Step events are
absorbed as they arrive (cheap), and repaints are throttled to about 30 per second.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QPoint, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
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

from .canvas_a11y import spoken_description
from .canvas_layout import CellKind, CellView, cell_label, layout_cells
from .canvas_paint import mask_pixmap, paint_cell
from .canvas_state import CanvasState, Cell, Origin
from .canvas_style import CanvasColors

REPAINT_INTERVAL_MS = 33  # about 30 repaints per second, whatever the step rate

class TokenCanvas(QWidget):
    """Paints `gen_length` cells. Masked: a placeholder; revealed at the shown step: highlighted by
    confidence; revealed earlier: plain text; EOS/EOT padding: a small faint cell."""

    shownStepChanged = Signal(int)
    cellMenuRequested = Signal(int, QPoint)  # the cell right-clicked (-1: none), where the menu opens

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
        self.state = CanvasState(gen_length)  # every position's states over the run's frames
        self.last_step = 0  # the latest frame absorbed (a step, or a branch's edit)
        self.shown_step = 0  # the frame drawn (== last_step while live)
        self.current_block = 0
        self.step_blocks: dict[int, int] = {}  # frame -> the block it worked on (for replay)
        self.live = False
        self._selection = None
        self._layout_cache = None
        self._request_repaint(immediate=True)

    @property
    def tokens(self) -> list[int]:
        """The latest token of every position (-1: masked), what the run ended with."""
        return [self.state.latest(i).token for i in range(self.gen_length)]

    @property
    def revealed_at(self) -> list[int]:
        """The frame that revealed each position's latest token (0: masked, or given from step 0)."""
        return [0 if c.masked else c.frame for c in map(self.state.latest, range(self.gen_length))]

    def cell(self, pos: int) -> Cell:
        """What position `pos` shows at the shown frame."""
        return self.state.at(pos, self.shown_step)

    def positions_of(self, origin: Origin) -> list[int]:
        """The positions whose shown state has this origin (pinned words, edits, ...)."""
        return [i for i in range(self.gen_length) if (c := self.cell(i)).origin is origin and not c.masked]

    def give(self, cells: Sequence[tuple[int, int, str, Origin]]) -> None:
        """Tokens given from step 0: (position, token, text, origin) of pinned words or written text."""
        for pos, token, text, origin in cells:
            self.state.give(pos, token, text, origin)
        self._layout_cache = None
        self._request_repaint(immediate=True)

    def apply_edit(self, frame: int, positions: Sequence[int], tokens: Sequence[int], texts: Sequence[str],
                   mask_id: int) -> None:
        """A branch's edit shown at `frame`: re-masked positions (mask_id) and the user's tokens."""
        for i, pos in enumerate(positions):
            tok = tokens[i]
            if tok == mask_id:
                self.state.set(pos, Cell(frame))
            else:
                self.state.set(pos, Cell(frame, tok, 1.0, texts[i] if i < len(texts) else "", Origin.EDIT))
        self._advance(frame, self.current_block)

    def refresh_colors(self) -> None:
        self._colors = None
        self._mask_pixmaps.clear()
        self.update()

    def _mask_pixmap(self, w: int, h: int, active: bool, colors: CanvasColors) -> QPixmap:
        return mask_pixmap(self._mask_pixmaps, w, h, active, colors, self.devicePixelRatioF())

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
        """Record one step's reveals at frame `step` (called for every step; painting is throttled)."""
        for i, pos in enumerate(positions):
            self.state.set(pos, Cell(step, tokens[i], float(confidences[i]), texts[i] if i < len(texts) else "",
                                     Origin.MODEL))
        self._advance(step, block)

    def _advance(self, frame: int, block: int) -> None:
        self.last_step = frame
        self.current_block = block
        self.step_blocks[frame] = block
        if self.live or self.shown_step == frame - 1:
            self.shown_step = frame
        self._layout_cache = None
        self._request_repaint()

    def set_final_texts(self, texts: tuple[str, ...], tokens: tuple[int, ...]) -> None:
        """After a run: the exact text of every final token (covers positions the events named)."""
        for i, t in enumerate(texts[: self.gen_length]):
            if i < len(tokens):
                self.state.set_text(i, tokens[i], t)
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
        """Tokens the model (or an edit) revealed by the shown frame; given ones not counted."""
        return sum(1 for i in range(self.gen_length)
                   if not (c := self.cell(i)).masked and c.origin in (Origin.MODEL, Origin.EDIT))

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
            c = self.cell(i)
            if c.masked:
                parts.append(MASK_PLACEHOLDER)
            elif c.token not in self.special_ids:
                parts.append(c.text)
        return "".join(parts)

    def _describe_for_screen_readers(self) -> None:
        """The canvas is painted, so it tells assistive technology what it shows in words."""
        cells = [self.cell(i) for i in range(self.gen_length)]
        shown = [c.origin for c in cells if not c.masked]  # the model's, and the user's given ones
        self.setAccessibleDescription(self.message or spoken_description(
            len(shown), self.gen_length, self.shown_step, self.total_steps, shown, self.shown_text().strip()))

    def selected_range(self) -> tuple[int, int] | None:
        if self._selection is None:
            return None
        a, b = self._selection
        return min(a, b), max(a, b) + 1

    def selected_text(self) -> str:
        r = self.selected_range()
        return self.shown_text(*r) if r else ""

    def select_range(self, start: int, stop: int) -> None:
        """Select cells start..stop-1 (what a drag over them selects)."""
        if 0 <= start < stop <= self.gen_length:
            self._selection = (start, stop - 1)
            self.update()

    def select_all(self) -> None:
        self.select_range(0, self.gen_length)

    def _cell_at(self, x: float, y: float) -> int | None:
        for i, r in enumerate(self._layout()):
            if r.adjusted(-2, -2, 2, 2).contains(x, y):
                return i
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            return  # the context menu keeps the selection it acts on
        i = self._cell_at(event.position().x(), event.position().y())
        self._selection = (i, i) if i is not None else None
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        i = self._cell_at(event.position().x(), event.position().y())
        if self._selection is not None and i is not None:
            self._selection = (self._selection[0], i)
            self.update()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        i = self._cell_at(event.pos().x(), event.pos().y())
        self.cellMenuRequested.emit(-1 if i is None else i, event.globalPos())

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
        c = self.cell(i)
        return "" if c.token in self.special_ids else cell_label(c.text)

    def _cell_views(self) -> list[CellView]:
        views = []
        for i in range(self.gen_length):
            c = self.cell(i)
            if c.masked:
                views.append(CellView(CellKind.MASKED))
            elif c.token in self.special_ids:
                views.append(CellView(CellKind.SPECIAL))
            else:
                views.append(CellView(CellKind.TEXT, c.text))
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
            c = self.cell(i)
            if c.masked:
                # The block being worked on, and the cells an edit re-masked at the frame shown.
                in_active = (i // self.block_length) == active_block or 0 < c.frame == self.shown_step
                pm = self._mask_pixmap(int(r.width()), int(r.height()), in_active, colors)
                p.drawPixmap(int(r.x()), int(r.y()), pm)
                continue
            paint_cell(p, r, c, self.shown_step - c.frame, c.token in self.special_ids, colors)
            if c.token not in self.special_ids:
                self._draw_text(p, r, self._cell_text(i), self._text_offsets[i])
        p.end()
