"""A finished (or saved) run put back on the canvas, frame by frame: its given tokens (pinned words,
infilling's written text), its steps and a branch's edits (one frame each, canvas_state.Timeline).
What File > Open run shows and where an edit-and-continue starts from."""

from __future__ import annotations

from .canvas import TokenCanvas
from .canvas_state import Origin, Timeline
from .engine_messages import RunOutcome


def text_of(o: RunOutcome, pos: int, token: int) -> str:
    """The text of `token` at answer position `pos` (a token an edit replaced: the token table)."""
    ids = o.result.generated_ids[0] if o.result.generated_ids else ()
    if pos < len(ids) and pos < len(o.token_texts) and ids[pos] == token:
        return o.token_texts[pos]
    return o.token_table.get(token, f"<{token}>")


def given_cells(o: RunOutcome) -> list[tuple[int, int, str, Origin]]:
    """The tokens the run started from: pinned words (its constraints) or infilling's text."""
    res = o.result
    if not res.answer_init:
        return []
    origin = Origin.PIN if o.request.params.constraints else Origin.GIVEN
    mask = o.model.mask_id
    return [(i, t, text_of(o, i, t), origin) for i, t in enumerate(res.answer_init[0]) if t != mask]


def timeline_of(o: RunOutcome) -> Timeline:
    return Timeline.of([e.after_step for e in o.result.edits])


def paint_outcome(canvas: TokenCanvas, o: RunOutcome, upto_step: int | None = None) -> Timeline:
    """Put run `o` on `canvas` up to step `upto_step` (default: all of it), edits included (up
    to and including those right after that step); returns the frames' timeline."""
    p, res = o.request.params, o.result
    last = len(res.trajectory) if upto_step is None else upto_step
    edits = sorted((e for e in res.edits if e.after_step <= last), key=lambda e: e.after_step)
    timeline = Timeline.of([e.after_step for e in edits])
    canvas.reset(p.gen_length, p.block_length, frozenset({o.model.eos_id, o.model.eot_id}), p.step_budget)
    canvas.set_message("")
    canvas.give(given_cells(o))

    def apply_edits_after(k: int) -> None:
        for n, ed in enumerate(edits):
            if ed.after_step == k:
                canvas.apply_edit(timeline.frame_of_edit(n), ed.positions, ed.tokens,
                                  [text_of(o, pos, t) for pos, t in zip(ed.positions, ed.tokens)], o.model.mask_id)

    apply_edits_after(0)
    for e in res.trajectory[:last]:
        texts = tuple(text_of(o, pos, t) for pos, t in zip(e.positions[0], e.tokens[0]))
        canvas.absorb(timeline.frame_of_step(e.step), e.block, e.positions[0], e.tokens[0], e.confidences[0], texts)
        apply_edits_after(e.step)
    if upto_step is None:
        canvas.set_final_texts(o.token_texts, res.generated_ids[0] if res.generated_ids else ())
    canvas.flush()
    return timeline
