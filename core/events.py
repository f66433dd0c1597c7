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
            "total_steps": self.total_steps,
            "block": self.block,
            "positions": list(self.positions[row]),
            "tokens": list(self.tokens[row]),
            "confidences": [float(c) for c in self.confidences[row]],
            "elapsed": self.elapsed,
            "forward_passes": self.forward_passes,
        }


@dataclass(frozen=True)
class EditEvent:
    """A change of the answer canvas between two steps (edit and continue, issue 15): after step
    `after_step` (0: before the first), `positions` were set to `tokens`; a token equal to the
    run's mask id re-masks its position (the model writes it again)."""

    after_step: int
    positions: tuple[int, ...]
    tokens: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"after_step": self.after_step, "positions": list(self.positions), "tokens": list(self.tokens)}


@dataclass(frozen=True)
class GenerationResult:
    """Generated token ids per row (the gen_length positions after the prompt), the whole
    trajectory, timings in seconds, and whether the run was cancelled before its end.

    A run that did not start from an all-masked answer says how it started (issue 15):
    `answer_init` per row is the answer canvas at step 0 (the mask id where the model wrote;
    pinned words, infilling's written text), `prompt_positions` per row the answer positions that
    counted as prompt under CFG, and a continued run's `edits` the edits between its steps, with
    its trajectory the parent's steps up to the edit followed by the continued ones (row 0)."""

    generated_ids: tuple[tuple[int, ...], ...]
    trajectory: tuple[StepEvent, ...]
    timings: dict[str, float] = field(default_factory=dict)
    cancelled: bool = False
    texts: tuple[str, ...] = ()
    answer_init: tuple[tuple[int, ...], ...] = ()  # () = every position started masked
    prompt_positions: tuple[tuple[int, ...], ...] = ()
    edits: tuple[EditEvent, ...] = ()


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
