"""The replay bar: icons (not glyphs), a groove click jumps, replay starts at step 0, the label
counts during a run."""

from PySide6.QtCore import QPoint, Qt

from llada_studio.app.replay_bar import ReplayBar


def _bar(qtbot, steps=16):  # noqa: ANN001, ANN202
    bar = ReplayBar()
    qtbot.addWidget(bar)
    bar.resize(600, 40)
    bar.show()
    bar.start_run(steps)
    bar.finish(steps)
    return bar


def test_replay_uses_style_icons_not_font_glyphs(qtbot) -> None:  # noqa: ANN001
    bar = _bar(qtbot)
    assert bar.play_button.text() == "" and not bar.play_button.icon().isNull()
    bar.toggle()
    assert bar.playing and not bar.play_button.icon().isNull() and "Pause" in bar.play_button.toolTip()
    bar.toggle()
    assert not bar.playing


def test_a_click_on_the_groove_jumps_there(qtbot) -> None:  # noqa: ANN001
    bar = _bar(qtbot, 100)
    s = bar.scrubber
    qtbot.mouseClick(s, Qt.MouseButton.LeftButton, pos=QPoint(int(s.width() * 0.25), s.height() // 2))
    assert 15 <= s.value() <= 35, s.value()  # near a quarter, not one page from the end


def test_replay_starts_from_the_first_step(qtbot) -> None:  # noqa: ANN001
    bar = _bar(qtbot, 16)
    bar.scrubber.setValue(10)  # the user looked at step 10, then presses Replay
    seen = []
    bar.stepChosen.connect(seen.append)
    bar.toggle()
    assert seen[0] == 0
    qtbot.waitUntil(lambda: not bar.playing, timeout=5000)
    assert bar.scrubber.value() == 16


def test_a_paused_replay_resumes_where_it_was(qtbot) -> None:  # noqa: ANN001
    bar = _bar(qtbot, 200)
    bar.toggle()
    qtbot.waitUntil(lambda: bar.scrubber.value() >= 3, timeout=5000)
    bar.toggle()
    where = bar.scrubber.value()
    bar.toggle()
    assert bar.scrubber.value() >= where
    bar.stop()


def test_label_counts_during_a_run(qtbot) -> None:  # noqa: ANN001
    bar = ReplayBar()
    qtbot.addWidget(bar)
    bar.start_run(128)
    assert bar.label.text() == "step 0 / 128"
    bar.live_step(37, 128)
    assert bar.label.text() == "step 37 / 128"


def test_the_replay_delay_is_adjustable(qtbot) -> None:  # noqa: ANN001
    bar = _bar(qtbot, 16)
    bar.speed.setValue(400)
    assert bar._timer.interval() == 400
