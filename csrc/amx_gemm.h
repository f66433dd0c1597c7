// Products of many activation rows (full passes: the prompt and the canvas, 64 rows and more) on
// AMX-BF16 tiles, for bf16 and f16 weights and the quantized formats (Q8_0, Q4_0, Q4_K, Q6_K).
//
// Why: a full pass is bound by arithmetic, not by reading weights. Before this, bf16 weights past
// 64 rows went to BLAS sgemm (each panel converted to f32; ~1.1 TFLOP/s on the 16-core device) and
// quantized weights to the int8 tiles of quant_amx.h, which must store and rescale their int32 sums
// after every block of 32 values (the weight scale changes there), ~80 ns per 16 weight rows x 32
// values x 8 rows. A tdpbf16ps does 16 x 16 x 32 multiply-adds in ~16 cycles and its f32 sums stay
// in the tile over a whole chunk of K, whatever the format's blocks.
//
// Accuracy: the activations as two bf16 terms (hi = bf16(x), lo = bf16(x - hi): bf16dot.h's AMX
// packing), bf16 weights exact; f16 and quantized weights (dequantized in ggml's order: q * scale -
// min, in f32) converted per 16 rows x 512 values into two bf16 terms too (hi = the f32 truncated, lo = the rest
// rounded), and three products per step (whi xhi + whi xlo + wlo xhi): each term to ~2^-16, so the
// products stay within the f32 path's tolerance.
//
// Loop order, per task (a panel of weight rows against its rows of X): chunks of 512 values
// outermost, so the packed activations of one chunk (rows x 2 KB) stay in L2 while every 16-row
// tile of the panel passes; the sums of each (weight tile, 16 rows) in f32 in a thread-local
// buffer laid out as C tiles (loaded into the tile, accumulated, stored back per chunk).
#pragma once

#include <cstdint>

#include "dtype.h"

namespace llada {

// Weights it computes.
inline bool amx_gemm_format(DType dt) {
  return dt == DType::BF16 || dt == DType::F16 || dt == DType::Q8_0 || dt == DType::Q4_0 || dt == DType::Q4_K ||
         dt == DType::Q6_K;
}

// The fewest rows for which matmul.cpp takes this path (the CPU, OS and the picked ISA allowing:
// bf16_isa() "amx" for bf16 and f16 weights, quant_isa() "amx" for quantized ones). Below it:
// bf16dot.h (bf16, up to its 64 rows) and quant_amx.h (quantized: its per-row cost grows with the
// rows, this one's dequantization does not); f16 takes bf16's. 0 = never (tests and benchmarks pin
// either path).
int64_t amx_gemm_rows(DType dt);
void set_amx_gemm_rows(int64_t bf16_rows, int64_t quant_rows);

// Y[m0:m1, n0:n1] (+)= X[m0:m1] · W[n0:n1]^T. xa: X packed by bf16_amx_pack (all M rows); W [N, K]
// in wdt (bf16, f16: ldw elements per row; quantized: its rows of blocks, ldw unused); m0 a multiple of
// 64 (bf16_amx_pair's groups of 4 row blocks), m1 too or M. Single-threaded (inside a parallel loop); only if bf16_amx_available().
void amx_gemm_tile(const uint16_t* xa, int64_t M, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K,
                   const void* W, DType wdt, int64_t ldw, float* Y, int64_t ldy, bool accumulate);

}  // namespace llada
