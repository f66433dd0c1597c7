"""Loading and validating checkpoint folders: every defect gets its own clear error."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from llada_studio.core.checkpoint import expected_tensors, load_checkpoint
from llada_studio.core.checkpoint_writer import random_checkpoint
from llada_studio.core.errors import CheckpointError
from llada_studio.core.safetensors_io import float32_to_bf16_bits, save_safetensors


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return random_checkpoint(tmp_path / "m", n_layers=1, d_model=32, n_heads=2, mlp_hidden_size=48, vocab_size=64)


def _rewrite_tensors(folder: Path, change) -> None:
    ckpt = load_checkpoint(folder)
    tensors = {n: v.to_float32().copy() for n, v in ckpt.tensors.items()}
    del ckpt
    change(tensors)
    save_safetensors(folder / "model.safetensors", tensors)


def test_loads_and_reports(model: Path):
    ckpt = load_checkpoint(model)
    assert ckpt.config.n_layers == 1 and ckpt.weight_dtype == "f32"
    assert (ckpt.mask_id, ckpt.eos_id, ckpt.eot_id, ckpt.pad_id) == (3, 1, 2, 1)
    assert set(ckpt.tensors) == set(expected_tensors(ckpt.config))
    assert ckpt.num_parameters == sum(int(np.prod(s)) for s in expected_tensors(ckpt.config).values())


def test_weights_are_memory_mapped_not_copied(model: Path):
    ckpt = load_checkpoint(model)
    view = ckpt.tensors["model.transformer.wte.weight"].data
    assert isinstance(view.base, np.memmap) or isinstance(view, np.memmap) or view.base is not None
    assert not view.flags.owndata


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_stored_dtype_is_kept_and_matches_safetensors_package(tmp_path: Path, dtype: str):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    folder = random_checkpoint(
        tmp_path / dtype, n_layers=1, d_model=32, n_heads=2, mlp_hidden_size=48, vocab_size=64, dtype=dtype
    )
    ckpt = load_checkpoint(folder)
    ours = ckpt.tensors["model.transformer.wte.weight"]
    assert ours.dtype == dtype
    theirs = load_file(str(folder / "model.safetensors"))["model.transformer.wte.weight"]
    assert theirs.dtype == {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    np.testing.assert_array_equal(ours.to_float32(), theirs.float().numpy())


def test_sharded_tied_and_gqa(tmp_path: Path):
    folder = random_checkpoint(tmp_path / "s", n_layers=3, n_heads=4, n_kv_heads=1, weight_tying=True, shards=3)
    ckpt = load_checkpoint(folder)
    assert len(ckpt.files) == 3
    assert "model.transformer.ff_out.weight" not in ckpt.tensors
    assert ckpt.lm_head().name == "model.transformer.wte.weight"
    assert ckpt.tensors["model.transformer.blocks.0.k_proj.weight"].shape == (16, 64)


def test_bf16_rounding_is_round_to_nearest_even():
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.0e38], dtype=np.float32)
    bits = float32_to_bf16_bits(x)
    back = (bits.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(back[:4], [1.0, 1.0, 1.015625, -2.5])


# -- every validation failure has its own message --------------------------------------------


def test_not_a_folder(tmp_path: Path):
    with pytest.raises(CheckpointError, match="is not a folder"):
        load_checkpoint(tmp_path / "nope")


def test_missing_config(model: Path):
    (model / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_checkpoint(model)


def test_malformed_config_json(model: Path):
    (model / "config.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match=r"config\.json: malformed JSON"):
        load_checkpoint(model)


def test_unknown_architecture(model: Path):
    cfg = json.loads((model / "config.json").read_text())
    cfg["architectures"] = ["LlamaForCausalLM"]
    (model / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unknown architecture"):
        load_checkpoint(model)


def test_unknown_model_type(model: Path):
    cfg = json.loads((model / "config.json").read_text())
    cfg["model_type"] = "llama"
    (model / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unknown model_type 'llama'"):
        load_checkpoint(model)


def test_missing_tokenizer(model: Path):
    (model / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="tokenizer.json is missing"):
        load_checkpoint(model)


def test_missing_weights(model: Path):
    (model / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights"):
        load_checkpoint(model)


def test_missing_tensor(model: Path):
    _rewrite_tensors(model, lambda t: t.pop("model.transformer.blocks.0.up_proj.weight"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: missing tensor.*up_proj"):
        load_checkpoint(model)


def test_wrong_shape(model: Path):
    def change(t):
        t["model.transformer.blocks.0.q_proj.weight"] = np.zeros((32, 31), np.float32)

    _rewrite_tensors(model, change)
    with pytest.raises(CheckpointError, match=r"q_proj.weight' has shape \[32, 31\], config.json implies \[32, 32\]"):
        load_checkpoint(model)


def test_unexpected_tensor(model: Path):
    _rewrite_tensors(model, lambda t: t.__setitem__("model.transformer.blocks.0.q_proj.bias", np.zeros(32, np.float32)))
    with pytest.raises(CheckpointError, match="unexpected tensor"):
        load_checkpoint(model)


def _patch_header(path: Path, edit) -> None:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    enc = json.dumps(header, separators=(",", ":")).encode()
    path.write_bytes(struct.pack("<Q", len(enc)) + enc + raw[8 + n :])


def test_wrong_dtype(model: Path):
    def edit(h):
        h["model.transformer.ln_f.weight"]["dtype"] = "I32"

    _patch_header(model / "model.safetensors", edit)
    with pytest.raises(CheckpointError, match=r"ln_f.weight': dtype 'I32' is not supported"):
        load_checkpoint(model)


def test_dtype_size_mismatch(model: Path):
    def edit(h):
        h["model.transformer.ln_f.weight"]["dtype"] = "F16"

    _patch_header(model / "model.safetensors", edit)
    with pytest.raises(CheckpointError, match="data_offsets span 128 bytes but shape"):
        load_checkpoint(model)


def test_truncated_file(model: Path):
    path = model / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="reaches past the end of the file.*truncated"):
        load_checkpoint(model)


def test_header_length_past_end(model: Path):
    path = model / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(struct.pack("<Q", len(raw) * 2) + raw[8:])
    with pytest.raises(CheckpointError, match="header length .* reaches past the end"):
        load_checkpoint(model)


def test_tiny_file(model: Path):
    (model / "model.safetensors").write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="truncated weights file"):
        load_checkpoint(model)


def test_malformed_header_json(model: Path):
    path = model / "model.safetensors"
    raw = bytearray(path.read_bytes())
    raw[8] = ord("[") ^ 0x55  # break the first JSON byte
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="malformed safetensors header JSON"):
        load_checkpoint(model)


def test_overlapping_tensors(model: Path):
    def edit(h):
        a = h["model.transformer.ln_f.weight"]["data_offsets"]
        b = h["model.transformer.blocks.0.attn_norm.weight"]
        b["data_offsets"] = [a[0], a[0] + (b["data_offsets"][1] - b["data_offsets"][0])]

    _patch_header(model / "model.safetensors", edit)
    with pytest.raises(CheckpointError, match="overlap"):
        load_checkpoint(model)


def test_missing_shard(tmp_path: Path):
    folder = random_checkpoint(tmp_path / "s", n_layers=2, shards=2)
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model-00002-of-00002.safetensors: shard named in .* is missing"):
        load_checkpoint(folder)


def test_malformed_index(tmp_path: Path):
    folder = random_checkpoint(tmp_path / "s", n_layers=2, shards=2)
    (folder / "model.safetensors.index.json").write_text('{"weight_map": 3}')
    with pytest.raises(CheckpointError, match="has no 'weight_map'"):
        load_checkpoint(folder)


def test_mask_id_unknown(model: Path):
    cfg = json.loads((model / "config.json").read_text())
    del cfg["mask_token_id"]
    (model / "config.json").write_text(json.dumps(cfg))
    tok = json.loads((model / "tokenizer.json").read_text())
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["content"] != "<|mdm_mask|>"]
    tok["model"]["vocab"].pop("<|mdm_mask|>")
    (model / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(CheckpointError, match="mask_token_id is unknown"):
        load_checkpoint(model)


def test_mask_id_disagrees_with_tokenizer(model: Path):
    cfg = json.loads((model / "config.json").read_text())
    cfg["mask_token_id"] = 9
    (model / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="mask_token id 9 disagrees with the tokenizer"):
        load_checkpoint(model)


def test_tokenizer_larger_than_vocab(tmp_path: Path, model: Path):
    big = random_checkpoint(tmp_path / "big", n_layers=1, d_model=32, n_heads=2, mlp_hidden_size=48, vocab_size=128)
    shutil.copy(big / "tokenizer.json", model / "tokenizer.json")
    with pytest.raises(CheckpointError, match="tokenizer has 128 tokens but the model's embedding has only 64"):
        load_checkpoint(model)


def test_heads_must_divide(model: Path):
    cfg = json.loads((model / "config.json").read_text())
    cfg["n_heads"] = 3
    (model / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="not divisible by n_heads 3"):
        load_checkpoint(model)
