"""The reveal schedule: how many tokens each step of a block commits (ALGORITHM.md 2.3).

Pure functions, no model: they are the contract both engines follow.
"""

from __future__ import annotations


def num_transfer_tokens(masked_count: int, steps: int) -> list[int]:
    """Split `masked_count` reveals over `steps` steps, the first `masked_count % steps` steps
    taking one more. 32 over 8 -> [4]*8; 10 over 4 -> [3, 3, 2, 2]; 3 over 4 -> [1, 1, 1, 0]."""
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    if masked_count < 0:
        raise ValueError(f"masked_count must be non-negative, got {masked_count}")
    base, extra = divmod(masked_count, steps)
    return [base + 1 if i < extra else base for i in range(steps)]


def block_bounds(prompt_length: int, block_length: int, block: int) -> tuple[int, int]:
    """Canvas positions [start, end) of generation block `block`."""
    start = prompt_length + block * block_length
    return start, start + block_length
