"""The C++ forward pass against the PyTorch reference (ALGORITHM.md section 1).

Relative error = max |cpp - torch| / max |torch| over the whole logits tensor."""

from __future__ import annotations

import numpy as np
import pytest

from llada_studio.core import _engine
from llada_studio.core.checkpoint import Checkpoint
from llada_studio.core.cpp_engine import CppEngine

torch = pytest.importorskip("torch")
from llada_studio.core.torch_backend.engine import TorchEngine  # noqa: E402


def rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(a - ref).max() / np.abs(ref).max())


def inputs(vocab: int, B: int = 2, L: int = 37, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(B, L))
    mask = np.ones((B, L), dtype=bool)
    mask[1, :5] = False  # a left-padded row
    return ids, mask


@pytest.mark.parametrize("kernel", ["blas", "own"])
def test_f32_logits_match_reference(ckpt_f32: Checkpoint, kernel: str) -> None:
    cpp = CppEngine(ckpt_f32, threads=2, kernel=kernel)
    ref = TorchEngine(ckpt_f32, threads=2)
    ids, mask = inputs(ckpt_f32.config.embedding_size)
    for m in (None, mask):
        out = cpp.forward_logits(ids, m)
        assert out.shape == (2, 37, ckpt_f32.config.embedding_size) and out.dtype == np.float32
        assert rel_err(out, ref.forward_logits(ids, m)) < 1e-5


def test_gqa_single_kv_head_and_three_layers(ckpt_f16: Checkpoint) -> None:
    assert ckpt_f16.config.n_kv_heads == 1
    ids, mask = inputs(ckpt_f16.config.embedding_size, L=20)
    out = CppEngine(ckpt_f16, threads=2).forward_logits(ids, mask)
    assert rel_err(out, TorchEngine(ckpt_f16, threads=2).forward_logits(ids, mask)) < 1e-2


@pytest.mark.parametrize("kernel", ["blas", "own"])
def test_bf16_tied_logits_match_upcast_reference(ckpt_bf16: Checkpoint, kernel: str) -> None:
    assert ckpt_bf16.config.weight_tying and ckpt_bf16.weight_dtype == "bf16"
    ids, mask = inputs(ckpt_bf16.config.embedding_size)
    out = CppEngine(ckpt_bf16, threads=2, kernel=kernel).forward_logits(ids, mask)
    # The reference runs the same bf16 weights upcast to f32: the gap is summation order only.
    assert rel_err(out, TorchEngine(ckpt_bf16, threads=2).forward_logits(ids, mask)) < 1e-2


def test_padding_does_not_leak_into_real_tokens(ckpt_f32: Checkpoint) -> None:
    cpp = CppEngine(ckpt_f32, threads=2)
    ids, mask = inputs(ckpt_f32.config.embedding_size)
    other = ids.copy()
    other[1, :5] = (other[1, :5] + 7) % ckpt_f32.config.embedding_size  # change only padded tokens
    a, b = cpp.forward_logits(ids, mask), cpp.forward_logits(other, mask)
    np.testing.assert_allclose(a[1, 5:], b[1, 5:], rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
@pytest.mark.parametrize("kernel", ["blas", "own"])
def test_matmul_kernels_on_odd_shapes(dtype: str, kernel: str) -> None:
    rng = np.random.default_rng(0)
    for M, N, K in [(1, 1, 1), (5, 7, 13), (33, 50, 67), (64, 257, 96)]:
        x = rng.standard_normal((M, K)).astype(np.float32)
        w32 = rng.standard_normal((N, K)).astype(np.float32)
        if dtype == "bf16":
            w = (w32.view(np.uint32) >> 16).astype(np.uint16)
            wf = (w.astype(np.uint32) << 16).view(np.float32)
        elif dtype == "f16":
            w = w32.astype(np.float16)
            wf = w.astype(np.float32)
        else:
            w, wf = w32, w32
        y = _engine.matmul(x, w, dtype, kernel, 2)
        np.testing.assert_allclose(y, x.astype(np.float64) @ wf.T.astype(np.float64), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["bf16", "f16"])
def test_auto_kernel_takes_own_kernels_for_few_rows_of_16_bit_weights(dtype: str) -> None:
    """Up to 16 rows of bf16/f16 weights Auto runs the own kernels (weight-read bound), above that BLAS."""
    rng = np.random.default_rng(1)
    K, N = 96, 80
    w = rng.standard_normal((N, K)).astype(np.float16 if dtype == "f16" else np.float32)
    if dtype == "bf16":
        w = (w.view(np.uint32) >> 16).astype(np.uint16)
    fast = _engine.bf16_isa()
    try:  # the routing without the AMX / AVX-512 bf16 path (tests/engine/test_bf16_kernels.py)
        _engine.set_bf16_isa("f32")
        for M, same_as in ((8, "own"), (16, "own"), (17, "blas"), (64, "blas")):
            x = rng.standard_normal((M, K)).astype(np.float32)
            np.testing.assert_array_equal(
                _engine.matmul(x, w, dtype, "auto", 2), _engine.matmul(x, w, dtype, same_as, 2)
            )
    finally:
        _engine.set_bf16_isa(fast)


def test_bad_token_ids_raise(ckpt_f32: Checkpoint) -> None:
    cpp = CppEngine(ckpt_f32, threads=1)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        cpp.forward_logits(np.array([[0, ckpt_f32.config.embedding_size]]))
    with pytest.raises(ValueError, match="shape"):
        cpp.forward_logits(np.array([[0, 1]]), np.ones((1, 3), bool))


def test_thread_count_setting(ckpt_f32: Checkpoint) -> None:
    one, two = CppEngine(ckpt_f32, threads=1), CppEngine(ckpt_f32, threads=2)
    assert (one.threads, two.threads) == (1, 2)
    assert CppEngine(ckpt_f32).threads >= 1  # default: every core we may run on
    ids, mask = inputs(ckpt_f32.config.embedding_size)
    np.testing.assert_allclose(one.forward_logits(ids, mask), two.forward_logits(ids, mask), rtol=0, atol=1e-5)


def test_only_bindings_knows_python() -> None:
    from pathlib import Path

    csrc = Path(__file__).resolve().parents[2] / "csrc"
    offenders = [
        p.name
        for p in csrc.iterdir()
        if p.suffix in (".h", ".cpp")
        and p.name != "bindings.cpp"
        and ("pybind11" in p.read_text() or "Python.h" in p.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize("kernel", ["blas", "own"])
@pytest.mark.parametrize("rows", [(10, 18), (10, 37), (0, 37), (36, 37)], ids=["dual", "prefix", "all", "one"])
def test_cached_rows_match_reference(ckpt_f32: Checkpoint, kernel: str, rows: tuple[int, int]) -> None:
    """Block KV cache at the forward level: a full pass stores keys and values; then rows
    [r0, r1) of a changed canvas are recomputed against the cache, as the torch model's
    forward_and_cache + forward_rows (f32 within 1e-5, left-padded row masked)."""
    r0, r1 = rows
    first, mask = inputs(ckpt_f32.config.embedding_size)
    ids = first.copy()
    ids[:, r0:r1] = np.random.default_rng(1).integers(0, ckpt_f32.config.embedding_size, size=(2, r1 - r0))
    cpp = CppEngine(ckpt_f32, threads=2, kernel=kernel)
    model = TorchEngine(ckpt_f32, threads=2).model
    with torch.no_grad():
        tmask = torch.as_tensor(mask)
        ref_full, cache = model.forward_and_cache(torch.as_tensor(first), tmask)
        ref_rows = model.forward_rows(torch.as_tensor(ids[:, r0:r1]), tmask, r0, cache)
    full, out = cpp._engine.forward_cached(first, ids, mask, r0, r1)
    assert out.shape == (2, r1 - r0, ckpt_f32.config.embedding_size)
    assert rel_err(full, ref_full.numpy()) < 1e-5
    assert rel_err(out, ref_rows.numpy()) < 1e-5
    if r1 - r0 < 37:  # the stale cache matters: not the same as a fresh full pass
        assert rel_err(out, cpp.forward_logits(ids, mask)[:, r0:r1]) > 1e-4


def test_cached_rows_bf16_within_tolerance(ckpt_bf16: Checkpoint) -> None:
    first, mask = inputs(ckpt_bf16.config.embedding_size)
    ids = first.copy()
    ids[:, 20:30] = 7
    model = TorchEngine(ckpt_bf16, threads=2).model
    with torch.no_grad():
        _, cache = model.forward_and_cache(torch.as_tensor(first), torch.as_tensor(mask))
        ref = model.forward_rows(torch.as_tensor(ids[:, 20:30]), torch.as_tensor(mask), 20, cache).numpy()
    _, out = CppEngine(ckpt_bf16, threads=2)._engine.forward_cached(first, ids, mask, 20, 30)
    assert rel_err(out, ref) < 1e-2
