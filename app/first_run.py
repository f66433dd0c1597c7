"""What a new user sees first with the bundled model: what it is, what it is not, and prompts that
suit it (it continues English prose; it does not chat), with the corpus caveat of its model card.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from .choice_slider import describe

BUNDLED_INTRO = (
    "<b>The bundled model</b> is small (20 M parameters) and was trained on public-domain prose: Jane "
    "Austen, Moby Dick and 1960s American writing (the Brown corpus). It <i>continues</i> a passage "
    "in that voice; it does not chat or answer questions. Type the start of a sentence, or pick an "
    "example. Its 1961 sources hold dated language, including racial terms, and it can repeat them."
    " For chat, open an instruction-tuned LLaDA model (File → Open model folder…)."
)

# Openings in the voices of the training text; each was tried on the bundled model.
EXAMPLE_PROMPTS: tuple[str, ...] = (
    "It is a truth universally acknowledged, that",
    "Mrs. Weston had always believed that",
    "Call me Ishmael. Some years ago,",
    "The whale rose slowly from the sea, and",
    "The committee met on Tuesday to discuss",
    "In the spring of that year the town",
)


class FirstRunBanner(QWidget):
    """The intro text and an example picker; `examplePicked(text)` fills the prompt."""

    examplePicked = Signal(str)
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunBanner")
        self.setAccessibleName("About the bundled model")
        self.text = QLabel(BUNDLED_INTRO)
        self.text.setWordWrap(True)
        self.text.setAccessibleName("About the bundled model")
        self.examples = describe(QComboBox(), "Example prompts", "Openings that suit the bundled model")
        self.examples.addItem("Try an example…")
        for p in EXAMPLE_PROMPTS:
            self.examples.addItem(p)
        self.examples.activated.connect(self._picked)
        self.close_button = describe(QToolButton(), "Hide this note", "Hide the note (the examples stay)")
        self.close_button.setText("Hide")
        self.close_button.clicked.connect(self._dismiss)
        row = QHBoxLayout()
        row.addWidget(self.examples, 1)
        row.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(self.text)
        lay.addLayout(row)

    def _picked(self, index: int) -> None:
        if index > 0:
            self.examplePicked.emit(self.examples.itemText(index))
        self.examples.setCurrentIndex(0)

    def _dismiss(self) -> None:
        self.set_note_shown(False)
        self.dismissed.emit()

    def set_note_shown(self, shown: bool) -> None:
        self.text.setVisible(shown)
        self.close_button.setVisible(shown)
