"""Left padding of a batch of prompts, as the LLaDA reference does it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """ids [B, P] int64 and attention mask [B, P] bool (False on the left padding)."""
    if not prompts:
        raise ValueError("no prompts given")
    width = max(len(p) for p in prompts)
    if width == 0:
        raise ValueError("every prompt is empty: give at least one token")
    ids = np.full((len(prompts), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(prompts), width), dtype=bool)
    for r, p in enumerate(prompts):
        if len(p):
            ids[r, width - len(p) :] = np.asarray(p, dtype=np.int64)
            mask[r, width - len(p) :] = True
    return ids, mask
