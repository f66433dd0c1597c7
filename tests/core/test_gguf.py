"""GGUF input (issue 14): files written by `llada-studio quantize` in llama.cpp's layout, read back
as the same Checkpoint the safetensors loader makes; C++ logits against a float64 forward on the
dequantized weights; the bundled model's T=0 tokens in Q8_0 against bf16; clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
torch = pytest.importorskip("torch")
pytest.importorskip("llada_studio.core._engine", reason="the C++ engine is not built")

from llada_studio.core.checkpoint import load_checkpoint  # noqa: E402
from llada_studio.core.checkpoint_writer import random_checkpoint  # noqa: E402
from llada_studio.core.cli_quantize import quantize_checkpoint  # noqa: E402
from llada_studio.core.cpp_engine import CppEngine  # noqa: E402
from llada_studio.core.errors import CheckpointError  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402
from llada_studio.core.resources import bundled_model_dir  # noqa: E402
from llada_studio.core.session import Session  # noqa: E402
from llada_studio.core.torch_backend.model import LLaDAModel  # noqa: E402


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_checkpoint(
        tmp_path_factory.mktemp("gguf") / "tiny", n_layers=2, d_model=128, n_heads=4, n_kv_heads=2, mlp_hidden_size=256
    )


def rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(a - ref).max() / np.abs(ref).max())


def reference_logits(ck: object, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        model = LLaDAModel.from_checkpoint(ck, dtype=torch.float64)  # type: ignore[arg-type]
        return model(torch.as_tensor(ids)).double().numpy()  # type: ignore[no-any-return]


def test_f32_gguf_is_the_same_model(src: Path, tmp_path: Path) -> None:
    base = load_checkpoint(src)
    ck = load_checkpoint(quantize_checkpoint(src, tmp_path / "m.gguf", "f32"))
    assert ck.config == base.config and ck.rope_interleaved and ck.tensors.keys() == base.tensors.keys()
    assert (ck.mask_id, ck.eos_id, ck.eot_id) == (base.mask_id, base.eos_id, base.eot_id)
    ids = np.random.default_rng(0).integers(32, 256, size=(2, 29))
    ref = CppEngine(base, threads=2).forward_logits(ids)
    assert rel_err(CppEngine(ck, threads=2).forward_logits(ids), ref) < 1e-5
    assert rel_err(reference_logits(ck, ids), ref) < 1e-5  # the torch reference un-permutes q/k


# Measured (2026-12-02, activations quantized to int16 per block of 32): random model 2.2e-4
# (Q8_0) / 2.5e-4 (Q4_0); with int8 activations (before) 3.6e-2 / 4.2e-2. The issue asks 1e-3 for Q8_0.
@pytest.mark.parametrize(("qtype", "bound"), [("q8_0", 1e-3), ("q4_0", 1e-3)])
def test_quantized_logits_against_float64(src: Path, tmp_path: Path, qtype: str, bound: float) -> None:
    ck = load_checkpoint(quantize_checkpoint(src, tmp_path / f"m-{qtype}.gguf", qtype))
    assert ck.weight_dtype == qtype
    view = ck.tensors["model.transformer.blocks.0.q_proj.weight"]
    assert isinstance(view.data.base, np.memmap) or isinstance(view.data, np.memmap)  # mapped, not copied
    ids = np.random.default_rng(1).integers(32, 256, size=(2, 29))
    err = rel_err(CppEngine(ck, threads=2).forward_logits(ids), reference_logits(ck, ids))
    print(f"{qtype}: C++ logits vs float64 on the dequantized weights, max rel err {err:.2e}")
    assert err < bound


def test_bundled_model_q8_0_tokens_at_t0(tmp_path: Path) -> None:
    bf16 = Session.open(bundled_model_dir(), engine="cpp", threads=2)
    q8 = Session.open(quantize_checkpoint(bundled_model_dir(), tmp_path / "tiny-q8_0.gguf", "q8_0"), threads=2)
    params = GenerationParams(max_steps=32, gen_length=32, block_length=8, temperature=0.0)
    prompts = ["It was a bright cold day", "The sea was calm and"]
    a = bf16.generate(prompts, params).generated_ids
    b = q8.generate(prompts, params).generated_ids
    share = np.mean([x == y for ra, rb in zip(a, b) for x, y in zip(ra, rb)])
    print(f"bundled model, T 0, Q8_0 vs bf16: {share:.3f} of tokens identical")
    assert share >= 0.5
    assert q8.tokenizer.encode(prompts[0]) == bf16.tokenizer.encode(prompts[0])
    assert q8.decode(b[0]) == q8.tokenizer.decode(list(b[0]))


def test_defects_name_the_file_and_field(src: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00garbage")
    with pytest.raises(CheckpointError, match="bad.gguf"):
        load_checkpoint(bad)
    w = gguf.GGUFWriter(tmp_path / "other.gguf", "llama")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(CheckpointError, match="general.architecture"):
        load_checkpoint(tmp_path / "other.gguf")
    w = gguf.GGUFWriter(tmp_path / "nolayers.gguf", "llada")
    w.add_embedding_length(64)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(CheckpointError, match="llada.block_count"):
        load_checkpoint(tmp_path / "nolayers.gguf")
