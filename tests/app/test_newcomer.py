"""What a new user hit on day one (issue 12), each as the test that failed before its fix."""

import pytest
from PySide6.QtCore import Qt

from llada_studio.core.errors import EngineUnavailableError
from llada_studio.core.params import GenerationParams
from llada_studio.core.resources import bundled_model_dir

SMALL = dict(gen_length=32, block_length=16, max_steps=16, temperature=0.8, cfg_scale=0.0,
             remasking="low_confidence")


def _run(qtbot, win, prompt="hello world"):  # noqa: ANN001, ANN202
    win.prompt.setPlainText(prompt)
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        assert win.generate()
    return blocker.args[0]


def test_an_unavailable_engine_is_disabled_with_the_reason(qtbot, make_window, monkeypatch) -> None:  # noqa: ANN001
    import llada_studio.app.menus

    reason = "PyTorch is not installed (pip install torch==2.13.0)"
    monkeypatch.setattr(
        llada_studio.app.menus, "engine_unavailable_reason", lambda kind: reason if kind == "torch" else None
    )
    win = make_window()
    torch_action = next(a for a in win.actions_.engine_group.actions() if a.data() == "torch")
    assert not torch_action.isEnabled() and "PyTorch is not installed" in torch_action.text()
    win._set_state(win.state)  # enabling the idle actions never enables it
    assert not torch_action.isEnabled()


def test_a_saved_engine_that_cannot_run_never_blocks_the_start(qtbot, settings, monkeypatch) -> None:  # noqa: ANN001
    import llada_studio.core.engine
    from llada_studio.app.window import MainWindow

    monkeypatch.setattr(
        llada_studio.core.engine, "engine_unavailable_reason", lambda kind: "gone" if kind == "torch" else None
    )
    settings.setValue("engine", "torch")
    settings.setValue("threads", 100_000)  # a hand-edited count must not hang the start
    win = MainWindow(settings=settings, autoload=False)
    try:
        assert win.engine_kind == "auto" and win.threads is None
    finally:
        win.close()


def test_a_failed_engine_choice_is_not_saved_and_another_choice_reloads(qtbot, make_window, tiny_ckpt, settings,
                                                                         monkeypatch) -> None:  # noqa: ANN001
    import llada_studio.core.session

    win = make_window(tiny_ckpt)
    win.dialogs = False
    assert settings.value("engine") == "torch"
    real_open = llada_studio.core.session.Session.open.__func__

    def failing_open(cls, model_dir=None, engine="auto", **kw):  # noqa: ANN001, ANN202
        if engine == "cpp":
            raise EngineUnavailableError("the C++ engine is broken here")
        return real_open(cls, model_dir, engine=engine, **kw)

    monkeypatch.setattr(llada_studio.core.session.Session, "open", classmethod(failing_open))
    cpp = next(a for a in win.actions_.engine_group.actions() if a.data() == "cpp")
    with qtbot.waitSignal(win.loadFailed, timeout=30_000):
        cpp.trigger()
    assert settings.value("engine") == "torch" and win.engine_kind == "torch"
    assert next(a for a in win.actions_.engine_group.actions() if a.isChecked()).data() == "torch"
    auto = next(a for a in win.actions_.engine_group.actions() if a.data() == "auto")
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000):
        auto.trigger()  # a change always reloads
    assert settings.value("engine") == "auto"


def test_loading_another_model_clears_the_old_run(qtbot, make_window, tiny_ckpt, plain_ckpt) -> None:  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    win.controls.set_params(SMALL)
    _run(qtbot, win)
    assert win.copy_button.isEnabled() and win.scrubber.maximum() == 16
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000):
        win.open_model(str(plain_ckpt))
    assert win.outcome is None and win.scrub_label.text() == "step 0 / 0" and win.scrubber.maximum() == 0
    assert not win.copy_button.isEnabled() and not win.export_button.isEnabled()
    assert not win.act_copy.isEnabled() and win.status_speed.text() == "" and win.status_step.text() == ""


def test_tab_leaves_the_prompt_and_the_window_has_a_minimum_size(qtbot, make_window) -> None:  # noqa: ANN001
    win = make_window()
    win.prompt.setPlainText("abc")
    assert win.prompt.tabChangesFocus()
    qtbot.keyClick(win.prompt, Qt.Key.Key_Tab)
    assert "\t" not in win.prompt.toPlainText()
    win.resize(480, 360)
    assert win.width() >= 760 and win.height() >= 520
    assert win.canvas_scroll.focusPolicy() == Qt.FocusPolicy.NoFocus  # no focus stop without an indicator
    assert win.controls_scroll.focusPolicy() == Qt.FocusPolicy.NoFocus


def test_chat_mode_says_send_and_keeps_the_two_prompts_apart(qtbot, make_window, tiny_ckpt,
                                                             plain_ckpt) -> None:  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    win.prompt.setPlainText("It was a dark and stormy night")
    assert win.generate_button.text() == "Generate" and not win.act_new_chat.isEnabled()
    win.chat_mode.setChecked(True)
    assert win.generate_button.text() == "Send" and win.prompt.toPlainText() == ""
    assert win.act_new_chat.isEnabled()
    win.controls.set_params(SMALL)
    _run(qtbot, win, "hello")  # after a chat turn the window still says Send and offers New chat
    assert win.generate_button.text() == "Send" and win.new_chat_button.isVisible() and win.act_new_chat.isEnabled()
    win.chat_mode.setChecked(False)
    assert win.prompt.toPlainText() == "It was a dark and stormy night"
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000):
        win.open_model(str(plain_ckpt))  # no chat template: no chat, no New chat
    assert not win.chat_mode.isEnabled() and not win.act_new_chat.isEnabled()
    assert not win.new_chat_button.isVisible()


def test_a_new_seed_per_run_unless_kept_and_regenerate(qtbot, make_window, tiny_ckpt) -> None:  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    win.controls.set_params(SMALL)
    assert not win.controls.seed_lock.isChecked()  # the default: a new seed each time
    seeds = {_run(qtbot, win).request.params.seed for _ in range(3)}
    assert len(seeds) > 1
    assert win.controls.preset.currentText() == "Custom"  # SMALL is no preset; the seeds changed nothing
    win.controls.seed_lock.setChecked(True)
    kept = {_run(qtbot, win).request.params.seed for _ in range(2)}
    assert len(kept) == 1
    last = win.outcome
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        assert win.regenerate()
    again = blocker.args[0]
    assert again.request.prompt == last.request.prompt and again.request.params.seed != last.request.params.seed


def test_first_launch_shows_balanced_and_hides_the_expert_settings(make_window) -> None:  # noqa: ANN001
    win = make_window()
    c = win.controls
    assert c.preset.currentText() == "Balanced"
    assert not c.advanced.isVisible() and not c.advanced_toggle.isChecked()
    for w in (c.decoding, c.threshold, c.factor, c.cache, c.logits_eos_inf, c.confidence_eos_eot_inf):
        assert c.advanced.isAncestorOf(w)
    c.advanced_toggle.click()
    assert c.advanced.isVisible()


def test_wording_counts_one_step_and_one_thread(make_window) -> None:  # noqa: ANN001
    win = make_window()
    win.controls.set_params(dict(gen_length=16, block_length=16, max_steps=16))
    win.controls.max_steps.setValue(1)
    assert win.controls.summary.text().startswith("1 block of 16 tokens, 1 step each · 16 tokens per step")


@pytest.mark.skipif(not (bundled_model_dir() / "config.json").is_file(), reason="bundled model not installed")
def test_the_bundled_model_explains_itself_with_examples_and_its_caveat(qtbot, make_window) -> None:  # noqa: ANN001
    win = make_window()
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000):
        win.open_model(None)
    b = win.banner
    assert b.isVisible() and "does not chat" in b.text.text() and "racial terms" in b.text.text()
    assert b.examples.count() > 3
    b.examples.activated.emit(2)
    assert win.prompt.toPlainText() == b.examples.itemText(2) and b.examples.currentIndex() == 0
    assert "1 thread" in win.about_text() and "1 threads" not in win.about_text()


def test_a_bad_parameter_is_named_by_its_label(qtbot, make_window, tiny_ckpt) -> None:  # noqa: ANN001
    """Errors use the label the user sees ("Length"), not the field name (gen_length)."""
    from llada_studio.app.worker import GenerationRequest

    win = make_window(tiny_ckpt)
    win.dialogs = False
    params = GenerationParams(gen_length=1024, block_length=1024, max_steps=1024)
    request = GenerationRequest(run_id=win._run_id, prompt="hello " * 40, params=params)
    with qtbot.waitSignal(win.runFailed, timeout=30_000) as blocker:
        win.host.generate(request)
    message = blocker.args[0].message
    assert "“Length”" in message and "gen_length" not in message


def test_a_drawn_seed_keeps_the_preset(qtbot, make_window, tiny_ckpt) -> None:  # noqa: ANN001
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    win.controls.apply_preset("Fast")
    _run(qtbot, win)
    assert win.controls.preset.currentText() == "Fast"


def test_a_corrupted_settings_file_is_reset_with_a_message(qtbot, tmp_path) -> None:  # noqa: ANN001
    from PySide6.QtCore import QSettings

    from llada_studio.app.window import MainWindow

    path = tmp_path / "settings.ini"
    path.write_bytes(b"[General]\nthreads=\xff\xfe\x00garbage\n[params\nseed=\"unterminated\n\x00\x01")
    s = QSettings(str(path), QSettings.Format.IniFormat)
    win = MainWindow(settings=s, autoload=False, engine="torch")
    try:
        assert win.threads is None
        assert "could not be read and was reset" in win.statusBar().currentMessage()
        assert (tmp_path / "settings.ini.corrupt").read_bytes().endswith(b"\x00\x01")  # the old file kept
    finally:
        win.close()


def test_a_last_model_that_no_longer_opens_falls_back_to_the_bundled_one(qtbot, settings, tmp_path) -> None:  # noqa: ANN001
    from llada_studio.app.window import MainWindow

    if not (bundled_model_dir() / "config.json").is_file():
        pytest.skip("bundled model not installed")
    broken = tmp_path / "moved-model"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json", encoding="utf-8")
    settings.setValue("model_dir", str(broken))
    win = MainWindow(settings=settings, autoload=False, engine="torch", threads=1)
    qtbot.addWidget(win)
    win.dialogs = False
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000) as blocker:
        win._autoload(None)
    assert blocker.args[0].name == bundled_model_dir().name
    assert settings.value("model_dir") is None


def test_bad_saved_parameters_are_snapped_to_valid_ones(qtbot, settings) -> None:  # noqa: ANN001
    """The window's path for bad values: settings from a damaged or hand-edited file."""
    from llada_studio.app.window import MainWindow

    for key, value in {"max_steps": -5, "gen_length": 10**9, "temperature": "nan", "cfg_scale": -3,
                       "remasking": "zzz", "seed": str(2**70), "threshold": 7, "factor": "x", "cache": 5}.items():
        settings.setValue(f"params/{key}", value)
    win = MainWindow(settings=settings, autoload=False, engine="torch")
    qtbot.addWidget(win)
    p = win.controls.params()  # valid by construction, or this raises
    assert p.max_steps >= 1 and p.gen_length <= 1024 and p.remasking in ("low_confidence", "random", "margin",
                                                                          "entropy")
    assert 0 <= p.seed < 2**31


def test_devices_are_listed_with_the_reason_and_a_gpu_failure_falls_back_to_the_cpu(
        qtbot, settings, tiny_ckpt) -> None:  # noqa: ANN001
    import torch

    from llada_studio.app.window import MainWindow

    settings.setValue("device", "cuda:0")  # saved on a machine with a GPU, or the GPU is gone
    settings.setValue("model_dir", str(tiny_ckpt))
    win = MainWindow(settings=settings, autoload=False, engine="torch", threads=1)
    qtbot.addWidget(win)
    win.dialogs = False
    win.actions_.fill_devices()
    actions = {a.data(): a for a in win.actions_.device_group.actions()}
    assert actions["cpu"].isEnabled()
    if not torch.cuda.is_available():
        gpu = next(a for d, a in actions.items() if d.startswith("cuda"))
        assert not gpu.isEnabled() and "CUDA" in gpu.text()
        with qtbot.waitSignal(win.modelLoaded, timeout=60_000) as blocker:
            win._autoload(None)  # the saved GPU fails; the same model opens on the CPU
        assert blocker.args[0].device == "cpu" and win.device == "cpu" and settings.value("device") == "cpu"
