"""The generated region's starting content, as both engines take it (issue 15): word
constraints, infilling and edit-and-continue all reach the sampler as these three inputs.

- `answer_init` (B, gen_length) int: mask_id where the model writes; any other id is given and
  never changed by the sampler.
- `given_is_prompt` (B, gen_length) bool: which given positions count as prompt (masked in the
  unconditional rows of classifier-free guidance). None: every given position (the LLaDA demo
  writes constraints before it computes prompt_index). A continued run passes False for the
  tokens the model itself revealed, so an unedited continuation is the uninterrupted run.
- `start_step` >= 0: steps already done. Under fixed decoding block k gets steps_per_block -
  clamp(start_step - k*steps_per_block, 0, steps_per_block) steps; a block with none left that
  holds m masks (re-masked) gets min(steps_per_block, m) steps again (the same tokens all
  steps_per_block would give: with m < steps_per_block the schedule reveals one a step and its
  tail nothing); a block with none left and no masks is skipped. Step numbers continue from
  start_step.

The same rule is csrc/generate.cpp's `block_steps`; this module checks the inputs (a ValueError
naming the argument) and computes the plan for the torch sampler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnswerInit:
    """The checked inputs: arrays of shape (B, gen_length), or None for a fresh run's default."""

    answer: np.ndarray | None  # int64
    given_is_prompt: np.ndarray | None  # bool
    start_step: int = 0


def check_answer_init(
    answer_init: object,
    given_is_prompt: object,
    start_step: object,
    batch: int,
    gen_length: int,
    vocab: int,
) -> AnswerInit:
    """The three inputs checked against the run's shape and vocabulary; ValueError names the one
    that is wrong and what it must be."""
    shape = (batch, gen_length)
    answer = None
    if answer_init is not None:
        a = np.asarray(answer_init)
        if a.ndim != 2 or a.shape != shape:
            raise ValueError(f"answer_init must have shape (batch, gen_length) = {shape}, got {a.shape}")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"answer_init must hold integer token ids, got dtype {a.dtype}")
        if a.size and (int(a.min()) < 0 or int(a.max()) >= vocab):
            bad = int(a.min()) if int(a.min()) < 0 else int(a.max())
            raise ValueError(f"answer_init: token id {bad} is outside the vocabulary [0, {vocab})")
        answer = np.ascontiguousarray(a, dtype=np.int64)
    given = None
    if given_is_prompt is not None:
        g = np.asarray(given_is_prompt)
        if g.ndim != 2 or g.shape != shape:
            raise ValueError(f"given_is_prompt must have shape (batch, gen_length) = {shape}, got {g.shape}")
        if g.size and g.dtype != np.bool_ and not (np.issubdtype(g.dtype, np.integer) and np.isin(g, (0, 1)).all()):
            raise ValueError(f"given_is_prompt must be booleans (or 0/1), got dtype {g.dtype}")
        given = np.ascontiguousarray(g, dtype=bool)
    if isinstance(start_step, bool) or not isinstance(start_step, (int, np.integer)) or start_step < 0:
        raise ValueError(f"start_step must be a whole number >= 0, got {start_step!r}")
    if start_step >= 1 << 31:
        raise ValueError(f"start_step must be below 2**31, got {start_step}")
    return AnswerInit(answer, given, int(start_step))


def block_steps(num_blocks: int, steps_per_block: int, start_step: int, block_masks: list[int]) -> list[int]:
    """Steps each block runs under fixed decoding (the rule above; csrc/generate.cpp's twin);
    block_masks[k]: the most masks a row holds in block k. With start_step 0 every block runs all
    its steps, masks or not (a fresh run, as always)."""
    out = []
    for k in range(num_blocks):
        done = min(max(start_step - k * steps_per_block, 0), steps_per_block)
        left = steps_per_block - done
        if left == 0:  # spent; re-masked: min(spb, m) steps reveal what all spb would (1 a step)
            left = min(steps_per_block, block_masks[k])
        out.append(left)
    return out
