"""Fixtures for the C++ engine tests: tiny random checkpoints and engines over them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from llada_studio.core.checkpoint import Checkpoint, load_checkpoint
from llada_studio.core.checkpoint_writer import random_checkpoint

_engine = pytest.importorskip("llada_studio.core._engine", reason="the C++ engine is not built")

# Every path of the quantized kernels (quant.cpp, quant_amx.cpp); test_bf16_kernels.py has its own.
QUANT_ISAS = ("scalar", "avx2", "avxvnni", "avx512vnni", "amx")


@pytest.fixture(params=QUANT_ISAS)
def isa(request: pytest.FixtureRequest) -> object:
    """The quantized kernels forced to one instruction set for the test (skipped where absent)."""
    best = _engine.quant_isa()
    if not _engine.set_quant_isa(request.param):
        pytest.skip(f"{request.param} is not available on this CPU")
    yield request.param
    _engine.set_quant_isa(best)


@pytest.fixture(scope="session")
def ckpt_f32(tiny_model: Path) -> Checkpoint:
    """2 layers, d 64, 4 heads, 2 kv heads (GQA), vocab 256, f32, untied."""
    return load_checkpoint(tiny_model)


@pytest.fixture(scope="session")
def ckpt_bf16(tiny_model_bf16: Path) -> Checkpoint:
    """bf16, tied embeddings."""
    return load_checkpoint(tiny_model_bf16)


@pytest.fixture(scope="session")
def ckpt_f16(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    return load_checkpoint(
        random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-f16", dtype="f16", n_layers=3, n_kv_heads=1, seed=3)
    )


@pytest.fixture(scope="session")
def ckpt_eos(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    """f32 with EOS and EOT made likely: their LM-head rows copy another token's row plus a
    little noise, so they win the argmax at a good share of positions (the EOS options matter)."""
    ck = load_checkpoint(random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-eos", seed=4))
    # The map is read-only: give this checkpoint a private writable copy of the head.
    name = "model.transformer.ff_out.weight"
    ck.tensors[name] = dataclasses.replace(ck.tensors[name], data=ck.tensors[name].data.copy())
    head = ck.tensors[name].data
    rng = np.random.default_rng(0)
    # The canvas the sampler tests start from: prompt() of test_sampler.py, then 16 masks.
    ids = np.random.default_rng(0).integers(32, 256, size=(2, 9))
    canvas = np.concatenate([ids, np.full((2, 16), ck.mask_id)], axis=1)
    torch = pytest.importorskip("torch")
    from llada_studio.core.torch_backend.model import LLaDAModel

    with torch.no_grad():
        logits = LLaDAModel.from_checkpoint(ck, dtype=torch.float32)(torch.as_tensor(canvas)).numpy()
    ranked = np.bincount(logits[:, 9:].argmax(-1).ravel(), minlength=256).argsort()[::-1]
    for special, row in ((ck.eos_id, ranked[0]), (ck.eot_id, ranked[1])):
        head[special] = head[row] + 0.05 * rng.standard_normal(head.shape[1]).astype(np.float32)
    return ck
