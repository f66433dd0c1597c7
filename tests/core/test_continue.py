"""Edit and continue (issue 15; core/continuation.py): continue a run from step k after edits;
the branch in the run file and in replay."""

from __future__ import annotations

import io

import numpy as np
import pytest

from llada_studio.core.cli import main
from llada_studio.core.continuation import REMASK, Edit, RunState
from llada_studio.core.events import CancelToken
from llada_studio.core.params import GenerationParams
from llada_studio.core.run_file import RunRecord, record_run
from llada_studio.core.session import Session

pytest.importorskip("torch")
PARAMS = GenerationParams(max_steps=16, gen_length=16, block_length=4, temperature=1.0, seed=7)


@pytest.fixture(scope="module")
def sessions() -> dict[str, Session]:
    return {kind: Session.open(engine=kind, threads=2) for kind in ("cpp", "torch")}


def _run(s: Session, params: GenerationParams, stop_at: int | None = None):  # type: ignore[no-untyped-def]
    ids = s.encode("It was a bright cold day")
    cancel = CancelToken()

    def on_step(e) -> None:  # type: ignore[no-untyped-def]
        if stop_at is not None and e.step == stop_at:
            cancel.cancel()

    return ids, s.generate_ids([ids], params, on_step, cancel)


@pytest.mark.parametrize("k", [0, 5, 8, 16])
def test_unedited_continuation_of_a_stopped_run_is_the_uninterrupted_run(sessions, k: int) -> None:  # type: ignore[no-untyped-def]
    """C++ at T = 1 with constraints and CFG: its random streams are keyed by the global step."""
    s = sessions["cpp"]
    params = PARAMS.with_(constraints="2:upon", cfg_scale=0.5)
    ids, full = _run(s, params)
    _, stopped = _run(s, params, stop_at=k if k else None)
    state = RunState.from_result(ids, params, stopped if k else full, s.mask_id(), step=k)
    seen: list = []  # type: ignore[type-arg]
    branch = s.continue_run(state, on_step=seen.append)
    assert branch.generated_ids == full.generated_ids and not branch.edits
    assert tuple(seen) == branch.trajectory[k:]  # on_step gets the events as the result holds them
    assert [(e.step, e.positions, e.tokens, e.forward_passes) for e in branch.trajectory] == [
        (e.step, e.positions, e.tokens, e.forward_passes) for e in full.trajectory
    ]


def test_torch_unedited_continuation_at_t0(sessions) -> None:  # type: ignore[no-untyped-def]
    s = sessions["torch"]
    params = PARAMS.with_(temperature=0.0)
    ids, full = _run(s, params)
    branch = s.continue_run(RunState.from_result(ids, params, full, s.mask_id(), step=6))
    assert branch.generated_ids == full.generated_ids


def test_remask_a_span_of_a_finished_answer_and_continue(sessions) -> None:  # type: ignore[no-untyped-def]
    params = PARAMS.with_(temperature=0.0)
    out = {}
    for kind, s in sessions.items():
        ids, full = _run(s, params)
        state = RunState.from_result(ids, params, full, s.mask_id())
        word = s.word_ids("storm")
        branch = s.continue_run(state, [Edit.remask(4, 10), Edit.at(12, word)])
        gen = branch.generated_ids[0]
        # Untouched positions keep the parent's tokens; the set word stays; the span is rewritten.
        keep = [p for p in range(16) if not 4 <= p < 10 and p not in range(12, 12 + len(word))]
        assert [gen[p] for p in keep] == [full.generated_ids[0][p] for p in keep]
        assert list(gen[12 : 12 + len(word)]) == word and s.mask_id() not in gen
        ed = branch.edits[0]
        assert ed.after_step == 16 and ed.positions[:6] == tuple(range(4, 10)) and ed.tokens[:6] == (s.mask_id(),) * 6
        cont = branch.trajectory[16:]
        assert [e.step for e in cont] == list(range(17, 23)) and [e.block for e in cont] == [1] * 4 + [2] * 2
        assert all(set(e.positions[0]) <= set(range(4, 10)) for e in cont)
        out[kind] = branch
    assert out["cpp"].generated_ids == out["torch"].generated_ids


def test_a_branch_round_trips_through_the_run_file_and_replays(sessions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = sessions["cpp"]
    ids, stopped = _run(s, PARAMS, stop_at=6)
    assert stopped.cancelled and len(stopped.trajectory) == 6
    state = RunState.from_result(ids, PARAMS, stopped, s.mask_id())
    parent_canvas = state.canvas()
    target = next(p for p, t in enumerate(parent_canvas) if t != s.mask_id() and p != 0)
    branch = s.continue_run(state, [Edit.set_tokens({target: s.word_ids("sea")[0]}), Edit.remask(0, 1)])
    rec = record_run(s, "It was a bright cold day", ids, PARAMS, branch)
    path = rec.save(tmp_path / "branch.json")
    back = RunRecord.load(path)
    assert back == rec and back.edits == branch.edits and back.edits[0].after_step == 6
    # The canvas at step 6 before and after the edit; the continued run starts from the latter.
    before = back.canvas_ids_at(6, with_edit=False)
    assert before == [None if t == s.mask_id() else t for t in parent_canvas]
    after = back.canvas_ids_at(6)
    assert after[0] is None and after[target] == s.word_ids("sea")[0]
    assert back.canvas_ids_at(len(back.trajectory)) == list(back.generated_ids)
    # A branch of the branch: continue the saved record from step 8.
    again = s.continue_run(RunState.from_record(back, step=8), [Edit.remask(14, 16)])
    assert again.edits[:1] == back.edits and again.edits[1].after_step == 8
    text = io.StringIO()
    assert main(["replay", str(path)], text) == 0
    assert "branched after step 6" in text.getvalue()
    at6 = io.StringIO()
    assert main(["replay", str(path), "--step", "6"], at6) == 0
    assert at6.getvalue().count("░") >= 1
    film = tmp_path / "branch.html"
    assert main(["replay", str(path), "--export", str(film)], io.StringIO()) == 0
    assert '"edits": {"6"' in film.read_text(encoding="utf-8")


def test_bad_edits_are_refused(sessions) -> None:  # type: ignore[no-untyped-def]
    s = sessions["cpp"]
    ids, full = _run(s, PARAMS.with_(max_steps=4, block_length=16))
    state = RunState.from_result(ids, full.trajectory and PARAMS.with_(max_steps=4, block_length=16), full, s.mask_id())
    for edit, message in [
        (Edit((16,), (5,)), "outside the answer"),
        (Edit((0,), (10**6,)), "outside the vocabulary"),
        (Edit((0,), (s.mask_id(),)), "use REMASK"),
        (Edit((0, 1), (5,)), "2 positions for 1 tokens"),
    ]:
        with pytest.raises(ValueError, match=message):
            s.continue_run(state, [edit])
    with pytest.raises(ValueError, match="step must be from 0 to 4"):
        RunState.from_result(ids, PARAMS, full, s.mask_id(), step=5)
    assert REMASK == -1 and np.all(np.array(state.canvas()) != s.mask_id())
