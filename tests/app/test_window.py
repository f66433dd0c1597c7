"""The window: streaming, stop, close mid-run, bad folders, settings, export, chat, accessibility."""

import json
import threading

import pytest
from PySide6.QtCore import QEvent, QObject, QSettings, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QMessageBox,
    QPlainTextEdit,
    QTextEdit,
)

from llada_studio.core.params import GenerationParams
from llada_studio.core.session import passage

SMALL = dict(gen_length=32, block_length=16, max_steps=16, temperature=0.0, cfg_scale=0.0,
             remasking="low_confidence", seed=0, confidence_eos_eot_inf=False)
LONG = dict(gen_length=512, block_length=512, max_steps=512, temperature=0.0, cfg_scale=0.0,
            remasking="low_confidence", seed=0)


def _run(qtbot, win, prompt: str, params: dict, timeout: int = 60_000):  # noqa: ANN001, ANN202
    win.controls.set_params(params)
    win.controls.seed_lock.setChecked("seed" in params)  # the seed the test asks for, not a new one
    win.prompt.setPlainText(prompt)
    with qtbot.waitSignal(win.runFinished, timeout=timeout) as blocker:
        assert win.generate()
    return blocker.args[0]


class PaintCounter(QObject):
    """Counts the paint events a widget gets (an event filter: the widget keeps no count for tests)."""

    def __init__(self, widget) -> None:  # noqa: ANN001
        super().__init__(widget)
        self.paints = 0
        widget.installEventFilter(self)

    def eventFilter(self, _obj, event) -> bool:  # noqa: ANN001
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


@pytest.fixture
def errors(monkeypatch):  # noqa: ANN001, ANN201
    """Captures QMessageBox.warning instead of showing a modal dialog."""
    seen: list[tuple[str, str]] = []
    def fake(parent, title, text, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append((title, text))

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(fake))
    return seen


def test_generation_streams_steps_and_matches_the_core_api(qtbot, make_window, tiny_ckpt, core_session, errors):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    shown: list[tuple[int, int]] = []  # (step, thread) of each step the window showed
    win.stepShown.connect(lambda u: shown.append((u.event.step, threading.get_ident())))
    outcome = _run(qtbot, win, "hello world the", SMALL)
    res = outcome.result
    assert not res.cancelled and len(res.trajectory) == 16
    # every step reached the GUI, in order, on the GUI thread, as an immutable core event
    assert shown == [(k, threading.main_thread().ident) for k in range(1, 17)]
    # the canvas holds exactly the generated tokens, each revealed at a step
    assert tuple(win.canvas.tokens) == res.generated_ids[0]
    assert all(s > 0 for s in win.canvas.revealed_at)
    assert win.canvas.visible_token_count() == 32
    # the same text the core API gives for the same prompt and settings
    params = GenerationParams(**SMALL)
    want = core_session.generate_ids([core_session.encode("hello world the")], params)
    assert outcome.prompt_ids == tuple(core_session.encode("hello world the"))
    assert res.generated_ids == want.generated_ids
    assert win.result_text() == want.texts[0]
    assert win.status_step.text() == "step 16/16"
    assert win.status_block.text() == "block 2/2"
    assert "tok/s" in win.status_speed.text() and win.status_elapsed.text().endswith(" s")
    assert win.status_engine.text().startswith("torch")
    assert errors == []


def test_sampling_with_seed_matches_the_core_api(qtbot, make_window, tiny_ckpt, core_session):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    p = dict(SMALL, temperature=0.8, seed=5, remasking="random")
    outcome = _run(qtbot, win, "the world", p)
    want = core_session.generate_ids([core_session.encode("the world")], GenerationParams(**p))
    assert outcome.result.generated_ids == want.generated_ids
    assert win.result_text() == want.texts[0]


def test_repaints_are_throttled(qtbot, make_window, tiny_ckpt):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    counter = PaintCounter(win.canvas)
    steps: list[int] = []
    win.stepShown.connect(lambda u: steps.append(u.event.step))
    outcome = _run(qtbot, win, "hello", dict(LONG, gen_length=256, block_length=256, max_steps=256))
    assert len(steps) >= 256  # the canvas absorbed every step
    elapsed = outcome.result.timings["total_s"]
    # about 30 paints a second (plus the ones at start and end), never one per step
    assert counter.paints <= 10 + 40 * elapsed
    assert counter.paints < 256


def test_stop_in_the_middle(qtbot, make_window, tiny_ckpt):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    win.controls.set_params(LONG)
    win.prompt.setPlainText("hello")
    def stop_at_3(u) -> None:  # noqa: ANN001
        if u.event.step == 3:
            win.stop()

    win.stepShown.connect(stop_at_3)
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        win.generate()
    win.stepShown.disconnect(stop_at_3)
    res = blocker.args[0].result
    assert res.cancelled
    assert 3 <= len(res.trajectory) < 512
    assert win.state == "ready"
    assert win.generate_button.isEnabled() and not win.stop_button.isEnabled()
    assert win.canvas.visible_token_count() == len(res.trajectory)  # one token per step
    assert "Stopped" in win.statusBar().currentMessage()
    assert win.host.engine_thread.isRunning()  # the engine thread serves the next run
    outcome = _run(qtbot, win, "hello", SMALL)
    assert not outcome.result.cancelled


def test_escape_and_ctrl_enter_shortcuts(qtbot, make_window, tiny_ckpt):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.activateWindow()
    win.prompt.setFocus()
    win.chat_mode.setChecked(False)
    win.controls.set_params(LONG)
    win.prompt.setPlainText("hello")
    first_step: list[int] = []

    def on_step(u) -> None:  # noqa: ANN001
        if not first_step:
            first_step.append(u.event.step)
            qtbot.keyClick(win.prompt, Qt.Key.Key_Escape)

    win.stepShown.connect(on_step)
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        qtbot.keyClick(win.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args[0].result.cancelled
    assert win.prompt.toPlainText() == "hello"  # Ctrl+Enter generated, it did not type a newline


def test_close_in_the_middle(qtbot, make_window, tiny_ckpt, qtlog):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    win.controls.set_params(LONG)
    win.prompt.setPlainText("hello")
    with qtbot.waitSignal(win.stepShown, timeout=60_000):
        win.generate()
    assert win.state == "running"
    win.close()  # stop, quit, wait
    assert win.host.engine_thread.isFinished() and not win.host.engine_thread.isRunning()
    assert win.host._current.cancel.cancelled
    QApplication.processEvents()
    messages = [r.message for r in qtlog.records]
    assert not [m for m in messages if "QThread" in m or "Destroyed" in m], messages


def test_close_while_loading(qtbot, tiny_ckpt, settings, qtlog):  # noqa: ANN001
    from llada_studio.app.window import MainWindow

    win = MainWindow(settings=settings, autoload=False, engine="torch", threads=1)
    qtbot.addWidget(win)
    win.open_model(str(tiny_ckpt))
    win.close()
    assert win.host.engine_thread.isFinished()
    assert not [r.message for r in qtlog.records if "QThread" in r.message]


def test_bad_folder_shows_what_is_wrong(qtbot, make_window, tmp_path, errors, monkeypatch):  # noqa: ANN001
    win = make_window()
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "config.json").write_text("{ this is not json", encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(bad)))
    with qtbot.waitSignal(win.loadFailed, timeout=30_000) as blocker:
        win.act_open.trigger()  # File > Open model folder... (Ctrl+O)
    failure = blocker.args[0]
    assert failure.kind == "checkpoint"
    assert len(errors) == 1
    title, text = errors[0]
    assert "model folder" in title.lower()
    assert failure.problem in text and "config.json" in text
    assert win.state == "empty" and not win.generate_button.isEnabled()

    errors.clear()
    with qtbot.waitSignal(win.loadFailed, timeout=30_000):
        win.open_model(str(tmp_path / "does-not-exist"))
    assert "not a folder" in errors[0][1]


def test_bad_folder_keeps_the_loaded_model(qtbot, make_window, tiny_ckpt, tmp_path, errors):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(win.loadFailed, timeout=30_000):
        win.open_model(str(empty))
    assert errors and win.state == "ready" and win.model.name == tiny_ckpt.name
    _run(qtbot, win, "hello", SMALL)


def test_without_a_model_the_window_asks_for_one(qtbot, settings, monkeypatch, tmp_path, errors):  # noqa: ANN001
    import llada_studio.app.window_models as models_part
    from llada_studio.app.window import MainWindow

    monkeypatch.setattr(models_part, "bundled_model_dir", lambda: tmp_path / "missing")
    monkeypatch.setattr(models_part, "model_exists", lambda p: False)
    win = MainWindow(settings=settings, engine="torch")  # autoload: nothing to load
    qtbot.addWidget(win)
    win.show()
    assert win.state == "empty"
    assert "Open model folder" in win.canvas.message
    assert not win.generate_button.isEnabled()
    assert win.generate() is False
    assert errors == []  # a notice in the window, not a dialog at startup


def test_settings_survive_a_restart(qtbot, make_window, tiny_ckpt, settings_path):  # noqa: ANN001
    s1 = QSettings(str(settings_path), QSettings.Format.IniFormat)
    win = make_window(tiny_ckpt, settings_obj=s1)
    want = GenerationParams(max_steps=24, gen_length=48, block_length=16, temperature=0.45, cfg_scale=0.75,
                            remasking="entropy", logits_eos_inf=True, confidence_eos_eot_inf=False, seed=99)
    win.controls.set_params(want)
    win.prompt.setPlainText("remember me")
    win.chat_mode.setChecked(True)
    win.set_theme("dark")
    win.close()
    del s1

    from llada_studio.app.window import MainWindow

    s2 = QSettings(str(settings_path), QSettings.Format.IniFormat)
    win2 = MainWindow(settings=s2, autoload=True)  # reloads the last model by itself
    qtbot.addWidget(win2)
    assert win2.controls.params() == want
    assert win2.prompt.toPlainText() == "remember me"
    assert win2.theme == "dark" and QApplication.instance().property("lladaTheme") == "dark"
    assert win2.engine_kind == "torch" and win2.threads == 1
    with qtbot.waitSignal(win2.modelLoaded, timeout=60_000):
        pass
    assert win2.model.path == str(tiny_ckpt)
    assert win2.chat_mode.isChecked()
    win2.set_theme("light")


def test_export_writes_valid_json_and_text(qtbot, make_window, tiny_ckpt, tmp_path, monkeypatch):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    assert not win.export_button.isEnabled()
    outcome = _run(qtbot, win, "hello world", SMALL)
    out = tmp_path / "run.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    win.act_export.trigger()
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["format"] == "llada-studio.run/1"
    assert data["text"] == win.result_text()
    assert data["params"] == GenerationParams(**SMALL).to_dict() | {"mask_id": win.model.mask_id}
    assert data["generated_ids"] == list(outcome.result.generated_ids[0])
    assert len(data["trajectory"]) == 16
    assert [e["step"] for e in data["trajectory"]] == list(range(1, 17))
    assert sorted(p for e in data["trajectory"] for p in e["positions"]) == list(range(32))
    assert data["model"]["name"] == tiny_ckpt.name and data["prompt"] == "hello world"
    txt = tmp_path / "run.txt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(txt), "")))
    win.act_export_text.trigger()
    # the text file holds the passage: the prompt, then its continuation
    assert txt.read_text(encoding="utf-8").rstrip("\n") == passage("hello world", win.result_text())
    assert data["passage"] == passage("hello world", win.result_text())


def test_copy_and_scrubber_replay(qtbot, make_window, tiny_ckpt):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    outcome = _run(qtbot, win, "hello world", SMALL)
    win.copy_text()
    assert QApplication.clipboard().text() == passage("hello world", win.result_text())
    win.actions_.copy_answer.trigger()
    assert QApplication.clipboard().text() == win.result_text().strip()
    assert win.scrubber.isEnabled() and win.scrubber.maximum() == 16
    traj = outcome.result.trajectory
    for k in (0, 1, 7, 16):
        win.scrubber.setValue(k)
        assert win.canvas.shown_step == k
        assert win.canvas.visible_token_count() == sum(len(e.positions[0]) for e in traj[:k])
    assert win.scrub_label.text() == "step 16 / 16"
    win.scrubber.setValue(0)
    win.toggle_replay()
    qtbot.waitUntil(lambda: win.scrubber.value() == 16, timeout=10_000)


def test_chat_mode_is_multi_turn(qtbot, make_window, tiny_ckpt, core_session):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    assert win.chat_mode.isEnabled()
    win.chat_mode.setChecked(True)
    assert win.transcript.isVisible()
    first = _run(qtbot, win, "hello", SMALL)
    assert first.request.chat and first.request.history == ()
    assert first.prompt_ids == tuple(core_session.encode("hello", chat=True))
    assert win.history == [("user", "hello"), ("assistant", first.text)]
    assert win.prompt.toPlainText() == ""  # the message was sent
    second = _run(qtbot, win, "and the world", SMALL)
    hist = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": first.text}]
    assert second.prompt_ids == tuple(core_session.encode("and the world", chat=True, history=hist))
    assert len(win.history) == 4
    assert "and the world" in win.transcript.toPlainText()
    win.new_chat()
    assert win.history == []


def test_chat_needs_a_template(qtbot, make_window, plain_ckpt):  # noqa: ANN001
    win = make_window(plain_ckpt)
    assert not win.chat_mode.isEnabled() and not win.chat_mode.isChecked()
    assert "no chat template" in win.chat_mode.toolTip()
    assert win.current_request().chat is False


def test_requests_follow_the_window_controls(qtbot, make_window, tiny_ckpt):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.prompt.setPlainText("abc")
    win.chat_mode.setChecked(False)
    r = win.current_request()
    assert r.prompt == "abc" and not r.chat and r.params == win.controls.params()
    win.chat_mode.setChecked(True)
    assert win.current_request().chat
    win.controls.seed.setValue(4242)
    assert win.current_request().params.seed == 4242


def test_every_control_has_a_tooltip_and_accessible_name(qtbot, make_window, tiny_ckpt):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    kinds = (QAbstractButton, QAbstractSlider, QAbstractSpinBox, QComboBox, QPlainTextEdit, QTextEdit)
    found = {id(w): w for k in kinds for w in win.findChildren(k)}
    # leave out the parts Qt builds inside composite widgets (scroll bars of scroll areas, ...)
    controls = [w for w in found.values()
                if not (w.parent() is not None and w.parent().objectName().startswith("qt_scrollarea"))
                and not w.objectName().startswith("qt_")]
    assert len(controls) >= 15
    missing = [(type(w).__name__, w.accessibleName(), w.toolTip()[:20]) for w in controls
               if not w.accessibleName() or not w.toolTip()]
    assert missing == []
    # menu actions carry a shortcut where the design names one
    keys = {a.text().replace("&", ""): a.shortcut().toString() for a in win.actions()}
    assert keys["Generate"] == "Ctrl+Return" and keys["Stop"] == "Esc"
    assert keys["Open model folder…"] == "Ctrl+O" and keys["Copy prompt and text"] == "Ctrl+Shift+C"
    assert keys["Export text and trajectory…"] == "Ctrl+E"


def test_about_names_the_model_and_its_licence(qtbot, make_window, tiny_ckpt, monkeypatch):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda parent, title, text: shown.append(text)))
    win.act_about.trigger()
    assert tiny_ckpt.name in shown[0] and "Licence:</b> unknown" in shown[0]


def test_theme_toggle(qtbot, make_window):  # noqa: ANN001
    win = make_window()
    win.set_theme("light")
    app = QApplication.instance()
    light_bg = app.palette().color(app.palette().ColorRole.Window).lightnessF()
    win.toggle_theme()
    assert app.property("lladaTheme") == "dark"
    assert app.palette().color(app.palette().ColorRole.Window).lightnessF() < light_bg
    assert win.settings.value("theme") == "dark"
    win.set_theme("system")
    assert app.property("lladaTheme") in ("light", "dark")
    win.set_theme("light")


def test_replay_marks_the_block_of_the_shown_step(qtbot, make_window, tiny_ckpt):  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    outcome = _run(qtbot, win, "hello", dict(SMALL, gen_length=32, block_length=8, max_steps=16))
    traj = outcome.result.trajectory
    for k in (1, 5, 9, 16):
        win.scrubber.setValue(k)
        assert win.canvas.step_blocks[k] == traj[k - 1].block
    win.canvas.grab()  # paints at a replayed step without error


def test_canvas_sets_word_pieces_together(qtbot) -> None:  # noqa: ANN001
    """A token that does not start with a space continues the word before it ("surv" + "ival",
    "France" + ","): its text is placed right after that word's, words stay apart."""
    from llada_studio.app.canvas import TokenCanvas

    canvas = TokenCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 300)
    canvas.reset(5, 5)
    canvas.absorb(1, 0, (0, 1, 2, 3, 4), (10, 11, 12, 13, 14), (0.5,) * 5, (" surv", "ival", " of", " France", ","))
    r = canvas._layout()
    inside_word = r[1].left() - r[0].right()
    between_words = r[2].left() - r[1].right()
    assert inside_word < 0 < between_words  # the piece's cell overlaps its word's padding
    assert r[4].left() - r[3].right() == inside_word


def test_canvas_carries_a_whole_word_to_the_next_line(qtbot) -> None:  # noqa: ANN001
    """A word made of several pieces wraps as one: its pieces never end up on two lines."""
    from llada_studio.app.canvas import TokenCanvas

    canvas = TokenCanvas()
    qtbot.addWidget(canvas)
    canvas.reset(40, 40)
    texts = tuple(" good" if i % 2 == 0 else "-humoured" for i in range(40))
    canvas.absorb(1, 0, tuple(range(40)), tuple(range(10, 50)), (0.5,) * 40, texts)
    for width in (180, 260, 333, 420):
        canvas.resize(width, 600)
        canvas._layout_cache = None
        r = canvas._layout()
        for i in range(0, 40, 2):
            assert r[i].y() == r[i + 1].y(), (width, i)  # "good" and "-humoured" on one line
            assert r[i + 1].right() <= width


def test_a_saved_run_opens_and_replays(qtbot, make_window, tiny_ckpt, tmp_path, monkeypatch):  # noqa: ANN001
    """Export, then open the file in a window with another model loaded: the same run to scrub."""
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    outcome = _run(qtbot, win, "hello world", SMALL)
    path = tmp_path / "run.json"
    win.export_json(path)
    other = make_window()
    other.dialogs = False
    assert other.open_run(path)
    assert other.scrubber.maximum() == 16 and other.copy_button.isEnabled()
    assert tuple(other.canvas.tokens) == outcome.result.generated_ids[0]
    other.scrubber.setValue(4)
    assert other.canvas.visible_token_count() == sum(len(e.positions[0]) for e in outcome.result.trajectory[:4])
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    assert not other.open_run(bad)


def test_the_reveal_exports_as_a_film(qtbot, make_window, tiny_ckpt, tmp_path):  # noqa: ANN001
    from PIL import Image

    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    _run(qtbot, win, "hello world", SMALL)
    assert win.actions_.export_film.isEnabled()
    gif = win.export_film(tmp_path / "film.gif")
    assert gif is not None and Image.open(gif).n_frames == 16 + 1
    page = win.export_film(tmp_path / "film.html")
    assert page is not None and "const run = " in page.read_text(encoding="utf-8")


def test_each_model_keeps_its_own_settings(qtbot, make_window, tiny_ckpt, plain_ckpt):  # noqa: ANN001
    """An instruction model starts on the published defaults; switching models and back restores
    what was used with each."""
    win = make_window(tiny_ckpt)  # has a chat template: the Instruct defaults
    p = win.controls.params()
    assert (p.gen_length, p.block_length, p.max_steps, p.temperature, p.confidence_eos_eot_inf) == (
        128, 32, 128, 0.0, True)
    win.controls.set_params(dict(temperature=0.7, gen_length=64, block_length=16, max_steps=32))
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000):
        win.open_model(str(plain_ckpt))
    q = win.controls.params()
    assert q.temperature == 0.0 and q.block_length == 32 and not q.confidence_eos_eot_inf  # a base model
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000):
        win.open_model(str(tiny_ckpt))
    r = win.controls.params()
    assert (r.temperature, r.gen_length, r.block_length, r.max_steps) == (0.7, 64, 16, 32)


def test_score_the_answer(qtbot, make_window, tiny_ckpt, core_session):  # noqa: ANN001
    """Run > Score the answer: the engine thread estimates the ELBO; the same figure as core's."""
    from llada_studio.core.likelihood import score_ids

    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    assert not win.actions_.score.isEnabled()  # nothing to score yet
    outcome = _run(qtbot, win, "hello world", SMALL)
    assert win.actions_.score.isEnabled()
    with qtbot.waitSignal(win.host.worker.scored, timeout=60_000) as blocker:
        assert win.score_answer()
    got = blocker.args[0]
    want = score_ids(core_session, list(outcome.prompt_ids), list(outcome.result.generated_ids[0]), mc_num=64)
    assert got.log_likelihood is not None and abs(got.log_likelihood - want.log_likelihood) < 1e-6 * abs(
        want.log_likelihood) + 1e-9
    qtbot.waitUntil(lambda: win.statusBar().currentMessage().startswith("Score: log-likelihood >="), timeout=5000)


def test_a_new_run_does_not_show_the_last_runs_done_message(qtbot, make_window, tiny_ckpt):  # noqa: ANN001
    """Seen in a screenshot: 'Done: 128 steps in 12.74 s' stayed in the status bar (6 s) while
    the next run was at step 24."""
    win = make_window(tiny_ckpt)
    win.controls.set_params(GenerationParams(max_steps=8, gen_length=8, block_length=8))
    win.prompt.setPlainText("hello")
    with qtbot.waitSignal(win.runFinished, timeout=60_000):
        assert win.generate()
    assert win.statusBar().currentMessage().startswith("Done:")
    with qtbot.waitSignal(win.runFinished, timeout=60_000):
        assert win.generate()
        assert not win.statusBar().currentMessage().startswith("Done:")
