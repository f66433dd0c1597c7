"""A loaded model ready to generate: checkpoint + tokenizer + engine. The one entry point the
command line, the seed API and the app share."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .batching import left_pad
from .checkpoint import Checkpoint, LoadProgress, load_checkpoint
from .engine import Engine, create_engine
from .events import CancelToken, GenerationResult, StepCallback

if TYPE_CHECKING:
    from .continuation import Edit, RunState
    from .infill import InfillResult
from .params import GenerationParams, ParamError, plural
from .resources import bundled_model_dir

ChatMessage = dict[str, str]

# How a still-masked position reads in text (the CLI's live view draws masks the same way).
MASK_PLACEHOLDER = "░"


def passage(prompt: str, answer: str) -> str:
    """The prompt followed by its continuation, as one text: the answer's leading space (its
    first token starts a word) is kept once, never doubled and never lost."""
    if prompt and prompt[-1].isspace() and answer[:1].isspace():
        return prompt + answer.lstrip()
    return prompt + answer


def count_masked(ids: Sequence[int], mask_id: int) -> int:
    return sum(1 for t in ids if t == mask_id)


class Session:
    def __init__(self, ckpt: Checkpoint, engine: Engine) -> None:
        self.checkpoint = ckpt
        self.engine = engine
        self.tokenizer = ckpt.tokenizer

    @classmethod
    def open(
        cls,
        model_dir: str | Path | None = None,
        engine: str = "auto",
        device: str = "cpu",
        threads: int | None = None,
        progress: LoadProgress | None = None,
        memory_for: GenerationParams | None = None,
        prompt_tokens: int = 256,
        batch: int = 1,
        available_bytes: int | None = None,
    ) -> Session:
        """Open a model folder on an engine. Before the engine reads the weights, the memory the
        model needs for `memory_for` (default: the recommended parameters) with a prompt of
        `prompt_tokens` and `batch` prompts is checked against the RAM or GPU memory available
        (`available_bytes` overrides the measured figure); a model that will not fit raises
        core.memory_estimate.InsufficientMemoryError with the figures and what to change."""
        from .memory_estimate import estimate_memory
        from .params import recommended_params

        path = Path(model_dir) if model_dir is not None else bundled_model_dir()
        t0 = time.perf_counter()
        ckpt = load_checkpoint(path, progress)
        params = memory_for or recommended_params()
        kind = engine
        if kind == "auto":
            from .engine import cpp_engine_available

            kind = "cpp" if device == "cpu" and cpp_engine_available() else "torch"
        estimate_memory(
            ckpt,
            kind,
            device,
            canvas_tokens=prompt_tokens + params.gen_length,
            batch=batch,
            cfg=params.cfg_scale > 0,
            cache=params.cache,
            block_length=params.block_length,
            available=available_bytes,
        ).require()
        eng = create_engine(ckpt, engine, device, threads)
        session = cls(ckpt, eng)
        session.load_seconds = time.perf_counter() - t0
        return session

    load_seconds: float = 0.0

    @property
    def description(self) -> str:
        e = self.engine
        return f"{self.checkpoint.name} · {e.name} engine · {e.device} · {plural(e.threads, 'thread')}"

    # -- prompts ---------------------------------------------------------------------------
    def encode(
        self, prompt: str, chat: bool = False, history: Sequence[ChatMessage] = (), system: str | None = None
    ) -> list[int]:
        """Prompt ids: plain text, or a chat turn after `history` (and an optional system prompt)
        rendered whole by the checkpoint's template, as its tokenizer would render it."""
        if chat:
            messages = [*history, {"role": "user", "content": prompt}]
            if system:
                messages.insert(0, {"role": "system", "content": system})
            return self.tokenizer.encode_chat(messages)
        return self.tokenizer.encode(prompt)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of generated ids, stopping at the first EOS/EOT (what follows is padding).

        Positions still masked (a stopped run) are shown as MASK_PLACEHOLDER, one per token, so a
        copied or printed partial answer never silently loses them."""
        stop = {self.checkpoint.eos_id, self.checkpoint.eot_id}
        cut = list(ids)
        for i, t in enumerate(cut):
            if t in stop:
                cut = cut[:i]
                break
        mask = self.checkpoint.mask_id
        if mask not in cut:
            return self.tokenizer.decode(cut)
        parts: list[str] = []
        run: list[int] = []
        for t in cut:
            if t == mask:
                if run:
                    parts.append(self.tokenizer.decode(run))
                    run = []
                parts.append(MASK_PLACEHOLDER)
            else:
                run.append(t)
        if run:
            parts.append(self.tokenizer.decode(run))
        return "".join(parts)

    # -- generation ------------------------------------------------------------------------
    def generate_ids(
        self,
        prompts: Sequence[Sequence[int]],
        params: GenerationParams,
        on_step: StepCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        answer_init: np.ndarray | None = None,
        given_is_prompt: np.ndarray | None = None,
        start_step: int = 0,
    ) -> GenerationResult:
        """Generate from prompt ids. `params.constraints` pins words into the answer canvas;
        answer_init / given_is_prompt (batch, gen_length) and start_step give the canvas's
        starting content and the steps already done (core/answer_init.py); the result records
        the starting canvas (answer_init, prompt_positions) when it was not all masks."""
        if params.confidence_eos_eot_inf and not self.checkpoint.has_eot:
            raise ParamError(
                "confidence_eos_eot_inf",
                "{0} needs an end-of-turn token (<|eot_id|>), and this model has none (neither "
                "eot_token_id in config.json nor the token in its tokenizer): turn {0} off",
            )
        ids, mask = left_pad(prompts, self.checkpoint.pad_id)
        total = ids.shape[1] + params.gen_length
        limit = self.checkpoint.config.max_sequence_length
        if total > limit:
            raise ParamError(
                "gen_length",
                f"prompt ({ids.shape[1]} tokens) + {{0}} ({params.gen_length}) = {total} exceeds "
                f"the model's max_sequence_length ({limit}); shorten the prompt or {{0}}",
            )
        attention = mask if not mask.all() else None
        init, given = self._answer_canvas(len(prompts), params, answer_init, given_is_prompt)
        result = self.engine.generate(
            ids, attention, params, on_step, cancel, answer_init=init, given_is_prompt=given, start_step=start_step
        )
        texts = tuple(self.decode(row) for row in result.generated_ids)
        if init is None:
            return replace(result, texts=texts)
        mask_id = self.mask_id(params)
        pinned = (init != mask_id) & (True if given is None else given)
        return replace(
            result,
            texts=texts,
            answer_init=tuple(tuple(int(t) for t in row) for row in init.tolist()),
            prompt_positions=tuple(tuple(int(j) for j in np.flatnonzero(row)) for row in pinned),
        )

    def mask_id(self, params: GenerationParams | None = None) -> int:
        """The mask token the run uses: params.mask_id, or the checkpoint's."""
        if params is not None and params.mask_id is not None:
            return params.mask_id
        return int(self.checkpoint.mask_id)

    def word_ids(self, word: str) -> list[int]:
        """A word's tokens as word constraints write them (" " + word, no special tokens): what
        to pin at an answer position (a word of several tokens fills pos, pos+1, ...)."""
        from .constraints import word_ids

        return word_ids(self.tokenizer, word)

    def pinned_canvas(self, params: GenerationParams) -> list[int]:
        """The answer canvas a run of `params` starts from: the mask id everywhere but at the
        tokens of params.constraints (ParamError for constraints that do not fit)."""
        init, _ = self._answer_canvas(1, params, None, None)
        return [self.mask_id(params)] * params.gen_length if init is None else [int(t) for t in init[0]]

    def _answer_canvas(
        self,
        batch: int,
        params: GenerationParams,
        answer_init: np.ndarray | None,
        given_is_prompt: np.ndarray | None,
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """answer_init with params.constraints pinned in (they count as prompt)."""
        if not params.constraints:
            return answer_init, given_is_prompt
        from .constraints import ConstraintError, constraint_ids, pin

        mask_id = self.mask_id(params)
        try:
            placed = constraint_ids(self.tokenizer, params.constraints, params.gen_length)
            if answer_init is None:
                rows = [[mask_id] * params.gen_length] * batch
            else:
                a = np.asarray(answer_init)
                if a.shape != (batch, params.gen_length):
                    shape = (batch, params.gen_length)
                    raise ValueError(f"answer_init must have shape (batch, gen_length) = {shape}, got {a.shape}")
                rows = a.tolist()
            init = np.array([pin(row, placed, mask_id) for row in rows], dtype=np.int64)
        except ConstraintError as exc:
            raise ParamError("constraints", exc.template) from None
        given = given_is_prompt
        if given is not None:
            given = np.array(given, dtype=bool)
            given[:, sorted(placed)] = True
        return init, given

    def generate(
        self,
        prompts: str | Sequence[str],
        params: GenerationParams | None = None,
        on_step: StepCallback | None = None,
        cancel: CancelToken | None = None,
        chat: bool = False,
    ) -> GenerationResult:
        params = params or GenerationParams()
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        return self.generate_ids([self.encode(t, chat=chat) for t in texts], params, on_step, cancel)

    def infill(
        self,
        text: str,
        params: GenerationParams | None = None,
        steps: int | None = None,
        block_length: int | None = None,
        on_step: StepCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InfillResult:
        """Fill the blanks of `text` ([MASK*N] = N tokens, [MASK] = one; core/infill.py): the
        filled text, each blank's answer positions and character span, and the run. params: the
        sampler's settings (temperature, seed, ...; gen_length, block_length and steps are set
        from the text unless steps / block_length are given)."""
        from .infill import infill

        return infill(self, text, params, steps, block_length, on_step, cancel)

    def continue_run(
        self,
        state: RunState,
        edits: Sequence[Edit] = (),
        on_step: StepCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> GenerationResult:
        """Edit and continue (core/continuation.py): the run `state` (a finished or stopped run
        at step k: RunState.from_result / from_record) with `edits` applied (set tokens, or
        re-mask a span) continued from step k. The result is the branch: the parent's steps up
        to k, then the continued ones, with the edit in `edits` (record it with record_run)."""
        from .continuation import continue_run

        return continue_run(self, state, edits, on_step, cancel)

    def forward_logits(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None) -> np.ndarray:
        """Logits [B, L, V] for ids [B, L]; refuses (before any compute) what generate_ids would:
        more tokens than max_sequence_length, ids outside the embedding, a mask of another shape."""
        ids = np.asarray(input_ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"input_ids must be integer token ids [batch, length], got {ids.dtype} {ids.shape}")
        limit = self.checkpoint.config.max_sequence_length
        if ids.shape[1] > limit:
            raise ValueError(
                f"input_ids have {ids.shape[1]} tokens, more than the model's max_sequence_length ({limit})"
            )
        vocab = self.checkpoint.config.embedding_size
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
            raise ValueError(f"a token id in input_ids is outside the vocabulary (0..{vocab - 1})")
        if attention_mask is not None and np.shape(attention_mask) != ids.shape:
            shape = np.shape(attention_mask)
            raise ValueError(f"attention_mask shape {shape} differs from input_ids shape {ids.shape}")
        return self.engine.forward_logits(ids, attention_mask)
