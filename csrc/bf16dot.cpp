#include "bf16dot.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "amx_tiles.h"

#if defined(__x86_64__)
#define LLADA_BF16_X86 1
#include <cpuid.h>
#include <immintrin.h>
// GCC 12's own AVX-512 intrinsics read an "undefined" register they declare: a false warning.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace llada {

namespace {

bool cpu_has_avx512() {
#ifdef LLADA_BF16_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

// AMX-BF16 and AVX512-BF16 from cpuid, and the kernel's permission to use the tile data
// (Linux: arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA, once per process).
bool cpu_has_amx() {
#if defined(LLADA_BF16_X86) && defined(__linux__)
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool amx = (d >> 22 & 1) && (d >> 24 & 1);  // AMX-BF16, AMX-TILE
  const bool bf16 = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1);  // AVX512-BF16
  if (!amx || !bf16 || !cpu_has_avx512()) return false;
  return amx_tile_data_permitted();
#else
  return false;
#endif
}

enum class Path { F32 = 0, Avx512 = 1, Amx = 2 };

Path& current() {
  static Path p = cpu_has_amx() ? Path::Amx : cpu_has_avx512() ? Path::Avx512 : Path::F32;
  return p;
}

#ifdef LLADA_BF16_X86
#define LLADA_TBF "avx512f,avx512bw,avx512vl"
constexpr int64_t kKc = 1024;

// Up to 4 accumulators -> their 4 sums (a, b, c, d) in one __m128.
__attribute__((target(LLADA_TBF), always_inline)) inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));  // a02 b02 a13 b13
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512 s = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))));
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// One step of 32 values of K: a 64-byte load of a weight row is 16 bf16 pairs; the even values
// are the low halves (<< 16), the odd ones the high halves (& 0xffff0000), exact f32. The packed
// x rows hold, per 32 values, the 16 even then the 16 odd ones.
template <int MR, int NR>
__attribute__((target(LLADA_TBF), always_inline)) inline void step(__m512 (&c)[MR][NR], const uint16_t* w, int64_t ldw,
                                                                   const float* xp, int64_t kp, int64_t k, __mmask32 m) {
  __m512 we[NR], wo[NR];
  const __m512i hi = _mm512_set1_epi32(int(0xffff0000u));
  for (int j = 0; j < NR; ++j) {
    const __m512i v = _mm512_maskz_loadu_epi16(m, w + j * ldw + k);
    we[j] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    wo[j] = _mm512_castsi512_ps(_mm512_and_si512(v, hi));
  }
  for (int i = 0; i < MR; ++i) {
    const __m512 xe = _mm512_loadu_ps(xp + i * kp + k);
    const __m512 xo = _mm512_loadu_ps(xp + i * kp + k + 16);
    for (int j = 0; j < NR; ++j) {
      c[i][j] = _mm512_fmadd_ps(xe, we[j], c[i][j]);
      c[i][j] = _mm512_fmadd_ps(xo, wo[j], c[i][j]);
    }
  }
}

// Y[MR, NR] (+)= the product over K values [k0, k1) (k0 a multiple of 32).
template <int MR, int NR>
__attribute__((target(LLADA_TBF))) void micro(const float* xp, int64_t kp, const uint16_t* w, int64_t ldw, int64_t k0,
                                              int64_t k1, float* Y, int64_t ldy, bool acc) {
  __m512 c[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i][j] = _mm512_setzero_ps();
  int64_t k = k0;
  for (; k + 32 <= k1; k += 32) step<MR, NR>(c, w, ldw, xp, kp, k, __mmask32(0xffffffffu));
  if (k < k1) step<MR, NR>(c, w, ldw, xp, kp, k, __mmask32((uint64_t(1) << (k1 - k)) - 1));  // x zero padded
  for (int i = 0; i < MR; ++i) {
    float* y = Y + i * ldy;
    if constexpr (NR == 4) {
      __m128 s = hsum4(c[i][0], c[i][1], c[i][2], c[i][3]);
      if (acc) s = _mm_add_ps(s, _mm_loadu_ps(y));
      _mm_storeu_ps(y, s);
    } else {
      for (int j = 0; j < NR; ++j) {
        const float s = _mm512_reduce_add_ps(c[i][j]);
        y[j] = acc ? y[j] + s : s;
      }
    }
  }
}

using MicroFn = void (*)(const float*, int64_t, const uint16_t*, int64_t, int64_t, int64_t, float*, int64_t, bool);
constexpr MicroFn kMicro[4][4] = {
    {micro<1, 1>, micro<1, 2>, micro<1, 3>, micro<1, 4>},
    {micro<2, 1>, micro<2, 2>, micro<2, 3>, micro<2, 4>},
    {micro<3, 1>, micro<3, 2>, micro<3, 3>, micro<3, 4>},
    {micro<4, 1>, micro<4, 2>, micro<4, 3>, micro<4, 4>},
};

__attribute__((target(LLADA_TBF))) void pack_rows(int64_t m0, int64_t m1, int64_t K, const float* X, int64_t ldx,
                                                  float* xp) {
  const int64_t kp = bf16_dot_kp(K);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  auto mask = [K](int64_t k) {
    return k + 16 <= K ? __mmask16(0xffff) : k < K ? __mmask16((1u << (K - k)) - 1) : __mmask16(0);
  };
  for (int64_t m = m0; m < m1; ++m) {
    const float* x = X + m * ldx;
    float* d = xp + m * kp;
    for (int64_t k = 0; k < kp; k += 32) {
      const __m512 a = _mm512_maskz_loadu_ps(mask(k), x + k);
      const __m512 b = _mm512_maskz_loadu_ps(mask(k + 16), x + k + 16);
      _mm512_storeu_ps(d + k, _mm512_permutex2var_ps(a, even, b));
      _mm512_storeu_ps(d + k + 16, _mm512_permutex2var_ps(a, odd, b));
    }
  }
}

// ---- AMX: Y^T tiles. A = 16 weight rows x 32 values (loaded as stored, row stride ldw), B = the
// activations' hi or lo term as 16 pairs of values x 16 rows (packed once per call, 1 KB per
// row block and chunk of 32), C[n][m] f32: one tile per block of 16 rows (M <= 64: tiles 0-3).
#define LLADA_TAMX "amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16"

// xa: the pair of B tiles of row block b and chunk c at bf16_amx_pair (bf16dot.h): up to 64 rows
// (the tiles below) simply chunk after chunk, each with its row blocks side by side.
__attribute__((target(LLADA_TAMX))) void amx_pack(int64_t c0, int64_t c1, int64_t M, int64_t K, const float* X,
                                                  int64_t ldx, uint16_t* xa) {
  const int64_t nmb = (M + 15) / 16, nkc = bf16_dot_kp(K) / 32;
  const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(64));  // byte offset of pair r in the block
  for (int64_t b = 0; b < nmb; ++b)
    for (int64_t c = c0; c < c1; ++c) {
      uint16_t* hi = xa + bf16_amx_pair(b, c, nmb, nkc) * 1024;
      uint16_t* lo = hi + 512;
      const int64_t k = c * 32;
      const __mmask16 ma = k + 16 <= K ? __mmask16(0xffff) : k < K ? __mmask16((1u << (K - k)) - 1) : __mmask16(0);
      const __mmask16 mb = k + 32 <= K ? __mmask16(0xffff) : k + 16 < K ? __mmask16((1u << (K - k - 16)) - 1) : __mmask16(0);
      for (int64_t j = 0; j < 16; ++j) {
        const int64_t m = b * 16 + j;
        __m512 a = _mm512_setzero_ps(), bb = _mm512_setzero_ps();
        if (m < M) {
          a = _mm512_maskz_loadu_ps(ma, X + m * ldx + k);
          bb = _mm512_maskz_loadu_ps(mb, X + m * ldx + k + 16);
        }
        const __m512bh h = _mm512_cvtne2ps_pbh(bb, a);  // values k..k+31, round to nearest even
        const __m512i hv = (__m512i)h;
        const __m512 ha = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hv)), 16));
        const __m512 hb = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hv, 1)), 16));
        const __m512i lv = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(bb, hb), _mm512_sub_ps(a, ha));
        _mm512_i32scatter_epi32(hi + 2 * j, rows, hv, 1);  // pair r -> row r, column j
        _mm512_i32scatter_epi32(lo + 2 * j, rows, lv, 1);
      }
    }
}

#define LLADA_AMX_ROWS(T)                                          \
  if constexpr (NMB > T) {                                         \
    _tile_loadd(5, xa + ((c * nmb + T) * 2) * 512, 64);            \
    _tile_loadd(6, xa + ((c * nmb + T) * 2 + 1) * 512, 64);        \
    _tile_dpbf16ps(T, 4, 5);                                       \
    _tile_dpbf16ps(T, 4, 6);                                       \
  }
#define LLADA_AMX_STORE(T)                                                                    \
  if constexpr (NMB > T) {                                                                    \
    _tile_stored(T, cbuf, 64);                                                                \
    for (int64_t j = 0; j < 16 && T * 16 + j < M; ++j) {                                      \
      float* y = Y + (T * 16 + j) * ldy + n;                                                  \
      for (int i = 0; i < nr; ++i) y[i] = acc ? y[i] + cbuf[i * 16 + j] : cbuf[i * 16 + j]; \
    }                                                                                         \
  }

template <int NMB>
__attribute__((target(LLADA_TAMX))) void amx_tile(const uint16_t* xa, int64_t M, int64_t n0, int64_t n1, int64_t K,
                                                  const uint16_t* W, int64_t ldw, float* Y, int64_t ldy, bool acc) {
  AmxTileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
  const int64_t kp = bf16_dot_kp(K), nkc = kp / 32, nmb = (M + 15) / 16;
  alignas(64) float cbuf[256];
  alignas(64) uint16_t wpad[16 * 32];
  thread_local std::vector<uint16_t> wrows;  // the last < 16 weight rows, zero padded
  for (int64_t n = n0; n < n1; n += 16) {
    const int nr = int(std::min<int64_t>(16, n1 - n));
    const uint16_t* wa = W + n * ldw;
    int64_t lda = ldw;
    if (nr < 16) {
      wrows.assign(size_t(16 * kp), 0);
      for (int i = 0; i < nr; ++i) std::memcpy(wrows.data() + i * kp, wa + i * ldw, size_t(K) * 2);
      wa = wrows.data();
      lda = kp;
    }
    if constexpr (NMB > 0) _tile_zero(0);
    if constexpr (NMB > 1) _tile_zero(1);
    if constexpr (NMB > 2) _tile_zero(2);
    if constexpr (NMB > 3) _tile_zero(3);
    for (int64_t c = 0; c < nkc; ++c) {
      const int64_t k = c * 32;
      if (k + 32 <= K || lda == kp) {
        _tile_loadd(4, wa + k, lda * 2);
      } else {  // the rows' last values, zero padded (never read past a row's end)
        std::memset(wpad, 0, sizeof wpad);
        for (int i = 0; i < 16; ++i) std::memcpy(wpad + i * 32, wa + i * lda + k, size_t(K - k) * 2);
        _tile_loadd(4, wpad, 64);
      }
      LLADA_AMX_ROWS(0)
      LLADA_AMX_ROWS(1)
      LLADA_AMX_ROWS(2)
      LLADA_AMX_ROWS(3)
    }
    LLADA_AMX_STORE(0)
    LLADA_AMX_STORE(1)
    LLADA_AMX_STORE(2)
    LLADA_AMX_STORE(3)
  }
  _tile_release();
}
#endif

}  // namespace

std::string bf16_isa() {
  switch (current()) {
    case Path::Amx: return "amx";
    case Path::Avx512: return "avx512";
    default: return "f32";
  }
}

bool set_bf16_isa(const std::string& name) {
  if (name == "f32") {
    current() = Path::F32;
  } else if (name == "avx512" && cpu_has_avx512()) {
    current() = Path::Avx512;
  } else if (name == "amx" && cpu_has_amx()) {
    current() = Path::Amx;
  } else {
    return false;
  }
  return true;
}

bool bf16_dot_enabled() { return current() != Path::F32; }
bool bf16_dot_whole_rows() { return current() == Path::Amx; }

bool bf16_amx_available() { return cpu_has_amx(); }
bool bf16_amx_on() { return current() == Path::Amx; }

size_t bf16_amx_bytes(int64_t M, int64_t K) {
  return size_t((M + 15) / 16 * 16 * bf16_dot_kp(K) * 2 * 2);  // hi + lo, rows padded to 16
}

int64_t bf16_amx_pack_parts(int64_t K, int threads) {
  return std::max<int64_t>(1, std::min<int64_t>(bf16_dot_kp(K) / 32, threads));  // chunks of 32
}

void bf16_amx_pack(int64_t part, int64_t parts, int64_t M, int64_t K, const float* X, int64_t ldx, void* buf) {
#ifdef LLADA_BF16_X86
  const int64_t units = bf16_dot_kp(K) / 32;
  amx_pack(units * part / parts, units * (part + 1) / parts, M, K, X, ldx, static_cast<uint16_t*>(buf));
#else
  (void)part, (void)parts, (void)M, (void)K, (void)X, (void)ldx, (void)buf;
#endif
}

size_t bf16_dot_bytes(int64_t M, int64_t K) {
  if (current() == Path::Amx) return bf16_amx_bytes(M, K);
  return size_t(M * bf16_dot_kp(K) * 4);
}

int64_t bf16_dot_pack_parts(int64_t M, int64_t K, int threads) {
  if (current() == Path::Amx) return bf16_amx_pack_parts(K, threads);
  return std::max<int64_t>(1, std::min<int64_t>(M, threads));  // rows
}

void bf16_dot_pack(int64_t part, int64_t parts, int64_t M, int64_t K, const float* X, int64_t ldx, void* buf) {
  if (current() == Path::Amx) {
    bf16_amx_pack(part, parts, M, K, X, ldx, buf);
    return;
  }
#ifdef LLADA_BF16_X86
  pack_rows(M * part / parts, M * (part + 1) / parts, K, X, ldx, static_cast<float*>(buf));
#else
  (void)part, (void)parts, (void)M, (void)K, (void)X, (void)ldx, (void)buf;
#endif
}

void bf16_dot_tile(const void* buf, int64_t M, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K,
                   const uint16_t* W, int64_t ldw, float* Y, int64_t ldy, bool acc) {
#ifdef LLADA_BF16_X86
  if (current() == Path::Amx) {  // every row (m0 = 0, m1 = M: bf16_dot_whole_rows)
    const uint16_t* xa = static_cast<const uint16_t*>(buf);
    switch ((M + 15) / 16) {
      case 1: amx_tile<1>(xa, M, n0, n1, K, W, ldw, Y, ldy, acc); break;
      case 2: amx_tile<2>(xa, M, n0, n1, K, W, ldw, Y, ldy, acc); break;
      case 3: amx_tile<3>(xa, M, n0, n1, K, W, ldw, Y, ldy, acc); break;
      default: amx_tile<4>(xa, M, n0, n1, K, W, ldw, Y, ldy, acc); break;
    }
    return;
  }
  const float* xp = static_cast<const float*>(buf);
  const int64_t kp = bf16_dot_kp(K);
  for (int64_t k0 = 0; k0 < K; k0 += kKc) {  // 4 x rows x kKc values (16 KB) stay in L1
    const int64_t k1 = std::min(K, k0 + kKc);
    for (int64_t m = m0; m < m1; m += 4) {
      const int mr = int(std::min<int64_t>(4, m1 - m));
      for (int64_t n = n0; n < n1; n += 4) {  // the panel's weights for this chunk: L2
        const int nr = int(std::min<int64_t>(4, n1 - n));
        kMicro[mr - 1][nr - 1](xp + m * kp, kp, W + n * ldw, ldw, k0, k1, Y + m * ldy + n, ldy, acc || k0 > 0);
      }
    }
  }
#else
  (void)buf, (void)M, (void)m0, (void)m1, (void)n0, (void)n1, (void)K, (void)W, (void)ldw, (void)Y, (void)ldy,
      (void)acc;
#endif
}

}  // namespace llada
