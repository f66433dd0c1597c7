"""Block-quantized weights in the C++ engine (Q8_0, Q4_0, Q4_K, Q6_K): dequantization against the
`gguf` package's own, and the products (activations quantized per block of 32 to int8) against
float64 on the dequantized weights, on every instruction set this CPU has."""

from __future__ import annotations

import numpy as np
import pytest

_engine = pytest.importorskip("llada_studio.core._engine", reason="the C++ engine is not built")
gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf.quants import dequantize, quantize  # noqa: E402

FORMATS = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_k": Q.Q4_K, "q6_k": Q.Q6_K}


def random_blocks(name: str, rows: int, cols: int, seed: int = 0, quantizer: bool = True) -> np.ndarray:
    """Rows of random blocks: gguf's quantizer where it has one (Q8_0, Q4_0) unless `quantizer` is
    False, else random bytes with small finite f16 scales (every bit pattern of the values and
    sub-block scales occurs)."""
    qt = FORMATS[name]
    rng = np.random.default_rng(seed)
    if quantizer and qt in (Q.Q8_0, Q.Q4_0):
        return quantize(rng.standard_normal((rows, cols)).astype(np.float32), qt)
    block, size = gguf.GGML_QUANT_SIZES[qt]
    raw = rng.integers(0, 256, size=(rows, cols // block, size), dtype=np.uint8)
    scales = (rng.standard_normal((rows, cols // block)) * 0.01).astype(np.float16).view(np.uint8)
    scales = scales.reshape(rows, cols // block, 2)
    if qt == Q.Q4_K:  # d, dmin first
        raw[:, :, 0:2] = scales
        raw[:, :, 2:4] = scales[:, ::-1]
    elif qt == Q.Q6_K:  # d last
        raw[:, :, 208:210] = scales
    else:  # Q8_0, Q4_0: d first
        raw[:, :, 0:2] = scales
    return raw.reshape(rows, -1)


@pytest.mark.parametrize("name", FORMATS)
def test_dequantize_matches_gguf(name: str) -> None:
    q = random_blocks(name, 13, 512)
    np.testing.assert_array_equal(_engine.dequantize(q, name), dequantize(q, FORMATS[name]))


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("rows", [1, 5, 8, 33])
def test_quantized_matmul_against_float64(name: str, rows: int, isa: str) -> None:
    K = 256 * 3 if name in ("q4_k", "q6_k") else 32 * 7  # odd block counts: the 32-value tail
    w = random_blocks(name, 19, K, seed=rows)
    x = np.random.default_rng(rows).standard_normal((rows, K)).astype(np.float32)
    ref = x.astype(np.float64) @ dequantize(w, FORMATS[name]).astype(np.float64).T
    y = _engine.matmul(x, w, name, "own", 2)
    # Only the int8 rounding of the activations (per block of 32) is left: ~0.5/127 per value.
    assert np.abs(y - ref).max() / np.abs(ref).max() < 1.5e-2


def test_isas_agree(isa: str) -> None:
    w = random_blocks("q4_k", 7, 512)
    x = np.random.default_rng(1).standard_normal((6, 512)).astype(np.float32)
    y = _engine.matmul(x, w, "q4_k", "own", 1)
    best = _engine.quant_isa()
    _engine.set_quant_isa("scalar")
    ref = _engine.matmul(x, w, "q4_k", "own", 1)
    _engine.set_quant_isa(best)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_bad_quantized_rows_raise() -> None:
    with pytest.raises(ValueError, match="whole blocks"):
        _engine.matmul(np.zeros((1, 32), np.float32), np.zeros((2, 33), np.uint8), "q8_0")
    with pytest.raises(ValueError, match="unknown dtype"):
        _engine.matmul(np.zeros((1, 32), np.float32), np.zeros((2, 34), np.uint8), "q5_0")
