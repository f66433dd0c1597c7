"""bf16 weights against few activation rows (csrc/bf16dot.*): every path the CPU has, forced with
set_bf16_isa (amx: AMX-BF16 tiles on hi + lo bf16 terms of x; avx512: 16-lane f32 FMAs on the
weights converted in registers; f32: the weights converted to f32, the older path), against a float64
product of the same weights, for every row count 1..64 and odd shapes (K not a multiple of 32, N not
a multiple of 16, tails of both)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from llada_studio.core import _engine

ISAS = ("amx", "avx512", "f32")
SHAPES = [(1, 1), (5, 7), (17, 31), (37, 33), (64, 96), (16, 1000), (40, 64), (3, 1030)]


def bf16(a: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits, round to nearest even."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def as_f64(w: np.ndarray) -> np.ndarray:
    return (w.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


@pytest.fixture
def isa(request: pytest.FixtureRequest) -> Iterator[str]:
    before = _engine.bf16_isa()
    if not _engine.set_bf16_isa(request.param):
        pytest.skip(f"this CPU has no {request.param} path")
    yield request.param
    assert _engine.set_bf16_isa(before)


@pytest.mark.parametrize("isa", ISAS, indirect=True)
@pytest.mark.parametrize("threads", [1, 3])
def test_rows_1_to_64_against_float64(isa: str, threads: int) -> None:
    rng = np.random.default_rng(threads)
    for N, K in SHAPES:
        w = bf16(rng.standard_normal((N, K)))
        wf = as_f64(w)
        for M in range(1, 65):
            x = rng.standard_normal((M, K)).astype(np.float32)
            ref = x.astype(np.float64) @ wf.T
            bound = np.abs(x).astype(np.float64) @ np.abs(wf).T  # sum of |x w| per output
            y = _engine.matmul(x, w, "bf16", "own", threads)  # auto: only for >= 1M weights
            # amx: x to 2^-17 (two bf16 terms); avx512 / f32: exact products, f32 sums.
            tol = 2e-5 if isa == "amx" else 1e-6
            err = np.abs(y - ref) / np.maximum(bound, 1e-30)
            assert err.max() <= tol, (isa, M, N, K, float(err.max()))


@pytest.mark.parametrize("isa", ISAS, indirect=True)
def test_engine_shapes_and_kernels(isa: str) -> None:
    """A 4096-wide product (the 8B model's rows, >= 1M weights: auto takes the path) through auto
    and own, 8/16/32/64 rows."""
    rng = np.random.default_rng(7)
    K, N = 4096, 272
    w = bf16(rng.standard_normal((N, K)) * 0.02)
    wf = as_f64(w)
    for M in (8, 16, 32, 64):
        x = rng.standard_normal((M, K)).astype(np.float32)
        ref = x.astype(np.float64) @ wf.T
        for kernel in ("auto", "own"):
            y = _engine.matmul(x, w, "bf16", kernel, 4)
            rel = np.linalg.norm(y - ref) / np.linalg.norm(ref)
            assert rel < (2e-5 if isa == "amx" else 1e-5), (isa, M, kernel, rel)


def test_auto_routing() -> None:
    """auto takes the path for >= 1M weights with K >= 1024 and up to 64 rows; else as before
    (past 64 rows on amx: csrc/amx_gemm.*, the same tiles; test_amx_gemm.py)."""
    rng = np.random.default_rng(5)
    before = _engine.bf16_isa()
    try:
        for name in ISAS[:2]:
            if not _engine.set_bf16_isa(name):
                continue
            for (N, K), M, takes in [
                ((1024, 1024), 8, True),
                ((1024, 1024), 64, True),
                ((1024, 1024), 65, False),
                ((4096, 256), 8, False),
                ((512, 1024), 8, False),
            ]:
                w = bf16(rng.standard_normal((N, K)))
                x = rng.standard_normal((M, K)).astype(np.float32)
                y = _engine.matmul(x, w, "bf16", "auto", 2)
                _engine.set_bf16_isa("f32")
                old = _engine.matmul(x, w, "bf16", "auto", 2)
                _engine.set_bf16_isa(name)
                fast = _engine.matmul(x, w, "bf16", "own", 2)
                takes = takes or (name == "amx" and K >= 1024 and N * K >= 1 << 20)
                np.testing.assert_array_equal(y, fast if takes else old)
    finally:
        assert _engine.set_bf16_isa(before)


def test_blas_kernel_is_left_alone() -> None:
    """kernel="blas" keeps converting to f32 for sgemm whatever the bf16 path."""
    rng = np.random.default_rng(3)
    w = bf16(rng.standard_normal((48, 96)))
    x = rng.standard_normal((20, 96)).astype(np.float32)
    before = _engine.bf16_isa()
    try:
        assert _engine.set_bf16_isa("f32")
        y = _engine.matmul(x, w, "bf16", "blas", 2)
        for name in ISAS:
            if _engine.set_bf16_isa(name):
                np.testing.assert_array_equal(_engine.matmul(x, w, "bf16", "blas", 2), y)
    finally:
        assert _engine.set_bf16_isa(before)


def test_isa_names() -> None:
    assert _engine.bf16_isa() in ISAS
    assert not _engine.set_bf16_isa("avx9000")
    assert _engine.set_bf16_isa(_engine.bf16_isa())
