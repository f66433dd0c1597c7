"""Edit and continue in the window (issue 15): regenerate a selected span, replace a token, continue
a stopped run; the edit is one frame of the scrubber, export / open keeps the branch, and a
server's engine disables the actions with the reason."""

import dataclasses

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from llada_studio.app.canvas_state import Origin
from llada_studio.core.continuation import Edit, RunState
from llada_studio.core.params import GenerationParams

SMALL = dict(gen_length=16, block_length=8, max_steps=16, temperature=0.0, cfg_scale=0.0,
             remasking="low_confidence", seed=0)


@pytest.fixture
def errors(monkeypatch):  # noqa: ANN001, ANN201
    seen: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda p, t, x, *a, **k: seen.append(x)))
    return seen


@pytest.fixture(scope="module")
def session(plain_ckpt):  # noqa: ANN001, ANN201
    from llada_studio.core.session import Session

    return Session.open(plain_ckpt, engine="torch", threads=1)


def _finished(qtbot, make_window, ckpt, params=SMALL):  # noqa: ANN001, ANN202
    win = make_window(ckpt)
    win.chat_mode.setChecked(False)
    win.controls.set_params(params)
    win.controls.seed_lock.setChecked(True)
    win.prompt.setPlainText("hello world the")
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        assert win.generate()
    return win, blocker.args[0]


def _trigger(qtbot, win, pos: int, text: str):  # noqa: ANN001, ANN202
    acts = {a.text(): a for a in win.cell_menu(pos).actions()}
    assert acts[text].isEnabled(), text
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        acts[text].trigger()
    return blocker.args[0]


def test_regenerate_a_selection_streams_the_branch_and_the_scrubber_shows_the_edit(
        qtbot, make_window, plain_ckpt, session, tmp_path, errors) -> None:  # noqa: ANN001
    win, parent = _finished(qtbot, make_window, plain_ckpt)
    before = parent.result.generated_ids[0]
    win.canvas.select_range(4, 10)
    steps: list[int] = []
    win.stepShown.connect(lambda u: steps.append(u.event.step))
    branch = _trigger(qtbot, win, 5, "Regenerate selection")
    res = branch.result
    mask = win.model.mask_id
    assert [(e.after_step, e.positions, e.tokens) for e in res.edits] == [(16, tuple(range(4, 10)), (mask,) * 6)]
    assert steps and steps[0] == 17 and steps == sorted(steps)  # the continued steps, streamed
    assert res.trajectory[:16] == parent.result.trajectory  # the parent's steps, then the continued ones
    ids = res.generated_ids[0]
    assert all(ids[i] == before[i] for i in range(16) if not 4 <= i < 10)
    assert mask not in ids
    # the same branch as the core API's
    state = RunState.from_result(parent.prompt_ids, GenerationParams(**SMALL), parent.result, mask)
    assert session.continue_run(state, [Edit.remask(4, 10)]).generated_ids[0] == ids
    # the scrubber: steps 0..16, the edit, then the continued steps
    frames = len(res.trajectory) + 1
    assert win.scrubber.maximum() == frames
    win.scrubber.setValue(16)
    assert tuple(win.canvas.cell(i).token for i in range(16)) == before
    win.scrubber.setValue(17)
    assert win.scrub_label.text().startswith("edit after step 16")
    assert [win.canvas.cell(i).masked for i in range(16)] == [4 <= i < 10 for i in range(16)]
    win.scrubber.setValue(frames)
    assert tuple(win.canvas.tokens) == ids
    # exported and opened: the same branch, the same frames
    path = win.export_json(tmp_path / "branch.json")
    other = make_window()
    assert other.open_run(path)
    assert other.outcome.result.edits == res.edits
    assert other.scrubber.maximum() == frames
    other.scrubber.setValue(17)
    assert [other.canvas.cell(i).masked for i in range(16)] == [4 <= i < 10 for i in range(16)]
    other.scrubber.setValue(frames)
    assert tuple(other.canvas.tokens) == ids
    assert not errors


def test_replace_a_token_with_a_word_and_continue(qtbot, make_window, plain_ckpt, session, monkeypatch,
                                                  errors) -> None:  # noqa: ANN001
    win, parent = _finished(qtbot, make_window, plain_ckpt)
    win.scrubber.setValue(6)  # continue from step 6
    asked: list[str] = []
    monkeypatch.setattr(QInputDialog, "getText",
                        staticmethod(lambda p, t, label, *a, **k: asked.append(label) or ("world", True)))
    revealed = next(i for i in range(16) if win.canvas.cell(i).origin is Origin.MODEL)
    branch = _trigger(qtbot, win, revealed, "Replace with…")
    assert asked and f"position {revealed}" in asked[0]
    word = session.word_ids("world")
    res = branch.result
    assert [(e.after_step, e.positions, e.tokens) for e in res.edits] == [(6, (revealed,), tuple(word))]
    assert res.generated_ids[0][revealed] == word[0]
    assert len(res.trajectory) == 16 and res.trajectory[:6] == parent.result.trajectory[:6]
    assert all(revealed not in e.positions[0] for e in res.trajectory[6:])  # never written over
    assert win.canvas.cell(revealed).origin is Origin.EDIT
    assert not errors


def test_a_stopped_run_continues_to_the_uninterrupted_run(qtbot, make_window, plain_ckpt, session, errors) -> None:  # noqa: ANN001
    win = make_window(plain_ckpt)
    win.chat_mode.setChecked(False)
    win.controls.set_params(SMALL)
    win.controls.seed_lock.setChecked(True)
    win.prompt.setPlainText("hello world the")
    win.stepShown.connect(lambda u: u.event.step == 5 and win.stop())
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        assert win.generate()
    stopped = blocker.args[0]
    assert stopped.cancelled
    k = len(stopped.result.trajectory)
    assert win.actions_.continue_run.isEnabled()
    win.stepShown.disconnect()
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        win.actions_.continue_run.trigger()
    done = blocker.args[0]
    assert not done.cancelled and not done.result.edits and len(done.result.trajectory) == 16
    assert done.result.trajectory[:k] == stopped.result.trajectory
    whole = session.generate_ids([list(stopped.prompt_ids)], GenerationParams(**SMALL))
    assert done.result.generated_ids == whole.generated_ids
    assert not win.actions_.continue_run.isEnabled()  # a finished run has nothing to continue
    assert not errors


def test_a_server_engine_disables_the_actions_with_the_reason(qtbot, make_window, plain_ckpt) -> None:  # noqa: ANN001
    win, _ = _finished(qtbot, make_window, plain_ckpt)
    assert win.actions_.regenerate_selection.isEnabled()
    win.model = dataclasses.replace(win.model, remote=True)
    win._set_state(win.state)
    act = win.actions_.regenerate_selection
    assert not act.isEnabled() and "server" in act.toolTip()
    win.canvas.select_range(0, 3)
    acts = [a for a in win.cell_menu(2).actions() if a.text().startswith(("Regenerate", "Replace", "Re-mask"))]
    assert len(acts) == 3 and all(not a.isEnabled() and "local model" in a.text() for a in acts)
    assert not win.regenerate_selection()
