"""Requests that arrive together run as one padded batch; a bounded load test with concurrent
clients: every response complete, none lost, the server still answers afterwards."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import QUICK, Served, serving, wait_for

MODEL = "tiny-server"


def _post(base: str, body: dict) -> httpx.Response:
    return httpx.post(base + "/completions", json=body, timeout=60)


def _together(served: Served, bodies: list[dict]) -> list[dict]:
    """Send `bodies` while a first request holds the engine, so that they all wait together
    (whatever the machine's load), then let it go: the answers, in order, and the blocker's."""
    served.session.gate.clear()
    with ThreadPoolExecutor(len(bodies) + 1) as pool:
        blocker = pool.submit(_post, served.base, {"model": MODEL, "prompt": "first", **QUICK, "steps": 2})
        wait_for(lambda: served.state.scheduler.busy)
        answers = [pool.submit(_post, served.base, b) for b in bodies]
        wait_for(lambda: served.state.scheduler.waiting == len(bodies))
        served.session.gate.set()
        out = [a.result().json() for a in answers]
        assert blocker.result().status_code == 200
    del served.session.results[0]  # the blocker's batch
    return out


def test_requests_that_arrive_together_share_a_batch(server_model):
    with serving(server_model, max_batch=4) as served:
        prompts = ["hello", "hello world of words", "a", "more words here too", "x", "y"]
        answers = _together(served, [{"model": MODEL, "prompt": p, **QUICK} for p in prompts])
        assert sorted(a["diffusion"]["batch_size"] for a in answers) == [2, 2, 4, 4, 4, 4]
        assert [n for n, _ in served.session.results] == [4, 2]
        # Greedy: a row's answer does not depend on its batch (left padding is masked out).
        for prompt, answer in zip(prompts, answers):
            solo = _post(served.base, {"model": MODEL, "prompt": prompt, **QUICK}).json()
            assert solo["diffusion"]["batch_size"] == 1
            assert solo["diffusion"]["generated_ids"] == answer["diffusion"]["generated_ids"]


def test_different_params_do_not_share_a_batch(server_model):
    with serving(server_model) as served:
        bodies = [{"model": MODEL, "prompt": "hi", **QUICK, "steps": s} for s in (16, 8, 16, 8)]
        answers = _together(served, bodies)
        assert [a["diffusion"]["steps"] for a in answers] == [16, 8, 16, 8]
        assert [a["diffusion"]["batch_size"] for a in answers] == [2, 2, 2, 2]
        assert [n for n, _ in served.session.results] == [2, 2]


def test_unseeded_requests_batch_seeded_ones_keep_their_seed(server_model):
    with serving(server_model) as served:
        warm = {"model": MODEL, "prompt": "hi", **QUICK, "temperature": 1.0}
        answers = [a["diffusion"] for a in _together(served, [warm, warm, warm | {"seed": 7}, warm | {"seed": 7}])]
        assert answers[2]["seed"] == answers[3]["seed"] == 7
        assert answers[0]["seed"] == answers[1]["seed"] and 0 <= answers[0]["seed"] < 2**64
        assert [a["batch_size"] for a in answers] == [2, 2, 2, 2]


@pytest.mark.timeout(120)
def test_load_concurrent_clients_all_complete(server_model):
    clients, per_client = 8, 3  # bounded: 24 requests in all
    with serving(server_model, max_batch=4, max_queue=16) as served:

        def session(i: int) -> list[dict]:
            out = []
            with httpx.Client(base_url=served.base, timeout=60) as http:
                for k in range(per_client):
                    body = {"model": MODEL, "prompt": f"client {i} request {k}", **QUICK, "seed": i * 10 + k}
                    if k == 1:  # a streamed one among them
                        with http.stream("POST", "/completions", json=body | {"stream": True}) as r:
                            assert r.status_code == 200
                            lines = [line for line in r.iter_lines() if line.startswith("data: ")]
                        assert lines[-1] == "data: [DONE]"
                        out.append({"streamed": True, "events": len(lines)})
                    else:
                        r = http.post("/completions", json=body)
                        assert r.status_code == 200, r.text
                        out.append(r.json())
            return out

        with ThreadPoolExecutor(clients) as pool:
            results = [r for rs in pool.map(session, range(clients)) for r in rs]
        assert len(results) == clients * per_client
        for r in results:
            if "streamed" in r:
                assert r["events"] >= 2
            else:
                assert r["choices"][0]["finish_reason"] in ("stop", "length")
                assert len(r["diffusion"]["generated_ids"]) == 16
        assert served.state.scheduler.stats.rows == clients * per_client
        wait_for(lambda: not served.state.scheduler.busy and served.state.scheduler.waiting == 0)
        assert httpx.get(served.base + "/models", timeout=10).status_code == 200
        assert _post(served.base, {"model": MODEL, "prompt": "after", **QUICK}).status_code == 200
