// Block-quantized weights in the GGML layouts (the GGUF files llama.cpp writes): Q8_0, Q4_0
// (blocks of 32), Q4_K, Q6_K (super-blocks of 256). A weight row is its blocks back to back; the
// engine reads them where the memory map has them.
//
// Products: Y = X W^T with the activations X quantized per block of 32 to int16 (|q| <= 16383,
// one f32 scale each: ~1e-5 relative, where int8 activations cost ~1e-2 in the logits) and
// integer dot products per block of 32, scaled in f32. Q4_K's activations take one scale per 128
// values instead (quant_xblock): its 6-bit sub-block scales then fold into the int16 weights
// (|sc q| <= 945) and the int32 sums run over 4 blocks before one f32 scaling, where per block
// of 32 the scaling and the unpacking cost as much as the products at 8 rows.
//
// Layout "lanes = activation rows": X is packed once per product in groups of G rows (8 or 16),
// each pair of int16 values of the G rows in one 32-bit lane, so one vpdpwssd (AVX512-VNNI)
// multiplies G rows by two weight values broadcast from the weight row: no horizontal sums, each
// weight value loaded once per G rows. Weight rows are unpacked per format (vectorised) into int16
// values + an f32 scale per block of 32 (Q4_K: per 128, + its f32 minimum per block of 32, applied
// through the block sums of X), a few rows and 1024 columns at a time (L1-resident), and reused
// for every row group of the task. Kernels:
// AVX512-VNNI (vpdpwssd, zmm for 16 rows, ymm for <= 8), AVX-VNNI (vpdpwssd in its VEX form, 8
// rows: Intel's Alder Lake and later, which have no AVX-512), AVX2 (vpmaddwd, 8 rows), scalar C++;
// picked at run time from the CPU (cpuid), so a portable build runs everywhere.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "dtype.h"
#include "threadpool.h"

namespace llada {

struct QuantFormat {
  int block;  // values per block
  int bytes;  // bytes per block
};
QuantFormat quant_format(DType dt);  // only for is_quant(dt)
inline int64_t quant_row_bytes(DType dt, int64_t cols) {
  const QuantFormat f = quant_format(dt);
  return cols / f.block * f.bytes;
}

// Q4_K's 6-bit scale and minimum of sub-block j (ggml's get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t* s, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// All 8 of a Q4_K super-block's scales and minimums at once (scale_min_k4 on 32-bit words, four
// sub-blocks per operation; little-endian).
inline void scales_mins_k4(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
  uint32_t u[3];
  std::memcpy(u, s, 12);
  constexpr uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
  const uint32_t sc_lo = u[0] & k6, mn_lo = u[1] & k6;
  const uint32_t sc_hi = (u[2] & k4) | (((u[0] >> 6) & k2) << 4);
  const uint32_t mn_hi = ((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4);
  std::memcpy(sc, &sc_lo, 4), std::memcpy(sc + 4, &sc_hi, 4);
  std::memcpy(mn, &mn_lo, 4), std::memcpy(mn + 4, &mn_hi, 4);
}

// dst[0:n] = the values [offset, offset + n) of a quantized array (offset and n multiples of the
// block size).
void dequantize(const void* src, DType dt, int64_t offset, int64_t n, float* dst);

// The instruction set the quantized kernels use: "avx512vnni", "avxvnni", "avx2" or "scalar". set_quant_isa
// picks a narrower one (tests); it returns false for one this CPU or build lacks.
std::string quant_isa();
bool set_quant_isa(const std::string& name);

// Values per activation scale for weights of dtype dt: 128 for Q4_K (above), else 32.
inline int quant_xblock(DType dt) { return dt == DType::Q4_K ? 128 : 32; }

// X [M, K] quantized per xblock values (K a multiple of xblock) and packed by groups of G rows
// (rows past M are zeros; fewer than a vector's lanes of rows fill the lanes with J pairs per
// row), parallel over rows and column chunks.
struct QuantizedRows {
  int64_t M = 0, K = 0;
  int xblock = 32;           // values per scale in dx (quant_xblock of the weights it serves)
  int G = 8;                 // rows per group
  int J = 1;                 // pair slots per row: a group has L = G * J lanes (the kernel's vector)
  int64_t groups = 0;        // ceil(M / G)
  // [groups][K/2/J][L]: lane r * J + j holds pair p * J + j, (q[2i], q[2i+1]) as int16, of row r
  const int32_t* xp = nullptr;
  const float* dx = nullptr;  // [groups][K/xblock][L]: the scale d of row r (x ~ d * q), in its J lanes
  const float* xs = nullptr;  // [groups][K/32][L]: d * the block's sum of q (Q4_K's minimums), in slot 0
};
// One thread-local buffer per xblock (a fused product of Q4_K and Q6_K holds both), valid until
// the calling thread's next call with the same xblock.
const QuantizedRows& quantize_rows(ThreadPool& pool, int64_t M, int64_t K, const float* X, int64_t ldx,
                                   int xblock = 32);

// Y[M, N] (ldy) (+)= X[M, K] · W^T for a quantized W [N, K]; rows of W given by [n0, n1), X rows
// [m0, m1) (best on multiples of xq.G), xq.xblock = quant_xblock(wdt), single-threaded (called
// inside a parallel loop).
void quant_tile(const QuantizedRows& xq, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const void* W,
                DType wdt, float* Y, int64_t ldy, bool accumulate);

}  // namespace llada
