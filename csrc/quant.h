// Block-quantized weights in the GGML layouts (the GGUF files llama.cpp writes): Q8_0, Q4_0
// (blocks of 32), Q4_K, Q6_K (super-blocks of 256). A weight row is its blocks back to back; the
// engine reads them where the memory map has them.
//
// Products: Y = X W^T with the activations X quantized per block of 32 to int16 (|q| <= 16383,
// one f32 scale each: ~1e-5 relative, where int8 activations cost ~1e-2 in the logits) and
// integer dot products per block of 32, scaled in f32. Layout "lanes = activation rows": X is
// packed once per product in groups of G rows (8 or 16), each pair of int16 values of the G rows
// in one 32-bit lane, so one vpdpwssd (AVX512-VNNI) multiplies G rows by two weight values
// broadcast from the weight row: no horizontal sums, each weight value loaded once per G rows.
// Weight rows are unpacked per format (vectorised) into int16 values + an f32 scale per block of
// 32 (+ Q4_K's f32 minimum per block, applied through the block sums of X), a few rows and 1024
// columns at a time (L1-resident), and reused for every row group of the task. Kernels:
// AVX512-VNNI (vpdpwssd, zmm for 16 rows, ymm for <= 8), AVX2 (vpmaddwd, 8 rows), scalar C++;
// picked at run time from the CPU (cpuid), so a portable build runs everywhere.
#pragma once

#include <cstdint>
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

// dst[0:n] = the values [offset, offset + n) of a quantized array (offset and n multiples of the
// block size).
void dequantize(const void* src, DType dt, int64_t offset, int64_t n, float* dst);

// The instruction set the quantized kernels use: "avx512vnni", "avx2" or "scalar". set_quant_isa
// picks a narrower one (tests); it returns false for one this CPU or build lacks.
std::string quant_isa();
bool set_quant_isa(const std::string& name);

// X [M, K] quantized per block of 32 (K a multiple of 32) and packed by groups of G rows (rows
// past M are zeros; fewer than a vector's lanes of rows fill the lanes with J pairs per row),
// parallel over rows and column chunks.
struct QuantizedRows {
  int64_t M = 0, K = 0;
  int G = 8;                 // rows per group
  int J = 1;                 // pair slots per row: a group has L = G * J lanes (the kernel's vector)
  int64_t groups = 0;        // ceil(M / G)
  // [groups][K/2/J][L]: lane r * J + j holds pair p * J + j, (q[2i], q[2i+1]) as int16, of row r
  const int32_t* xp = nullptr;
  const float* dx = nullptr;  // [groups][K/32][L]: the block's scale d of row r (x ~ d * q), in its J lanes
  const float* xs = nullptr;  // [groups][K/32][L]: d * the block's sum of q (Q4_K's minimums), in slot 0
};
const QuantizedRows& quantize_rows(ThreadPool& pool, int64_t M, int64_t K, const float* X, int64_t ldx);

// Y[M, N] (ldy) (+)= X[M, K] · W^T for a quantized W [N, K]; rows of W given by [n0, n1), X rows
// [m0, m1) (best on multiples of xq.G), single-threaded (called inside a parallel loop).
void quant_tile(const QuantizedRows& xq, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const void* W,
                DType wdt, float* Y, int64_t ldy, bool accumulate);

}  // namespace llada
