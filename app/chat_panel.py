"""Chat mode: the conversation so far (a transcript above the prompt) and its turns.

The window decides when a turn is complete; this panel keeps the history and draws it.
"""

from __future__ import annotations

import html

from PySide6.QtWidgets import QTextBrowser, QWidget

from .choice_slider import describe


class ChatPanel(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        describe(self, "Conversation", "The conversation so far (chat mode)")
        self.setObjectName("chatTranscript")
        self.setMaximumHeight(160)
        self.history: list[tuple[str, str]] = []  # (role, content) turns
        self.hide()

    def add_turn(self, prompt: str, answer: str) -> None:
        self.history.append(("user", prompt))
        self.history.append(("assistant", answer))
        self.refresh()

    def clear_history(self) -> None:
        self.history.clear()
        self.refresh()

    def refresh(self, pending: str | None = None) -> None:
        parts = []
        for role, content in self.history:
            who = "You" if role == "user" else "Model"
            parts.append(f"<p><b>{who}:</b> {html.escape(content).replace(chr(10), '<br>')}</p>")
        if pending is not None:
            parts.append(f"<p><b>You:</b> {html.escape(pending)}</p><p><i>Model is writing…</i></p>")
        if not parts:
            parts.append("<p><i>New conversation. Your messages and the model's answers appear here.</i></p>")
        self.setHtml("".join(parts))
        sb = self.verticalScrollBar()
        sb.setValue(sb.maximum())
