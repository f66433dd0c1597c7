"""Weights are mapped read-only (shared, not copy-on-write), misaligned tensors are copied
aligned, and the engines run on read-only weights."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.checkpoint_writer import random_checkpoint
from llada_studio.core.engine import cpp_engine_available, create_engine, torch_available


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mapping") / "m"
    return random_checkpoint(folder, n_layers=1, d_model=32, n_heads=2, mlp_hidden_size=48, vocab_size=64)


def _base_memmap(arr: np.ndarray) -> np.memmap | None:
    while arr is not None and not isinstance(arr, np.memmap):
        arr = arr.base  # type: ignore[assignment]
    return arr


def test_weights_are_mapped_read_only_not_copy_on_write(model: Path):
    ckpt = load_checkpoint(model)
    for view in ckpt.tensors.values():
        assert not view.data.flags.writeable
        mm = _base_memmap(view.data)
        assert mm is not None and mm.mode == "r"  # mmap.ACCESS_READ: PROT_READ, MAP_SHARED
    with pytest.raises(ValueError, match="read-only"):
        ckpt.tensors["model.transformer.wte.weight"].data[0, 0] = 1.0


def test_misaligned_tensors_are_copied_aligned(model: Path, tmp_path: Path):
    raw = (model / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    text = json.dumps(json.loads(raw[8 : 8 + n])).encode() + b" "
    text += b" " * ((-len(text) % 8) + 1)  # data starts at 8k + 1
    import shutil

    other = tmp_path / "misaligned"
    shutil.copytree(model, other)
    (other / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
    good, odd = load_checkpoint(model), load_checkpoint(other)
    for name, view in odd.tensors.items():
        assert view.data.flags.aligned and not view.data.flags.writeable
        np.testing.assert_array_equal(view.data, good.tensors[name].data)


@pytest.mark.parametrize("kind", ["cpp", "torch"])
def test_engines_run_on_read_only_weights(model: Path, kind: str):
    if kind == "cpp" and not cpp_engine_available() or kind == "torch" and not torch_available():
        pytest.skip(f"{kind} engine not available")
    import warnings

    ckpt = load_checkpoint(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "array is not writable" warning from torch
        engine = create_engine(ckpt, kind, threads=1)
    logits = engine.forward_logits(np.array([[5, 6, 3]]))
    assert logits.shape == (1, 3, 64) and np.isfinite(logits).all()
