"""The official `openai` client against a real server: models, completions, chat, streaming,
errors in OpenAI's shape, the API key."""

from __future__ import annotations

import threading

import httpx
import pytest

from .conftest import CONTEXT, QUICK, serving, wait_for

openai = pytest.importorskip("openai")

MODEL = "tiny-server"


def test_models(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    info = models.data[0].model_extra["llada"]
    assert info["max_sequence_length"] == CONTEXT and info["chat"] is True and "engine" in info
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")


def test_completion(client):
    out = client.completions.create(model=MODEL, prompt="hello world", seed=3, extra_body=QUICK)
    choice = out.choices[0]
    assert out.object == "text_completion" and out.model == MODEL
    assert isinstance(choice.text, str) and choice.finish_reason in ("stop", "length")
    diffusion = out.model_extra["diffusion"]
    assert len(diffusion["generated_ids"]) == 16 and diffusion["steps"] == 16 and diffusion["seed"] == 3
    assert diffusion["params"]["max_steps"] == 16 and diffusion["params"]["block_length"] == 8
    assert out.usage.prompt_tokens == len(diffusion["prompt_ids"])
    assert out.usage.completion_tokens <= 16
    # Greedy and seeded: the same request gives the same answer.
    again = client.completions.create(model=MODEL, prompt="hello world", seed=3, extra_body=QUICK)
    assert again.choices[0].text == choice.text


def test_completion_from_token_ids(client, server):
    ids = server.session.encode("hello world")
    by_ids = client.completions.create(model=MODEL, prompt=ids, extra_body=QUICK)
    by_text = client.completions.create(model=MODEL, prompt="hello world", extra_body=QUICK)
    assert by_ids.choices[0].text == by_text.choices[0].text  # temperature 0: the seed is irrelevant


def test_chat(client, server):
    out = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=16,
        temperature=0,
        extra_body={"steps": 8},
    )
    assert out.object == "chat.completion"
    assert out.choices[0].message.role == "assistant" and isinstance(out.choices[0].message.content, str)
    diffusion = out.model_extra["diffusion"]
    assert diffusion["prompt_ids"] == server.session.encode("hello", chat=True)
    assert diffusion["params"]["max_steps"] == 8 and diffusion["params"]["gen_length"] == 16


def test_streaming_completion_adds_up_to_the_answer(client):
    whole = client.completions.create(model=MODEL, prompt="hello world", extra_body=QUICK)
    chunks = list(client.completions.create(model=MODEL, prompt="hello world", stream=True, extra_body=QUICK))
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert chunks[-1].model_extra["diffusion"]["generated_ids"] == whole.model_extra["diffusion"]["generated_ids"]
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_streaming_chat_with_usage(client):
    messages = [{"role": "user", "content": "hi"}]
    kwargs = dict(model=MODEL, messages=messages, max_tokens=16, temperature=0, extra_body={"steps": 16})
    whole = client.chat.completions.create(**kwargs)
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_stop_strings(client):
    whole = client.completions.create(model=MODEL, prompt="hello world", extra_body=QUICK).choices[0].text
    words = whole.split()
    assert len(words) >= 3, whole
    stop = " " + words[2]
    cut = client.completions.create(model=MODEL, prompt="hello world", stop=[stop], extra_body=QUICK).choices[0]
    assert cut.text == whole[: whole.find(stop)] and cut.finish_reason == "stop"
    streamed = client.completions.create(model=MODEL, prompt="hello world", stop=stop, stream=True, extra_body=QUICK)
    assert "".join(c.choices[0].text for c in streamed) == cut.text


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"max_tokens": 16, "block_length": 5}, "block_length"),  # 5 does not divide 16
        ({"max_tokens": 16, "steps": 3}, "steps"),  # not a multiple of the 2 blocks
        ({"remasking": "sideways"}, "remasking"),
        ({"temperature": -1}, "temperature"),
        ({"stepz": 4}, "stepz"),  # a misspelt diffusion parameter is not silently ignored
        ({"steps": "four"}, "steps"),
        ({"n": 2}, "n"),
        ({"cfg_scale": True}, "cfg_scale"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(client, extra, param):
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=MODEL, prompt="hello", extra_body=extra)
    assert err.value.status_code == 400
    body = err.value.body
    assert body["param"] == param and body["type"] == "invalid_request_error" and body["message"]


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.completions.create(model="gpt-4", prompt="hello", extra_body=QUICK)
    assert err.value.body["code"] == "model_not_found" and MODEL in err.value.body["message"]


def test_too_long_is_413(client):
    with pytest.raises(openai.APIStatusError) as err:
        client.completions.create(model=MODEL, prompt="hello " * 200, max_tokens=128, extra_body={"steps": 16})
    assert err.value.status_code == 413 and err.value.body["code"] == "context_length_exceeded"


def test_api_key(server_model):
    with serving(server_model, api_key="s3cret") as served:
        good = openai.OpenAI(base_url=served.base, api_key="s3cret", max_retries=0)
        assert good.completions.create(model=MODEL, prompt="hello", extra_body=QUICK).choices
        bad = openai.OpenAI(base_url=served.base, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as err:
            bad.models.list()
        assert err.value.status_code == 401 and err.value.body["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            bad.completions.create(model=MODEL, prompt="hello", extra_body=QUICK)
        # No header at all, and a body that is not even read: still 401 first.
        missing = httpx.post(served.base + "/completions", content=b"{", timeout=10)
        assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"


def test_busy_is_503(server_model):
    # One batch of one at a time and one waiting: a third request finds the queue full.
    with serving(server_model, max_batch=1, max_queue=1) as served:
        served.session.gate.clear()  # the first request holds the engine until the end
        body = {"model": MODEL, "prompt": "hello", **QUICK}
        c = openai.OpenAI(base_url=served.base, api_key="x", max_retries=0)
        with httpx.Client(base_url=served.base, timeout=30) as http:
            with http.stream("POST", "/completions", json=body | {"stream": True}) as running:
                wait_for(lambda: served.state.scheduler.busy)
                waiting = threading.Thread(target=lambda: http.post("/completions", json=body))
                waiting.start()
                wait_for(lambda: served.state.scheduler.waiting == 1)
                with pytest.raises(openai.InternalServerError) as err:
                    c.completions.create(model=MODEL, prompt="hello", extra_body=QUICK)
                assert err.value.status_code == 503 and err.value.body["code"] == "server_busy"
                assert err.value.response.headers["retry-after"] == "1"
                assert running.status_code == 200
                served.session.gate.set()
            waiting.join(20)
        # Once the queue drained, the server answers again.
        assert c.completions.create(model=MODEL, prompt="hello", extra_body=QUICK).choices
