"""Edit and continue in the window (issue 15): regenerate a selected span of an answer, replace a
revealed token with a word, re-mask a cell, continue a stopped run. Each continues the run from
the step the scrubber shows (core/continuation.py: Session.continue_run) and streams the continued
steps; the branch's edit is one frame of the scrubber (canvas_state.Timeline), so scrubbing and
replay show the canvas before and after it, and the run file records it (export.record_of).

A part of MainWindow (window_base). A run made by another model than the loaded one, or a
server's engine, cannot be continued here: the actions say why.
"""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QInputDialog, QMenu

from llada_studio.core.continuation import Edit, RunState

from .canvas_state import Origin, Timeline
from .engine_messages import BranchEdit, ContinueRequest, GenerationRequest
from .run_view import paint_outcome
from .window_base import UiState, WindowBase

NEEDS_LOCAL = "needs a local model: the server cannot continue a run"


class WindowBranch(WindowBase):
    # -- what can be continued -------------------------------------------------------------
    def edit_unavailable_reason(self) -> str | None:
        """Why the shown run cannot be edited and continued now, or None."""
        o = self.outcome
        if o is None or self.state != UiState.READY or self.model is None:
            return "no finished run on screen"
        if self.model.remote:
            return NEEDS_LOCAL
        if o.model.name != self.model.name or not o.prompt_ids:
            return f"the run was made by {o.model.name}; load that model to continue it"
        return None

    def _shown_run_step(self) -> int:
        """The step the scrubber shows (a branch's edit frame: the step it followed)."""
        return self.replay.timeline.step_at(self.canvas.shown_step)

    def _update_edit_actions(self) -> None:
        reason = self.edit_unavailable_reason()
        a = self.actions_
        for act, tip in ((a.regenerate_selection, "Re-mask the selected answer text and let the model write it "
                          "again, from the step shown"),
                         (a.continue_run, "Continue the stopped run from its last step")):
            act.setEnabled(reason is None and (act is not a.continue_run or bool(self.outcome and
                                                                                 self.outcome.cancelled)))
            act.setToolTip(tip if reason in (None, "no finished run on screen") else f"{tip} — {reason}")
            act.setStatusTip(act.toolTip())

    def _add_edit_actions(self, menu: QMenu, pos: int) -> None:
        reason = self.edit_unavailable_reason()
        suffix = "" if reason in (None, "no finished run on screen") else f" — {reason}"
        menu.addSeparator()
        cell = self.canvas.cell(pos) if 0 <= pos < self.canvas.gen_length else None
        revealed = cell is not None and not cell.masked and cell.origin in (Origin.MODEL, Origin.EDIT)
        acts = (
            ("Regenerate selection", self.regenerate_selection, self.canvas.selected_range() is not None),
            ("Replace with…", lambda: self.replace_token_dialog(pos), revealed),
            ("Re-mask", lambda: self.remask(pos), revealed),
            ("Continue", self.continue_stopped, bool(self.outcome and self.outcome.cancelled)),
        )
        for text, slot, applies in acts:
            act = menu.addAction(text + suffix)
            act.setEnabled(reason is None and applies)
            act.triggered.connect(slot)

    # -- the actions ---------------------------------------------------------------------------
    def regenerate_selection(self) -> bool:
        """Re-mask the selected answer positions and continue from the shown step."""
        sel = self.canvas.selected_range()
        if sel is None:
            self.status.message("Select some of the answer first (drag over it, or Ctrl+A)", 5000)
            return False
        return self._continue(edits=(Edit.remask(*sel),), note="Regenerating the selection…")

    def replace_token_dialog(self, pos: int) -> bool:
        word, ok = QInputDialog.getText(self, "Replace with…", f"The word to write at answer position {pos} "
                                        "(it gets a leading space); the model continues from there:")
        return bool(ok) and bool(str(word).strip()) and self.replace_token(pos, str(word).strip())

    def replace_token(self, pos: int, word: str) -> bool:
        return self._continue(words=((pos, word),), note=f"Writing “{word}” at {pos} and continuing…")

    def remask(self, pos: int) -> bool:
        return self._continue(edits=(Edit.remask(pos, pos + 1),), note=f"Re-masked {pos}; continuing…")

    def continue_stopped(self) -> bool:
        o = self.outcome
        if o is None or not o.cancelled:
            return False
        return self._continue(step=len(o.result.trajectory), note="Continuing the stopped run…")

    def _continue(self, edits: tuple[Edit, ...] = (), words: tuple[tuple[int, str], ...] = (),
                  step: int | None = None, note: str = "") -> bool:
        reason = self.edit_unavailable_reason()
        o = self.outcome
        if reason is not None or o is None or self.model is None:
            self.status.message(f"Cannot continue: {reason}", 6000)
            return False
        k = self._shown_run_step() if step is None else step
        state = RunState.from_result(o.prompt_ids, o.request.params, o.result, o.model.mask_id, step=k)
        req = GenerationRequest(run_id=self._run_id + 1, prompt=o.request.prompt, params=o.request.params,
                                chat=o.request.chat, history=o.request.history)
        self.replay.stop()
        self._run_id = req.run_id
        self._current = req
        self.outcome = None
        self._timeline = paint_outcome(self.canvas, o, upto_step=k)
        self.canvas.live = True
        budget = o.request.params.step_budget
        self.replay.start_run(budget)
        self.status.start_run(budget, o.request.params.num_blocks)
        self._set_state(UiState.RUNNING)
        self.status.message(note)
        self.host.continue_run(ContinueRequest(req, state, edits, words))
        return True

    @Slot(object)
    def _on_branch_edit(self, be: BranchEdit) -> None:
        if be.run_id != self._run_id or self.model is None:
            return
        self._timeline = Timeline.of([*self._timeline.edit_steps, be.after_step])
        frame = self._timeline.frame_of_edit(len(self._timeline.edit_steps) - 1)
        self.canvas.apply_edit(frame, be.positions, be.tokens, be.texts, self.model.mask_id)
        self.canvas.flush()
