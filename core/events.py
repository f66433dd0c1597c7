"""What a generation hands out: immutable step events and the final result.

The UI and the command line never see a tensor: only tuples of ints and floats.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepEvent:
    """One sampler step.

    Positions are relative to the start of the generated region (0 .. gen_length-1), one tuple
    per batch row; `tokens[r][i]` was revealed at `positions[r][i]` with `confidences[r][i]`.
    `step` counts from 1 to `total_steps`; `block` from 0 to `num_blocks - 1`.
    """

    step: int
    total_steps: int
    block: int
    num_blocks: int
    positions: tuple[tuple[int, ...], ...]
    tokens: tuple[tuple[int, ...], ...]
    confidences: tuple[tuple[float, ...], ...]
    elapsed: float  # seconds since the generation started
    forward_passes: int  # model forward passes so far (a CFG pass counts once)

    def to_json(self, row: int = 0) -> dict[str, Any]:
        return {
            "step": self.step,
            "block": self.block,
            "positions": list(self.positions[row]),
            "tokens": list(self.tokens[row]),
            "confidences": [float(c) for c in self.confidences[row]],
            "elapsed": self.elapsed,
            "forward_passes": self.forward_passes,
        }


@dataclass(frozen=True)
class GenerationResult:
    """Generated token ids per row (the gen_length positions after the prompt), the whole
    trajectory, timings in seconds, and whether the run was cancelled before its end."""

    generated_ids: tuple[tuple[int, ...], ...]
    trajectory: tuple[StepEvent, ...]
    timings: dict[str, float] = field(default_factory=dict)
    cancelled: bool = False
    texts: tuple[str, ...] = ()


class CancelToken:
    """Thread-safe stop flag. The engine polls it before every forward pass."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


# A step callback returns False (or the cancel token is set) to stop before the next forward.
StepCallback = Callable[[StepEvent], "bool | None"]
