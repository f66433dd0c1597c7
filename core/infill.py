"""Infilling (issue 15): text with blanks, the model fills only the blanks.

Syntax: `[MASK*N]` is a blank of N tokens, `[MASK]` a blank of one:

    It was a [MASK*6] morning, and [MASK*12].

The text before the first blank is the prompt (the BOS token when the text opens with a blank);
from the first blank to the end is the answer
region, in which the written text is given (never changed, prompt under CFG) and the blanks are
masks. Each written segment is tokenized on its own, and a segment that precedes a blank loses
its trailing whitespace (a blank's tokens carry their own leading space). Defaults: one block
(block_length = the region's length) and one step per blank token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .events import CancelToken, GenerationResult, StepCallback
from .params import MAX_TOKENS, GenerationParams, recommended_params
from .tokenizer import Tokenizer

if TYPE_CHECKING:
    from .session import Session

BLANK = re.compile(r"\[MASK(?:\*(\d+))?\]")
SYNTAX = "[MASK*N] for a blank of N tokens, [MASK] for one"


@dataclass(frozen=True)
class InfillTemplate:
    """The prompt (text before the first blank, trailing whitespace stripped) and then, in order,
    the pieces of the answer region: a blank's length (int) or written text (str)."""

    prompt: str
    pieces: tuple[int | str, ...]

    @property
    def blank_tokens(self) -> int:
        return sum(p for p in self.pieces if isinstance(p, int))


def parse_infill(text: str) -> InfillTemplate:
    """Split a text with blanks; ValueError with what to change for a text without one, a blank
    of 0 tokens or a misspelt blank."""
    blanks = list(BLANK.finditer(text))
    rest = BLANK.sub("", text)
    if "[MASK" in rest.upper():
        bad = rest[rest.upper().index("[MASK") :][:12]
        raise ValueError(f"{bad!r} is not a blank: write {SYNTAX}")
    if not blanks:
        raise ValueError(f"the text has no blank: mark what the model should write with {SYNTAX}")
    pieces: list[int | str] = []
    at = blanks[0].start()
    prompt = text[:at]
    for m in blanks:
        if m.start() > at:
            pieces.append(text[at : m.start()])
        n = int(m.group(1)) if m.group(1) is not None else 1
        if not 1 <= n <= MAX_TOKENS:
            raise ValueError(f"{m.group(0)}: a blank holds 1 to {MAX_TOKENS} tokens")
        pieces.append(n)
        at = m.end()
    if at < len(text):
        pieces.append(text[at:])
    # A segment before a blank loses its trailing whitespace (the blank's tokens carry it).
    pieces = [p.rstrip() if isinstance(p, str) and i + 1 < len(pieces) else p for i, p in enumerate(pieces)]
    return InfillTemplate(prompt.rstrip(), tuple(pieces))


@dataclass(frozen=True)
class InfillPlan:
    """The template as tokens: the prompt's ids, the answer canvas (mask_id in the blanks) and
    each blank's answer positions [start, end)."""

    template: InfillTemplate
    prompt_ids: tuple[int, ...]
    answer_init: tuple[int, ...]
    blanks: tuple[tuple[int, int], ...]


def plan_infill(tokenizer: Tokenizer, template: InfillTemplate, mask_id: int) -> InfillPlan:
    prompt_ids = tokenizer.encode(template.prompt) if template.prompt else []
    if not prompt_ids:  # a text that opens with a blank: the model still needs a token before it
        if tokenizer.bos_id is None:
            raise ValueError(
                "the text starts with a blank and this model's tokenizer has no BOS token to stand before "
                "it: write some text before the first blank"
            )
        prompt_ids = [tokenizer.bos_id]
    answer: list[int] = []
    blanks: list[tuple[int, int]] = []
    for p in template.pieces:
        if isinstance(p, int):
            blanks.append((len(answer), len(answer) + p))
            answer += [mask_id] * p
        else:
            answer += tokenizer.encode(p, add_bos=False)
    return InfillPlan(template, tuple(prompt_ids), tuple(answer), tuple(blanks))


def infill_params(
    region: int, blank_tokens: int, base: GenerationParams | None = None, steps: int | None = None,
    block_length: int | None = None,
) -> GenerationParams:  # fmt: skip
    """base with gen_length = the region, one block unless block_length, and one step per blank
    token (rounded up to a multiple of the blocks) unless steps."""
    base = base or recommended_params().with_(logits_eos_inf=True)
    block = region if block_length is None else block_length
    if steps is None:
        blocks = max(1, region // block) if block and region % block == 0 else 1
        steps = -(-blank_tokens // blocks) * blocks
    return base.with_(gen_length=region, block_length=block, max_steps=steps)


@dataclass(frozen=True)
class InfillResult:
    """`text`: the filled passage (prompt, then the region with the blanks filled); `blanks`: the
    blanks' answer positions [start, end); `spans`: where each blank's text lies in `text`
    [start, end) (characters); `blank_texts`: what the model wrote in each."""

    text: str
    blanks: tuple[tuple[int, int], ...]
    spans: tuple[tuple[int, int], ...]
    blank_texts: tuple[str, ...]
    prompt: str
    prompt_ids: tuple[int, ...]
    params: GenerationParams
    result: GenerationResult


def infill(
    session: Session,
    text: str,
    params: GenerationParams | None = None,
    steps: int | None = None,
    block_length: int | None = None,
    on_step: StepCallback | None = None,
    cancel: CancelToken | None = None,
) -> InfillResult:
    """Fill the blanks of `text` (Session.infill). A stopped run leaves ░ in unfilled blanks."""
    template = parse_infill(text)
    mask_id = session.mask_id(params)
    plan = plan_infill(session.tokenizer, template, mask_id)
    p = infill_params(len(plan.answer_init), template.blank_tokens, params, steps, block_length)
    result = session.generate_ids(
        [list(plan.prompt_ids)], p, on_step, cancel, answer_init=np.array([plan.answer_init], dtype=np.int64)
    )
    ids = result.generated_ids[0]
    out, spans, filled = template.prompt, [], []
    blank = iter(plan.blanks)
    for piece in template.pieces:
        if isinstance(piece, str):
            out += piece
            continue
        start, end = next(blank)
        words = session.decode(ids[start:end])
        if not out:  # a blank that opens the text: no space before its first word
            words = words.lstrip()
        spans.append((len(out), len(out) + len(words)))
        filled.append(words)
        out += words
    return InfillResult(out, plan.blanks, tuple(spans), tuple(filled), template.prompt, plan.prompt_ids, p, result)
