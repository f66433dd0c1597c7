#include "quant_amx.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <vector>

#include "amx_tiles.h"
#include "quant.h"

#if defined(__x86_64__)
#define LLADA_QAMX_X86 1
#include <cpuid.h>
#include <immintrin.h>
// GCC 12's own AVX-512 intrinsics read an "undefined" register they declare: a false warning.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace llada {

bool quant_amx_available() {
#if defined(LLADA_QAMX_X86) && defined(__linux__)
  static const bool ok = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool amx = (d >> 24 & 1) && (d >> 25 & 1);  // AMX-TILE, AMX-INT8
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("f16c");
    if (!amx || !avx512) return false;
    return amx_tile_data_permitted();
  }();
  return ok;
#else
  return false;
#endif
}

namespace {
bool& amx_flag() {
  static bool on = quant_amx_available();
  return on;
}
}  // namespace

bool quant_amx_on() { return amx_flag(); }
void set_quant_amx(bool on) { amx_flag() = on && quant_amx_available(); }

#ifdef LLADA_QAMX_X86
namespace {

#define LLADA_TQAMX "amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"

constexpr float kXMax = 32639.0f;  // 256 x 127 + 127: h = (X + 128) >> 8 and l = X - 256 h stay int8
constexpr int kKC = 1024;          // weight columns per chunk (16 rows x 1024 int8 = 16 KB, L1)
constexpr int kBlocks = kKC / 32;

// One row's block of 32 values -> 32 X (int32) and its scale d.
__attribute__((target(LLADA_TQAMX), always_inline)) inline void quantize_block(const float* x, __m512i& x0, __m512i& x1,
                                                                             float& d) {
  const __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
  d = amax / kXMax;
  const __m512 id = _mm512_set1_ps(amax > 0.0f ? kXMax / amax : 0.0f);
  // cvtps2dq rounds to nearest even, as the int16 path's cvtss2si; |x id| <= kXMax.
  x0 = _mm512_cvtps_epi32(_mm512_mul_ps(a, id));
  x1 = _mm512_cvtps_epi32(_mm512_mul_ps(b, id));
}

// The two int8 terms of 16 X, as 16 bytes each.
__attribute__((target(LLADA_TQAMX), always_inline)) inline void split(__m512i x, __m128i& h, __m128i& l) {
  const __m512i hv = _mm512_srai_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(128)), 8);
  const __m512i lv = _mm512_sub_epi32(x, _mm512_slli_epi32(hv, 8));
  h = _mm512_cvtepi32_epi8(hv);
  l = _mm512_cvtepi32_epi8(lv);
}

// 32 int8 values of one row -> column c of a B tile (VNNI layout: dword j of the column, values
// 4j..4j+3, at byte j * 64 + c * 4).
__attribute__((target(LLADA_TQAMX), always_inline)) inline void put_column(int8_t* tile, int c, __m128i v0, __m128i v1) {
  alignas(16) int32_t d[8];
  _mm_store_si128(reinterpret_cast<__m128i*>(d), v0);
  _mm_store_si128(reinterpret_cast<__m128i*>(d + 4), v1);
  for (int j = 0; j < 8; ++j) std::memcpy(tile + j * 64 + c * 4, d + j, 4);
}

// Group g of 8 rows, blocks [b0, b1): one B tile per block, columns h of the 8 rows then l of them.
__attribute__((target(LLADA_TQAMX))) void pack_blocks(const float* X, int64_t ldx, int64_t M, int64_t nb, int64_t g,
                                                    int64_t b0, int64_t b1, int8_t* B, float* D) {
  for (int64_t b = b0; b < b1; ++b) {
    int8_t* t = B + (g * nb + b) * 512;
    float* dd = D + (g * nb + b) * 16;
    std::memset(t, 0, 512);
    for (int r = 0; r < 8; ++r) {
      const int64_t m = g * 8 + r;
      float d = 0.0f;
      if (m < M) {  // rows past M: zero terms and scales
        __m512i x0, x1;
        quantize_block(X + m * ldx + 32 * b, x0, x1, d);
        __m128i h0, l0, h1, l1;
        split(x0, h0, l0);
        split(x1, h1, l1);
        put_column(t, r, h0, h1);
        put_column(t, r + 8, l0, l1);
      }
      dd[r] = 256.0f * d, dd[r + 8] = d;  // the h columns count 256 times the l columns
    }
  }
}

// The weights of 16 rows x one chunk, as the A tiles read them, with their scales per block:
// s[j][r] for block j of the chunk and row r of the tile.
struct WChunk {
  alignas(64) int8_t q[16 * kKC];
  alignas(64) float s[kBlocks * 16];
  const int8_t* a = nullptr;  // block 0's first A row
  int64_t lda = 0, step = 0;  // bytes between A rows, between blocks
};

__attribute__((target(LLADA_TQAMX))) void prepare(DType dt, const uint8_t* W, int64_t rbytes, int64_t n, int nr,
                                                int64_t k0, int64_t kc, WChunk& w) {
  const int64_t nbk = kc / 32;
  if (dt == DType::Q8_0 && nr == 16) {  // A straight from the weights: 32 values at +2 of each 34-byte block
    const uint8_t* p0 = W + n * rbytes + (k0 / 32) * 34;
    w.a = reinterpret_cast<const int8_t*>(p0 + 2), w.lda = rbytes, w.step = 34;
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(int(rbytes)));
    for (int64_t j = 0; j < nbk; ++j) {  // the 16 rows' scales of block j: one gather (2 bytes used of 4)
      const __m512i v = _mm512_i32gather_epi32(rows, p0 + 34 * j, 1);
      _mm512_store_ps(w.s + 16 * j, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)));
    }
    return;
  }
  w.a = w.q, w.lda = kKC, w.step = 32;
  const __m128i m4 = _mm_set1_epi8(0x0F), e8 = _mm_set1_epi8(8);
  for (int r = 0; r < 16; ++r) {
    int8_t* q = w.q + r * kKC;
    if (r >= nr) {  // padding rows: zero values and scales
      std::memset(q, 0, size_t(kc));
      for (int64_t j = 0; j < nbk; ++j) w.s[16 * j + r] = 0.0f;
      continue;
    }
    const uint8_t* row = W + (n + r) * rbytes;
    switch (dt) {
      case DType::Q8_0:
        for (int64_t j = 0; j < nbk; ++j) {
          const uint8_t* p = row + (k0 / 32 + j) * 34;
          w.s[16 * j + r] = f16c_at(p);
          std::memcpy(q + 32 * j, p + 2, 32);
        }
        break;
      case DType::Q4_0:
        for (int64_t j = 0; j < nbk; ++j) {  // low nibbles = values 0..15, high = 16..31, minus 8
          const uint8_t* p = row + (k0 / 32 + j) * 18;
          w.s[16 * j + r] = f16c_at(p);
          const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 32 * j), _mm_sub_epi8(_mm_and_si128(v, m4), e8));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 32 * j + 16),
                           _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), e8));
        }
        break;
      default: throw std::logic_error("quant_amx: not an AMX format");
    }
  }
}

// Tiles: 0, 1, 6, 7 = C (16 weight rows x 16 columns, int32), 2, 5 = A (16 weight rows x 32 int8),
// 3, 4 = B (8 x 64 int8): four blocks in flight.
__attribute__((target(LLADA_TQAMX))) void load_config() {
  AmxTileConfig cfg;
  for (int t : {0, 1, 6, 7}) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  for (int t : {2, 5}) cfg.colsb[t] = 32, cfg.rows[t] = 16;
  for (int t : {3, 4}) cfg.colsb[t] = 64, cfg.rows[t] = 8;
  _tile_loadconfig(&cfg);
}

// One block's C (stored at c) into the accumulators: acc[r] += C row r (h sums of the group's 8
// rows, then their l sums) x the weight row's scale x d2 (256 d for the h lanes, d for the l
// lanes), so 256 h + l is formed in f32 by the final add of the two halves, not per block (the
// int32 h and l sums are < 2^24: exact as f32).
__attribute__((target(LLADA_TQAMX), always_inline)) inline void scale_block(const int32_t* c, __m512 d2, const float* s,
                                                                          __m512 (&acc)[16]) {
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r) {
    const __m512 v = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * r));
    acc[r] = _mm512_fmadd_ps(v, _mm512_mul_ps(d2, _mm512_set1_ps(s[r])), acc[r]);
  }
}

// Blocks j0 .. j0 + n - 1, their sums stored at c, into the accumulators. (A function, not a
// lambda: a lambda has no target attribute, so a portable build could not inline AVX-512 into it.)
__attribute__((target(LLADA_TQAMX), always_inline)) inline void scale_blocks(const int32_t* c, int64_t j0, int64_t n,
                                                                           const WChunk& w, const float* dx,
                                                                           __m512 (&acc)[16]) {
  for (int64_t b = 0; b < n; ++b) {
    const int64_t j = j0 + b;
    scale_block(c + 256 * b, _mm512_loadu_ps(dx + 16 * j), w.s + 16 * j, acc);
  }
}

// Blocks j and j + 1 (if two) into C tiles CA and CB, then their stores. Macros: GCC's tile
// intrinsics paste the tile number into the instruction's text.
#define LLADA_MULTIPLY(CA, CB, j, two)                   \
  do {                                                   \
    _tile_loadd(2, w.a + (j) * w.step, w.lda);           \
    _tile_loadd(3, bt + (j) * 512, 64);                  \
    _tile_zero(CA);                                      \
    _tile_dpbssd(CA, 2, 3);                              \
    if (two) {                                           \
      _tile_loadd(5, w.a + ((j) + 1) * w.step, w.lda);   \
      _tile_loadd(4, bt + ((j) + 1) * 512, 64);          \
      _tile_zero(CB);                                    \
      _tile_dpbssd(CB, 5, 4);                            \
    }                                                    \
  } while (0)
#define LLADA_STORE(CA, CB, c, two)             \
  do {                                          \
    _tile_stored(CA, c, 64);                    \
    if (two) _tile_stored(CB, (c) + 256, 64);   \
  } while (0)

// A group of 8 rows against the chunk's 16 weight rows: t[r * ldt + c] += the sum of weight row r
// and the group's row c. Steps of 4 blocks: step s's tdpbssd run and their C go to one half of an
// 8 KB ring while step s - 1's C (stored a step before, in L1 by now) are scaled from the other.
// Measured on the 2-core machine (tests/bench/RESULTS_quant.md): C through a 32 KB chunk buffer,
// or scaled right after its own store, cost twice the arithmetic's time.
__attribute__((target(LLADA_TQAMX))) void group8(const WChunk& w, int64_t nbk, const int8_t* bt, const float* dx,
                                               float* t, int64_t ldt) {
  alignas(64) int32_t ring[2][4 * 256];
  __m512 acc[16];
  for (auto& a : acc) a = _mm512_setzero_ps();
  const int64_t steps = nbk / 4;
  for (int64_t s = 0; s < steps; ++s) {
    int32_t* c = ring[s & 1];
    const int64_t j = 4 * s;
    LLADA_MULTIPLY(0, 1, j, true);
    LLADA_MULTIPLY(6, 7, j + 2, true);
    LLADA_STORE(0, 1, c, true);
    LLADA_STORE(6, 7, c + 512, true);
    if (s > 0) scale_blocks(ring[(s - 1) & 1], j - 4, 4, w, dx, acc);
  }
  if (steps > 0) scale_blocks(ring[(steps - 1) & 1], 4 * (steps - 1), 4, w, dx, acc);
  const int64_t j = 4 * steps, rest = nbk - j;  // 0-3 blocks left (K not a multiple of 128)
  if (rest > 0) {
    int32_t* c = ring[steps & 1];
    LLADA_MULTIPLY(0, 1, j, rest > 1);
    if (rest > 2) LLADA_MULTIPLY(6, 7, j + 2, false);
    LLADA_STORE(0, 1, c, rest > 1);
    if (rest > 2) LLADA_STORE(6, 7, c + 512, false);
    scale_blocks(c, j, rest, w, dx, acc);
  }
  for (int r = 0; r < 16; ++r) {  // the h and l halves of each weight row's 8 sums
    float* tr = t + r * ldt;
    const __m256 v = _mm256_add_ps(_mm512_castps512_ps256(acc[r]), _mm512_extractf32x8_ps(acc[r], 1));
    _mm256_storeu_ps(tr, _mm256_add_ps(_mm256_loadu_ps(tr), v));
  }
}
#undef LLADA_MULTIPLY
#undef LLADA_STORE

void prefetch_chunk(DType dt, const uint8_t* W, int64_t rbytes, int64_t n, int nr, int64_t k0, int64_t kc) {
  const QuantFormat f = quant_format(dt);
  const int64_t off = k0 / f.block * f.bytes, len = kc / f.block * f.bytes;
  for (int r = 0; r < nr; ++r) {
    const uint8_t* p = W + (n + r) * rbytes + off;
    for (int64_t i = 0; i < len; i += 64) __builtin_prefetch(p + i, 0, 2);
  }
}

__attribute__((target(LLADA_TQAMX))) void amx_tile(const AmxRows& xa, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                                                 int64_t K, const void* Wv, DType wdt, float* Y, int64_t ldy,
                                                 bool accumulate) {
  load_config();
  thread_local WChunk w;
  thread_local std::vector<float> T;
  const int64_t g0 = m0 / 8, g1 = (m1 + 7) / 8, ldt = (g1 - g0) * 8, nb = K / 32;
  if (int64_t(T.size()) < 16 * ldt) T.resize(size_t(16 * ldt));
  const int64_t rbytes = quant_row_bytes(wdt, K);
  const uint8_t* W = static_cast<const uint8_t*>(Wv);
  for (int64_t n = n0; n < n1; n += 16) {
    const int nr = int(std::min<int64_t>(16, n1 - n));
    std::fill(T.begin(), T.begin() + 16 * ldt, 0.0f);
    for (int64_t k0 = 0; k0 < K; k0 += kKC) {
      const int64_t kc = std::min<int64_t>(kKC, K - k0);
      // The next chunk's bytes are asked for before this one is read, so they arrive while this
      // one is multiplied (16 cores reading otherwise wait on DRAM with nothing to overlap). Not
      // for Q8_0, whose A tiles are loaded where the map has them: the rows' streams are the
      // hardware prefetchers' to follow, and this burst of 272 lines per chunk held them up (16-core
      // device, 12288 x 4096, 8 rows: 0.54-0.58 ms without, 0.68-0.70 with; on a second machine
      // level, and the 8B-shaped cached step of 8 rows 1.08-1.10x of bf16 against 1.04x; the other
      // formats, unpacked row by row first, were level within 5%: tests/bench/RESULTS_quant.md).
      if (wdt != DType::Q8_0 && k0 + kKC < K) {
        prefetch_chunk(wdt, W, rbytes, n, nr, k0 + kKC, std::min<int64_t>(kKC, K - k0 - kKC));
      } else if (wdt != DType::Q8_0 && n + 16 < n1) {
        prefetch_chunk(wdt, W, rbytes, n + 16, int(std::min<int64_t>(16, n1 - n - 16)), 0, std::min<int64_t>(kKC, K));
      }
      prepare(wdt, W, rbytes, n, nr, k0, kc, w);
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t at = g * nb + k0 / 32;
        float* t = T.data() + (g - g0) * 8;
        group8(w, kc / 32, xa.b + at * 512, xa.dx + at * 16, t, ldt);
      }
    }
    for (int64_t m = m0; m < m1; ++m) {
      float* y = Y + m * ldy + n;
      const float* tt = T.data() + (m - g0 * 8);
      if (accumulate) {
        for (int r = 0; r < nr; ++r) y[r] += tt[r * ldt];
      } else {
        for (int r = 0; r < nr; ++r) y[r] = tt[r * ldt];
      }
    }
  }
  _tile_release();
}

}  // namespace
#endif

const AmxRows& quantize_rows_amx(ThreadPool& pool, int64_t M, int64_t K, const float* X, int64_t ldx) {
  thread_local AmxRows xa;
  thread_local std::vector<int8_t> bb;
  thread_local std::vector<float> dd;
  if (K % 32) throw std::invalid_argument("quant_amx: K is not a multiple of 32");
  const int64_t nb = K / 32, groups = (M + 7) / 8;
  bb.resize(size_t(groups * nb * 512));
  dd.resize(size_t(groups * nb * 16));
  xa.M = M, xa.K = K, xa.groups = groups;
  xa.b = bb.data(), xa.dx = dd.data();
#ifdef LLADA_QAMX_X86
  int8_t* B = bb.data();
  float* D = dd.data();
  const int64_t chunks = (nb + kBlocks - 1) / kBlocks;
  pool.run(groups * chunks, [=](int64_t task, int) {
    const int64_t g = task / chunks, b0 = (task % chunks) * kBlocks, b1 = std::min(nb, b0 + kBlocks);
    pack_blocks(X, ldx, M, nb, g, b0, b1, B, D);
  });
#else
  (void)pool, (void)X, (void)ldx;
#endif
  return xa;
}

void quant_amx_tile(const AmxRows& xa, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const void* W,
                    DType wdt, float* Y, int64_t ldy, bool accumulate) {
#ifdef LLADA_QAMX_X86
  if (!quant_amx_format(wdt)) throw std::logic_error("quant_amx: not an AMX format");
  if (m0 % 8) throw std::logic_error("quant_amx: rows not on a group of 8");
  amx_tile(xa, m0, m1, n0, n1, K, W, wdt, Y, ldy, accumulate);
#else
  (void)xa, (void)m0, (void)m1, (void)n0, (void)n1, (void)K, (void)W, (void)wdt, (void)Y, (void)ldy, (void)accumulate;
  throw std::logic_error("quant_amx: not built for this CPU");
#endif
}

}  // namespace llada
