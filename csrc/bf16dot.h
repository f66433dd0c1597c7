// bf16 weights against few activation rows (<= 64: cached steps, the LM head on a block), two
// paths picked at run time from cpuid (compiled with target attributes: a portable build uses
// them where the CPU has them; elsewhere matmul.cpp's older paths run):
// - amx (AMX-BF16, Sapphire Rapids on): Y^T tiles, 16 weight rows x 32 values loaded as stored
//   (row stride ldw) times the activations' pairs, packed once per call as two bf16 terms per
//   value (hi = bf16(x), lo = bf16(x - hi): x to ~2^-17, so the products stay within the f32
//   path's tolerance: 7e-6 of sum |x w| measured, 2e-5 tested), f32 accumulation in the tiles,
//   one C tile per 16 rows.
// - avx512: 16-lane f32 FMAs; each 64-byte load of a weight row (16 bf16 pairs) gives its even
//   values (<< 16) and odd ones (& 0xffff0000) as exact f32, the activations packed once per call
//   in the same even/odd order: the f32 path's products up to summation order. 4 rows x 4 weight
//   rows of accumulators, K in chunks of 1024 (the rows' chunk in L1).
// AVX512-BF16 vdpbf16ps alone was tried first: with x as one bf16 term the products are off by
// ~4e-3 of sum |x w|, outside the engine's bf16 tolerance; with two terms it ran slower than the
// f32 path (vdpbf16ps ~0.7x the throughput of two f32 FMAs per cycle on this CPU).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace llada {

// matmul_wt_multi takes this path for bf16 weights up to this many rows (Auto and Own kernels).
constexpr int64_t kBf16DotRowsMax = 64;

// "amx", "avx512" or "f32" (the weights converted to f32: matmul.cpp's own kernels or BLAS).
// set_bf16_isa picks one for the tests; false if the CPU (or the OS, for AMX) lacks it.
std::string bf16_isa();
bool set_bf16_isa(const std::string& name);
bool bf16_dot_enabled();
// AMX: a task takes every row of X (its panel of weight rows against all of them).
bool bf16_dot_whole_rows();

// Values per packed activation row: K rounded up to 32 (zero padded).
inline int64_t bf16_dot_kp(int64_t K) { return (K + 31) / 32 * 32; }

// The packed activations: bf16_dot_bytes(M, K) bytes, written by bf16_dot_pack for part
// 0..parts-1 (parts = bf16_dot_pack_parts(M, K, threads), disjoint, in parallel). Only if
// bf16_dot_enabled().
size_t bf16_dot_bytes(int64_t M, int64_t K);
int64_t bf16_dot_pack_parts(int64_t M, int64_t K, int threads);
void bf16_dot_pack(int64_t part, int64_t parts, int64_t M, int64_t K, const float* X, int64_t ldx, void* buf);

// The AMX layout alone, whatever path is picked (amx_gemm.h uses it for many rows): the B tiles of
// the hi and lo terms of row block b (16 rows) and chunk c (32 values), 1024 uint16 per pair (hi,
// then lo), in the order the kernels read them: by spans of 16 chunks (512 values), in a span by
// groups of 4 row blocks, in a group chunk after chunk, each with the group's row blocks side by
// side. So a group's span (128 KB) is one sequential read for the prefetchers (row-block-major
// put 64+ rows' tiles a multiple of 128 KB apart, into the same L2 sets; chunk-major, 256 rows
// jumped 32 KB per chunk); up to 64 rows it is simply chunk after chunk. Only if
// bf16_amx_available().
inline int64_t bf16_amx_pair(int64_t b, int64_t c, int64_t nmb, int64_t nkc) {
  const int64_t span = c / 16, steps = std::min<int64_t>(16, nkc - 16 * span), g = b / 4;
  const int64_t group = std::min<int64_t>(4, nmb - 4 * g);
  return span * 16 * nmb + 4 * g * steps + (c % 16) * group + b % 4;
}
bool bf16_amx_available();
bool bf16_amx_on();  // available and picked (bf16_isa() "amx")
size_t bf16_amx_bytes(int64_t M, int64_t K);
int64_t bf16_amx_pack_parts(int64_t K, int threads);
void bf16_amx_pack(int64_t part, int64_t parts, int64_t M, int64_t K, const float* X, int64_t ldx, void* buf);

// Y[m0:m1, n0:n1] (+)= X[m0:m1] · W[n0:n1]^T, W bf16 [N, K] (ldw elements), X [M, K] packed.
// Single-threaded; only if bf16_dot_enabled().
void bf16_dot_tile(const void* buf, int64_t M, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K,
                   const uint16_t* W, int64_t ldw, float* Y, int64_t ldy, bool acc);

}  // namespace llada
