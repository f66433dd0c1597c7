"""The main window: composes the panels (prompt, canvas, replay bar, controls, status bar, menus,
chat) and runs the two lifecycles, loading a model and running a generation, as a `UiState`."""

from __future__ import annotations

import os
import threading
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QSettings, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QMainWindow,
    QMessageBox,
)

from llada_studio.core.params import plural
from llada_studio.core.resources import bundled_model_dir

from . import APP_NAME
from .menus import max_threads
from .status_panel import engine_text
from .window_chat import WindowChat
from .window_io import WindowIO
from .window_models import WindowModels
from .window_settings import (  # noqa: F401 - app_icon, make_settings: the launcher's names
    WindowSettings,
    app_icon,
    make_settings,
    repair_settings,
    saved_int,
)
from .worker import (
    EngineHost,
    GenerationRequest,
    LoadFailure,
    LoadRequest,
    ModelInfo,
    RunFailure,
    RunOutcome,
    RunStarted,
    ScoreOutcome,
    ScoreRequest,
    StepUpdate,
    describe_failure,
    model_exists,
)

MIN_SIZE = (760, 520)  # below this the settings column and the canvas no longer both fit


class UiState(str, Enum):
    EMPTY = "empty"  # no model
    LOADING = "loading"
    READY = "ready"
    RUNNING = "running"


class MainWindow(QMainWindow, WindowIO, WindowSettings, WindowChat, WindowModels):
    stateChanged = Signal(str)
    modelLoaded = Signal(object)  # ModelInfo
    runFinished = Signal(object)  # RunOutcome
    runFailed = Signal(object)  # RunFailure
    loadFailed = Signal(object)  # LoadFailure
    stepShown = Signal(object)  # StepUpdate, re-emitted on the GUI thread after the canvas took it

    def __init__(self, settings: QSettings | None = None, model_dir: str | None = None, autoload: bool = True,
                 engine: str | None = None, threads: int | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else make_settings()
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setAccessibleName(APP_NAME)
        self.setMinimumSize(*MIN_SIZE)
        self.model: ModelInfo | None = None
        self.model_key: str | None = None  # the settings group of the loaded model's own settings
        self.outcome: RunOutcome | None = None
        self.state = UiState.EMPTY
        self._run_id = 0
        self._current: GenerationRequest | None = None
        self._loading: LoadRequest | None = None
        self._model_dir: str | None = None  # the loaded model's folder (None: the bundled one)
        self._plain_prompt = ""  # the continuation prompt, kept while chat mode has the box
        self.dialogs = True  # False in the self-test: failures are reported, never shown modally
        self._closing = False
        self.step_updates_received = 0
        self.last_step_thread: int | None = None
        self.engine_kind = self._saved_engine(engine)
        saved_device = str(self.settings.value("device", "cpu", type=str) or "cpu")
        # A GPU is not probed at start (torch takes seconds to import): a saved one is tried, and a
        # failure falls back to the CPU like any failed load.
        self.device = saved_device if saved_device == "cpu" or saved_device.startswith("cuda") else "cpu"
        self._settings_problem = repair_settings(self.settings)
        # A hand-edited or stale thread count (threads=100000 once hung the start): automatic.
        saved_threads = saved_int(self.settings, "threads", 0, 0, max_threads())
        self.threads: int | None = threads if threads is not None else (saved_threads or None)
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
        w.runStarted.connect(self._on_run_started)
        w.step.connect(self._on_step)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.scored.connect(self._on_scored)
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
        return self.transcript.history

    def _flush_status(self) -> None:
        self.status.flush()

    # ======================================================================================
    # model
    # ======================================================================================
    def _autoload(self, model_dir: str | None) -> None:
        if model_dir:
            self.open_model(model_dir)
            return
        last = str(self.settings.value("model_dir", "", type=str) or "")
        if last and model_exists(last):
            self.open_model(last, explicit=False)
        elif model_exists(None):
            self.open_model(None, explicit=False)
        else:
            self._show_no_model(
                f"No model loaded.\n\nThe bundled model is not installed here ({bundled_model_dir()}).\n"
                "Use File → Open model folder… (Ctrl+O) to choose a LLaDA-format checkpoint."
            )

    def engine_threads(self) -> int:
        """The thread count asked of the engine. Automatic: every core but one, so the GUI thread
        always has a core (tests/bench/RESULTS_gui.md: with all cores busy, a loaded machine
        stalls the window past 50 ms; with one left free it does not)."""
        if self.threads:
            return self.threads
        return max(1, (os.cpu_count() or 2) - 1)

    def open_model(self, model_dir: str | None, explicit: bool = True, engine: str | None = None,
                   device: str | None = None) -> None:
        """Load a model on the engine thread (None: the bundled model)."""
        if self.state in (UiState.RUNNING, UiState.LOADING):
            return
        self._loading = LoadRequest(model_dir, engine or self.engine_kind, self.engine_threads(), explicit,
                                    device=device or self.device)
        self.host.load(self._loading)
        self._set_state(UiState.LOADING)

    @Slot(object)
    def _on_load_started(self, request: LoadRequest) -> None:
        self.status.start_loading()
        name = Path(request.model_dir).name if request.model_dir else "bundled model"
        self.status.message(f"Loading {name}…")

    @Slot(float, str)
    def _on_load_progress(self, fraction: float, message: str) -> None:
        self.status.loading(fraction)
        self.status.message(f"Loading: {message}")

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        request = self._loading
        self.model = info
        self.status.progress.hide()
        self.status.message(f"Loaded {info.name} in {info.load_seconds:.1f} s", 4000)
        if info.remote:
            host = info.path.split("://", 1)[-1].split("/", 1)[0]
            self.status.set_model(info.name, f"{info.description}\nserved at {info.path}",
                                  f"{info.engine} · {info.device} · server {host}")
            self.settings.setValue("remote_url", info.path)
        else:
            self.status.set_model(info.name, f"{info.path}\n{info.num_parameters / 1e6:.1f} M parameters, "
                                  f"{info.weight_dtype}", engine_text(info.engine, info.device, info.threads))
        self._model_dir = request.model_dir if request else None
        if info.remote:
            pass  # the next start opens the last local model; a server may not be up then
        elif self._model_dir is not None:
            self.settings.setValue("model_dir", self._model_dir)
        else:
            self.settings.remove("model_dir")
        if request is not None and not info.remote:  # a device choice is kept once a model ran on it
            self.device = request.device
            self.settings.setValue("device", self.device)
        if request is not None and not info.remote:  # an engine choice is kept once a model ran on it
            self.engine_kind = request.engine
            self.settings.setValue("engine", self.engine_kind)
        self.actions_.check_engine(self.engine_kind)
        self._forget_run()  # the last run belonged to the model before
        self.controls.set_max_gen_length(max(16, info.max_sequence_length - 64))
        self._use_model_settings(info)
        bundled = not info.remote and Path(info.path).resolve() == bundled_model_dir().resolve()
        self.banner.setVisible(bundled)
        self.banner.set_note_shown(not bool(self.settings.value("intro_dismissed", False, type=bool)))
        self.chat_mode.setEnabled(info.has_chat_template)
        self.chat_mode.setChecked(info.has_chat_template and self._chat_pref)
        self.chat_mode.setToolTip(
            "Multi-turn chat with the model's chat template" if info.has_chat_template
            else "This checkpoint has no chat template: plain continuation only"
        )
        self.transcript.clear_history()
        self.setWindowTitle(f"{info.name} — {APP_NAME}")
        self._set_state(UiState.READY)
        self._show_idle_canvas()
        self.modelLoaded.emit(info)

    @Slot(object)
    def _on_load_failed(self, failure: LoadFailure) -> None:
        self.status.progress.hide()
        title, text = describe_failure(failure)
        self.actions_.check_engine(self.engine_kind)  # a failed engine choice is not kept
        if failure.request.device != "cpu" and failure.request.remote is None and not self._closing:
            # The GPU could not take it (gone, not enough memory, no CUDA): the same model on the CPU.
            self.device = "cpu"
            self.settings.setValue("device", "cpu")
            if self.model is None:
                self.status.message(f"{failure.problem}; loading on the CPU instead", 10000)
                self._set_state(UiState.EMPTY)
                self.open_model(failure.request.model_dir, explicit=False, device="cpu")
                self.loadFailed.emit(failure)
                return
        self._set_state(UiState.READY if self.model is not None else UiState.EMPTY)
        if self.model is None:
            self._show_no_model(f"No model loaded.\n\n{failure.problem}\n\nUse File → Open model folder… (Ctrl+O).")
        self.status.message(f"{title}: {failure.problem}", 8000)
        self.loadFailed.emit(failure)
        if failure.request.explicit and self.dialogs and not self._closing:
            QMessageBox.warning(self, title, text)
        elif not failure.request.explicit and failure.request.model_dir is not None and self.model is None:
            # The last session's model no longer opens (moved, damaged): start on the bundled one
            # and say so, instead of an empty window.
            self.settings.remove("model_dir")
            if model_exists(None) and not self._closing:
                self.open_model(None, explicit=False)
                self.status.message(f"{failure.path} could not be opened ({failure.problem}); "
                                    "using the bundled model", 10000)

    def _show_no_model(self, message: str) -> None:
        self._forget_run()
        self.canvas.reset(0)
        self.canvas.set_message(message)
        self.status.no_model()

    def _on_engine_chosen(self, action: QAction) -> None:
        """Reload on the chosen engine (the model shown, or the one that failed to load); the
        choice is saved only when that load succeeds."""
        kind = str(action.data())
        folder = self._model_dir if self.model is not None else (self._loading.model_dir if self._loading else None)
        self.open_model(folder, explicit=True, engine=kind)
        self.actions_.check_engine(self.engine_kind)

    def _on_device_chosen(self, action: QAction) -> None:
        folder = self._model_dir if self.model is not None else (self._loading.model_dir if self._loading else None)
        self.open_model(folder, explicit=True, device=str(action.data()))

    def _on_threads_chosen(self, action: QAction) -> None:
        n = int(action.data())
        self.threads = n or None
        self.settings.setValue("threads", n)
        if self.model is not None:
            self.open_model(self._model_dir, explicit=True)

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
        )

    def generate(self) -> bool:
        if self.state != UiState.READY:
            return False
        if not self.prompt.toPlainText().strip():
            self.status.message("Type a prompt first.", 4000)
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
    def _on_run_started(self, started: RunStarted) -> None:
        if started.run_id == self._run_id:
            self.prompt_ids = started.prompt_ids

    @Slot(object)
    def _on_step(self, update: StepUpdate) -> None:
        if update.run_id != self._run_id:
            return  # a late event from a run that was replaced
        self.step_updates_received += 1
        self.last_step_thread = threading.get_ident()
        e = update.event
        self.canvas.absorb(e.step, e.block, e.positions[0], e.tokens[0], e.confidences[0], update.texts)
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
        n = self.canvas.last_step
        self.replay.finish(n)
        total = float(res.timings.get("total_s", res.trajectory[-1].elapsed if res.trajectory else 0.0))
        self.status.finish(total, self.canvas.visible_token_count())
        if res.cancelled:
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
        self.last_score = outcome
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

    def _show_idle_canvas(self) -> None:
        """Before a run: the masked region the current settings would fill."""
        if self.model is None:
            return
        p = self.controls.params()
        self.canvas.reset(p.gen_length, p.block_length, frozenset(), p.max_steps)
        self.canvas.set_message("")

    def _use_example(self, text: str) -> None:
        self.prompt.setPlainText(text)
        self.prompt.setFocus()

    # ======================================================================================
    # state and shutdown
    # ======================================================================================
    def _set_state(self, state: UiState) -> None:
        self.state = state
        running, ready, idle = state == UiState.RUNNING, state == UiState.READY, state in (UiState.READY, UiState.EMPTY)
        # Chat availability first: the labels below depend on it (it is off while a run goes on).
        self.chat_mode.setEnabled(not running and self.model is not None and self.model.has_chat_template)
        chat = self.chat_mode.isChecked() and (self.chat_mode.isEnabled() or running)
        self.generate_button.setText("Send" if chat else "Generate")
        self.generate_button.setToolTip("Send the message (Ctrl+Enter)" if chat else "Start generating (Ctrl+Enter)")
        for w in (self.generate_button, self.act_generate):
            w.setEnabled(ready)
        for w in (self.stop_button, self.act_stop):
            w.setEnabled(running)
        self.controls.setEnabled(idle)
        self.actions_.set_idle(idle)
        has_result = self.outcome is not None and not running
        for w in (self.copy_button, self.export_button, self.scrubber, self.play_button, self.act_copy,
                  self.actions_.copy_answer, self.act_export, self.act_export_text, self.actions_.export_film,
                  self.act_replay):
            w.setEnabled(has_result)
        self.act_regenerate.setEnabled(has_result and ready)
        self.actions_.score.setEnabled(has_result and ready and self.model is not None and not self.model.remote)
        self.new_chat_button.setVisible(chat)
        for w in (self.new_chat_button, self.act_new_chat):
            w.setEnabled(chat and not running)
        self.stateChanged.emit(state.value)

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
