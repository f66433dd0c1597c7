"""The memory check before a load (issue 13): figures, and a refusal with what to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from llada_studio.core import cli
from llada_studio.core import memory_estimate as me
from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.errors import EngineUnavailableError
from llada_studio.core.params import GenerationParams
from llada_studio.core.session import Session


def test_figures_scale_with_canvas_batch_and_cfg(tiny_model: Path):
    ck = load_checkpoint(tiny_model)
    base = me.estimate_memory(ck, "torch", "cpu", canvas_tokens=256, available=10**12)
    assert base.weights == ck.num_parameters * 4  # the torch engine upcasts to f32 on the CPU
    assert base.kv_cache == 0 and base.fits
    longer = me.estimate_memory(ck, "torch", "cpu", canvas_tokens=512, available=10**12)
    assert longer.activations > base.activations
    doubled = me.estimate_memory(ck, "torch", "cpu", canvas_tokens=256, cfg=True, available=10**12)
    assert doubled.rows == 2 and doubled.activations == 2 * base.activations
    batched = me.estimate_memory(ck, "torch", "cpu", canvas_tokens=256, batch=3, cfg=True, available=10**12)
    assert batched.rows == 6
    cached = me.estimate_memory(ck, "torch", "cuda", canvas_tokens=256, cache="dual", available=10**12)
    c = ck.config
    assert cached.kv_cache == 2 * 256 * 2 * c.n_layers * c.n_kv_heads * c.head_dim * 4  # f32 checkpoint, 2 copies
    mapped = me.estimate_memory(ck, "cpp", "cpu", available=10**12)
    assert mapped.weights == ck.file_bytes


def test_llada_8b_figures():
    """LLaDA-8B's shapes in bf16 (nothing allocated): about 15 GiB of weights on a GPU."""
    from llada_studio.core.config import ModelConfig

    cfg = ModelConfig(
        d_model=4096, n_layers=32, n_heads=32, n_kv_heads=32, mlp_hidden_size=12288, vocab_size=126464,
        embedding_size=126464, rope_theta=500000.0, rms_norm_eps=1e-5, max_sequence_length=4096,
        mask_token_id=126336, eos_token_id=126081, pad_token_id=126081, eot_token_id=126348,
        bos_token_id=126080, weight_tying=False,
    )  # fmt: skip

    class Fake:
        config = cfg
        name = "LLaDA-8B-Instruct"
        weight_dtype = "bf16"
        num_parameters = 8_015_765_504
        file_bytes = 16_031_531_008

    est = me.estimate_memory(Fake(), "torch", "cuda", canvas_tokens=512, cache="dual", available=24 * me.GIB)  # type: ignore[arg-type]
    assert 14.5 * me.GIB < est.weights < 15.5 * me.GIB
    assert 16 * me.GIB < est.total < 20 * me.GIB  # measured on the H200: 17.4 GiB peak
    assert est.fits
    small = me.estimate_memory(Fake(), "torch", "cuda", canvas_tokens=512, available=8 * me.GIB)  # type: ignore[arg-type]
    assert not small.fits
    text = small.refusal()
    assert "will not fit" in text and "GPU memory" in text and "available 8.0 GiB" in text
    assert "use the CPU" in text


def test_session_open_refuses_what_does_not_fit(tiny_model: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(me.ENV_SKIP, raising=False)
    with pytest.raises(me.InsufficientMemoryError) as info:
        Session.open(tiny_model, engine="torch", available_bytes=1000)
    message = str(info.value)
    assert "will not fit" in message and "weights" in message and "available 0.0 GiB" in message
    assert "shorten the generation length" not in message  # 256 + 128 tokens: not the cause
    assert isinstance(info.value, EngineUnavailableError)
    # enough memory: it opens
    Session.open(tiny_model, engine="torch", available_bytes=10**12)
    # CFG and a long canvas are named as what to change
    params = GenerationParams(gen_length=1024, block_length=32, max_steps=1024, cfg_scale=1.0)
    with pytest.raises(me.InsufficientMemoryError, match="turn CFG off.*shorten the generation length"):
        Session.open(tiny_model, engine="torch", memory_for=params, available_bytes=1000)


def test_measured_figure_is_used(tiny_model: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(me.ENV_SKIP, raising=False)
    monkeypatch.setattr(me, "available_memory", lambda device="cpu": 1234)
    with pytest.raises(me.InsufficientMemoryError):
        Session.open(tiny_model, engine="torch")
    monkeypatch.setenv(me.ENV_SKIP, "1")
    Session.open(tiny_model, engine="torch")  # the override loads anyway


def test_cli_reports_it(tiny_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv(me.ENV_SKIP, raising=False)
    monkeypatch.setattr(me, "available_memory", lambda device="cpu": 1234)
    assert cli.main(["generate", "hello", "--model", str(tiny_model), "--engine", "torch"]) == 2
    assert "will not fit" in capsys.readouterr().err


def test_available_memory_reads_meminfo():
    figure = me.available_memory("cpu")
    assert figure is None or figure > 0
    assert me.available_memory("cuda:0") is None or me.available_memory("cuda:0") >= 0  # type: ignore[operator]
