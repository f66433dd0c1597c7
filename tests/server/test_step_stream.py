"""The diffusion step stream read with a plain SSE reader (httpx), and a client that leaves
stopping its compute."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import QUICK, serving, wait_for

MODEL = "tiny-server"


def read_events(response: httpx.Response) -> list[dict | str]:
    """Server-sent events: each `data:` line's JSON, and the final '[DONE]'."""
    events: list[dict | str] = []
    for line in response.iter_lines():
        if not line.startswith("data: "):
            assert line == "", line  # only data lines and the blank lines between events
            continue
        data = line[len("data: ") :]
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_every_step_is_an_event_that_rebuilds_the_canvas(server):
    body = {"model": MODEL, "prompt": "hello world", "stream": True, "stream_steps": True, **QUICK}
    with httpx.stream("POST", server.base + "/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events[:-1] if isinstance(e, dict)]
    steps = [c["diffusion_step"] for c in chunks if "diffusion_step" in c]
    assert [s["step"] for s in steps] == list(range(1, 17))
    assert all(s["total_steps"] == 16 and s["num_blocks"] == 2 for s in steps)
    mask = server.session.checkpoint.mask_id
    canvas = [mask] * 16
    for s in steps:
        assert len(s["positions"]) == len(s["tokens"]) == len(s["texts"]) == len(s["confidences"])
        assert all(0.0 <= c <= 1.0 for c in s["confidences"])
        assert s["texts"] == server.session.tokenizer.token_texts(s["tokens"])
        for p, t in zip(s["positions"], s["tokens"]):
            assert canvas[p] == mask  # a revealed position is never revealed again
            canvas[p] = t
    final = chunks[-1]["diffusion"]
    assert canvas == final["generated_ids"]
    assert "".join(c["choices"][0]["text"] for c in chunks) == server.session.decode(canvas)


def test_chat_step_stream(server):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True, "stream_steps": True}
    body |= QUICK
    with httpx.stream("POST", server.base + "/chat/completions", json=body, timeout=30) as response:
        events = read_events(response)
    chunks = [e for e in events if isinstance(e, dict)]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert sum("diffusion_step" in c for c in chunks) == 16 and events[-1] == "[DONE]"


def test_stream_steps_needs_stream(server):
    body = {"model": MODEL, "prompt": "hi", "stream_steps": True, **QUICK}
    response = httpx.post(server.base + "/completions", json=body, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["param"] == "stream_steps"


def _left(served) -> bool:
    """The engine is held (gate closed) on a batch whose every client has left."""
    running = served.state.scheduler.running
    return bool(running) and all(job.cancelled for job in running)


LONG = {"max_tokens": 128, "steps": 128, "block_length": 8}


def test_a_stream_client_that_leaves_stops_the_engine_within_a_step(server_model):
    with serving(server_model) as served:
        served.session.gate.clear()  # the engine holds after its first step until we let it go
        body = {"model": MODEL, "prompt": "hello", "stream": True, "stream_steps": True, **LONG}
        with httpx.stream("POST", served.base + "/completions", json=body, timeout=30) as response:
            assert response.status_code == 200
            wait_for(lambda: served.state.scheduler.busy)
        wait_for(lambda: _left(served))  # the server noticed the closed connection
        served.session.gate.set()
        wait_for(lambda: served.session.results)
        batch, result = served.session.results[0]
        # The step that was running when the client left is the last: no further forward pass.
        assert result.cancelled and batch == 1 and len(result.trajectory) == 1
        assert served.state.scheduler.stats.cancelled_batches == 1


def test_a_waiting_client_that_leaves_stops_the_engine(server_model):
    with serving(server_model) as served:
        served.session.gate.clear()
        with pytest.raises(httpx.TimeoutException):
            httpx.post(served.base + "/completions", json={"model": MODEL, "prompt": "hello", **LONG}, timeout=0.5)
        wait_for(lambda: _left(served))
        served.session.gate.set()
        wait_for(lambda: served.session.results)
        _batch, result = served.session.results[0]
        assert result.cancelled and len(result.trajectory) == 1
        # The server is still there for the next client.
        again = httpx.post(served.base + "/completions", json={"model": MODEL, "prompt": "hi", **QUICK}, timeout=30)
        assert again.status_code == 200


def test_a_client_leaving_a_shared_batch_stops_only_its_events(server_model):
    with serving(server_model) as served:
        served.session.gate.clear()
        body = {"model": MODEL, "prompt": "hello", "stream": True, "stream_steps": True, **QUICK}
        with httpx.Client(base_url=served.base, timeout=30) as http:
            blocker = http.build_request("POST", "/completions", json=body | {"steps": 2})
            first = http.send(blocker, stream=True)
            wait_for(lambda: served.state.scheduler.busy)
            leaving = http.send(http.build_request("POST", "/completions", json=body), stream=True)
            with httpx.Client(base_url=served.base, timeout=30) as other:
                staying = other.send(other.build_request("POST", "/completions", json=body), stream=True)
                wait_for(lambda: served.state.scheduler.waiting == 2)
                served.session.gate.set()
                first.read()
                first.close()
                lines = leaving.iter_lines()
                next(line for line in lines if line.startswith("data: "))
                leaving.close()  # one of the two rows leaves after its first event
                events = [line for line in staying.iter_lines() if line.startswith("data: ")]
                staying.close()
        assert events[-1] == "data: [DONE]"
        assert sum('"diffusion_step"' in e for e in events) == 16  # the other row ran to its end
        assert [n for n, _ in served.session.results] == [1, 2]
        assert not served.session.results[1][1].cancelled
