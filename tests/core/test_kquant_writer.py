"""Q4_K / Q6_K writer (issue 14): core/kquant.py's blocks decoded by the `gguf` package's own
dequantize (the layout of ggml's block_q4_K / block_q6_K), and `llada-studio quantize --type
q4_k|q6_k|q4_k_m` files opened by gguf's GGUFReader, read back by the loader and computed by the
C++ engine against a float64 forward on the dequantized weights."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf.quants import dequantize, quantize  # noqa: E402

from llada_studio.core.checkpoint_writer import random_checkpoint  # noqa: E402
from llada_studio.core.cli import main  # noqa: E402
from llada_studio.core.cli_quantize import quantize_checkpoint, tensor_type  # noqa: E402
from llada_studio.core.kquant import quantize_k  # noqa: E402


def rel_rmse(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sqrt(((y - x) ** 2).mean() / (x**2).mean()))


def awkward_rows(cols: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, cols)).astype(np.float32)
    x[1] = 0.0  # all zeros
    x[2] = np.abs(x[2])  # no negative value (Q4_K minimum 0)
    x[3] = -np.abs(x[3])  # no positive value
    x[4] = 0.25  # constant
    x[5] *= np.logspace(-4, 2, cols, dtype=np.float32)  # a wide range within a row
    x[6, ::7] = 40.0  # outliers
    x[7] = rng.uniform(-1e-2, 1e-2, cols)  # small values (ggml's f16 scales: ~1e-6 would round to 0)
    return x


# Measured (2026-12-02) on 64 x 4096 standard normal values: Q4_K 0.073 (gguf's Q4_0 0.086),
# Q6_K 0.019 (gguf's Q8_0 0.005).
@pytest.mark.parametrize(("name", "qt", "bound"), [("q4_k", Q.Q4_K, 0.08), ("q6_k", Q.Q6_K, 0.021)])
def test_blocks_decode_with_gguf(name: str, qt: Q, bound: float) -> None:
    x = np.random.default_rng(1).standard_normal((64, 1024)).astype(np.float32)
    blocks = quantize_k(x, name)
    block, size = gguf.GGML_QUANT_SIZES[qt]
    assert blocks.dtype == np.uint8 and blocks.shape == (64, 1024 // block * size)
    y = dequantize(blocks, qt)
    assert rel_rmse(y, x) < bound
    if qt == Q.Q4_K:  # better than the 4-bit format of the same size class
        assert rel_rmse(y, x) < rel_rmse(dequantize(quantize(x, Q.Q4_0), Q.Q4_0), x)
    # the row chunks on threads give the same bytes as one call
    np.testing.assert_array_equal(quantize_k(np.tile(x, (20, 1)), name, threads=3), np.tile(blocks, (20, 1)))


@pytest.mark.parametrize(("name", "qt"), [("q4_k", Q.Q4_K), ("q6_k", Q.Q6_K)])
def test_awkward_rows(name: str, qt: Q) -> None:
    x = awkward_rows(512)
    y = dequantize(quantize_k(x, name), qt)
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y[1], 0.0)
    for r in range(len(x)):
        scale = max(float(np.sqrt((x[r] ** 2).mean())), 1e-30)
        err = float(np.sqrt(((y[r] - x[r]) ** 2).mean())) / scale
        assert err < (0.2 if r != 5 else 0.5), (r, err)  # row 5 spans six decades in one row


def test_bad_row_length() -> None:
    with pytest.raises(ValueError, match="multiple of 256"):
        quantize_k(np.zeros((2, 128), np.float32), "q4_k")


def test_q4_k_m_mix() -> None:
    # llama.cpp's Q4_K_M: Q6_K for the head, and attn_v / ffn_down of the use_more_bits layers
    assert tensor_type("output.weight", "q4_k_m", 8) == "q6_k"
    assert tensor_type("token_embd.weight", "q4_k_m", 8) == "q4_k"
    more = [n for n in range(32) if tensor_type(f"blk.{n}.ffn_down.weight", "q4_k_m", 32) == "q6_k"]
    assert more == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    assert tensor_type("blk.6.attn_v.weight", "q4_k_m", 32) == "q6_k"
    assert tensor_type("blk.6.attn_q.weight", "q4_k_m", 32) == "q4_k"
    assert tensor_type("blk.4.ffn_down.weight", "q4_k_m", 32) == "q4_k"
    assert tensor_type("blk.4.ffn_down.weight", "q6_k", 32) == "q6_k"


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_checkpoint(
        tmp_path_factory.mktemp("kq") / "m", n_layers=8, d_model=256, n_heads=4, n_kv_heads=2, mlp_hidden_size=512
    )


def q4_k_m_type(name: str) -> Q:  # 8 layers: use_more_bits holds for 0, 3, 6, 7
    parts = name.split(".")
    if name == "output.weight" or (parts[0] == "blk" and parts[2] in ("attn_v", "ffn_down") and parts[1] in "0367"):
        return Q.Q6_K
    return Q.Q4_K


EXPECTED = {"q4_k": lambda name: Q.Q4_K, "q6_k": lambda name: Q.Q6_K, "q4_k_m": q4_k_m_type}


@pytest.mark.parametrize("qtype", ["q4_k", "q6_k", "q4_k_m"])
def test_written_file(src: Path, tmp_path: Path, qtype: str) -> None:
    out = tmp_path / f"m-{qtype}.gguf"
    buf = io.StringIO()
    assert main(["quantize", str(src), str(out), "--type", qtype], out=buf) == 0
    assert qtype in buf.getvalue()
    reader = gguf.GGUFReader(out)
    types = {t.name: t.tensor_type for t in reader.tensors}
    for name, t in types.items():
        if name.endswith("norm.weight"):
            assert t == Q.F32
        else:
            assert t == EXPECTED[qtype](name), name
    ftype = reader.fields["general.file_type"].contents()
    assert ftype == {"q4_k": 14, "q6_k": 18, "q4_k_m": 15}[qtype]


def test_fallback_for_short_rows(tmp_path: Path) -> None:
    small = random_checkpoint(
        tmp_path / "s", n_layers=2, d_model=128, n_heads=4, n_kv_heads=2, mlp_hidden_size=256, vocab_size=512
    )
    reader = gguf.GGUFReader(quantize_checkpoint(small, tmp_path / "s.gguf", "q4_k"))
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == Q.Q4_0  # rows of 128 values: Q4_0 (llama.cpp: Q5_0)
    assert types["blk.0.ffn_down.weight"] == Q.Q4_K  # rows of 256


@pytest.mark.parametrize("qtype", ["q4_k", "q6_k", "q4_k_m"])
def test_engine_logits_against_float64(src: Path, tmp_path: Path, qtype: str) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("llada_studio.core._engine", reason="the C++ engine is not built")
    from llada_studio.core.checkpoint import load_checkpoint
    from llada_studio.core.cpp_engine import CppEngine
    from llada_studio.core.torch_backend.model import LLaDAModel

    ck = load_checkpoint(quantize_checkpoint(src, tmp_path / f"m-{qtype}.gguf", qtype))
    ids = np.random.default_rng(2).integers(32, 256, size=(2, 29))
    with torch.no_grad():
        ref = LLaDAModel.from_checkpoint(ck, dtype=torch.float64)(torch.as_tensor(ids)).double().numpy()
    y = CppEngine(ck, threads=2).forward_logits(ids)
    err = float(np.abs(y - ref).max() / np.abs(ref).max())
    print(f"{qtype}: C++ logits vs float64 on the dequantized weights, max rel err {err:.2e}")
    assert err < 1e-3


def test_quantize_reports_progress_and_a_cancel_keeps_nothing(tmp_path) -> None:  # noqa: ANN001
    """The window's Quantize… runs this on a thread: progress per tensor, Cancel between tensors."""
    from llada_studio.core.checkpoint_writer import random_checkpoint
    from llada_studio.core.cli_quantize import QuantizeCancelled, quantize_checkpoint
    from llada_studio.core.events import CancelToken

    src = random_checkpoint(tmp_path / "m")
    seen: list[tuple[int, int]] = []
    quantize_checkpoint(src, tmp_path / "m.gguf", "q8_0", on_progress=lambda a, b: seen.append((a, b)))
    total = seen[-1][1]
    assert seen[0] == (0, total) and seen[-1] == (total, total) and len(seen) == total + 1
    token = CancelToken()
    with pytest.raises(QuantizeCancelled, match="nothing was kept"):
        quantize_checkpoint(
            src, tmp_path / "c.gguf", "q8_0", on_progress=lambda a, b: token.cancel() if a == 2 else None, cancel=token
        )
    assert not (tmp_path / "c.gguf").exists()
