"""The quantized matrix-product kernels (csrc/quant.cpp, issue 14): activations quantized per
block of 32 (Q4_K: 128) to int16, products per format against a float64 product on the dequantized weights
(gguf's own dequantize), on every instruction set this CPU has and every row-group shape the
kernels pack (1, 2, 4, 8 rows with several pair slots per row, 16-row groups, padding rows, a tile
of weight rows cut short, chunks of 1024 columns, row blocks split over threads)."""

from __future__ import annotations

import numpy as np
import pytest

_engine = pytest.importorskip("llada_studio.core._engine", reason="the C++ engine is not built")
gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

from .test_quant import FORMATS  # noqa: E402
from .test_quant import random_blocks as _random_blocks  # noqa: E402


def random_blocks(name: str, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """test_quant.py's random blocks, random bytes for every format (no gguf quantizer)."""
    return _random_blocks(name, rows, cols, seed, quantizer=False)


# Measured (2026-12-02, this machine, every ISA): 5.1e-5 (Q8_0), 5.2e-5 (Q4_0), 5.5e-5 (Q6_K): the
# int16 rounding of the activations, ~0.5/16383 of each block's largest value; Q4_K 9.7e-5 (6.5e-5
# when its activations took a scale per 32 values, not per 128).
BOUND = 2.5e-4




def cols_for(name: str) -> int:  # past one chunk of 1024 columns, an odd count of blocks
    return 256 * 5 if name in ("q4_k", "q6_k") else 32 * 41


def rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(y - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 8, 9, 16, 17, 33, 70])
def test_product_against_float64(name: str, rows: int, isa: str) -> None:
    K = cols_for(name)
    w = random_blocks(name, 19, K, seed=rows)  # 19 weight rows: a tile of 8 cut short
    x = np.random.default_rng(rows).standard_normal((rows, K)).astype(np.float32)
    x[0, :32] = 0.0  # an all-zero block (scale 0)
    ref = x.astype(np.float64) @ dequantize(w, FORMATS[name]).astype(np.float64).T
    y = _engine.matmul(x, w, name, "own", 2)
    assert rel_err(y, ref) < BOUND


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("rows", [1, 6, 16, 40])
def test_isas_agree_with_scalar(name: str, rows: int, isa: str) -> None:
    if isa == "amx":
        pytest.skip("AMX quantizes the activations to 32639 levels, not 16383: its own sums, held to float64 above")
    K = cols_for(name)
    w = random_blocks(name, 21, K, seed=7)
    x = np.random.default_rng(rows + 100).standard_normal((rows, K)).astype(np.float32)
    y = _engine.matmul(x, w, name, "own", 2)
    best = _engine.quant_isa()
    _engine.set_quant_isa("scalar")
    try:
        ref = _engine.matmul(x, w, name, "own", 1)
    finally:
        _engine.set_quant_isa(best)
    # The integer block sums are the same on every path; only the f32 order of the scaling differs.
    np.testing.assert_allclose(y, ref, rtol=0, atol=2e-6 * np.abs(ref).max())


def test_q6_k_extremes_fit_int32(isa: str) -> None:
    """Q6_K's sub-block scale folded into the int16 weight reaches |128 x 32| = 4096; with every
    activation at the block's largest value the block sum is 32 x 16383 x 4096 < 2^31."""
    K = 512
    block, size = gguf.GGML_QUANT_SIZES[Q.Q6_K]
    raw = np.zeros((3, K // block, size), np.uint8)  # ql = qh = 0: every value q - 32 = -32
    raw[0, :, 192:208] = np.uint8(128)  # scale -128: values 4096 x d
    raw[1, :, 192:208] = np.uint8(127)  # scale 127: values -4064 x d
    raw[2, :, 192:208] = np.arange(16, dtype=np.uint8) * 17  # mixed scales
    raw[:, :, 208:210] = np.array([0.5], np.float16).view(np.uint8)
    w = raw.reshape(3, -1)
    x = np.stack([np.ones(K), -np.ones(K), np.linspace(-3, 3, K)]).astype(np.float32)
    ref = x.astype(np.float64) @ dequantize(w, Q.Q6_K).astype(np.float64).T
    y = _engine.matmul(x, w, "q6_k", "own", 1)
    assert rel_err(y, ref) < BOUND


def test_q4_k_extremes_fit_int32(isa: str) -> None:
    """Q4_K's 6-bit sub-block scale folded into the int16 weight reaches 63 x 15 = 945, and its int32
    sums run over 128 values (one activation scale per 128): with every activation at the largest
    value the sum is 128 x 16383 x 945 < 2^31."""
    K = 1024
    block, size = gguf.GGML_QUANT_SIZES[Q.Q4_K]
    raw = np.zeros((3, K // block, size), np.uint8)
    raw[:, :, 4:16] = 0xFF  # every scale and minimum 63
    raw[:, :, 16:] = 0xFF  # every value 15
    raw[:, :, 0:2] = np.array([0.5], np.float16).view(np.uint8)
    raw[:, :, 2:4] = np.array([0.25], np.float16).view(np.uint8)
    raw[2, :, 16:] = np.arange(128, dtype=np.uint8)  # mixed values, the largest scales
    w = raw.reshape(3, -1)
    x = np.stack([np.ones(K), -np.ones(K), np.linspace(-3, 3, K)]).astype(np.float32)
    ref = x.astype(np.float64) @ dequantize(w, Q.Q4_K).astype(np.float64).T
    y = _engine.matmul(x, w, "q4_k", "own", 1)
    assert rel_err(y, ref) < BOUND


@pytest.mark.parametrize("name", ["q8_0", "q4_0", "q4_k"])
def test_extreme_values_many_tiles(name: str, isa: str) -> None:
    """The AVX-512 unpack (one vpmovsxbw / vpmovzxbw per block) at the values' ends: Q8_0's -128 and
    127, every nibble 0 and 15; 37 weight rows over 3 chunks of 1024 columns, so the next tile's
    bytes are prefetched across chunks, tiles of 8 rows and the short last tile, on 8 and 40 rows
    (each loop order of quant_tile)."""
    qt = FORMATS[name]
    K = 256 * 11  # 2816: two whole chunks and a partial one
    w = random_blocks(name, 37, K, seed=3)
    block, size = gguf.GGML_QUANT_SIZES[qt]
    blocks = w.reshape(37, K // block, size)
    first = {"q8_0": 2, "q4_0": 2, "q4_k": 16}[name]  # where the values start in a block
    blocks[0::3, :, first:] = 0x80 if name == "q8_0" else 0x00  # -128 / nibbles 0
    blocks[1::3, :, first:] = 0x7F if name == "q8_0" else 0xFF  # 127 / nibbles 15
    for rows in (8, 40):
        x = np.random.default_rng(rows).standard_normal((rows, K)).astype(np.float32)
        ref = x.astype(np.float64) @ dequantize(w, qt).astype(np.float64).T
        y = _engine.matmul(x, w, name, "own", 3)
        assert rel_err(y, ref) < BOUND
