// Block-quantized weights in the GGML layouts (the GGUF files llama.cpp writes): Q8_0, Q4_0
// (blocks of 32), Q4_K, Q6_K (super-blocks of 256). A weight row is its blocks back to back; the
// engine reads them where the memory map has them.
//
// Products: Y = X W^T with the activations X quantized per block of 32 to int8 (one f32 scale
// each) and integer dot products per block, scaled in f32 (llama.cpp's vec_dot_q8_0_q8_0 idea).
// Each weight row is first unpacked once per task into a common form (int8 values, an f32 scale
// per 16 values, an f32 offset per 32 for the K-quants' minimums), reused for every X row of the
// task; then one kernel serves all four formats. Kernels: AVX512-VNNI (vpdpbusd on 64 values),
// AVX2 (vpmaddubsw on 32), scalar C++; picked at run time from the CPU (cpuid), so a portable
// build runs everywhere and uses the widest it finds.
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

// dst[0:n] = the values [offset, offset + n) of a quantized array (offset and n multiples of the
// block size).
void dequantize(const void* src, DType dt, int64_t offset, int64_t n, float* dst);

// The instruction set the quantized kernels use: "avx512vnni", "avx2" or "scalar". set_quant_isa
// picks a narrower one (tests); it returns false for one this CPU or build lacks.
std::string quant_isa();
bool set_quant_isa(const std::string& name);

// Y[M, N] (ldy) (+)= X[M, K] (ldx) · W^T for a quantized W [N, K]; rows of W given by [n0, n1),
// X rows [m0, m1), single-threaded (called inside a parallel loop). `xq` is X quantized by
// quantize_rows.
struct QuantizedRows;
void quant_tile(const QuantizedRows& xq, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const void* W,
                DType wdt, float* Y, int64_t ldy, bool accumulate);

// X [M, K] quantized per block of 32 (K a multiple of 32), parallel over rows.
struct QuantizedRows {
  int64_t M = 0, K = 0;
  int8_t* q = nullptr;     // (M, K) round(x / d), |q| <= 127
  uint8_t* u = nullptr;    // (M, K) q + 128 (the unsigned operand of vpdpbusd)
  float* d4 = nullptr;     // (M, K/4) the block's scale d, repeated once per 4 values (one per int32 lane)
  float* dsum = nullptr;   // (M, K/32) d * sum(q) of the block (the K-quants' offset term)
};
const QuantizedRows& quantize_rows(ThreadPool& pool, int64_t M, int64_t K, const float* X, int64_t ldx);

}  // namespace llada
