// Quantized products on AMX-INT8 (Sapphire Rapids on): Q8_0 and Q4_0 weights against the
// activations as int8 tiles. Picked at run time (cpuid + the Linux permission for the tile data;
// compiled with target attributes, so a portable build uses it where the CPU has it); Q4_K, Q6_K
// and CPUs without AMX keep quant.cpp's int16 path.
//
// Why: quant.cpp's vpdpwssd path does 32 multiply-adds per instruction and spends as much again on
// unpacking and scaling, so a cached step (8-32 rows) was bound by instructions, not by reading
// the weights (RESULTS_quant.md: Q4_0 took as long as Q8_0). A tdpbssd does 16 x 16 x 32 of
// them.
//
// Accuracy as the int16 path's: each activation is quantized per block of 32 to a 16-bit integer
// X (|X| <= 32639, one f32 scale d per block) split into two int8 terms, X = 256 h + l, so the
// block sums  sum w X = 256 sum w h + sum w l  are exact in int32; only the f32 scaling per block
// rounds.
//
// Tiles: A = 16 weight rows x 32 values (one block), loaded where the memory map has them (Q8_0)
// or from a 16 x 1024 int8 unpack (Q4_0, a short last tile); B = the activations' terms in
// the VNNI layout, packed once per product; C = 16 weight rows x 16 columns of int32, read out
// and scaled per block (the weight scale changes every 32 values). Columns = h of a group of 8
// rows, then l of the same 8: one tdpbssd per block for both terms.
#pragma once

#include <cstdint>

#include "dtype.h"
#include "threadpool.h"

namespace llada {

// The CPU (and OS) can run it; quant_amx_on() = picked (set_quant_isa("amx"), the default where
// available).
bool quant_amx_available();
bool quant_amx_on();
void set_quant_amx(bool on);
// Formats it computes (the others go to quant_tile).
// Not Q4_K: since its sub-block scales fold into int16 weights (quant.h), the AVX512-VNNI path ran
// its cached steps 1.0-1.2x faster than these tiles on the 16-core device (8B shape, 8-32 rows,
// three runs: tests/bench/RESULTS_quant.md); its many-row products still go to amx_gemm.h.
inline bool quant_amx_format(DType dt) { return dt == DType::Q8_0 || dt == DType::Q4_0; }

// X [M, K] (K a multiple of 32) quantized and packed for the tiles, in parallel; a thread-local
// buffer of the calling thread, valid until its next call.
struct AmxRows {
  int64_t M = 0, K = 0;
  int64_t groups = 0;          // groups of 8 rows (rows past M are zeros)
  const int8_t* b = nullptr;   // [groups][K/32][512 bytes]: B tile, columns h of the 8 rows, then l
  const float* dx = nullptr;   // [groups][K/32][16]: 256 d of each h column's row, d of each l column's
};
const AmxRows& quantize_rows_amx(ThreadPool& pool, int64_t M, int64_t K, const float* X, int64_t ldx);

// Y[m0:m1, n0:n1] (+)= X[m0:m1] · W[n0:n1]^T for a quantized W [N, K] (quant_amx_format), m0 a
// multiple of 8. Single-threaded (inside a parallel loop).
void quant_amx_tile(const AmxRows& xa, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const void* W,
                    DType wdt, float* Y, int64_t ldy, bool accumulate);

}  // namespace llada
