#include "amx_gemm.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "amx_tiles.h"
#include "bf16dot.h"
#include "quant.h"

#if defined(__x86_64__)
#define LLADA_AG_X86 1
#include <immintrin.h>
// GCC 12's own AVX-512 intrinsics read an "undefined" register they declare: a false warning.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace llada {

namespace {
// bf16: past bf16dot.h's 64 rows (there its tiles keep the sums over all of K). Quantized: the
// int8 tiles' cost grows with the rows, the dequantization here does not; on the 16-core device
// (tests/bench/RESULTS_quant.md) level at 64 rows, faster at 128 in every format (1.07-1.32x).
int64_t g_bf16_rows = 65;
int64_t g_quant_rows = 128;
}  // namespace

int64_t amx_gemm_rows(DType dt) { return is_quant(dt) ? g_quant_rows : g_bf16_rows; }
void set_amx_gemm_rows(int64_t bf16_rows, int64_t quant_rows) {
  g_bf16_rows = bf16_rows;
  g_quant_rows = quant_rows;
}

#ifdef LLADA_AG_X86
namespace {

#define LLADA_TAG "amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c"

constexpr int kKC = 512;  // values per chunk: a weight tile's chunk, dequantized, is 32 KB (L1)
// Rows of a dequantized chunk 1088 bytes apart, not 1024, and lo not right after hi: at a multiple
// of 4 KB a tile's rows fell into 4 sets of L1 and the dequantizing stores aliased the tile loads
// (2.5x slower on the 2-core machine).
constexpr int kLd = kKC + 32;

struct WChunk {
  alignas(64) uint16_t hi[16 * kLd];
  alignas(64) uint16_t pad[32];
  alignas(64) uint16_t lo[16 * kLd];
};

// Block b (32 values) of a weight row as ggml dequantizes it: value = q * s - m, s0 the scale of
// values 0-15 and s1 of 16-31 (different only in Q6_K), m Q4_K's minimum.
struct Block {
  __m256i q;  // 32 int8
  float s0, s1, m;
};

__attribute__((target(LLADA_TAG), always_inline)) inline Block block_at(DType dt, const uint8_t* row, int64_t b) {
  const __m256i M4 = _mm256_set1_epi8(0x0F);
  switch (dt) {
    case DType::Q8_0: {
      const uint8_t* p = row + b * 34;
      const float d = f16c_at(p);
      return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)), d, d, 0.0f};
    }
    case DType::Q4_0: {  // low nibbles = values 0..15, high = 16..31, minus 8
      const uint8_t* p = row + b * 18;
      const float d = f16c_at(p);
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
      const __m128i m4 = _mm_set1_epi8(0x0F);
      const __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
      return {_mm256_sub_epi8(q, _mm256_set1_epi8(8)), d, d, 0.0f};
    }
    case DType::Q4_K: {  // sub-block j of a super-block: 32 low (j even) or high (j odd) nibbles
      const uint8_t* p = row + (b / 8) * 144;
      const int j = int(b % 8);
      int sc, mn;
      scale_min_k4(j, p + 4, sc, mn);
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * (j / 2)));
      const __m256i q = j % 2 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), M4) : _mm256_and_si256(v, M4);
      const float s = f16c_at(p) * float(sc);
      return {q, s, s, f16c_at(p + 2) * float(mn)};
    }
    case DType::Q6_K: {  // half h of a super-block (128 values), quarter u of it: 4 bits of ql + 2 of qh
      const uint8_t* p = row + (b / 8) * 210;
      const int h = int(b % 8) / 4, u = int(b % 4);
      const uint8_t* ql = p + 64 * h;
      const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 128 + 32 * h));
      const __m256i lb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32 * (u % 2)));
      const __m256i M30 = _mm256_set1_epi8(0x30);
      const __m256i low = u < 2 ? _mm256_and_si256(lb, M4) : _mm256_and_si256(_mm256_srli_epi16(lb, 4), M4);
      const __m256i top = u == 0   ? _mm256_slli_epi16(hb, 4)
                          : u == 1 ? _mm256_slli_epi16(hb, 2)
                          : u == 2 ? hb
                                   : _mm256_srli_epi16(hb, 2);
      const __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_and_si256(top, M30)), _mm256_set1_epi8(32));
      const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192 + 8 * h);
      const float d = f16c_at(p + 208);
      return {q, d * float(sc[2 * u]), d * float(sc[2 * u + 1]), 0.0f};
    }
    default: throw std::logic_error("amx_gemm: not a quantized dtype");
  }
}

// 32 f32 values (a: the first 16, b: the rest) as two bf16 terms: hi = the truncation, lo = the
// rest rounded (hi + lo to ~2^-16).
__attribute__((target(LLADA_TAG), always_inline)) inline void store_terms(__m512 a, __m512 b, uint16_t* hi,
                                                                        uint16_t* lo) {
  const __m512i top = _mm512_set1_epi32(int(0xFFFF0000u));
  // the top halves of 2 x 16 f32: their bf16 truncation
  const __m512i odd = _mm512_setr_epi32(0x00030001, 0x00070005, 0x000B0009, 0x000F000D, 0x00130011, 0x00170015,
                                        0x001B0019, 0x001F001D, 0x00230021, 0x00270025, 0x002B0029, 0x002F002D,
                                        0x00330031, 0x00370035, 0x003B0039, 0x003F003D);
  const __m512i ai = _mm512_castps_si512(a), bi = _mm512_castps_si512(b);
  const __m512 la = _mm512_sub_ps(a, _mm512_castsi512_ps(_mm512_and_si512(ai, top)));  // exact
  const __m512 lb = _mm512_sub_ps(b, _mm512_castsi512_ps(_mm512_and_si512(bi, top)));
  _mm512_store_si512(hi, _mm512_permutex2var_epi16(ai, odd, bi));
  _mm512_store_si512(lo, (__m512i)_mm512_cvtne2ps_pbh(lb, la));
}

// Rows nr..15 of a chunk (past a panel's last weight row): zero terms.
void zero_rows(int nr, int64_t kc, WChunk& w) {
  for (int r = nr; r < 16; ++r) {
    std::memset(w.hi + r * kLd, 0, size_t(kc) * 2);
    std::memset(w.lo + r * kLd, 0, size_t(kc) * 2);
  }
}

// Rows [0, nr) of the tile, values [k0, k0 + kc), as hi and lo bf16 terms; rows nr..15 zero.
__attribute__((target(LLADA_TAG))) void dequantize_chunk(DType dt, const uint8_t* W, int64_t rbytes, int64_t n, int nr,
                                                       int64_t k0, int64_t kc, WChunk& w) {
  zero_rows(nr, kc, w);
  for (int r = 0; r < nr; ++r) {
    uint16_t* hi = w.hi + r * kLd;
    uint16_t* lo = w.lo + r * kLd;
    const uint8_t* row = W + (n + r) * rbytes;
    for (int64_t i = 0; i < kc / 32; ++i) {
      const Block bl = block_at(dt, row, k0 / 32 + i);
      const __m512 m = _mm512_set1_ps(bl.m);
      const __m512 a = _mm512_fmsub_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(bl.q))),
                                       _mm512_set1_ps(bl.s0), m);
      const __m512 b = _mm512_fmsub_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(bl.q, 1))),
                                       _mm512_set1_ps(bl.s1), m);
      store_terms(a, b, hi + 32 * i, lo + 32 * i);
    }
  }
}

// f16 weight rows [0, nr) of the tile (ldw elements apart), values [k0, k0 + kc) (past K: zeros),
// as hi and lo bf16 terms (an f16 has 11 significant bits: one bf16 term holds 8); rows nr..15 zero.
__attribute__((target(LLADA_TAG))) void f16_chunk(const uint16_t* W, int64_t ldw, int64_t K, int64_t n, int nr,
                                                int64_t k0, int64_t kc, WChunk& w) {
  zero_rows(nr, kc, w);
  for (int r = 0; r < nr; ++r) {
    uint16_t* hi = w.hi + r * kLd;
    uint16_t* lo = w.lo + r * kLd;
    const uint16_t* row = W + (n + r) * ldw;
    for (int64_t i = 0; i < kc / 32; ++i) {
      const int64_t k = k0 + 32 * i;
      const __mmask16 ma = k + 16 <= K ? __mmask16(0xffff) : k < K ? __mmask16((1u << (K - k)) - 1) : __mmask16(0);
      const __mmask16 mb = k + 32 <= K ? __mmask16(0xffff) : k + 16 < K ? __mmask16((1u << (K - k - 16)) - 1) : __mmask16(0);
      const __m512 a = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(ma, row + k));
      const __m512 b = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mb, row + k + 16));
      store_terms(a, b, hi + 32 * i, lo + 32 * i);
    }
  }
}

// bf16 weight rows [0, nr) of the tile, values [k0, k0 + kc) (past K: zeros), into hi; rows nr..15
// zero. Only for a short last tile or K's last values: full tiles are loaded where they are.
void copy_chunk(const uint16_t* W, int64_t ldw, int64_t K, int64_t n, int nr, int64_t k0, int64_t kc, WChunk& w) {
  for (int r = 0; r < 16; ++r) {
    uint16_t* hi = w.hi + r * kLd;
    std::memset(hi, 0, size_t(kc) * 2);
    if (r < nr && k0 < K) std::memcpy(hi, W + (n + r) * ldw + k0, size_t(std::min(kc, K - k0)) * 2);
  }
}

void prefetch_rows(const uint8_t* p, int64_t stride, int nr, int64_t len) {
  for (int r = 0; r < nr; ++r)
    for (int64_t i = 0; i < len; i += 64) __builtin_prefetch(p + r * stride + i, 0, 2);
}

// Tiles: 0-3 = C (16 weight rows x 16 rows of X, f32), 4 = A (the weights' hi term), 5 = A (lo:
// quantized weights only), 6, 7 = B (X's hi, lo for a block of 16 rows).
__attribute__((target(LLADA_TAG))) void load_config() {
  AmxTileConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  _tile_loadconfig(&cfg);
}

// One chunk's steps of 32 values for row blocks tb .. tb + NMB - 1 (NMB <= 4), their sums in C
// tiles 0..NMB-1 loaded from and stored back to acc (tile t at t * 256; first: zeroed instead).
// TERMS 2: bf16 weights (w xhi + w xlo); 3: dequantized ones (+ wlo xhi).
#define LLADA_AG_ROW(T)                                               \
  if constexpr (NMB > T) {                                            \
    const uint16_t* x = xs + (c * NMB + T) * 1024;                     \
    _tile_loadd(6, x, 64);                                            \
    _tile_loadd(7, x + 512, 64);                                      \
    _tile_dpbf16ps(T, 4, 6);                                          \
    _tile_dpbf16ps(T, 4, 7);                                          \
    if constexpr (TERMS == 3) _tile_dpbf16ps(T, 5, 6);                \
  }
#define LLADA_AG_LOAD(T)                          \
  if constexpr (NMB > T) {                        \
    if (first) _tile_zero(T);                     \
    else _tile_loadd(T, acc + (T) * 256, 64);     \
  }
#define LLADA_AG_STORE(T) \
  if constexpr (NMB > T) _tile_stored(T, acc + (T) * 256, 64);

template <int NMB, int TERMS>
__attribute__((target(LLADA_TAG))) void multiply(const uint16_t* ahi, const uint16_t* alo, int64_t lda,
                                               const uint16_t* xa, int64_t nmb, int64_t nkc, int64_t c0, int64_t steps,
                                               int64_t tb, float* acc, bool first) {
  const uint16_t* xs = xa + bf16_amx_pair(tb, c0, nmb, nkc) * 1024;  // the group's span: sequential
  LLADA_AG_LOAD(0)
  LLADA_AG_LOAD(1)
  LLADA_AG_LOAD(2)
  LLADA_AG_LOAD(3)
  for (int64_t c = 0; c < steps; ++c) {
    _tile_loadd(4, ahi + 32 * c, lda * 2);
    if constexpr (TERMS == 3) _tile_loadd(5, alo + 32 * c, lda * 2);
    LLADA_AG_ROW(0)
    LLADA_AG_ROW(1)
    LLADA_AG_ROW(2)
    LLADA_AG_ROW(3)
  }
  LLADA_AG_STORE(0)
  LLADA_AG_STORE(1)
  LLADA_AG_STORE(2)
  LLADA_AG_STORE(3)
}
#undef LLADA_AG_ROW
#undef LLADA_AG_LOAD
#undef LLADA_AG_STORE

template <int TERMS>
__attribute__((target(LLADA_TAG))) void multiply_rows(int blocks, const uint16_t* ahi, const uint16_t* alo, int64_t lda,
                                                    const uint16_t* xa, int64_t nmb, int64_t nkc, int64_t c0, int64_t steps,
                                                    int64_t tb, float* acc, bool first) {
  switch (blocks) {
    case 1: multiply<1, TERMS>(ahi, alo, lda, xa, nmb, nkc, c0, steps, tb, acc, first); break;
    case 2: multiply<2, TERMS>(ahi, alo, lda, xa, nmb, nkc, c0, steps, tb, acc, first); break;
    case 3: multiply<3, TERMS>(ahi, alo, lda, xa, nmb, nkc, c0, steps, tb, acc, first); break;
    default: multiply<4, TERMS>(ahi, alo, lda, xa, nmb, nkc, c0, steps, tb, acc, first); break;
  }
}

__attribute__((target(LLADA_TAG))) void gemm(const uint16_t* xa, int64_t M, int64_t m0, int64_t m1, int64_t n0,
                                           int64_t n1, int64_t K, const void* Wv, DType wdt, int64_t ldw, float* Y,
                                           int64_t ldy, bool accumulate) {
  load_config();
  thread_local WChunk w;
  thread_local std::vector<float> T;  // [weight tile][row block][16 weight rows x 16 rows of X]
  const int64_t kp = bf16_dot_kp(K), nkc = kp / 32, mbs = (M + 15) / 16;  // row blocks of the packed X
  const int64_t b0 = m0 / 16, b1 = std::min((m1 + 15) / 16, mbs), nmb = b1 - b0;
  const int64_t tiles = (n1 - n0 + 15) / 16;
  if (int64_t(T.size()) < tiles * nmb * 256) T.resize(size_t(tiles * nmb * 256));
  const bool bf16 = wdt == DType::BF16, f16 = wdt == DType::F16;
  const uint8_t* Wq = static_cast<const uint8_t*>(Wv);
  const uint16_t* Wb = static_cast<const uint16_t*>(Wv);
  const int64_t rbytes = bf16 || f16 ? ldw * 2 : quant_row_bytes(wdt, K);
  const QuantFormat qf = bf16 || f16 ? QuantFormat{32, 64} : quant_format(wdt);
  for (int64_t k0 = 0; k0 < kp; k0 += kKC) {
    const int64_t kc = std::min<int64_t>(kKC, kp - k0);
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t n = n0 + 16 * t;
      const int nr = int(std::min<int64_t>(16, n1 - n));
      {  // the next weight tile's chunk (or the first tile's next chunk) while this one is multiplied
        const int64_t nn = t + 1 < tiles ? n + 16 : n0, kk = t + 1 < tiles ? k0 : k0 + kKC;
        if (kk < K) {
          const int rows = int(std::min<int64_t>(16, n1 - nn));
          const int64_t len = std::min<int64_t>(kKC, K - kk) / qf.block * qf.bytes;
          prefetch_rows(Wq + nn * rbytes + kk / qf.block * qf.bytes, rbytes, rows, len);
        }
      }
      const uint16_t *ahi, *alo = w.lo;
      int64_t lda = kLd;
      if (f16) {
        f16_chunk(Wb, ldw, K, n, nr, k0, kc, w);
        ahi = w.hi;
      } else if (!bf16) {
        dequantize_chunk(wdt, Wq, rbytes, n, nr, k0, kc, w);
        ahi = w.hi;
      } else if (nr == 16 && k0 + kc <= K) {  // the weights where they are
        ahi = Wb + n * ldw + k0;
        lda = ldw;
      } else {
        copy_chunk(Wb, ldw, K, n, nr, k0, kc, w);
        ahi = w.hi;
      }
      float* acc = T.data() + t * nmb * 256;
      for (int64_t b = b0; b < b1; b += 4) {
        const int g = int(std::min<int64_t>(4, b1 - b));
        if (bf16) multiply_rows<2>(g, ahi, alo, lda, xa, mbs, nkc, k0 / 32, kc / 32, b, acc + (b - b0) * 256, k0 == 0);
        else multiply_rows<3>(g, ahi, alo, lda, xa, mbs, nkc, k0 / 32, kc / 32, b, acc + (b - b0) * 256, k0 == 0);
      }
    }
  }
  _tile_release();
  for (int64_t t = 0; t < tiles; ++t) {  // C[i][j] = weight row n + i, row of X 16 b + j
    const int64_t n = n0 + 16 * t;
    const int nr = int(std::min<int64_t>(16, n1 - n));
    for (int64_t b = b0; b < b1; ++b) {
      const float* c = T.data() + (t * nmb + (b - b0)) * 256;
      for (int64_t j = 0; j < 16; ++j) {
        const int64_t m = 16 * b + j;
        if (m < m0 || m >= m1) continue;
        float* y = Y + m * ldy + n;
        if (accumulate) {
          for (int i = 0; i < nr; ++i) y[i] += c[i * 16 + j];
        } else {
          for (int i = 0; i < nr; ++i) y[i] = c[i * 16 + j];
        }
      }
    }
  }
}

}  // namespace
#endif

void amx_gemm_tile(const uint16_t* xa, int64_t M, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K,
                   const void* W, DType wdt, int64_t ldw, float* Y, int64_t ldy, bool accumulate) {
#ifdef LLADA_AG_X86
  if (!amx_gemm_format(wdt)) throw std::logic_error("amx_gemm: not a bf16, f16 or quantized matrix");
  if (is_quant(wdt) && K % quant_format(wdt).block) throw std::logic_error("amx_gemm: K is not a block multiple");
  if (m0 % 64) throw std::logic_error("amx_gemm: rows not on a group of 4 row blocks");
  if (m0 >= m1 || n0 >= n1) return;
  gemm(xa, M, m0, m1, n0, n1, K, W, wdt, ldw, Y, ldy, accumulate);
#else
  (void)xa, (void)M, (void)m0, (void)m1, (void)n0, (void)n1, (void)K, (void)W, (void)wdt, (void)ldw, (void)Y,
      (void)ldy, (void)accumulate;
  throw std::logic_error("amx_gemm: not built for this CPU");
#endif
}

}  // namespace llada
