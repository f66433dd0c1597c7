"""A loaded model ready to generate: checkpoint + tokenizer + engine. The one entry point the
command line, the seed API and the app share."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .batching import left_pad
from .checkpoint import Checkpoint, LoadProgress, load_checkpoint
from .engine import Engine, create_engine
from .events import CancelToken, GenerationResult, StepCallback
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
    ) -> GenerationResult:
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
        result = self.engine.generate(ids, attention, params, on_step, cancel)
        texts = tuple(self.decode(row) for row in result.generated_ids)
        return replace(result, texts=texts)

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
