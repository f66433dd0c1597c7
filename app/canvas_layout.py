"""Where the canvas puts its cells: a pure function of what each position shows at the shown step,
the text widths and the canvas width (no widget, no painter), so the rules are tested directly.

Masked positions are fixed-width boxes; revealed text is set word by word: a piece that does not
start with a space continues the word before it ("surv" + "ival", "France" + ","), so its cell
starts where that word's text ends and a word that does not fit moves to the next line whole. A
newline in a token ends the line; EOS/EOT padding is a small cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QRectF

PAD, GAP, MARGIN = 5, 4, 12  # text padding inside a cell, space between cells, canvas margin
SPECIAL_WIDTH = 14  # an EOS/EOT cell
CELL_EXTRA_HEIGHT = 8  # a cell is this much taller than a line of text


class CellKind(Enum):
    MASKED = "masked"  # not revealed at the shown step
    SPECIAL = "special"  # EOS/EOT padding
    TEXT = "text"


@dataclass(frozen=True)
class CellView:
    """One position as the layout sees it at the shown step."""

    kind: CellKind
    text: str = ""  # the token's text as decoded (its leading space, newlines)


@dataclass(frozen=True)
class CellLayout:
    rects: list[QRectF]  # one per position
    text_offsets: list[int]  # where each cell's text starts inside its rect


def cell_label(text: str) -> str:
    """What a revealed text cell draws: its text without the surrounding space, a newline as ↵, a
    token that is only space as ␣."""
    shown = text.strip()
    if not shown:
        return "↵" if "\n" in text else "␣"
    return shown.replace("\n", "↵")


def layout_cells(cells: Sequence[CellView], width: int, advance: Callable[[str], int],
                 text_height: int) -> CellLayout:
    """The cells' rectangles for a canvas `width` wide; `advance(text)` is the text's width."""
    h = text_height + CELL_EXTRA_HEIGHT
    mask_w = advance("mmmm") + 2 * PAD
    x: float = MARGIN
    y: float = MARGIN
    rects: list[QRectF] = []
    offsets: list[int] = []
    after_text = False  # the cell before is revealed text that does not end a line
    word_start = 0  # first cell of the word the current cell belongs to
    for i, cell in enumerate(cells):
        joined = False
        if cell.kind is CellKind.SPECIAL:
            w: float = SPECIAL_WIDTH
        elif cell.kind is CellKind.TEXT:
            w = advance(cell_label(cell.text)) + 2 * PAD
            joined = after_text and bool(cell.text) and not cell.text[0].isspace() and x > MARGIN
            if joined:
                # Its cell starts where the word's text ends (no left padding), so its highlight
                # never paints over the last letter of the piece before it.
                x -= GAP + PAD
                w -= PAD
        else:
            w = mask_w
        if not joined:
            word_start = i
        ends_line = cell.kind is CellKind.TEXT and "\n" in cell.text
        after_text = cell.kind is CellKind.TEXT and not ends_line
        if x + w > width - MARGIN and x > MARGIN:
            if joined and rects[word_start].x() > MARGIN:  # carry the whole word to the next line
                shift = rects[word_start].x() - MARGIN
                for r in rects[word_start:]:
                    r.translate(-shift, h + GAP)
                x -= shift
            else:
                x = MARGIN
            y += h + GAP
        rects.append(QRectF(x, y, w, h))
        offsets.append(0 if joined else PAD)
        x += w + GAP
        if ends_line:
            x = MARGIN
            y += h + GAP
    return CellLayout(rects, offsets)
