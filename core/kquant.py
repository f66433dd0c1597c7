"""Q4_K and Q6_K blocks in numpy (the `gguf` package's Python quantizer has no K-quant encoder):
bytes laid out exactly as ggml's block_q4_K / block_q6_K, so gguf's dequantize, llama.cpp and the
C++ engine read them. Super-blocks of 256 values along each row.

Q4_K: 8 sub-blocks of 32, value = d * sc * q - dmin * m with q in 0..15 and 6-bit sc, m per
sub-block; each sub-block's scale and minimum come from a small search over its range (the idea of
ggml's make_qkx2_quants, shorter), then d, dmin quantize them to 6 bits.
Q6_K: 16 sub-blocks of 16, value = d * sc * (q - 32) with q in 0..63 and an int8 sc per
sub-block (ggml's quantize_row_q6_K_ref scheme: the largest value maps to -32).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

QK_K = 256
Q4_K_BYTES = 144
Q6_K_BYTES = 210


def _f16(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.float32).astype(np.float16)


def _sub_scale_min(x: np.ndarray, nmax: int, steps: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Per row of x (..., n): scale s >= 0 and minimum m >= 0 with x ~ s * q - m, q in [0, nmax]:
    the range [min(x, 0), max(x)] and `steps` shrunken candidates of it, the one of least squared
    error kept (refitted by least squares for its q)."""
    lo = np.minimum(x.min(axis=-1), 0.0)
    hi = x.max(axis=-1)
    best_s = (hi - lo) / nmax
    best_m = -lo
    best_err = np.full(x.shape[:-1], np.inf, dtype=x.dtype)
    for i in range(steps + 1):
        s = (hi - lo) / (nmax - 0.5 * i)  # the range, then slightly coarser steps clipping its ends
        safe = np.where(s > 0, s, 1.0)
        q = np.clip(np.rint((x - lo[..., None]) / safe[..., None]), 0, nmax)
        # least squares for x ~ a * q + b over the sub-block, b <= 0 (a minimum, not an offset up)
        n = x.shape[-1]
        sq, sx = q.sum(-1), x.sum(-1)
        sqq, sqx = (q * q).sum(-1), (q * x).sum(-1)
        det = n * sqq - sq * sq
        a = np.where(det > 0, (n * sqx - sq * sx) / np.where(det > 0, det, 1.0), s)
        b = np.where(det > 0, (sx - a * sq) / n, lo)
        b = np.minimum(b, 0.0)
        a = np.where(a > 0, a, s)
        err = ((a[..., None] * q + b[..., None] - x) ** 2).sum(-1)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_s = np.where(better, a, best_s)
        best_m = np.where(better, -b, best_m)
    return best_s.astype(np.float32), best_m.astype(np.float32)


def quantize_q4_k(data: np.ndarray) -> np.ndarray:
    """(rows, n) float, n a multiple of 256 -> (rows, n / 256 * 144) uint8 of block_q4_K."""
    rows, n = data.shape
    if n % QK_K:
        raise ValueError(f"Q4_K needs rows of a multiple of {QK_K} values, got {n}")
    x = np.asarray(data, dtype=np.float32).reshape(-1, 8, 32)  # (blocks, sub-block, value)
    scale, mn = _sub_scale_min(x, 15)
    max_s, max_m = scale.max(-1), mn.max(-1)
    d = _f16(max_s / 63.0)
    dmin = _f16(max_m / 63.0)
    df, dmf = d.astype(np.float32), dmin.astype(np.float32)
    ls = np.clip(np.rint(scale / np.where(df > 0, df, 1.0)[:, None]), 0, 63).astype(np.int32)
    lm = np.clip(np.rint(mn / np.where(dmf > 0, dmf, 1.0)[:, None]), 0, 63).astype(np.int32)
    ls = np.where(df[:, None] > 0, ls, 0)
    lm = np.where(dmf[:, None] > 0, lm, 0)
    dj = df[:, None] * ls  # the scales as the file holds them
    mj = dmf[:, None] * lm
    q = np.clip(np.rint((x + mj[..., None]) / np.where(dj > 0, dj, 1.0)[..., None]), 0, 15).astype(np.uint8)
    q = np.where(dj[..., None] > 0, q, 0).astype(np.uint8)

    out = np.zeros((x.shape[0], Q4_K_BYTES), dtype=np.uint8)
    out[:, 0:2] = d.view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = dmin.view(np.uint8).reshape(-1, 2)
    sc = np.zeros((x.shape[0], 12), dtype=np.int32)
    sc[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    sc[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    sc[:, 8:12] = (ls[:, 4:8] & 0xF) | ((lm[:, 4:8] & 0xF) << 4)
    out[:, 4:16] = sc.astype(np.uint8)
    q = q.reshape(-1, 4, 2, 32)  # (blocks, pair of sub-blocks j, low/high, l)
    out[:, 16:] = (q[:, :, 0, :] | (q[:, :, 1, :] << 4)).reshape(-1, 128)
    return out.reshape(rows, -1)


def quantize_q6_k(data: np.ndarray) -> np.ndarray:
    """(rows, n) float, n a multiple of 256 -> (rows, n / 256 * 210) uint8 of block_q6_K."""
    rows, n = data.shape
    if n % QK_K:
        raise ValueError(f"Q6_K needs rows of a multiple of {QK_K} values, got {n}")
    x = np.asarray(data, dtype=np.float32).reshape(-1, 16, 16)  # (blocks, sub-block, value)
    idx = np.abs(x).argmax(-1)
    vmax = np.take_along_axis(x, idx[..., None], -1)[..., 0]  # signed value of the largest |x|
    scale = vmax / -32.0  # the largest value maps to -32
    k = np.abs(scale).argmax(-1)
    max_scale = np.take_along_axis(scale, k[:, None], -1)[:, 0]
    iscale = np.where(max_scale != 0, -128.0 / np.where(max_scale != 0, max_scale, 1.0), 0.0)
    d = _f16(np.where(max_scale != 0, 1.0 / np.where(iscale != 0, iscale, 1.0), 0.0))
    sc = np.clip(np.rint(iscale[:, None] * scale), -128, 127).astype(np.int32)
    dj = d.astype(np.float32)[:, None] * sc
    q = np.clip(np.rint(x / np.where(dj != 0, dj, 1.0)[..., None]), -32, 31)
    q = (np.where(dj[..., None] != 0, q, 0) + 32).astype(np.uint8).reshape(-1, 2, 4, 32)  # (blocks, half, t, l)

    out = np.zeros((x.shape[0], Q6_K_BYTES), dtype=np.uint8)
    lo, hi = q & 0xF, q >> 4
    ql = np.concatenate([lo[:, :, 0] | (lo[:, :, 2] << 4), lo[:, :, 1] | (lo[:, :, 3] << 4)], axis=-1)  # (b, 2, 64)
    qh = hi[:, :, 0] | (hi[:, :, 1] << 2) | (hi[:, :, 2] << 4) | (hi[:, :, 3] << 6)  # (b, 2, 32)
    out[:, 0:128] = ql.reshape(-1, 128)
    out[:, 128:192] = qh.reshape(-1, 64)
    out[:, 192:208] = sc.astype(np.int8).view(np.uint8)
    out[:, 208:210] = d.view(np.uint8).reshape(-1, 2)
    return out.reshape(rows, -1)


def quantize_k(data: np.ndarray, qtype: str, threads: int | None = None) -> np.ndarray:
    """quantize_q4_k / quantize_q6_k ("q4_k" / "q6_k") over chunks of rows on `threads` threads
    (numpy releases the GIL inside its array operations)."""
    fn = {"q4_k": quantize_q4_k, "q6_k": quantize_q6_k}[qtype]
    rows, n = data.shape
    step = max(1, (1 << 20) // max(n, 1))
    if rows <= step:
        return fn(data)
    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        parts = list(pool.map(lambda r: fn(data[r : r + step]), range(0, rows, step)))
    return np.concatenate(parts, axis=0)
