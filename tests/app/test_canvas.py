"""The canvas: word pieces drawn without clipping, selectable text, what screen readers get."""

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from llada_studio.app.canvas import TokenCanvas


def _canvas(qtbot, texts, width=800):  # noqa: ANN001, ANN202
    canvas = TokenCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(width, 300)
    n = len(texts)
    canvas.reset(n, n, total_steps=1)
    canvas.absorb(1, 0, tuple(range(n)), tuple(range(10, 10 + n)), (0.5,) * n, tuple(texts))
    return canvas


def test_a_piece_never_paints_over_the_last_letter_of_the_piece_before(qtbot) -> None:  # noqa: ANN001
    """Seen: "had," read "hac," and "night" read "nigh'": the box of "," covered the "d"."""
    canvas = _canvas(qtbot, (" ha", "d", ",", " nigh", "t"))
    rects = canvas._layout()
    fm = QFontMetrics(canvas.font())
    for i in (1, 2, 4):  # the pieces that continue a word
        before = rects[i - 1]
        text_end = before.x() + canvas._text_offsets[i - 1] + fm.horizontalAdvance(canvas._cell_text(i - 1))
        assert rects[i].left() >= text_end - 0.5, (i, rects[i].left(), text_end)
        assert canvas._text_offsets[i] == 0  # its own text starts where its cell starts
    canvas.grab()


def test_canvas_text_can_be_selected_and_copied(qtbot) -> None:  # noqa: ANN001
    canvas = _canvas(qtbot, (" It", " was", " a", " bright", " day"))
    canvas.show()
    rects = canvas._layout()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=rects[1].center().toPoint())
    canvas.mouseMoveEvent(type("E", (), {"position": lambda self: QPointF(rects[3].center())})())
    assert canvas.selected_text() == " was a bright"
    qtbot.keyClick(canvas, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == "was a bright"
    qtbot.keyClick(canvas, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert canvas.selected_text() == " It was a bright day"


def test_screen_readers_get_the_text_and_the_masked_state(qtbot) -> None:  # noqa: ANN001
    canvas = TokenCanvas()
    qtbot.addWidget(canvas)
    canvas.reset(4, 4, total_steps=4)
    canvas.absorb(1, 0, (0, 2), (10, 11), (0.9, 0.4), (" Once", " a"))
    canvas.flush()
    d = canvas.accessibleDescription()
    assert "step 1 of 4" in d and "2 of 4 tokens revealed, 2 masked" in d and "Once░ a░" in d
    assert canvas.focusPolicy() == Qt.FocusPolicy.StrongFocus


def test_screen_readers_hear_which_positions_the_user_gave(qtbot) -> None:  # noqa: ANN001
    from llada_studio.app.canvas_state import Origin

    canvas = TokenCanvas()
    qtbot.addWidget(canvas)
    canvas.reset(6, 6, total_steps=4)
    canvas.give([(0, 10, " Once", Origin.PIN), (1, 11, " upon", Origin.PIN), (4, 12, " time", Origin.GIVEN)])
    canvas.absorb(1, 0, (2,), (13,), (0.9,), (" a",))
    canvas.flush()
    d = canvas.accessibleDescription()
    assert "4 of 6 tokens revealed" in d and "Of them 2 pinned, 1 written by you." in d, d
