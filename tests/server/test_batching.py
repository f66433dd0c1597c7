"""Requests that arrive together run as one padded batch; a bounded load test with concurrent
clients: every response complete, none lost, the server still answers afterwards."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import QUICK, serving

MODEL = "tiny-server"


def _post(base: str, body: dict) -> httpx.Response:
    return httpx.post(base + "/completions", json=body, timeout=60)


def test_requests_that_arrive_together_share_a_batch(server_model):
    # Each step is slowed so the first request is still running when the others arrive.
    with serving(server_model, delay=0.01, max_batch=4) as served:
        prompts = ["hello", "hello world of words", "a", "more words here too", "x", "y"]
        with ThreadPoolExecutor(len(prompts)) as pool:
            answers = list(pool.map(lambda p: _post(served.base, {"model": MODEL, "prompt": p, **QUICK}), prompts))
        assert all(a.status_code == 200 for a in answers)
        sizes = [a.json()["diffusion"]["batch_size"] for a in answers]
        assert max(sizes) > 1 and max(sizes) <= 4, sizes
        assert sum(served.session.results[i][0] for i in range(len(served.session.results))) == len(prompts)
        # Greedy: a row's answer does not depend on its batch (left padding is masked out).
        for prompt, answer in zip(prompts, answers):
            solo = _post(served.base, {"model": MODEL, "prompt": prompt, **QUICK}).json()
            assert solo["diffusion"]["batch_size"] == 1
            assert solo["diffusion"]["generated_ids"] == answer.json()["diffusion"]["generated_ids"]


def test_different_params_do_not_share_a_batch(server_model):
    with serving(server_model, delay=0.01) as served:
        bodies = [{"model": MODEL, "prompt": "hi", **QUICK, "steps": s} for s in (16, 8, 16, 8)]
        with ThreadPoolExecutor(4) as pool:
            answers = [a.json() for a in pool.map(lambda b: _post(served.base, b), bodies)]
        for body, answer in zip(bodies, answers):
            assert answer["diffusion"]["steps"] == body["steps"]
        assert sorted(n for n, _ in served.session.results) == [2, 2]


def test_unseeded_requests_batch_seeded_ones_keep_their_seed(server_model):
    with serving(server_model, delay=0.01) as served:
        warm = {"model": MODEL, "prompt": "hi", **QUICK, "temperature": 1.0}
        bodies = [warm, warm, warm | {"seed": 7}, warm | {"seed": 7}]
        with ThreadPoolExecutor(4) as pool:
            answers = [a.json()["diffusion"] for a in pool.map(lambda b: _post(served.base, b), bodies)]
        assert answers[2]["seed"] == answers[3]["seed"] == 7
        assert all(0 <= a["seed"] < 2**64 for a in answers[:2])


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
        assert not served.state.scheduler.busy and served.state.scheduler.waiting == 0
        assert httpx.get(served.base + "/models", timeout=10).status_code == 200
        assert _post(served.base, {"model": MODEL, "prompt": "after", **QUICK}).status_code == 200
