"""The window's model part (app/window_models.py): what it opens, reloads and remembers, and the
fallbacks when a model does not open."""

import json

import pytest
from PySide6.QtGui import QAction

from llada_studio.app.window_base import UiState
from llada_studio.app.worker import model_exists


def test_a_second_load_waits_for_the_first(qtbot, make_window, tiny_ckpt, plain_ckpt) -> None:  # noqa: ANN001
    win = make_window()
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000) as blocker:
        win.open_model(str(tiny_ckpt))
        assert win.state == UiState.LOADING
        win.open_model(str(plain_ckpt))  # refused while loading: never two loads at once
    assert blocker.args[0].name == tiny_ckpt.name and win.state == UiState.READY
    assert win.settings.value("model_dir") == str(tiny_ckpt)


def test_a_thread_count_chosen_reloads_the_model_and_is_kept(qtbot, make_window, tiny_ckpt) -> None:  # noqa: ANN001
    win = make_window(tiny_ckpt)
    action = QAction("2", win)
    action.setData(2)
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000) as blocker:
        win._on_threads_chosen(action)
    assert blocker.args[0].threads == 2 and blocker.args[0].name == tiny_ckpt.name
    assert win.threads == 2 and int(win.settings.value("threads")) == 2


def test_an_address_without_a_scheme_is_http_and_a_dead_server_is_a_clear_failure(qtbot, make_window) -> None:  # noqa: ANN001
    win = make_window()
    win.dialogs = False
    with qtbot.waitSignal(win.loadFailed, timeout=30_000) as blocker:
        win.connect_server("127.0.0.1:9")  # nothing listens there
    failure = blocker.args[0]
    assert failure.path == "http://127.0.0.1:9" and failure.kind == "remote"
    assert win.state == UiState.EMPTY and win.model is None
    assert win.settings.value("remote_url") is None  # only a server that answered is remembered


@pytest.mark.skipif(not model_exists(None), reason="the bundled model is not installed here")
def test_a_last_model_that_no_longer_opens_gives_way_to_the_bundled_one(qtbot, make_window, tmp_path) -> None:  # noqa: ANN001
    broken = tmp_path / "moved-model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "llada"}))  # a folder, but no checkpoint
    win = make_window()
    win.dialogs = False
    win.settings.setValue("model_dir", str(broken))
    failures: list[str] = []
    win.loadFailed.connect(lambda f: failures.append(f.path))
    with qtbot.waitSignal(win.modelLoaded, timeout=120_000) as blocker:
        win._autoload(None)
    assert len(failures) == 1 and failures[0].startswith(str(broken))  # quietly: the start is no dialog
    assert blocker.args[0].name == "llada-studio-tiny"
    assert win.settings.value("model_dir") is None  # the bundled model is the default, not saved
    # The status bar still says why this is not the model of the last session (it was replaced by
    # a bare "Loaded ..." before).
    message = win.statusBar().currentMessage()
    assert message.startswith("Loaded llada-studio-tiny")
    assert str(broken) in message and "could not be opened" in message
