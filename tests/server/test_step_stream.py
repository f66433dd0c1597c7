"""The diffusion step stream read with a plain SSE reader (httpx), and a client that leaves
stopping its compute."""

from __future__ import annotations

import json
import time

import httpx

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


def test_a_stream_client_that_leaves_stops_the_engine_within_a_step(server_model):
    with serving(server_model, delay=0.02) as served:
        body = {"model": MODEL, "prompt": "hello", "stream": True, "stream_steps": True}
        body |= {"max_tokens": 128, "steps": 128, "block_length": 8}  # 128 steps x 20 ms: 2.6 s
        with httpx.stream("POST", served.base + "/completions", json=body, timeout=30) as response:
            lines = response.iter_lines()
            seen = 0
            for line in lines:
                seen += line.startswith("data: ")
                if seen == 3:
                    break
        left = time.monotonic()
        wait_for(lambda: served.session.results)
        stopped = time.monotonic() - left
        batch, result = served.session.results[0]
        assert result.cancelled and batch == 1
        assert len(result.trajectory) < 20, len(result.trajectory)  # stopped after a step or two, not 128
        assert stopped < 1.0
        assert served.state.scheduler.stats.cancelled_batches == 1


def test_a_waiting_client_that_leaves_stops_the_engine(server_model):
    with serving(server_model, delay=0.02) as served:
        body = {"model": MODEL, "prompt": "hello", "max_tokens": 128, "steps": 128, "block_length": 8}
        try:
            httpx.post(served.base + "/completions", json=body, timeout=0.5)
        except httpx.TimeoutException:
            pass
        else:
            raise AssertionError("the request was meant to outlast the client's patience")
        wait_for(lambda: served.session.results)
        _batch, result = served.session.results[0]
        assert result.cancelled and len(result.trajectory) < 64
        # The server is still there for the next client.
        again = httpx.post(served.base + "/completions", json={"model": MODEL, "prompt": "hi", **QUICK}, timeout=30)
        assert again.status_code == 200
