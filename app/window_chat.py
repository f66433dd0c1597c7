"""Chat mode in the window: switching it on and off (each mode keeps its own prompt), New chat."""

from __future__ import annotations

from .window_base import UiState, WindowBase


class WindowChat(WindowBase):
    def _on_chat_mode(self, on: bool) -> None:
        if self.chat_mode.isEnabled():
            self._chat_pref = on
        # The box holds either the passage to continue or the next message: switching keeps each.
        if on:
            self._plain_prompt = self.prompt.toPlainText()
            self.prompt.clear()
        elif not self.prompt.toPlainText():
            self.prompt.setPlainText(self._plain_prompt)
        self.transcript.setVisible(on)
        self.prompt.setPlaceholderText("Your message… (Ctrl+Enter to send)" if on
                                       else "Type a prompt… (Ctrl+Enter to generate)")
        self.transcript.refresh()
        self._set_state(self.state)

    def new_chat(self) -> None:
        if self.state == UiState.RUNNING or not self._chat_active():
            return
        self.transcript.clear_history()
