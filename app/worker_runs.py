"""The worker's runs beyond a plain generation (issue 15), each on the engine thread with the
worker's session: the canvas a run starts from (pinned words), filling blanks (core/infill.py)
and edit and continue (core/continuation.py). They report through the callbacks they are given
and return the outcome; errors propagate to the worker, which turns them into a RunFailure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from llada_studio.core.events import StepCallback
from llada_studio.core.params import GenerationParams, ParamError
from llada_studio.core.session import Session

from .engine_messages import BranchEdit, CanvasStart, ContinueRequest, GenerationRequest, ModelInfo, RunOutcome

EOS_FREE_BLANKS = True  # as `llada-studio infill`: EOS is never proposed in a blank (--allow-eos off)


def describe_param_error(exc: ParamError) -> str:
    """A parameter error named as the window labels it; the constraints as its "Pinned words" row."""
    if exc.name == "constraints":
        from .pinned_words import pinned_message

        return pinned_message(exc.template)
    return exc.describe("label")


def pinned_start(session: Session, key: int, params: GenerationParams) -> CanvasStart:
    """The pinned words laid out in the answer canvas (Session.pinned_canvas), or why they cannot be."""
    if not params.constraints:
        return CanvasStart(key, params)
    try:
        canvas = session.pinned_canvas(params)
    except ParamError as exc:
        return CanvasStart(key, params, problem=describe_param_error(exc))
    return CanvasStart(key, params, _given(session, canvas, session.mask_id(params), "pin"))


def _given(session: Session, canvas: list[int] | tuple[int, ...], mask_id: int, origin: str
           ) -> tuple[tuple[int, int, str, str], ...]:
    pos = [i for i, t in enumerate(canvas) if t != mask_id]
    texts = session.tokenizer.token_texts([canvas[i] for i in pos])
    return tuple((i, int(canvas[i]), texts[n], origin) for n, i in enumerate(pos))


def run_infill(session: Session, info: ModelInfo, request: GenerationRequest, started: Callable[[CanvasStart], None],
               on_step: StepCallback) -> RunOutcome:
    """Fill the blanks of request.prompt with the sampler settings of request.params (the region,
    its block and one step per blank token come from the text, as the CLI's infill)."""
    from llada_studio.core.infill import infill_params, parse_infill, plan_infill

    template = parse_infill(request.prompt)
    base = request.params.with_(constraints="", logits_eos_inf=EOS_FREE_BLANKS or request.params.logits_eos_inf)
    mask_id = session.mask_id(base)
    plan = plan_infill(session.tokenizer, template, mask_id)
    params = infill_params(len(plan.answer_init), template.blank_tokens, base)
    started(CanvasStart(request.run_id, params, _given(session, plan.answer_init, mask_id, "given"),
                        prompt=template.prompt))
    filled = session.infill(request.prompt, base, on_step=on_step, cancel=request.cancel)
    ids = filled.result.generated_ids[0] if filled.result.generated_ids else ()
    texts = tuple(session.tokenizer.token_texts(ids))
    # The outcome's prompt is the text before the first blank, so the passage is the filled text.
    done = replace(request, prompt=template.prompt, params=filled.params)
    return RunOutcome(request.run_id, done, tuple(filled.prompt_ids), filled.result, texts, info)


def run_continue(session: Session, info: ModelInfo, creq: ContinueRequest, edited: Callable[[BranchEdit], None],
                 on_step: StepCallback) -> RunOutcome:
    """The branch: the edits (and the words, as Edit.at of their tokens) applied at step k, the
    run continued from there (Session.continue_run); its outcome keeps the texts of every token
    the branch showed (the run file's token table)."""
    from llada_studio.core.continuation import Edit, resolve_edits

    state, request = creq.state, creq.request
    edits = list(creq.edits)
    for pos, word in creq.words:
        ids = session.word_ids(word)
        if not ids:
            raise ValueError(f"{word!r} has no tokens: type a word")
        if pos + len(ids) > state.params.gen_length:
            raise ValueError(f"{word!r} ({len(ids)} tokens) at {pos} runs past the answer's end")
        edits.append(Edit.at(pos, ids))
    vocab = session.checkpoint.config.embedding_size
    changes = resolve_edits(edits, state.params.gen_length, vocab, state.mask_id)
    if changes:
        shown = [t for t in changes.values() if t != state.mask_id]
        names = dict(zip(shown, session.tokenizer.token_texts(shown)))
        edited(BranchEdit(request.run_id, state.step, tuple(changes), tuple(changes.values()),
                          tuple(names.get(t, "") for t in changes.values())))
    branch = session.continue_run(state, edits, on_step, request.cancel)
    final = branch.generated_ids[0] if branch.generated_ids else ()
    seen = sorted({t for e in branch.trajectory for t in e.tokens[0]} | {t for e in branch.edits for t in e.tokens}
                  - {state.mask_id})
    table = dict(zip(seen, session.tokenizer.token_texts(seen)))
    return RunOutcome(request.run_id, request, state.prompt_ids, branch, tuple(session.tokenizer.token_texts(final)),
                      info, table)
