"""Pinned words in the window (issue 15): the settings row, its inline errors, the idle canvas,
a run that keeps the pins at every step, the canvas's pin / unpin menu, settings round-trip."""

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from llada_studio.app.canvas_state import Origin
from llada_studio.core.params import GenerationParams

SMALL = dict(gen_length=16, block_length=8, max_steps=16, temperature=1.0, cfg_scale=0.0,
             remasking="low_confidence", seed=3)
PINS = "0:the, 5:world"


@pytest.fixture
def no_dialogs(monkeypatch):  # noqa: ANN001, ANN201
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda p, t, x, *a, **k: seen.append((t, x))))
    return seen


def _window(qtbot, make_window, ckpt):  # noqa: ANN001, ANN202
    win = make_window(ckpt)
    win.chat_mode.setChecked(False)
    win.controls.set_params(SMALL)
    win.controls.seed_lock.setChecked(True)
    win.prompt.setPlainText("hello world the")
    return win


def _set_pins(qtbot, win, text: str) -> None:  # noqa: ANN001
    with qtbot.waitSignal(win.host.worker.previewed, timeout=10_000):
        win.controls.pins.set_text(text)
    qtbot.wait(20)  # the queued answer reaches the window's slot


def test_the_idle_canvas_shows_the_pins_and_a_run_keeps_them_at_every_step(qtbot, make_window, plain_ckpt,
                                                                           no_dialogs) -> None:  # noqa: ANN001
    from llada_studio.core.session import Session

    win = _window(qtbot, make_window, plain_ckpt)
    _set_pins(qtbot, win, PINS)
    session = Session.open(plain_ckpt, engine="torch", threads=1)
    params = GenerationParams(**SMALL, constraints=PINS)
    want = session.pinned_canvas(params)
    pinned = {i: t for i, t in enumerate(want) if t != session.mask_id()}
    assert sorted(pinned) == [0, 5]
    # before the run: the pins among the masks, nothing else revealed
    assert win.canvas.positions_of(Origin.PIN) == [0, 5]
    assert [win.canvas.cell(i).token for i in (0, 5)] == [pinned[0], pinned[5]]
    assert win.canvas.shown_text().count("░") == 14 and "world" in win.canvas.shown_text()
    assert win.controls.params().constraints == PINS

    seen: list[tuple[int, list[int], list[int]]] = []
    win.stepShown.connect(lambda u: seen.append((u.event.step, win.canvas.positions_of(Origin.PIN),
                                                 [win.canvas.cell(i).token for i in (0, 5)])))
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        assert win.generate()
    outcome = blocker.args[0]
    assert [s for s, _, _ in seen] == list(range(1, 17))
    for step, positions, tokens in seen:  # drawn pinned, with their tokens, at every step
        assert positions == [0, 5] and tokens == [pinned[0], pinned[5]], step
    ids = outcome.result.generated_ids[0]
    assert (ids[0], ids[5]) == (pinned[0], pinned[5])
    assert all(5 not in e.positions[0] and 0 not in e.positions[0] for e in outcome.result.trajectory)
    assert outcome.result.answer_init and outcome.result.answer_init[0] == tuple(want)
    # scrubbing back to step 0 still shows them
    win.scrubber.setValue(0)
    assert win.canvas.positions_of(Origin.PIN) == [0, 5]
    assert not no_dialogs


def test_bad_pins_name_what_to_change_and_refuse_the_run(qtbot, make_window, plain_ckpt, no_dialogs) -> None:  # noqa: ANN001
    win = _window(qtbot, make_window, plain_ckpt)
    pins = win.controls.pins
    pins.set_text("0 the")
    assert pins.error_label.isVisibleTo(win.controls)
    msg = pins.error_label.text()
    assert "“Pinned words”" in msg and "pos:word" in msg and "0:Once, 5:upon" in msg
    assert win.controls.params().constraints == ""  # left out of the request
    assert not win.generate()
    assert "Not started" in win.statusBar().currentMessage()
    pins.set_text("x:the")
    assert "whole number" in pins.error_label.text()
    # a word past the answer's end: found when the engine lays the pins out
    _set_pins(qtbot, win, "20:the")
    assert "past the answer's last position (15)" in pins.error_label.text()
    assert "“Pinned words”" in pins.error_label.text()
    assert not win.generate()
    _set_pins(qtbot, win, "2:the")
    assert not pins.error_label.isVisibleTo(win.controls) and pins.error() is None
    assert not no_dialogs


def test_pin_and_unpin_from_the_canvas_menu(qtbot, make_window, plain_ckpt, monkeypatch, no_dialogs) -> None:  # noqa: ANN001
    win = _window(qtbot, make_window, plain_ckpt)
    _set_pins(qtbot, win, "0:the")
    asked: list[str] = []

    def fake_get_text(parent, title, label, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        asked.append(label)
        return "world", True

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(fake_get_text))
    menu = win.cell_menu(7)
    acts = {a.text(): a for a in menu.actions()}
    assert acts["Pin a word here…"].isEnabled() and not acts["Unpin"].isEnabled()
    with qtbot.waitSignal(win.host.worker.previewed, timeout=10_000):
        acts["Pin a word here…"].trigger()
    qtbot.wait(20)
    assert asked and "position 7" in asked[0]
    assert win.controls.pins.text() == "0:the, 7:world"
    assert win.canvas.positions_of(Origin.PIN) == [0, 7]
    acts = {a.text(): a for a in win.cell_menu(7).actions()}
    assert acts["Unpin"].isEnabled()
    acts["Unpin"].trigger()
    assert win.controls.pins.text() == "0:the"
    assert not {a.text(): a for a in win.cell_menu(-1).actions()}["Pin a word here…"].isEnabled()


def test_the_pins_are_saved_and_restored(qtbot, make_window, plain_ckpt, settings) -> None:  # noqa: ANN001
    win = _window(qtbot, make_window, plain_ckpt)
    win.controls.pins.set_text("3:the, 9:world")
    win.save_settings()
    win.close()
    again = make_window(plain_ckpt, settings_obj=settings)
    assert again.controls.pins.text() == "3:the, 9:world"
    assert again.controls.params().constraints == "3:the, 9:world"
