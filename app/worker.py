"""The engine thread: one QThread owning an `EngineWorker` that loads models and runs generations.

The pattern is GPT4All's chat app: requests reach the worker over queued signals, the worker
answers with immutable payloads over queued signals, and stopping is an atomic flag
(`core.events.CancelToken`) that the engine polls before every forward pass. Shutdown is
stop, quit, wait: the thread's event loop ends once the running slot returns, which is at most
one forward pass after the flag is set.

The GUI thread never touches the `Session`: it gets a `ModelInfo` snapshot and `StepUpdate`s
that already carry each revealed token's text, so painting needs no tokenizer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from llada_studio.core.errors import CheckpointError, EngineUnavailableError
from llada_studio.core.events import StepEvent
from llada_studio.core.params import ParamError
from llada_studio.core.session import Session

from .engine_messages import (
    CanvasStart,
    ContinueRequest,
    GenerationRequest,
    LoadFailure,
    LoadRequest,
    ModelInfo,
    PreviewRequest,
    RemoteTarget,
    RunFailure,
    RunOutcome,
    RunStarted,
    ScoreOutcome,
    ScoreRequest,
    StepUpdate,
)
from .worker_runs import describe_param_error, pinned_start, run_continue, run_infill

if TYPE_CHECKING:
    from llada_studio.core.server.client import RemoteClient

# The messages are imported from here too (the window's and the tests' older imports).
__all__ = [
    "EngineHost", "EngineWorker", "describe_failure", "model_exists",
    "CanvasStart", "GenerationRequest", "LoadFailure", "LoadRequest", "ModelInfo", "RemoteTarget", "RunFailure",
    "RunOutcome",
    "PreviewRequest", "RunStarted", "ScoreOutcome", "ScoreRequest", "StepUpdate",
]


class _LoadAborted(Exception):
    pass


class EngineWorker(QObject):
    """Lives on the engine thread. Its slots run there, one request at a time."""

    loadStarted = Signal(object)  # LoadRequest
    loadProgress = Signal(float, str)
    loaded = Signal(object)  # ModelInfo
    loadFailed = Signal(object)  # LoadFailure
    runStarted = Signal(object)  # RunStarted
    step = Signal(object)  # StepUpdate
    finished = Signal(object)  # RunOutcome
    failed = Signal(object)  # RunFailure
    scored = Signal(object)  # ScoreOutcome
    previewed = Signal(object)  # CanvasStart (a preview's key as its run_id)
    canvasStarted = Signal(object)  # CanvasStart: the canvas a run starts from, before its first step
    edited = Signal(object)  # BranchEdit: a continuation's edit, before its first step

    def __init__(self) -> None:
        super().__init__()
        self.session: Session | None = None
        self.remote: RemoteClient | None = None  # while connected to a server
        self.info: ModelInfo | None = None
        # Set by the GUI at shutdown: a load in progress gives up at its next progress report.
        self.abort_load = threading.Event()

    @Slot(object)
    def load(self, request: LoadRequest) -> None:
        self.loadStarted.emit(request)

        def progress(fraction: float, message: str) -> None:
            if self.abort_load.is_set():
                raise _LoadAborted()
            self.loadProgress.emit(float(fraction), str(message))

        if request.remote is not None:
            self._connect(request)
            return
        path = request.model_dir
        try:
            # "auto" falls back from a broken C++ engine to the reference one inside core.
            session = Session.open(path, engine=request.engine, device=request.device, threads=request.threads,
                                   progress=progress)
        except _LoadAborted:
            return
        except CheckpointError as exc:
            self.loadFailed.emit(LoadFailure(request, exc.path, exc.problem, "checkpoint"))
            return
        except EngineUnavailableError as exc:
            self.loadFailed.emit(LoadFailure(request, str(path or "bundled model"), str(exc), "engine"))
            return
        except Exception as exc:  # a bug or an I/O error: still a dialog, never a dead thread
            self.loadFailed.emit(
                LoadFailure(request, str(path or "bundled model"), f"{type(exc).__name__}: {exc}", "error")
            )
            return
        self._drop_remote()
        self.session = session
        self.info = ModelInfo.of(session)
        self.loaded.emit(self.info)

    def _connect(self, request: LoadRequest) -> None:
        from llada_studio.core.server.client import RemoteClient, RemoteError

        assert request.remote is not None
        t0 = time.perf_counter()
        client = RemoteClient(request.remote.url, request.remote.api_key)
        try:
            m = client.model()
        except (RemoteError, KeyError, ValueError) as exc:
            client.close()
            problem = exc.message if isinstance(exc, RemoteError) else f"not a LLaDA Studio server ({exc})"
            self.loadFailed.emit(LoadFailure(request, request.remote.url, problem, "remote"))
            return
        self._drop_remote()
        self.session, self.remote = None, client
        self.info = ModelInfo(
            path=request.remote.url, name=m.id, engine=m.engine, device=m.device, threads=0,
            description=m.description, license=None, num_parameters=0, weight_dtype="",
            has_chat_template=m.chat, mask_id=m.mask_id, eos_id=m.eos_id, eot_id=m.eot_id,
            max_sequence_length=m.max_sequence_length, load_seconds=time.perf_counter() - t0, remote=True,
        )
        self.loaded.emit(self.info)

    def _drop_remote(self) -> None:
        if self.remote is not None:
            self.remote.close()
            self.remote = None

    @Slot(object)
    def score(self, request: ScoreRequest) -> None:
        from llada_studio.core.likelihood import score_ids

        if self.session is None:
            self.scored.emit(ScoreOutcome(request.run_id, "scoring needs a local model (not a server)", None))
            return
        mask, stop = self.session.checkpoint.mask_id, {self.session.checkpoint.eos_id, self.session.checkpoint.eot_id}
        answer = [t for t in request.answer_ids if t != mask]
        for i, t in enumerate(answer):  # the answer ends at its first EOS/EOT (padding after it)
            if t in stop:
                answer = answer[: i + 1]
                break
        try:
            est = score_ids(self.session, list(request.prompt_ids), answer, mc_num=request.mc_num, seed=request.seed)
        except ValueError as exc:
            self.scored.emit(ScoreOutcome(request.run_id, str(exc), None))
            return
        self.scored.emit(ScoreOutcome(request.run_id, est.describe(), est.log_likelihood))

    @Slot(object)
    def preview(self, request: PreviewRequest) -> None:
        if self.session is not None:
            self.previewed.emit(pinned_start(self.session, request.key, request.params))

    @Slot(object)
    def generate(self, request: GenerationRequest) -> None:
        if self.remote is not None and self.info is not None:
            self._generate_remote(request)
            return
        session, info = self.session, self.info
        if session is None or info is None:
            self.failed.emit(RunFailure(request.run_id, "no model is loaded: open a model folder first"))
            return
        cancel = request.cancel
        tokenizer = session.tokenizer

        def on_step(event: StepEvent) -> bool:
            texts = tuple(tokenizer.token_texts(event.tokens[0])) if event.tokens else ()
            self.step.emit(StepUpdate(request.run_id, event, texts))
            return not cancel.cancelled

        if request.infill:
            self._run(request.run_id, lambda: run_infill(session, info, request, self.canvasStarted.emit, on_step))
            return
        try:
            if request.chat:
                ids = session.encode(request.prompt, chat=True, history=request.history_messages())
            else:
                ids = session.encode(request.prompt)
            prompt_ids = tuple(int(i) for i in ids)
            if not prompt_ids:
                raise ValueError("the prompt is empty: type something to continue from")
            self.runStarted.emit(RunStarted(request.run_id, prompt_ids))
            if request.params.constraints:  # the pinned words show from step 0
                self.canvasStarted.emit(pinned_start(session, request.run_id, request.params))
            result = session.generate_ids([list(prompt_ids)], request.params, on_step, cancel)
            texts = tuple(tokenizer.token_texts(result.generated_ids[0])) if result.generated_ids else ()
        except ParamError as exc:  # named as the window labels it ("Steps", not max_steps)
            self.failed.emit(RunFailure(request.run_id, describe_param_error(exc)))
            return
        except Exception as exc:
            self.failed.emit(RunFailure(request.run_id, str(exc) or type(exc).__name__))
            return
        self.finished.emit(RunOutcome(request.run_id, request, prompt_ids, result, texts, info))

    @Slot(object)
    def continue_run(self, creq: ContinueRequest) -> None:
        request = creq.request
        session, info = self.session, self.info
        if session is None or info is None:
            self.failed.emit(RunFailure(request.run_id, "edit and continue needs a local model (not a server)"))
            return
        tokenizer = session.tokenizer

        def on_step(event: StepEvent) -> bool:
            texts = tuple(tokenizer.token_texts(event.tokens[0])) if event.tokens else ()
            self.step.emit(StepUpdate(request.run_id, event, texts))
            return not request.cancel.cancelled

        self._run(request.run_id, lambda: run_continue(session, info, creq, self.edited.emit, on_step))

    def _run(self, run_id: int, run: Callable[[], RunOutcome]) -> None:
        """One of worker_runs' runs: its outcome, or a RunFailure saying what went wrong."""
        try:
            outcome = run()
        except ParamError as exc:
            self.failed.emit(RunFailure(run_id, describe_param_error(exc)))
            return
        except Exception as exc:
            self.failed.emit(RunFailure(run_id, str(exc) or type(exc).__name__))
            return
        self.finished.emit(outcome)

    def _generate_remote(self, request: GenerationRequest) -> None:
        from llada_studio.core.server.client import RemoteError

        client, info = self.remote, self.info
        assert client is not None and info is not None  # generate() sends only a connected run here

        def on_step(event: StepEvent) -> bool:
            texts = tuple(client.token_texts(event.tokens[0])) if event.tokens else ()
            self.step.emit(StepUpdate(request.run_id, event, texts))
            return not request.cancel.cancelled

        try:
            self.runStarted.emit(RunStarted(request.run_id, ()))
            run = client.generate(request.prompt, request.params, on_step, request.cancel, chat=request.chat,
                                  history=request.history)
        except RemoteError as exc:
            self.failed.emit(RunFailure(request.run_id, exc.message))
            return
        except Exception as exc:  # a server that answers something else: a message, never a dead thread
            self.failed.emit(RunFailure(request.run_id, f"{type(exc).__name__}: {exc}"))
            return
        ids = run.result.generated_ids[0] if run.result.generated_ids else ()
        texts = tuple(client.token_texts(ids))
        self.finished.emit(RunOutcome(request.run_id, request, run.prompt_ids, run.result, texts, info))


class EngineHost(QObject):
    """The GUI-side owner of the engine thread: sends requests, stops, shuts down."""

    requestLoad = Signal(object)
    requestGenerate = Signal(object)
    requestScore = Signal(object)
    requestPreview = Signal(object)
    requestContinue = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Not named `thread`: that is QObject.thread(), the thread this host object lives on.
        self.engine_thread = QThread()
        self.engine_thread.setObjectName("llada-engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.engine_thread)
        # Queued: the worker lives on the engine thread, so these calls run there.
        self.requestLoad.connect(self.worker.load)
        self.requestGenerate.connect(self.worker.generate)
        self.requestScore.connect(self.worker.score)
        self.requestPreview.connect(self.worker.preview)
        self.requestContinue.connect(self.worker.continue_run)
        self._current: GenerationRequest | None = None
        self._down = False
        self.engine_thread.start()

    @property
    def running(self) -> bool:
        return bool(self.engine_thread.isRunning())

    def load(self, request: LoadRequest) -> None:
        if not self._down:
            self.requestLoad.emit(request)

    def score(self, request: ScoreRequest) -> None:
        if not self._down:
            self.requestScore.emit(request)

    def preview(self, request: PreviewRequest) -> None:
        if not self._down:
            self.requestPreview.emit(request)

    def generate(self, request: GenerationRequest) -> None:
        if not self._down:
            self._current = request
            self.requestGenerate.emit(request)

    def continue_run(self, creq: ContinueRequest) -> None:
        if not self._down:
            self._current = creq.request
            self.requestContinue.emit(creq)

    def stop(self) -> None:
        if self._current is not None:
            self._current.cancel.cancel()

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Stop, quit, wait. Returns True when the thread has ended."""
        if self._down:
            return not self.engine_thread.isRunning()
        self._down = True
        self.stop()
        self.worker.abort_load.set()
        self.engine_thread.quit()
        if timeout_s is None:
            ok = self.engine_thread.wait()
        else:
            deadline = time.monotonic() + timeout_s
            ok = False
            while time.monotonic() < deadline:
                if self.engine_thread.wait(50):
                    ok = True
                    break
        return bool(ok)


def describe_failure(failure: LoadFailure) -> tuple[str, str]:
    """Title and text for the bad-folder dialog."""
    if failure.kind == "checkpoint":
        title = "Not a usable model folder"
        text = (
            f"This folder cannot be opened as a LLaDA-format checkpoint.\n\n"
            f"What is wrong: {failure.problem}\n\nWhere: {failure.path}"
        )
    elif failure.kind == "remote":
        title = "Could not connect to the server"
        text = f"The server at {failure.path} could not be used.\n\n{failure.problem}"
    elif failure.kind == "engine":
        title = "Engine unavailable"
        text = f"The model could not be started.\n\n{failure.problem}"
    else:
        title = "Could not load the model"
        text = f"Loading {failure.path} failed.\n\n{failure.problem}"
    return title, text


def model_exists(path: str | Path | None) -> bool:
    from llada_studio.core.resources import bundled_model_dir

    p = Path(path) if path else bundled_model_dir()
    return p.is_dir() and (p / "config.json").is_file()

