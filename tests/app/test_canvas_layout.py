"""Where the canvas puts its cells (app/canvas_layout.py), with text 10 px per character."""

from llada_studio.app.canvas_layout import (
    GAP,
    MARGIN,
    PAD,
    SPECIAL_WIDTH,
    CellKind,
    CellView,
    cell_label,
    layout_cells,
)

TEXT_HEIGHT = 10
ROW = TEXT_HEIGHT + 8 + GAP  # one line of cells further down


def advance(text: str) -> int:
    return 10 * len(text)


def text(t: str) -> CellView:
    return CellView(CellKind.TEXT, t)


MASKED = CellView(CellKind.MASKED)


def test_masked_cells_fill_a_line_then_wrap() -> None:
    mask_w = advance("mmmm") + 2 * PAD
    lay = layout_cells([MASKED] * 4, 200, advance, TEXT_HEIGHT)
    assert [(r.x(), r.y()) for r in lay.rects] == [
        (MARGIN, MARGIN), (MARGIN + mask_w + GAP, MARGIN), (MARGIN + 2 * (mask_w + GAP), MARGIN), (MARGIN, MARGIN + ROW)
    ]
    assert all(r.width() == mask_w for r in lay.rects)


def test_a_piece_that_continues_a_word_starts_where_its_text_ends() -> None:
    lay = layout_cells([text(" ha"), text("d"), text(","), text(" night")], 800, advance, TEXT_HEIGHT)
    ha, d, comma, night = lay.rects
    assert ha.x() + PAD + advance("ha") == d.x() and lay.text_offsets[1] == 0
    assert d.x() + advance("d") == comma.x() and lay.text_offsets[2] == 0
    assert night.x() == comma.right() + GAP and lay.text_offsets[3] == PAD  # a new word


def test_a_word_that_does_not_fit_moves_to_the_next_line_whole() -> None:
    lay = layout_cells([text(" aaaa"), text(" bbbbbbb"), text("cccccc")], 200, advance, TEXT_HEIGHT)
    first, word, rest = lay.rects
    assert first.y() == MARGIN
    assert (word.x(), word.y()) == (MARGIN, MARGIN + ROW)  # " bbbbbbb" went down with its "cccccc"
    assert rest.y() == word.y() and rest.x() == word.x() + PAD + advance("bbbbbbb")


def test_a_newline_ends_the_line_and_padding_is_small() -> None:
    lay = layout_cells([text(" a\n"), text(" b"), CellView(CellKind.SPECIAL)], 800, advance, TEXT_HEIGHT)
    assert (lay.rects[1].x(), lay.rects[1].y()) == (MARGIN, MARGIN + ROW)
    assert lay.rects[2].width() == SPECIAL_WIDTH


def test_cell_labels() -> None:
    assert cell_label(" word") == "word"
    assert cell_label("\n") == "↵" and cell_label("  ") == "␣" and cell_label("a\nb") == "a↵b"
