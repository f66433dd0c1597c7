"""Products of many rows on AMX-BF16 tiles (csrc/amx_gemm.*): bf16, f16 and quantized weights (Q8_0,
Q4_0, Q4_K, Q6_K) against a float64 product of the same (dequantized) weights, odd shapes included
(K not a multiple of 32 for bf16, N not a multiple of 16, rows not a multiple of 16, tasks split by
rows), and the routing: which rows take the path, and that picking another ISA turns it off.
Skipped where the CPU (or OS) has no AMX-BF16."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

from llada_studio.core import _engine
from llada_studio.core.kquant import quantize_k

pytestmark = pytest.mark.skipif(not _engine.amx_gemm_available(), reason="no AMX-BF16 on this CPU")

QUANT = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_k": Q.Q4_K, "q6_k": Q.Q6_K}
# The products are within the f32 path's tolerance: each term (x, and dequantized weights) as two
# bf16 terms, to ~2^-16.
TOL = 2e-5


def bf16(a: np.ndarray) -> np.ndarray:
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def as_f64(w: np.ndarray) -> np.ndarray:
    return (w.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def quantized(w: np.ndarray, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """The file's bytes and their dequantization by gguf (the reference)."""
    q = quantize_k(w, fmt) if fmt.endswith("_k") else quantize(w, QUANT[fmt])
    return q, dequantize(q, QUANT[fmt]).reshape(w.shape).astype(np.float64)


def rel_err(y: np.ndarray, x: np.ndarray, wf: np.ndarray) -> float:
    ref = x.astype(np.float64) @ wf.T
    bound = np.abs(x).astype(np.float64) @ np.abs(wf).T  # sum of |x w| per output
    return float((np.abs(y - ref) / np.maximum(bound, 1e-30)).max())


@pytest.fixture
def pinned() -> Iterator[None]:
    """Every row count takes the path (thresholds back to the defaults afterwards)."""
    bf, qu = _engine.amx_gemm_rows("bf16"), _engine.amx_gemm_rows("q8_0")
    _engine.set_amx_gemm_rows(1, 1)
    yield
    _engine.set_amx_gemm_rows(bf, qu)


@pytest.mark.parametrize("threads", [1, 3])
def test_bf16_against_float64(pinned: None, threads: int) -> None:
    rng = np.random.default_rng(threads)
    for N, K in [(1, 1), (17, 31), (37, 33), (16, 1000), (40, 544), (100, 1030)]:
        w = bf16(rng.standard_normal((N, K)))
        wf = as_f64(w)
        for M in (1, 15, 16, 17, 64, 65, 100, 300):
            x = rng.standard_normal((M, K)).astype(np.float32)
            y = _engine.matmul(x, w, "bf16", "own", threads)
            assert rel_err(y, x, wf) <= TOL, (M, N, K)


@pytest.mark.parametrize("threads", [1, 3])
def test_f16_against_float64(pinned: None, threads: int) -> None:
    """f16 weights (11 significant bits) converted to two bf16 terms per chunk."""
    rng = np.random.default_rng(5 + threads)
    for N, K in [(17, 31), (40, 544), (100, 1030)]:
        w = rng.standard_normal((N, K)).astype(np.float16)
        wf = w.astype(np.float64)
        for M in (1, 16, 65, 130):
            x = rng.standard_normal((M, K)).astype(np.float32)
            y = _engine.matmul(x, w.view(np.uint16), "f16", "own", threads)
            assert rel_err(y, x, wf) <= TOL, (M, N, K)


@pytest.mark.parametrize("fmt", list(QUANT))
@pytest.mark.parametrize("threads", [1, 3])
def test_quantized_against_float64(pinned: None, fmt: str, threads: int) -> None:
    rng = np.random.default_rng(11)
    for N, K in [(16, 256), (40, 768), (100, 1024)]:
        q, wf = quantized(rng.standard_normal((N, K)).astype(np.float32), fmt)
        for M in (1, 16, 33, 80, 257):
            x = rng.standard_normal((M, K)).astype(np.float32)
            y = _engine.matmul(x, q, fmt, "own", threads)
            assert rel_err(y, x, wf) <= TOL, (fmt, M, N, K)


def test_split_by_rows_is_identical(pinned: None) -> None:
    """Few weight rows and many threads: the tasks split the rows (by blocks of 16); each output
    is computed the same way whatever the split."""
    rng = np.random.default_rng(2)
    w = bf16(rng.standard_normal((32, 1024)))
    q, _ = quantized(rng.standard_normal((32, 1024)).astype(np.float32), "q4_k")
    x = rng.standard_normal((200, 1024)).astype(np.float32)
    for arr, fmt in ((w, "bf16"), (q, "q4_k")):
        one = _engine.matmul(x, arr, fmt, "own", 1)
        np.testing.assert_array_equal(_engine.matmul(x, arr, fmt, "own", 4), one)


def test_routing_by_rows() -> None:
    """At the default thresholds: fewer rows go to the other kernels (quantized: the int8 tiles),
    as many or more to this path (bf16: from 65 rows, where BLAS took them; up to 64 bf16dot's
    tiles, which sum in the same order: the same bits); 0 turns it off; a narrower ISA too."""
    rng = np.random.default_rng(4)
    K = 1024
    w = bf16(rng.standard_normal((1024, K)))
    q, _ = quantized(rng.standard_normal((1024, K)).astype(np.float32), "q8_0")
    bf, qu = _engine.amx_gemm_rows("bf16"), _engine.amx_gemm_rows("q8_0")
    assert bf == 65 and qu > 16
    try:
        for arr, fmt, rows in ((w, "bf16", (64, 65, 65)), (q, "q8_0", (qu - 1, qu))):
            for M in rows:
                x = rng.standard_normal((M, K)).astype(np.float32)
                default = _engine.matmul(x, arr, fmt, "auto", 2)
                _engine.set_amx_gemm_rows(1, 1)
                tiles = _engine.matmul(x, arr, fmt, "auto", 2)
                _engine.set_amx_gemm_rows(0, 0)
                other = _engine.matmul(x, arr, fmt, "auto", 2)
                _engine.set_amx_gemm_rows(bf, qu)
                at = bf if fmt == "bf16" else qu
                if M >= at:  # BLAS, the int8 tiles: other sums
                    assert not np.array_equal(tiles, other)
                elif fmt == "bf16":  # bf16dot's tiles: the same sums in the same order
                    np.testing.assert_array_equal(tiles, other)
                np.testing.assert_array_equal(default, tiles if M >= at else other)
        best = _engine.quant_isa()
        x = rng.standard_normal((qu, K)).astype(np.float32)
        assert _engine.set_quant_isa("avx512vnni") or _engine.set_quant_isa("avx2")
        try:
            narrow = _engine.matmul(x, q, "q8_0", "own", 2)
            _engine.set_amx_gemm_rows(0, 0)
            np.testing.assert_array_equal(_engine.matmul(x, q, "q8_0", "own", 2), narrow)
        finally:
            _engine.set_quant_isa(best)
    finally:
        _engine.set_amx_gemm_rows(bf, qu)


def test_quantized_shape_errors(pinned: None) -> None:
    """A weight array whose size is not the shape's blocks is refused with the reason."""
    x = np.zeros((70, 256), np.float32)
    with pytest.raises(ValueError):
        _engine.matmul(x, np.zeros(10, np.uint8), "q8_0", "own", 1)
