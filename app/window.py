"""The main window: composes the panels (prompt, canvas, replay bar, controls, status bar, menus,
chat) and its parts (window_models: the model and its loading; window_chat, window_io,
window_settings), and runs a generation: request, live steps, finish, failure, as a `UiState`.

Its public signals are declared in window_base: stateChanged, modelLoaded, loadFailed, stepShown,
runFinished, runFailed.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMessageBox

from llada_studio.core.params import plural

from . import APP_NAME
from .canvas_state import Timeline
from .engine_messages import GenerationRequest, RunFailure, RunOutcome, ScoreOutcome, ScoreRequest, StepUpdate
from .menus import max_threads
from .window_base import UiState
from .window_branch import WindowBranch
from .window_chat import WindowChat
from .window_io import WindowIO
from .window_models import WindowModels
from .window_pins import WindowPins, has_blanks
from .window_settings import WindowSettings, app_icon, make_settings, repair_settings, saved_int
from .worker import EngineHost

__all__ = ["MainWindow", "UiState"]

MIN_SIZE = (760, 520)  # below this the settings column and the canvas no longer both fit


class MainWindow(WindowBranch, WindowPins, WindowIO, WindowSettings, WindowChat, WindowModels):
    def __init__(self, settings: QSettings | None = None, model_dir: str | None = None, autoload: bool = True,
                 engine: str | None = None, threads: int | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else make_settings()
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setAccessibleName(APP_NAME)
        self.setMinimumSize(*MIN_SIZE)
        self.model = None
        self.model_key = None
        self.outcome = None
        self.state = UiState.EMPTY
        self._run_id = 0
        self._current = None
        self._timeline = Timeline()
        self._loading = None
        self._load_note = None
        self._model_dir = None
        self._plain_prompt = ""
        self._chat_pref = False
        self.dialogs = True
        self._closing = False
        self.engine_kind = self._saved_engine(engine)
        saved_device = str(self.settings.value("device", "cpu", type=str) or "cpu")
        # A GPU is not probed at start (torch takes seconds to import): a saved one is tried, and a
        # failure falls back to the CPU like any failed load.
        self.device = saved_device if saved_device == "cpu" or saved_device.startswith("cuda") else "cpu"
        self._settings_problem = repair_settings(self.settings)
        # A hand-edited or stale thread count (threads=100000 once hung the start): automatic.
        saved_threads = saved_int(self.settings, "threads", 0, 0, max_threads())
        self.threads = threads if threads is not None else (saved_threads or None)
        self.theme = str(self.settings.value("theme", "system", type=str) or "system")

        # Worker signals reach these @Slot methods on the GUI thread (queued: the worker lives on
        # the engine thread). They must stay real slots: a plain callable would run on the
        # emitting thread.
        self.host = EngineHost(self)
        w = self.host.worker
        w.loadStarted.connect(self._on_load_started)
        w.loadProgress.connect(self._on_load_progress)
        w.loaded.connect(self._on_loaded)
        w.loadFailed.connect(self._on_load_failed)
        w.step.connect(self._on_step)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.scored.connect(self._on_scored)
        w.previewed.connect(self._on_previewed)
        w.canvasStarted.connect(self._on_canvas_started)
        w.edited.connect(self._on_branch_edit)
        try:
            self._build()
        except BaseException:
            self.host.shutdown()  # never leave a running QThread behind a failed constructor
            raise
        if autoload:
            self._autoload(model_dir)

    # ======================================================================================
    # building
    # ======================================================================================
    def _build(self) -> None:
        from .window_layout import build_window

        build_window(self)
        self._set_state(UiState.EMPTY)
        self._show_idle_canvas()
        if self._settings_problem:
            self.status.message(self._settings_problem, 15000)

    @property
    def history(self) -> list[tuple[str, str]]:
        """The chat so far, (role, content) turns."""
        return self.transcript.history

    def _flush_status(self) -> None:
        self.status.flush()

    # ======================================================================================
    # generation
    # ======================================================================================
    def current_request(self) -> GenerationRequest:
        """What Generate would send now."""
        chat = self.chat_mode.isEnabled() and self.chat_mode.isChecked()
        return GenerationRequest(
            run_id=self._run_id + 1,
            prompt=self.prompt.toPlainText(),
            params=self.controls.params(),
            chat=chat,
            history=tuple(self.history) if chat else (),
            infill=not chat and has_blanks(self.prompt.toPlainText()),
        )

    def generate(self) -> bool:
        if self.state != UiState.READY:
            return False
        if not self.prompt.toPlainText().strip():
            self.status.message("Type a prompt first.", 4000)
            return False
        problem = self.controls.pins.error()
        if problem and not self._infill_prompt():  # filling blanks leaves the pins out
            self.status.message(f"Not started: {problem}", 10000)
            self.controls.pins.edit.setFocus()
            return False
        if self._infill_prompt() and self.model is not None and self.model.remote:
            self.status.message("Filling blanks needs a local model: the server has no infill yet.", 8000)
            return False
        self.controls.next_seed()  # a new seed per run unless "Keep" is ticked
        return self._start(self.current_request())

    def regenerate(self) -> bool:
        """The last prompt again with a new seed (in chat: the last answer replaced)."""
        if self.state != UiState.READY or self.outcome is None:
            return False
        last = self.outcome.request
        if last.chat and self.history[-2:] and self.history[-2] == ("user", last.prompt):
            del self.history[-2:]
            self.transcript.refresh()
        self.controls.draw_seed()
        req = GenerationRequest(run_id=self._run_id + 1, prompt=last.prompt, params=self.controls.params(),
                                chat=last.chat, history=tuple(self.history) if last.chat else ())
        return self._start(req)

    def _start(self, request: GenerationRequest) -> bool:
        self.replay.stop()
        self._run_id = request.run_id
        self._current = request
        self._timeline = Timeline()
        self.outcome = None
        p = request.params
        specials = frozenset({self.model.eos_id, self.model.eot_id}) if self.model else frozenset()
        budget = p.step_budget  # fixed: max_steps; parallel decoding: at most one step per token
        self.canvas.reset(p.gen_length, p.block_length, specials, budget)
        self.canvas.set_message("")
        self.canvas.live = True
        self.replay.start_run(budget)
        self.status.start_run(budget, p.num_blocks)
        if request.chat:
            self.transcript.refresh(pending=request.prompt)
        self._set_state(UiState.RUNNING)
        self.save_settings()
        self.host.generate(request)
        return True

    def stop(self) -> None:
        if self.state == UiState.RUNNING and self._current is not None:
            self._current.cancel.cancel()
            self.status.message("Stopping…")

    @Slot(object)
    def _on_step(self, update: StepUpdate) -> None:
        if update.run_id != self._run_id:
            return  # a late event from a run that was replaced
        e = update.event
        frame = self._timeline.frame_of_step(e.step)  # a branch: its edit is a frame of its own
        self.canvas.absorb(frame, e.block, e.positions[0], e.tokens[0], e.confidences[0], update.texts)
        self.status.step_event(e, self.canvas.visible_token_count())
        self.replay.live_step(e.step, e.total_steps)
        self.stepShown.emit(update)

    @Slot(object)
    def _on_finished(self, outcome: RunOutcome) -> None:
        if outcome.run_id != self._run_id:
            return
        self.outcome = outcome
        self._current = None
        res = outcome.result
        self.canvas.live = False
        self.canvas.set_final_texts(outcome.token_texts, res.generated_ids[0] if res.generated_ids else ())
        self.canvas.flush()
        n = res.trajectory[-1].step if res.trajectory else 0
        self.replay.finish(self.canvas.last_step, self._timeline, n)
        total = float(res.timings.get("total_s", res.trajectory[-1].elapsed if res.trajectory else 0.0))
        self.status.finish(total, self.canvas.visible_token_count())
        if outcome.request.infill and not res.cancelled:
            self.status.message(f"Filled the blanks: {plural(n, 'step')} in {total:.2f} s", 6000)
        elif res.cancelled:
            self.status.message(f"Stopped after {n} of {plural(outcome.request.params.step_budget, 'step')}", 6000)
        else:
            self.status.message(f"Done: {plural(n, 'step')} in {total:.2f} s", 6000)
        if outcome.request.chat:
            if not res.cancelled:
                self.transcript.add_turn(outcome.request.prompt, outcome.text)
                self.prompt.clear()
            self.transcript.refresh()
        self._set_state(UiState.READY)
        self.runFinished.emit(outcome)

    def score_answer(self) -> bool:
        """Score the shown answer on the engine thread; the estimate goes to the status bar."""
        o = self.outcome
        if o is None or self.state != UiState.READY or self.model is None or self.model.remote:
            return False
        ids = o.result.generated_ids[0] if o.result.generated_ids else ()
        self.host.score(ScoreRequest(self._run_id, tuple(o.prompt_ids), tuple(ids)))
        self.status.message("Scoring the answer…")
        return True

    @Slot(object)
    def _on_scored(self, outcome: ScoreOutcome) -> None:
        self.status.message(f"Score: {outcome.description}", 20000)

    @Slot(object)
    def _on_failed(self, failure: RunFailure) -> None:
        if failure.run_id != self._run_id:
            return
        self._current = None
        self.canvas.live = False
        self.status.progress.hide()
        self._set_state(UiState.READY if self.model is not None else UiState.EMPTY)
        self.transcript.refresh()
        self.status.message(f"Generation failed: {failure.message}", 8000)
        self.runFailed.emit(failure)
        if self.dialogs and not self._closing:
            QMessageBox.warning(self, "Generation failed", failure.message)

    def _forget_run(self) -> None:
        """No run on screen: scrubber, copy/export and the run's status figures cleared."""
        self.outcome = None
        self.replay.clear()
        self.status.clear_run()
        self._set_state(self.state)

    def _on_controls_changed(self) -> None:
        if self.state == UiState.READY and self.outcome is None:
            self._show_idle_canvas()

    def _use_example(self, text: str) -> None:
        self.prompt.setPlainText(text)
        self.prompt.setFocus()

    # ======================================================================================
    # shutdown
    # ======================================================================================
    def shutdown(self) -> None:
        """Stop, quit, wait: the engine thread ends before the window goes."""
        self._closing = True
        self.replay.stop()
        self.status.stop_timers()
        self.host.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            try:
                self.save_settings()
            except Exception:  # never keep a window open because settings could not be written
                pass
        self.shutdown()
        event.accept()
