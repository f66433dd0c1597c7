"""What each canvas position shows at each frame of a run: a pure model (no widget), so live
streaming, scrubbing, pinned words, infilling's written text and a branch's edits are one rule.

A frame is a step of the scrubber. For a run without edits frame k is step k; a branch (edit and
continue, core/continuation.py) has one more frame per edit, right after the step it followed
(`Timeline`). Each position keeps the list of its states in frame order; the state shown at frame
f is the last one that began at or before f.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

MASKED = -1  # the token of a masked state


class Origin(str, Enum):
    MASK = "mask"  # masked (at the start, or re-masked by an edit)
    MODEL = "model"  # revealed by the model at a step
    PIN = "pin"  # a pinned word (word constraints): given from step 0, never changed
    GIVEN = "given"  # infilling's written text: given from step 0, never changed
    EDIT = "edit"  # set by the user's edit (Replace with…)


@dataclass(frozen=True)
class Cell:
    frame: int  # the frame this state shows from
    token: int = MASKED
    confidence: float = 0.0
    text: str = ""
    origin: Origin = Origin.MASK

    @property
    def masked(self) -> bool:
        return self.token == MASKED


_START = Cell(0)


class CanvasState:
    """The states of `gen_length` positions over the frames of one run."""

    def __init__(self, gen_length: int = 0) -> None:
        self.gen_length = gen_length
        self._cells: list[list[Cell]] = [[_START] for _ in range(gen_length)]
        self._frames: list[list[int]] = [[0] for _ in range(gen_length)]

    def set(self, pos: int, cell: Cell) -> None:
        """Position `pos` shows `cell` from cell.frame on (a state of the same frame is replaced;
        later ones are dropped: a live run only appends)."""
        if not 0 <= pos < self.gen_length:
            return
        cells, frames = self._cells[pos], self._frames[pos]
        keep = bisect_left(frames, cell.frame)
        del cells[keep:], frames[keep:]
        cells.append(cell)
        frames.append(cell.frame)

    def give(self, pos: int, token: int, text: str, origin: Origin) -> None:
        """A token given from step 0 (a pinned word, infilling's written text)."""
        self.set(pos, Cell(0, token, 1.0, text, origin))

    def at(self, pos: int, frame: int) -> Cell:
        frames = self._frames[pos]
        return self._cells[pos][max(0, bisect_right(frames, frame) - 1)]

    def latest(self, pos: int) -> Cell:
        return self._cells[pos][-1]

    def set_text(self, pos: int, token: int, text: str) -> None:
        """The exact text of the latest state's token (after a run: the final token texts)."""
        cells = self._cells[pos]
        if cells[-1].token == token and not cells[-1].masked:
            cells[-1] = replace(cells[-1], text=text)


@dataclass(frozen=True)
class Timeline:
    """Frames of a run whose edits came after the steps `edit_steps` (sorted, one per edit)."""

    edit_steps: tuple[int, ...] = ()

    @classmethod
    def of(cls, after_steps: Sequence[int]) -> Timeline:
        return cls(tuple(sorted(int(a) for a in after_steps)))

    def frame_of_step(self, step: int) -> int:
        return step + sum(1 for a in self.edit_steps if a < step)

    def frame_of_edit(self, index: int) -> int:
        return self.edit_steps[index] + index + 1

    def frames(self, steps: int) -> int:
        """The last frame of a run of `steps` steps."""
        return steps + len(self.edit_steps)

    def edit_at(self, frame: int) -> int | None:
        """The edit shown at `frame` (its index), or None for a step's frame."""
        for i in range(len(self.edit_steps)):
            if self.frame_of_edit(i) == frame:
                return i
        return None

    def step_at(self, frame: int) -> int:
        """The step whose canvas `frame` shows (an edit's frame: the step it followed)."""
        i = self.edit_at(frame)
        if i is not None:
            return self.edit_steps[i]
        return frame - sum(1 for i in range(len(self.edit_steps)) if self.frame_of_edit(i) < frame)

    def label(self, frame: int, steps: int) -> str:
        """The scrubber's label: 'step 5 / 20', or 'edit after step 5 / 20' at an edit."""
        i = self.edit_at(frame)
        if i is not None:
            return f"edit after step {self.edit_steps[i]} / {steps}"
        return f"step {self.step_at(frame)} / {steps}"
