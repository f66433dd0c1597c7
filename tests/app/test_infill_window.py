"""Filling blanks in the window (issue 15): a prompt with [MASK*N] blanks makes Generate "Fill
blanks", the run streams like any other, and the written text never changes at any step."""

from PySide6.QtWidgets import QMessageBox

from llada_studio.app.canvas_state import Origin

TEXT = "hello world [MASK*4] the world [MASK*3] hello"


def test_fill_blanks_streams_and_never_changes_the_written_text(qtbot, make_window, plain_ckpt, tmp_path,
                                                                monkeypatch) -> None:  # noqa: ANN001
    from llada_studio.core.infill import parse_infill, plan_infill
    from llada_studio.core.session import Session

    errors: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda p, t, x, *a, **k: errors.append(x)))
    win = make_window(plain_ckpt)
    win.chat_mode.setChecked(False)
    win.controls.set_params(dict(temperature=1.0, seed=5))
    win.controls.seed_lock.setChecked(True)
    win.prompt.setPlainText("hello world")
    assert win.generate_button.text() == "Generate"
    win.prompt.setPlainText(TEXT)
    assert win.generate_button.text() == "Fill blanks"
    assert win.current_request().infill

    session = Session.open(plain_ckpt, engine="torch", threads=1)
    mask = session.mask_id()
    plan = plan_infill(session.tokenizer, parse_infill(TEXT), mask)
    written = {i: t for i, t in enumerate(plan.answer_init) if t != mask}
    blanks = [i for i, t in enumerate(plan.answer_init) if t == mask]
    assert len(blanks) == 7 and written

    seen: list[tuple[int, dict[int, int], int]] = []

    def on_step(u) -> None:  # noqa: ANN001
        c = win.canvas
        seen.append((u.event.step, {i: c.cell(i).token for i in c.positions_of(Origin.GIVEN)},
                     sum(1 for i in blanks if not c.cell(i).masked)))

    win.stepShown.connect(on_step)
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        assert win.generate()
    outcome = blocker.args[0]
    assert win.canvas.gen_length == len(plan.answer_init)  # the region, not the Length setting
    assert [s for s, _, _ in seen] == list(range(1, 8))  # one step per blank token
    for step, given, revealed in seen:
        assert given == written, step  # the written text, unchanged at every step
        assert revealed == step  # and the blanks revealing one by one
    ids = outcome.result.generated_ids[0]
    assert all(ids[i] == t for i, t in written.items())
    assert all(ids[i] != mask for i in blanks)
    assert "Filled the blanks" in win.statusBar().currentMessage()
    assert win.prompt.toPlainText() == TEXT  # kept, to fill again
    # scrubbed to step 0: the written text and 7 masks
    win.scrubber.setValue(0)
    assert win.canvas.shown_text().count("░") == 7
    # exported and opened again: the written text shows from step 0
    path = win.export_json(tmp_path / "infill.json")
    other = make_window()
    assert other.open_run(path)
    other.scrubber.setValue(0)
    assert {i: other.canvas.cell(i).token for i in other.canvas.positions_of(Origin.GIVEN)} == written
    other.scrubber.setValue(other.scrubber.maximum())
    assert tuple(other.canvas.tokens) == ids
    assert not errors


def test_the_summary_line_describes_the_fill_not_the_length_settings(qtbot, make_window, tiny_ckpt) -> None:  # noqa: ANN001
    """Seen in a screenshot: '8 blocks of 8 tokens, 8 steps each' beside a run of one block of 18 steps."""
    win = make_window(tiny_ckpt)
    win.prompt.setPlainText("It was a [MASK*6] morning, and the [MASK*12] by the sea.")
    assert win.controls.summary.text().startswith("Fill blanks: 18 blank tokens, one step each, in one block")
    win.prompt.setPlainText("It was a [MASK*6] morning and [MASK*x]")
    assert win.controls.summary.text().startswith("Fill blanks:")  # the syntax problem, said there
    win.prompt.setPlainText("It was a fine morning")
    assert "block" in win.controls.summary.text() and not win.controls.summary.text().startswith("Fill")
