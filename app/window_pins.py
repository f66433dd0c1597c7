"""Pinned words and filled blanks in the window (issue 15): the idle canvas shows the pinned words
among the masks, a run's canvas starts from what was given (pins, infilling's written text), and
the canvas's context menu pins or unpins a word at a cell.

A part of MainWindow (window_base). The pins are laid out by the engine thread (the tokenizer
lives there), answered as a CanvasStart: for the idle view (a preview) or for a starting run.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Slot
from PySide6.QtWidgets import QInputDialog, QMenu

from llada_studio.core.constraints import ConstraintError, parse_constraints, with_constraint
from llada_studio.core.infill import BLANK

from .canvas_state import Origin
from .engine_messages import CanvasStart, PreviewRequest
from .pinned_words import pinned_message
from .window_base import UiState, WindowBase


def has_blanks(text: str) -> bool:
    """The prompt holds [MASK*N] / [MASK] blanks: Generate fills them."""
    return BLANK.search(text) is not None


def fill_summary(text: str) -> str | None:
    """The schedule a fill-blanks run makes itself (core/infill.py: one block, a step per blank
    token), for the settings' summary line, which otherwise describes Length / Block / Steps."""
    from llada_studio.core.infill import parse_infill
    from llada_studio.core.params import plural

    try:
        n = parse_infill(text).blank_tokens
    except ValueError as exc:
        return f"Fill blanks: {exc}"
    return (f"Fill blanks: {plural(n, 'blank token')}, one step each, in one block; "
            "Length, Block length and Steps apply to Generate")


class WindowPins(WindowBase):
    _preview_key = 0

    # -- the canvas before and at the start of a run -----------------------------------------
    def _show_idle_canvas(self) -> None:
        """Before a run: the masked region the current settings would fill, pins laid out."""
        if self.model is None:
            return
        p = self.controls.params()
        self.canvas.reset(p.gen_length, p.block_length, frozenset(), p.max_steps)
        self.canvas.set_message("")
        self._preview_key += 1
        if p.constraints and not self.model.remote:
            self.host.preview(PreviewRequest(self._preview_key, p))
        else:
            self.controls.pins.set_layout_problem(None)

    @Slot(object)
    def _on_previewed(self, cs: CanvasStart) -> None:
        if cs.run_id != self._preview_key:
            return  # the settings changed since
        self.controls.pins.set_layout_problem(cs.problem)
        if self.state == UiState.READY and self.outcome is None and cs.params.gen_length == self.canvas.gen_length:
            self.canvas.give([(pos, tok, text, Origin(o)) for pos, tok, text, o in cs.given])

    @Slot(object)
    def _on_canvas_started(self, cs: CanvasStart) -> None:
        """A run's first canvas: pinned words, or an infill run's region with its written text."""
        current = self._current
        if current is None or cs.run_id != self._run_id:
            return
        if current.infill:  # the region, its block and steps come from the text
            p = cs.params
            specials = frozenset({self.model.eos_id, self.model.eot_id}) if self.model else frozenset()
            self.canvas.reset(p.gen_length, p.block_length, specials, p.step_budget)
            self.canvas.live = True
            self.replay.start_run(p.step_budget)
            self.status.start_run(p.step_budget, p.num_blocks)
        self.canvas.give([(pos, tok, text, Origin(o)) for pos, tok, text, o in cs.given])

    def _infill_prompt(self) -> bool:
        return not self._chat_active() and has_blanks(self.prompt.toPlainText())

    def _label_generate(self) -> None:
        """Generate, Send (chat) or Fill blanks (the prompt holds blanks)."""
        chat = self.chat_mode.isChecked() and (self.chat_mode.isEnabled() or self.state == UiState.RUNNING)
        if chat:
            text, tip = "Send", "Send the message (Ctrl+Enter)"
        elif has_blanks(self.prompt.toPlainText()):
            text, tip = "Fill blanks", "Fill the [MASK*N] blanks of the prompt; the rest stays as written (Ctrl+Enter)"
        else:
            text, tip = "Generate", "Start generating (Ctrl+Enter)"
        self.controls.set_summary_note(fill_summary(self.prompt.toPlainText()) if text == "Fill blanks" else None)
        self.generate_button.setText(text)
        self.generate_button.setToolTip(tip)

    # -- the canvas's context menu -------------------------------------------------------------
    @Slot(int, QPoint)
    def _on_cell_menu(self, pos: int, where: QPoint) -> None:
        self.cell_menu(pos).exec(where)

    def cell_menu(self, pos: int) -> QMenu:
        """The menu of canvas cell `pos` (-1: no cell): pin or unpin a word; the edit actions."""
        menu = QMenu(self)
        idle = self.state == UiState.READY and self.model is not None
        pin = menu.addAction("Pin a word here…")
        pin.setEnabled(idle and pos >= 0)
        pin.setToolTip("Pin a word at this answer position for the next run (the “Pinned words” row)")
        pin.triggered.connect(lambda: self.pin_word_dialog(pos))
        start = self._pin_start(pos)
        unpin = menu.addAction("Unpin")
        unpin.setEnabled(idle and start is not None)
        unpin.triggered.connect(lambda: self.unpin(pos))
        self._add_edit_actions(menu, pos)
        return menu

    def _add_edit_actions(self, menu: QMenu, pos: int) -> None:
        """Regenerate / replace / re-mask / continue (window_branch.py)."""

    def _pin_start(self, pos: int) -> int | None:
        """The position of the pinned word that covers cell `pos` (a word of several tokens covers
        the cells after its position while they show as pinned), else None."""
        if pos < 0:
            return None
        try:
            starts = sorted(p for p, _ in parse_constraints(self.controls.pins.text()))
        except ConstraintError:
            return None
        if pos in starts:
            return pos
        before = [p for p in starts if p < pos]
        if before and all(self.canvas.cell(i).origin is Origin.PIN for i in range(before[-1], min(pos + 1,
                                                                                                  self.canvas.gen_length))):
            return before[-1]
        return None

    def pin_word_dialog(self, pos: int) -> bool:
        current = dict(parse_constraints(self.controls.pins.valid_text())).get(pos, "")
        word, ok = QInputDialog.getText(self, "Pin a word", f"The word at answer position {pos} "
                                        "(it gets a leading space; several tokens fill the next cells):",
                                        text=current)
        return bool(ok) and self.pin_word(pos, str(word))

    def pin_word(self, pos: int, word: str) -> bool:
        """Pin `word` at answer position `pos` (replacing what was pinned there)."""
        try:
            self.controls.pins.set_text(with_constraint(self.controls.pins.text(), pos, word))
        except ConstraintError as exc:
            self.status.message(pinned_message(exc.template), 8000)
            return False
        if self.outcome is not None:
            self.status.message(f"Pinned “{word.strip()}” at {pos}: it holds from the next run", 6000)
        return True

    def unpin(self, pos: int) -> bool:
        start = self._pin_start(pos)
        if start is None:
            return False
        self.controls.pins.set_text(with_constraint(self.controls.pins.text(), start, None))
        return True
