"""The "Pinned words" row of the settings: word constraints as the LLaDA demo writes them,
"pos:word, pos:word" (core/constraints.py), with an inline error that says what to change.

The syntax is checked here as it is typed (no tokenizer needed); a word that runs past the
answer's end is found when the engine lays the pins out (the window's preview of the canvas)
and shown here the same way. While either error stands the list is left out of the request and
the window refuses to run.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QToolButton, QVBoxLayout, QWidget

from llada_studio.core.constraints import EXAMPLE, ConstraintError, parse_constraints

from .choice_slider import describe

PINNED_LABEL = "Pinned words"


def pinned_message(template: str) -> str:
    """A core error template ({0}: the parameter) as the window names the row."""
    return template.format(f"“{PINNED_LABEL}”")


class PinnedWordsField(QWidget):
    """`edited` fires on every change of the text."""

    edited = Signal()

    def __init__(self, label: str, tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = describe(QLineEdit(), label,
                             f"{tip}. Or right-click a cell of the canvas: “Pin a word here…”.")
        self.edit.setObjectName("pinnedWords")
        self.edit.setPlaceholderText(f"e.g. {EXAMPLE}")
        self.edit.setClearButtonEnabled(True)
        for button in self.edit.findChildren(QToolButton):  # the clear button Qt adds
            describe(button, "Clear the pinned words", "Unpin every word")
        self.error_label = describe(QLabel(), f"{label}: problem", "What to change in the pinned words")
        self.error_label.setObjectName("pinnedWordsError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.edit)
        lay.addWidget(self.error_label)
        self._syntax: str | None = None
        self._layout_problem: str | None = None  # from the engine: a word past the end, overlaps
        self.edit.textChanged.connect(self._on_text)

    def text(self) -> str:
        return str(self.edit.text())

    def set_text(self, text: str) -> None:
        if text != self.text():
            self.edit.setText(text)

    def valid_text(self) -> str:
        """The list when its syntax is right, else ''."""
        return self.text().strip() if self._syntax is None else ""

    def error(self) -> str | None:
        """What to change before a run can start, or None."""
        return self._syntax or self._layout_problem

    def set_layout_problem(self, message: str | None) -> None:
        """The engine's word-level complaint (a word past the answer's end, two words overlapping)."""
        self._layout_problem = message
        self._show()

    def _on_text(self, text: str) -> None:
        try:
            parse_constraints(text)
            self._syntax = None
        except ConstraintError as exc:
            self._syntax = pinned_message(exc.template)
        self._layout_problem = None
        self._show()
        self.edited.emit()

    def _show(self) -> None:
        msg = self.error()
        self.error_label.setText(msg or "")
        self.error_label.setVisible(bool(msg))
        self.edit.setStyleSheet("QLineEdit { border: 1px solid #c0392b; }" if msg else "")
