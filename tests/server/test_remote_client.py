"""llada_studio.core.server.client: the window's way to a remote engine gives the same events and result as
a local generation, stops within a step, and reports the server's errors."""

from __future__ import annotations

import pytest

from llada_studio.core.events import CancelToken
from llada_studio.core.params import GenerationParams
from llada_studio.core.server.client import RemoteClient, RemoteError
from llada_studio.core.server.runner import free_port
from llada_studio.core.session import MASK_PLACEHOLDER

from .conftest import serving, wait_for

PARAMS = GenerationParams(max_steps=16, gen_length=16, block_length=8, temperature=0.0, seed=5)


def test_remote_matches_local(server):
    client = RemoteClient(server.url, timeout=10)
    info = client.model()
    assert info.id == "tiny-server" and info.chat and info.mask_id == server.session.checkpoint.mask_id
    events = []

    def on_step(event):  # the texts of a step's tokens are there when the step arrives
        assert all(client.token_texts(event.tokens[0]))
        events.append(event)

    run = client.generate("hello world", PARAMS, on_step=on_step)
    local = server.session.generate_ids([server.session.encode("hello world")], PARAMS)
    assert run.result.generated_ids == local.generated_ids and not run.result.cancelled
    assert run.result.texts == local.texts
    assert [e.positions for e in events] == [e.positions for e in local.trajectory]
    assert [e.tokens for e in run.result.trajectory] == [e.tokens for e in local.trajectory]
    assert run.prompt_ids == tuple(server.session.encode("hello world")) and run.seed == 5
    assert all(run.token_texts[t] == server.session.tokenizer.token_texts([t])[0] for t in run.token_texts)
    # Token ids in, and a chat turn.
    by_ids = client.generate(server.session.encode("hello world"), PARAMS)
    assert by_ids.result.generated_ids == local.generated_ids
    chat = client.generate("hi", PARAMS, chat=True)
    assert chat.prompt_ids == tuple(server.session.encode("hi", chat=True))
    client.close()


def test_remote_stop_within_a_step(server_model):
    with serving(server_model, delay=0.02) as served:
        client = RemoteClient(served.url)
        cancel = CancelToken()
        params = GenerationParams(max_steps=128, gen_length=128, block_length=8, temperature=0.0)

        def on_step(event):
            if event.step == 2:
                cancel.cancel()

        run = client.generate("hello", params, on_step=on_step, cancel=cancel)
        assert run.result.cancelled and len(run.result.trajectory) == 2
        assert MASK_PLACEHOLDER in run.result.texts[0]
        stopped = client.generate("hello", params, on_step=lambda e: e.step < 3)
        assert stopped.result.cancelled and len(stopped.result.trajectory) == 3
        # The server noticed both and stopped its compute.
        wait_for(lambda: len(served.session.results) == 2)
        assert all(r.cancelled and len(r.trajectory) < 64 for _n, r in served.session.results)  # of 128


def test_remote_errors(server_model):
    with serving(server_model, api_key="k") as served:
        with pytest.raises(RemoteError) as err:
            RemoteClient(served.url, api_key="nope").model()
        assert err.value.status == 401 and err.value.code == "invalid_api_key"
        client = RemoteClient(served.url + "/v1/", api_key="k")
        with pytest.raises(RemoteError) as err:
            client.generate("hi", PARAMS.with_(gen_length=512, max_steps=64, block_length=8))
        assert err.value.status == 413 and err.value.code == "context_length_exceeded"
    with pytest.raises(RemoteError) as err:
        RemoteClient(f"http://127.0.0.1:{free_port()}", timeout=2).model()
    assert err.value.status == 0 and "cannot reach" in err.value.message
