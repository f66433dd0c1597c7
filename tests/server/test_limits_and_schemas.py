"""The loopback rule, the size limits, how request fields become GenerationParams, and the
settled-text stream, without a model where none is needed."""

from __future__ import annotations

import httpx
import pytest

from llada_studio.core.cli import main
from llada_studio.core.server.errors import APIError
from llada_studio.core.server.schemas import CompletionRequest
from llada_studio.core.server.security import BindError, check_bind, is_loopback
from llada_studio.core.server.sse import SettledText, cut_at_stop

from .conftest import QUICK, serving

MODEL = "tiny-server"
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_key(host):
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.4", "example.invalid", ""])
def test_other_addresses_need_a_key(host):
    assert not is_loopback(host)
    with pytest.raises(BindError, match="--api-key"):
        check_bind(host, None)
    check_bind(host, "key")


def test_serve_refuses_a_public_bind_without_a_key(capsys, monkeypatch):
    monkeypatch.delenv("LLADA_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "9"]) == 2
    assert "without an API key" in capsys.readouterr().err


def test_serve_options_are_checked(capsys):
    assert main(["serve", "--max-batch", "0"]) == 2
    assert "--max-batch" in capsys.readouterr().err


def _request(**fields):
    return CompletionRequest(model="m", prompt="p", **fields)


def test_defaults_follow_the_recommended_settings():
    params, seeded = _request().to_params()
    assert (params.gen_length, params.max_steps, params.block_length, params.temperature) == (128, 128, 8, 1.0)
    assert not seeded
    # A length the default block does not divide gets the largest divisor below it, steps = length.
    params, _ = _request(max_tokens=50).to_params()
    assert (params.gen_length, params.block_length, params.max_steps) == (50, 5, 50)
    params, seeded = _request(max_tokens=32, steps=8, block_length=16, seed=4, cache="dual").to_params()
    assert (params.max_steps, params.block_length, params.seed, params.cache, seeded) == (8, 16, 4, "dual", True)


def test_param_errors_name_the_wire_field():
    with pytest.raises(APIError) as err:
        _request(max_tokens=16, steps=3).to_params()
    assert err.value.status == 400 and err.value.param == "steps"
    assert "steps (3) must be a multiple" in err.value.message and "max_steps" not in err.value.message
    with pytest.raises(APIError) as err:
        _request(max_tokens=0).to_params()
    assert err.value.param == "max_tokens"
    with pytest.raises(APIError, match="at most 64"):
        _request(max_tokens=16, steps=128).to_params(max_steps=64)


def test_cut_at_stop():
    assert cut_at_stop("one two three", [" two", "x"]) == ("one", True)
    assert cut_at_stop("one two", ["zzz"]) == ("one two", False)
    assert cut_at_stop("abc", []) == ("abc", False)


def _settled(stops=()):
    # A toy tokenizer: token t reads as chr(ord('a') + t); 9 is the mask, 8 the EOS.
    return SettledText(6, 9, {8}, lambda ids: "".join(chr(97 + t) for t in ids), stops)


def test_settled_text_sends_the_prefix_left_of_the_first_mask():
    s = _settled()
    s.reveal([1, 3], [1, 3])
    assert s.delta() == ""  # position 0 is still masked
    s.reveal([0], [0])
    assert s.delta() == "ab"
    s.reveal([2], [2])
    assert s.delta() == "cd"
    s.reveal([4, 5], [8, 4])  # EOS at 4: the answer ends there
    assert s.delta() == "" and s.ended
    assert s.finish("abcd") == ""


def test_settled_text_holds_back_a_possible_stop_string():
    s = _settled(stops=["cd"])
    s.reveal([0, 1, 2], [0, 1, 2])
    assert s.delta() == "ab"  # 'c' could start 'cd'
    s.reveal([3], [3])
    assert s.delta() == "" and s.stopped
    assert s.finish(cut_at_stop("abcdef", ["cd"])[0]) == ""


def test_body_over_the_limit_is_413(server_model):
    with serving(server_model, max_body_bytes=2000) as served:
        big = {"model": MODEL, "prompt": "x" * 5000, **QUICK}
        response = httpx.post(served.base + "/completions", json=big, timeout=10)
        assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"

        def chunked():  # no Content-Length: refused while it is read
            for _ in range(10):
                yield b" " * 500

        response = httpx.post(served.base + "/completions", content=chunked(), headers=JSON, timeout=10)
        assert response.status_code == 413
        ok = httpx.post(served.base + "/completions", json={"model": MODEL, "prompt": "x", **QUICK}, timeout=10)
        assert ok.status_code == 200


def test_max_tokens_over_the_server_cap_is_413(server_model):
    with serving(server_model, max_tokens=32) as served:
        body = {"model": MODEL, "prompt": "x", "max_tokens": 64, "steps": 64}
        response = httpx.post(served.base + "/completions", json=body, timeout=10)
        assert response.status_code == 413 and response.json()["error"]["param"] == "max_tokens"


def test_unknown_route_and_bad_json_in_openai_shape(server):
    response = httpx.get(server.url + "/v1/nothing", timeout=10)
    assert response.status_code == 404 and "error" in response.json()
    response = httpx.post(server.base + "/completions", content=b"{not json", headers=JSON, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    response = httpx.post(server.base + "/completions", json={"model": MODEL, "prompt": "   ", **QUICK}, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["param"] == "prompt"
    response = httpx.post(server.base + "/completions", json={"model": MODEL, "prompt": [9999], **QUICK}, timeout=10)
    assert response.status_code == 400 and "vocabulary" in response.json()["error"]["message"]


def test_web_pages_cannot_drive_a_keyless_server(server):
    body = b'{"model": "tiny-server", "prompt": "hi", "max_tokens": 8, "steps": 8}'
    # A cross-site "simple" request (text/plain needs no CORS preflight) is refused.
    response = httpx.post(server.base + "/completions", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    # A page whose host name was rebound to 127.0.0.1 sends its own Host header.
    response = httpx.post(server.base + "/completions", content=body, headers=JSON | {"Host": "evil.example:8000"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "host_not_allowed"
    assert httpx.get(server.base + "/models", headers={"Host": "evil.example"}).status_code == 403
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert httpx.get(server.base + "/models", headers={"Host": host}).status_code == 200
    assert httpx.post(server.base + "/completions", content=body, headers=JSON).status_code == 200


def test_a_keyed_server_accepts_any_host(server_model):
    with serving(server_model, api_key="k") as served:
        headers = {"Authorization": "Bearer k", "Host": "gpu-box.lan:8000"}
        assert httpx.get(served.base + "/models", headers=headers).status_code == 200


def test_every_sampler_parameter_is_a_request_field_and_arrives() -> None:
    """The request fields come from GenerationParams' declaration (core/server/schemas.py): a new
    parameter is a wire field with no line in the server."""
    from dataclasses import fields

    from llada_studio.core.params import GenerationParams
    from llada_studio.core.server.schemas import NOT_ON_THE_WIRE, WIRE_NAMES, CompletionRequest

    declared = {WIRE_NAMES.get(f.name, f.name) for f in fields(GenerationParams)} - {
        WIRE_NAMES.get(n, n) for n in NOT_ON_THE_WIRE
    }
    assert declared <= set(CompletionRequest.model_fields)
    req = CompletionRequest(model="m", prompt="p", max_tokens=16, steps=8, block_length=8, cfg_scale=0.5,
                            remasking="random", decoding="threshold", threshold=0.7, cache="dual",
                            logits_eos_inf=True, constraints="0:Once")
    params, _ = req.to_params()
    assert (params.max_steps, params.block_length, params.cfg_scale, params.remasking) == (8, 8, 0.5, "random")
    assert (params.decoding, params.threshold, params.cache, params.constraints) == ("threshold", 0.7, "dual", "0:Once")
    assert params.logits_eos_inf
