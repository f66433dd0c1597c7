"""Edit and continue (issue 15): take a run at step k (finished or stopped), change revealed
tokens or re-mask a span, and let the model go on from step k.

    state = RunState.from_result(prompt_ids, params, result, mask_id)   # or RunState.from_record(record)
    edits = [Edit.remask(10, 16), Edit.set_tokens({3: session.word_ids("storm")[0]})]
    branch = session.continue_run(state, edits)            # a GenerationResult
    record_run(session, prompt, state.prompt_ids, state.params, branch).save("branch.json")

The continued run starts from the edited canvas with start_step = k (core/answer_init.py): blocks
whose steps were spent are skipped unless re-masked (then they run all their steps again), the
transfer counts are the tail of the uninterrupted schedule, and step numbers go on from k, so an
unedited continuation of a C++ run is the uninterrupted run at any temperature (the torch
reference at T = 0). Under CFG the tokens the model revealed stay non-prompt, the user's (set by
an edit, pinned words, infilling's text) count as prompt. With the KV cache the store pass is each
block's first executed step, so a continuation inside a block is approximate, like the cache.

The branch's result holds the parent's steps 1..k, then the continued ones (their forward
passes and elapsed times counted on from the parent's), and `edits` with the edit after step k;
the run file records all of it (core/run_file.py) and replay shows the edit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .events import CancelToken, EditEvent, GenerationResult, StepCallback, StepEvent
from .params import GenerationParams

if TYPE_CHECKING:
    from .run_file import RunRecord
    from .session import Session

REMASK = -1  # an Edit token that re-masks its position


@dataclass(frozen=True)
class Edit:
    """Set answer positions to tokens; a token of REMASK re-masks its position."""

    positions: tuple[int, ...]
    tokens: tuple[int, ...]

    @classmethod
    def set_tokens(cls, tokens: Mapping[int, int]) -> Edit:
        """{answer position: token id}."""
        return cls(tuple(tokens), tuple(tokens.values()))

    @classmethod
    def at(cls, position: int, ids: Sequence[int]) -> Edit:
        """Tokens from `position` on (a word's tokens: Session.word_ids(word))."""
        return cls(tuple(range(position, position + len(ids))), tuple(ids))

    @classmethod
    def remask(cls, start: int, stop: int) -> Edit:
        """Re-mask answer positions [start, stop): the model writes them again."""
        return cls(tuple(range(start, stop)), (REMASK,) * max(0, stop - start))


@dataclass(frozen=True)
class RunState:
    """A run at step `step`: what continuing needs. `trajectory` holds steps 1..step (row 0),
    `answer_init` the canvas at step 0 (() = all masks), `prompt_positions` the answer positions
    that counted as prompt at step 0, `edits` the earlier edits of a branch (after_step <= step)."""

    prompt_ids: tuple[int, ...]
    params: GenerationParams
    mask_id: int
    step: int
    trajectory: tuple[StepEvent, ...]
    answer_init: tuple[int, ...] = ()
    prompt_positions: tuple[int, ...] = ()
    edits: tuple[EditEvent, ...] = ()

    @classmethod
    def from_result(
        cls,
        prompt_ids: Sequence[int],
        params: GenerationParams,
        result: GenerationResult,
        mask_id: int,
        step: int | None = None,
        row: int = 0,
    ) -> RunState:
        """Row `row` of a finished or stopped run at `step` (default: its last step)."""
        if row != 0 and (result.edits or len(result.generated_ids) <= row):
            raise ValueError(f"row {row}: a branch continues row 0 of its run")
        trajectory = tuple(_row(e, row) for e in result.trajectory)
        init = result.answer_init[row] if result.answer_init else ()
        pinned = result.prompt_positions[row] if result.prompt_positions else ()
        return cls._at(tuple(prompt_ids), params, mask_id, trajectory, init, pinned, result.edits, step)

    @classmethod
    def from_record(cls, record: RunRecord, step: int | None = None) -> RunState:
        """A saved run (core/run_file.py) at `step` (default: its last step)."""
        return cls._at(
            record.prompt_ids,
            record.params,
            record.mask_id,
            record.trajectory,
            record.answer_init,
            record.prompt_positions,
            record.edits,
            step,
        )

    @classmethod
    def _at(
        cls,
        prompt_ids: tuple[int, ...],
        params: GenerationParams,
        mask_id: int,
        trajectory: tuple[StepEvent, ...],
        init: tuple[int, ...],
        pinned: tuple[int, ...],
        edits: tuple[EditEvent, ...],
        step: int | None,
    ) -> RunState:
        k = len(trajectory) if step is None else step
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(trajectory):
            raise ValueError(f"step must be from 0 to {len(trajectory)} (the run's steps), got {step!r}")
        kept = tuple(e for e in edits if e.after_step <= k)
        return cls(prompt_ids, params.with_(mask_id=mask_id), mask_id, k, trajectory[:k], init, pinned, kept)

    def canvas(self) -> list[int]:
        """The answer at this step (mask_id where masked), earlier edits applied."""
        x = list(self.answer_init) if self.answer_init else [self.mask_id] * self.params.gen_length
        for k in range(self.step + 1):
            if k > 0:
                for pos, tok in zip(self.trajectory[k - 1].positions[0], self.trajectory[k - 1].tokens[0]):
                    x[pos] = tok
            for ed in self.edits:
                if ed.after_step == k:
                    for pos, tok in zip(ed.positions, ed.tokens):
                        x[pos] = tok
        return x

    def given_is_prompt(self) -> list[bool]:
        """Which positions count as prompt under CFG now: those at step 0, then set by an edit
        (the user's tokens), not those an edit re-masked; never the model's reveals."""
        flags = [False] * self.params.gen_length
        for p in self.prompt_positions:
            flags[p] = True
        for ed in self.edits:
            for pos, tok in zip(ed.positions, ed.tokens):
                flags[pos] = tok != self.mask_id
        return flags


def _row(e: StepEvent, row: int) -> StepEvent:
    return replace(e, positions=(e.positions[row],), tokens=(e.tokens[row],), confidences=(e.confidences[row],))


def resolve_edits(edits: Sequence[Edit], gen_length: int, vocab: int, mask_id: int) -> dict[int, int]:
    """The edits as {position: token} (REMASK as mask_id; a later edit of a position wins), or a
    ValueError naming the position or token that cannot be."""
    out: dict[int, int] = {}
    for n, ed in enumerate(edits):
        if len(ed.positions) != len(ed.tokens):
            raise ValueError(f"edit {n}: {len(ed.positions)} positions for {len(ed.tokens)} tokens")
        for pos, tok in zip(ed.positions, ed.tokens):
            if isinstance(pos, bool) or not isinstance(pos, (int, np.integer)) or not 0 <= pos < gen_length:
                raise ValueError(f"edit {n}: position {pos!r} is outside the answer (0..{gen_length - 1})")
            if tok == REMASK:
                out[int(pos)] = mask_id
                continue
            if isinstance(tok, bool) or not isinstance(tok, (int, np.integer)) or not 0 <= tok < vocab:
                raise ValueError(f"edit {n}: token {tok!r} at position {pos} is outside the vocabulary [0, {vocab})")
            if tok == mask_id:
                raise ValueError(f"edit {n}: position {pos}: to re-mask a position use REMASK (Edit.remask)")
            out[int(pos)] = int(tok)
    return out


def continue_run(
    session: Session,
    state: RunState,
    edits: Sequence[Edit] = (),
    on_step: StepCallback | None = None,
    cancel: CancelToken | None = None,
) -> GenerationResult:
    """Continue `state` after applying `edits`: the branch as one run (see the module's doc).
    on_step gets the continued steps (numbered from state.step + 1) as the result holds them."""
    params = state.params
    changes = resolve_edits(edits, params.gen_length, session.checkpoint.config.embedding_size, state.mask_id)
    canvas = state.canvas()
    given = state.given_is_prompt()
    for pos, tok in changes.items():
        canvas[pos] = tok
        given[pos] = tok != state.mask_id
    last = state.trajectory[-1] if state.trajectory else None
    passes, elapsed = (last.forward_passes, last.elapsed) if last else (0, 0.0)

    def offset(e: StepEvent) -> StepEvent:  # forward passes and time counted on from the parent's
        return replace(e, forward_passes=e.forward_passes + passes, elapsed=e.elapsed + elapsed)

    deliver = None if on_step is None else (lambda e: on_step(offset(e)))
    # The pinned words are in the canvas already (and an edit may have changed them): run
    # without re-pinning; the record keeps the parameters as they were.
    run = session.generate_ids(
        [list(state.prompt_ids)],
        params.with_(constraints=""),
        deliver,
        cancel,
        answer_init=np.array([canvas], dtype=np.int64),
        given_is_prompt=np.array([given], dtype=bool),
        start_step=state.step,
    )
    continued = tuple(offset(e) for e in run.trajectory)
    edit = EditEvent(state.step, tuple(changes), tuple(changes.values()))
    return replace(
        run,
        trajectory=state.trajectory + continued,
        answer_init=(state.answer_init,) if state.answer_init else (),
        prompt_positions=(state.prompt_positions,) if state.prompt_positions else (),
        edits=state.edits + ((edit,) if changes else ()),
    )
