"""What crosses the engine thread: the GUI's requests to the worker and the worker's answers.

Every one is an immutable dataclass, so a queued signal can carry it between threads without a
lock; none holds a Session or a tokenizer (the GUI paints from the texts they carry).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llada_studio.core.continuation import Edit, RunState
from llada_studio.core.events import CancelToken, GenerationResult, StepEvent
from llada_studio.core.params import GenerationParams
from llada_studio.core.session import Session


# -- requests (GUI -> worker) -----------------------------------------------------------------
@dataclass(frozen=True)
class RemoteTarget:
    """A server started with `llada-studio serve` elsewhere (the GPU in another room)."""

    url: str
    api_key: str | None = None


@dataclass(frozen=True)
class LoadRequest:
    model_dir: str | None  # None: the bundled model
    engine: str = "auto"
    threads: int | None = None
    explicit: bool = True  # the user asked for it (a failure gets a dialog, not just a notice)
    remote: RemoteTarget | None = None  # set: drive that server's engine instead of a local one
    device: str = "cpu"  # "cpu" (C++ engine when built) or "cuda:N" (the torch engine on that GPU)


@dataclass(frozen=True)
class GenerationRequest:
    run_id: int
    prompt: str
    params: GenerationParams
    chat: bool = False
    history: tuple[tuple[str, str], ...] = ()  # (role, content) turns before this prompt
    cancel: CancelToken = field(default_factory=CancelToken, compare=False)
    infill: bool = False  # the prompt holds [MASK*N] blanks: fill them (core/infill.py)

    def history_messages(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.history]


@dataclass(frozen=True)
class PreviewRequest:
    """The canvas a run of `params` would start from (the pinned words laid out), for the idle view."""

    key: int  # the window's preview counter: a stale answer is dropped
    params: GenerationParams


@dataclass(frozen=True)
class ContinueRequest:
    """Edit and continue (core/continuation.py): `state` (a run at step k) with `edits` and the
    words to write (answer position, word: tokenized on the worker, " " + word) continued from k.
    `request` is the branch's run: its id, the parent's prompt and parameters, its cancel token."""

    request: GenerationRequest
    state: RunState
    edits: tuple[Edit, ...] = ()
    words: tuple[tuple[int, str], ...] = ()


# -- payloads (worker -> GUI) -----------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    """What the window shows about a loaded model (a snapshot; the session stays on the worker)."""

    path: str
    name: str
    engine: str
    device: str
    threads: int
    description: str
    license: str | None
    num_parameters: int
    weight_dtype: str
    has_chat_template: bool
    mask_id: int
    eos_id: int
    eot_id: int
    max_sequence_length: int
    load_seconds: float
    remote: bool = False  # the engine runs on a server (path holds its URL)
    has_eot: bool = True  # the tokenizer has an end-of-turn token (confidence_eos_eot_inf needs it)

    @classmethod
    def of(cls, session: Session) -> ModelInfo:
        ck = session.checkpoint
        return cls(
            path=str(ck.path),
            name=ck.name,
            engine=session.engine.name,
            device=session.engine.device,
            threads=int(session.engine.threads),
            description=session.description,
            license=ck.license,
            num_parameters=int(ck.num_parameters),
            weight_dtype=str(ck.weight_dtype),
            has_chat_template=bool(session.tokenizer.has_chat_template),
            mask_id=int(ck.mask_id),
            eos_id=int(ck.eos_id),
            eot_id=int(ck.eot_id),
            max_sequence_length=int(ck.config.max_sequence_length),
            load_seconds=float(getattr(session, "load_seconds", 0.0)),
            has_eot=bool(getattr(ck, "has_eot", True)),
        )


@dataclass(frozen=True)
class LoadFailure:
    request: LoadRequest
    path: str
    problem: str
    kind: str  # "checkpoint", "engine", "error"


@dataclass(frozen=True)
class StepUpdate:
    """One step for the canvas: the core event (row 0 is drawn) and the text of each token."""

    run_id: int
    event: StepEvent
    texts: tuple[str, ...]


@dataclass(frozen=True)
class CanvasStart:
    """The answer canvas a run starts from (or, for a preview, would): the tokens given before
    step 0 with their texts and origins (canvas_state.Origin values: "pin", "given")."""

    run_id: int  # a run's id, or a preview's key
    params: GenerationParams  # the run's (an infill run's: its region, blocks and steps)
    given: tuple[tuple[int, int, str, str], ...] = ()  # (answer position, token, text, origin)
    problem: str | None = None  # why the pinned words cannot be laid out (a preview)
    prompt: str = ""  # an infill run's prompt (the text before its first blank)


@dataclass(frozen=True)
class BranchEdit:
    """A continuation's edit, before its first step: after step `after_step` the answer positions
    were set to `tokens` (the run's mask id: re-masked), with the texts of the tokens."""

    run_id: int
    after_step: int
    positions: tuple[int, ...]
    tokens: tuple[int, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True)
class RunStarted:
    run_id: int
    prompt_ids: tuple[int, ...]


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    request: GenerationRequest
    prompt_ids: tuple[int, ...]
    result: GenerationResult
    token_texts: tuple[str, ...]  # text of each generated token (for replay and export)
    model: ModelInfo
    token_table: dict[int, str] = field(default_factory=dict, compare=False)  # texts of tokens edits replaced

    @property
    def text(self) -> str:
        return self.result.texts[0] if self.result.texts else ""

    @property
    def cancelled(self) -> bool:
        return self.result.cancelled


@dataclass(frozen=True)
class RunFailure:
    run_id: int
    message: str


@dataclass(frozen=True)
class ScoreRequest:
    """How likely the model finds an answer after its prompt (core.likelihood's Monte-Carlo ELBO)."""

    run_id: int
    prompt_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    mc_num: int = 64
    seed: int = 0


@dataclass(frozen=True)
class ScoreOutcome:
    run_id: int
    description: str  # the estimate in words, or why it could not be made
    log_likelihood: float | None
