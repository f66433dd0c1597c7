"""The window as a client: Connect to server… drives a `llada-studio serve` engine with the same
canvas, controls and Stop; the status bar says where it runs."""

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from llada_studio.core.server import create_app  # noqa: E402
from llada_studio.core.server.runner import BackgroundServer  # noqa: E402
from llada_studio.core.session import Session  # noqa: E402

SMALL = dict(gen_length=32, block_length=16, max_steps=16, temperature=0.0, cfg_scale=0.0,
             remasking="low_confidence", seed=0)


@pytest.fixture(scope="module")
def served(tiny_ckpt):  # noqa: ANN001, ANN201
    session = Session.open(tiny_ckpt, engine="torch", threads=1)
    app = create_app(session, api_key="sesame", gather_s=0.0)
    with BackgroundServer(app, api_key="sesame") as url:
        yield url, session


def test_a_remote_run_streams_into_the_canvas_like_a_local_one(qtbot, make_window, served) -> None:  # noqa: ANN001
    url, session = served
    win = make_window()
    with qtbot.waitSignal(win.modelLoaded, timeout=30_000) as blocker:
        win.connect_server(url, "sesame")
    info = blocker.args[0]
    assert info.remote and "server 127.0.0.1" in win.status_engine.text()
    win.chat_mode.setChecked(False)
    win.controls.set_params(SMALL)
    win.controls.seed_lock.setChecked(True)
    win.prompt.setPlainText("hello world the")
    steps: list[int] = []
    win.stepShown.connect(lambda u: steps.append(u.event.step))
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as done:
        assert win.generate()
    outcome = done.args[0]
    assert steps == list(range(1, 17)) and win.canvas.visible_token_count() == 32
    from llada_studio.core.params import GenerationParams

    local = session.generate_ids([session.encode("hello world the")], GenerationParams(**SMALL))
    assert outcome.result.generated_ids == local.generated_ids  # the same tokens as a local run
    assert win.settings.value("model_dir") is None  # a server is not remembered as the model


def test_a_wrong_key_or_no_server_is_a_clear_failure(qtbot, make_window, served) -> None:  # noqa: ANN001
    url, _ = served
    win = make_window()
    win.dialogs = False
    with qtbot.waitSignal(win.loadFailed, timeout=30_000) as blocker:
        win.connect_server(url, "wrong")
    assert "401" in blocker.args[0].problem or "key" in blocker.args[0].problem.lower()
    with qtbot.waitSignal(win.loadFailed, timeout=30_000) as blocker:
        win.connect_server("http://127.0.0.1:9")  # nothing listens there
    assert "cannot reach" in blocker.args[0].problem
