#include "quant.h"

#include "quant_amx.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#define LLADA_X86 1
#include <immintrin.h>
// GCC 12's own _mm512_cvtepi32_ps reads an "undefined" register it declares: a false warning.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace llada {

QuantFormat quant_format(DType dt) {
  switch (dt) {
    case DType::Q8_0: return {32, 34};
    case DType::Q4_0: return {32, 18};
    case DType::Q4_K: return {256, 144};
    case DType::Q6_K: return {256, 210};
    default: throw std::invalid_argument("not a quantized dtype");
  }
}

namespace {

inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// dequantize's form of a weight row (value = q * sv - m32, each factor as ggml multiplies it, so
// the values equal gguf's dequantize bit for bit).
struct Unpacked {
  int8_t* q;       // (K)    values, |q| <= 32 (K-quants, Q4_0) or 127 (Q8_0)
  float* sv;       // (K/4)  the scale of each group of 4 values
  float* m32;      // (K/32) subtracted offset of each block of 32 (Q4_K's minimums)
  bool has_min;
};

struct RowBuffers {
  std::vector<int8_t> q;
  std::vector<float> sv, m32;
  Unpacked get(int64_t K) {
    if (int64_t(q.size()) < K) {
      q.resize(size_t(K) + 64);
      sv.resize(size_t(K / 4) + 16);
      m32.resize(size_t(K / 32) + 2);
    }
    return {q.data(), sv.data(), m32.data(), false};
  }
};

inline void fill(float* p, int n, float v) {
  for (int i = 0; i < n; ++i) p[i] = v;
}

void unpack_row(DType dt, const uint8_t* row, int64_t K, Unpacked& u) {
  u.has_min = false;
  switch (dt) {
    case DType::Q8_0:
      for (int64_t b = 0; b < K / 32; ++b, row += 34) {
        fill(u.sv + 8 * b, 8, f16_at(row));
        std::memcpy(u.q + 32 * b, row + 2, 32);
      }
      break;
    case DType::Q4_0:
      for (int64_t b = 0; b < K / 32; ++b, row += 18) {
        fill(u.sv + 8 * b, 8, f16_at(row));
        const uint8_t* qs = row + 2;
        int8_t* q = u.q + 32 * b;
        for (int j = 0; j < 16; ++j) {
          q[j] = int8_t((qs[j] & 0xF) - 8);
          q[j + 16] = int8_t((qs[j] >> 4) - 8);
        }
      }
      break;
    case DType::Q4_K:
      u.has_min = true;
      for (int64_t sb = 0; sb < K / 256; ++sb, row += 144) {
        const float d = f16_at(row), dmin = f16_at(row + 2);
        const uint8_t* scales = row + 4;
        const uint8_t* qs = row + 16;
        for (int j = 0; j < 4; ++j) {  // 64 values: low nibbles, then high nibbles
          int sc1, m1, sc2, m2;
          scale_min_k4(2 * j, scales, sc1, m1);
          scale_min_k4(2 * j + 1, scales, sc2, m2);
          const int64_t base = sb * 256 + 64 * j;
          int8_t* q = u.q + base;
          for (int l = 0; l < 32; ++l) {
            q[l] = int8_t(qs[32 * j + l] & 0xF);
            q[l + 32] = int8_t(qs[32 * j + l] >> 4);
          }
          fill(u.sv + base / 4, 8, d * float(sc1));
          fill(u.sv + base / 4 + 8, 8, d * float(sc2));
          u.m32[base / 32] = dmin * float(m1);
          u.m32[base / 32 + 1] = dmin * float(m2);
        }
      }
      break;
    case DType::Q6_K:
      for (int64_t sb = 0; sb < K / 256; ++sb, row += 210) {
        const uint8_t* ql = row;
        const uint8_t* qh = row + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(row + 192);
        const float d = f16_at(row + 208);
        for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8) {
          const int64_t base = sb * 256 + 128 * half;
          int8_t* q = u.q + base;
          for (int l = 0; l < 32; ++l) {
            q[l] = int8_t(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            q[l + 32] = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            q[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            q[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
          }
          for (int g = 0; g < 8; ++g) fill(u.sv + base / 4 + 4 * g, 4, d * float(sc[g]));  // 16 values each
        }
      }
      break;
    default: throw std::invalid_argument("not a quantized dtype");
  }
}

// ---- products -------------------------------------------------------------------------------
// A tile of kNC weight rows unpacked over kKC columns: int16 values and an f32 scale per block of
// 32 (value = s * q, Q6_K's int8 sub-block scales folded into q); Q4_K's 6-bit sub-block scales
// folded into q too, so its s is one per 128 values (quant_xblock: s[i] for values 128 i ..), and
// its minimum per block of 32 (value = s * q - m).
constexpr int kKC = 1024;  // columns per unpacked chunk (a multiple of 256)
constexpr int kNC = 8;     // weight rows per tile
constexpr float kQMax = 16383.0f;  // |x q| <= 2^14 - 1: Q6_K's folded |q| <= 4096 x 32 values fit int32

struct WTile {
  alignas(64) int16_t q[kNC * kKC];
  float s[kNC * (kKC / 32)];  // row c's scales from s[c * (kKC / 32)]
  float m[kNC * (kKC / 32)];
};

using UnpackFn = void (*)(DType dt, const uint8_t* row, int64_t k0, int64_t kc, int16_t* q, float* s, float* mn);

void unpack_scalar(DType dt, const uint8_t* row, int64_t k0, int64_t kc, int16_t* q, float* s, float* mn) {
  const int64_t nb = kc / 32;
  switch (dt) {
    case DType::Q8_0:
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = row + (k0 / 32 + b) * 34;
        s[b] = f16_at(p), mn[b] = 0.0f;
        for (int i = 0; i < 32; ++i) q[32 * b + i] = int8_t(p[2 + i]);
      }
      break;
    case DType::Q4_0:
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = row + (k0 / 32 + b) * 18;
        s[b] = f16_at(p), mn[b] = 0.0f;
        for (int j = 0; j < 16; ++j) {
          q[32 * b + j] = int16_t((p[2 + j] & 0xF) - 8);
          q[32 * b + j + 16] = int16_t((p[2 + j] >> 4) - 8);
        }
      }
      break;
    case DType::Q4_K:
      for (int64_t sb = 0; sb < kc / 256; ++sb) {
        const uint8_t* p = row + (k0 / 256 + sb) * 144;
        const float d = f16_at(p), dmin = f16_at(p + 2);
        const uint8_t* qs = p + 16;
        uint8_t sc[8], m8[8];
        scales_mins_k4(p + 4, sc, m8);
        for (int j = 0; j < 4; ++j) {
          const int64_t base = 256 * sb + 64 * j;
          for (int l = 0; l < 32; ++l) {
            q[base + l] = int16_t((qs[32 * j + l] & 0xF) * sc[2 * j]);
            q[base + 32 + l] = int16_t((qs[32 * j + l] >> 4) * sc[2 * j + 1]);
          }
        }
        for (int b = 0; b < 8; ++b) mn[8 * sb + b] = dmin * float(m8[b]);
        s[2 * sb] = s[2 * sb + 1] = d;
      }
      break;
    case DType::Q6_K:
      for (int64_t sb = 0; sb < kc / 256; ++sb) {
        const uint8_t* p = row + (k0 / 256 + sb) * 210;
        const uint8_t* ql = p;
        const uint8_t* qh = p + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192);
        const float d = f16_at(p + 208);
        for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8) {
          int16_t* o = q + 256 * sb + 128 * half;
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            o[l] = int16_t(sc[is] * (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32));
            o[l + 32] = int16_t(sc[is + 2] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32));
            o[l + 64] = int16_t(sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32));
            o[l + 96] = int16_t(sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32));
          }
        }
        for (int b = 0; b < 8; ++b) s[8 * sb + b] = d, mn[8 * sb + b] = 0.0f;
      }
      break;
    default: throw std::invalid_argument("not a quantized dtype");
  }
}

// One group of G rows packed with J pair slots (QuantizedRows): t[c * ldt + r] += the chunk's nb
// blocks of row r . weight row c of the tile (c < kNC, r < G). q4k: Q4_K's form (one scale per 4
// blocks, the int32 sums run over them; minimums per block), else one scale per block.
using GroupFn = void (*)(int G, int J, const int32_t* xp, const float* dx, const float* xs, int64_t nb,
                         const WTile& w, bool q4k, float* t, int64_t ldt);

void group_scalar(int G, int J, const int32_t* xp, const float* dx, const float* xs, int64_t nb, const WTile& w,
                  bool q4k, float* t, int64_t ldt) {
  const int L = G * J, bs = q4k ? 4 : 1;  // blocks per scale
  for (int c = 0; c < kNC; ++c) {
    const int16_t* wq = w.q + c * kKC;
    for (int r = 0; r < G; ++r) {
      float acc = 0.0f;
      for (int64_t b0 = 0; b0 < nb; b0 += bs) {
        int32_t s = 0;
        for (int64_t b = b0; b < b0 + bs; ++b)
          for (int i = 0; i < 16; ++i) {  // pair i of the block
            const uint32_t v = uint32_t(xp[(16 / J * b + i / J) * L + r * J + i % J]);
            s += int32_t(int16_t(v & 0xFFFF)) * wq[32 * b + 2 * i] + int32_t(int16_t(v >> 16)) * wq[32 * b + 2 * i + 1];
          }
        acc += float(s) * (dx[b0 / bs * L + r * J] * w.s[c * (kKC / 32) + b0 / bs]);
        if (q4k)
          for (int64_t b = b0; b < b0 + bs; ++b) acc -= xs[b * L + r * J] * w.m[c * (kKC / 32) + b];
      }
      t[c * ldt + r] += acc;
    }
  }
}

#ifdef LLADA_X86
#define LLADA_T2 "avx2,fma,f16c"
#define LLADA_TVNNI "avx2,fma,f16c,avxvnni"
#define LLADA_T512 "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"

__attribute__((target(LLADA_T2), always_inline)) inline float f16c_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

__attribute__((target(LLADA_T2))) void unpack_avx2(DType dt, const uint8_t* row, int64_t k0, int64_t kc, int16_t* q,
                                                 float* s, float* mn) {
  const int64_t nb = kc / 32;
  const __m128i m4 = _mm_set1_epi8(0x0F), e8 = _mm_set1_epi8(8);
  const __m256i M4 = _mm256_set1_epi8(0x0F), M30 = _mm256_set1_epi8(0x30), E32 = _mm256_set1_epi8(32);
#define st(o, v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), v)
#define lo128(v) _mm256_castsi256_si128(v)
#define hi128(v) _mm256_extracti128_si256(v, 1)
  switch (dt) {
    case DType::Q8_0:
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = row + (k0 / 32 + b) * 34;
        s[b] = f16c_at(p), mn[b] = 0.0f;
        st(q + 32 * b, _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2))));
        st(q + 32 * b + 16, _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18))));
      }
      break;
    case DType::Q4_0:
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = row + (k0 / 32 + b) * 18;
        s[b] = f16c_at(p), mn[b] = 0.0f;
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
        st(q + 32 * b, _mm256_cvtepi8_epi16(_mm_sub_epi8(_mm_and_si128(v, m4), e8)));
        st(q + 32 * b + 16, _mm256_cvtepi8_epi16(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), e8)));
      }
      break;
    case DType::Q4_K:
      for (int64_t sb = 0; sb < kc / 256; ++sb) {
        const uint8_t* p = row + (k0 / 256 + sb) * 144;
        const float d = f16c_at(p), dmin = f16c_at(p + 2);
        uint8_t sc[8], m8[8];
        scales_mins_k4(p + 4, sc, m8);
        for (int j = 0; j < 4; ++j) {
          const int64_t base = 256 * sb + 64 * j;
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * j));
          const __m256i lo = _mm256_and_si256(v, M4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), M4);
          const __m256i s1 = _mm256_set1_epi16(sc[2 * j]), s2 = _mm256_set1_epi16(sc[2 * j + 1]);
          st(q + base, _mm256_mullo_epi16(_mm256_cvtepu8_epi16(lo128(lo)), s1));
          st(q + base + 16, _mm256_mullo_epi16(_mm256_cvtepu8_epi16(hi128(lo)), s1));
          st(q + base + 32, _mm256_mullo_epi16(_mm256_cvtepu8_epi16(lo128(hi)), s2));
          st(q + base + 48, _mm256_mullo_epi16(_mm256_cvtepu8_epi16(hi128(hi)), s2));
        }
        const __m128i m8v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(m8));
        _mm256_storeu_ps(mn + 8 * sb, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(m8v)), _mm256_set1_ps(dmin)));
        s[2 * sb] = s[2 * sb + 1] = d;
      }
      break;
    case DType::Q6_K:
      for (int64_t sb = 0; sb < kc / 256; ++sb) {
        const uint8_t* p = row + (k0 / 256 + sb) * 210;
        const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192);
        const float d = f16c_at(p + 208);
        for (int half = 0; half < 2; ++half) {
          const uint8_t* ql = p + 64 * half;
          const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
          const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
          const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 128 + 32 * half));
          __m256i v[4];
          v[0] = _mm256_or_si256(_mm256_and_si256(a, M4), _mm256_and_si256(_mm256_slli_epi16(h, 4), M30));
          v[1] = _mm256_or_si256(_mm256_and_si256(b, M4), _mm256_and_si256(_mm256_slli_epi16(h, 2), M30));
          v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), M4), _mm256_and_si256(h, M30));
          v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), M4),
                                 _mm256_and_si256(_mm256_srli_epi16(h, 2), M30));
          int16_t* o = q + 256 * sb + 128 * half;
          const int8_t* g = sc + 8 * half;
          for (int t = 0; t < 4; ++t) {
            const __m256i w = _mm256_sub_epi8(v[t], E32);
            st(o + 32 * t, _mm256_mullo_epi16(_mm256_cvtepi8_epi16(lo128(w)), _mm256_set1_epi16(g[2 * t])));
            st(o + 32 * t + 16, _mm256_mullo_epi16(_mm256_cvtepi8_epi16(hi128(w)), _mm256_set1_epi16(g[2 * t + 1])));
          }
        }
        for (int b = 0; b < 8; ++b) s[8 * sb + b] = d, mn[8 * sb + b] = 0.0f;
      }
      break;
    default: throw std::invalid_argument("not a quantized dtype");
  }
#undef st
#undef lo128
#undef hi128
}

// AVX-512BW: one vpmovsxbw / vpmovzxbw to 32 int16 values per block of 32 (the AVX2 form takes two
// of each, with two stores). Q6_K goes through the AVX2 form.
__attribute__((target(LLADA_T512))) void unpack_avx512(DType dt, const uint8_t* row, int64_t k0, int64_t kc,
                                                     int16_t* q, float* s, float* mn) {
  const int64_t nb = kc / 32;
  switch (dt) {
    case DType::Q8_0:
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = row + (k0 / 32 + b) * 34;
        s[b] = f16c_at(p);
        _mm512_storeu_si512(q + 32 * b,
                            _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2))));
      }
      break;
    case DType::Q4_0: {
      const __m128i m4 = _mm_set1_epi8(0x0F);
      const __m256i e8 = _mm256_set1_epi8(8);
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = row + (k0 / 32 + b) * 18;
        s[b] = f16c_at(p);
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
        const __m256i lh = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m4)),
                                                   _mm_and_si128(_mm_srli_epi16(v, 4), m4), 1);
        _mm512_storeu_si512(q + 32 * b, _mm512_cvtepi8_epi16(_mm256_sub_epi8(lh, e8)));
      }
      break;
    }
    case DType::Q4_K: {
      const __m256i M4 = _mm256_set1_epi8(0x0F);
      for (int64_t sb = 0; sb < kc / 256; ++sb) {
        const uint8_t* p = row + (k0 / 256 + sb) * 144;
        const float d = f16c_at(p), dmin = f16c_at(p + 2);
        uint8_t sc[8], m8[8];
        scales_mins_k4(p + 4, sc, m8);
        for (int j = 0; j < 4; ++j) {
          const int64_t base = 256 * sb + 64 * j;
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * j));
          _mm512_storeu_si512(q + base, _mm512_mullo_epi16(_mm512_cvtepu8_epi16(_mm256_and_si256(v, M4)),
                                                           _mm512_set1_epi16(sc[2 * j])));
          _mm512_storeu_si512(q + base + 32,
                              _mm512_mullo_epi16(_mm512_cvtepu8_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), M4)),
                                                 _mm512_set1_epi16(sc[2 * j + 1])));
        }
        const __m128i m8v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(m8));
        _mm256_storeu_ps(mn + 8 * sb, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(m8v)), _mm256_set1_ps(dmin)));
        s[2 * sb] = s[2 * sb + 1] = d;
      }
      break;
    }
    default: unpack_avx2(dt, row, k0, kc, q, s, mn);
  }
}

inline int32_t pair_at(const int16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// AVX2: vpmaddwd (x pair . w pair per 32-bit lane) + vpaddd, 8 rows per group.
template <bool Q4K>
__attribute__((target(LLADA_T2))) void group_avx2_t(const int32_t* xp, const float* dx, const float* xs, int64_t nb,
                                                  const WTile& w, float* t, int64_t ldt) {
  constexpr int BS = Q4K ? 4 : 1;  // blocks per scale
  __m256 acc[kNC];
  for (int c = 0; c < kNC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b0 = 0; b0 < nb; b0 += BS) {
    __m256i s[kNC];
    for (int c = 0; c < kNC; ++c) s[c] = _mm256_setzero_si256();
    for (int64_t b = b0; b < b0 + BS; ++b) {
      const int32_t* xb = xp + 16 * 8 * b;
#pragma GCC unroll 16
      for (int p = 0; p < 16; ++p) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 8 * p));
#pragma GCC unroll 8
        for (int c = 0; c < kNC; ++c)
          s[c] = _mm256_add_epi32(
              s[c], _mm256_madd_epi16(xv, _mm256_set1_epi32(pair_at(w.q + c * kKC + 32 * b + 2 * p))));
      }
    }
    const __m256 d = _mm256_loadu_ps(dx + 8 * (b0 / BS));
    for (int c = 0; c < kNC; ++c)
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[c]),
                               _mm256_mul_ps(d, _mm256_set1_ps(w.s[c * (kKC / 32) + b0 / BS])), acc[c]);
    if constexpr (Q4K) {
      for (int64_t b = b0; b < b0 + BS; ++b) {
        const __m256 x = _mm256_loadu_ps(xs + 8 * b);
        for (int c = 0; c < kNC; ++c) acc[c] = _mm256_fnmadd_ps(x, _mm256_set1_ps(w.m[c * (kKC / 32) + b]), acc[c]);
      }
    }
  }
  for (int c = 0; c < kNC; ++c) _mm256_storeu_ps(t + c * ldt, _mm256_add_ps(_mm256_loadu_ps(t + c * ldt), acc[c]));
}

__attribute__((target(LLADA_T2))) void group_avx2(int, int, const int32_t* xp, const float* dx, const float* xs, int64_t nb,
                                                const WTile& w, bool q4k, float* t, int64_t ldt) {
  if (q4k) group_avx2_t<true>(xp, dx, xs, nb, w, t, ldt);
  else group_avx2_t<false>(xp, dx, xs, nb, w, t, ldt);
}

// AVX-VNNI (the VEX form: Intel's Alder Lake and later without AVX-512): group_avx2_t with one
// vpdpwssd for each vpmaddwd + vpaddd. A function of its own, not a template parameter of
// group_avx2_t: with avxvnni in its target attribute GCC may fuse the AVX2 kernel's pair into
// vpdpwssd too, and that kernel must run on CPUs without it.
template <bool Q4K>
__attribute__((target(LLADA_TVNNI))) void group_avxvnni_t(const int32_t* xp, const float* dx, const float* xs,
                                                         int64_t nb, const WTile& w, float* t, int64_t ldt) {
  constexpr int BS = Q4K ? 4 : 1;  // blocks per scale
  __m256 acc[kNC];
  for (int c = 0; c < kNC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b0 = 0; b0 < nb; b0 += BS) {
    __m256i s[kNC];
    for (int c = 0; c < kNC; ++c) s[c] = _mm256_setzero_si256();
    for (int64_t b = b0; b < b0 + BS; ++b) {
      const int32_t* xb = xp + 16 * 8 * b;
#pragma GCC unroll 16
      for (int p = 0; p < 16; ++p) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 8 * p));
#pragma GCC unroll 8
        for (int c = 0; c < kNC; ++c)
          s[c] = _mm256_dpwssd_avx_epi32(s[c], xv, _mm256_set1_epi32(pair_at(w.q + c * kKC + 32 * b + 2 * p)));
      }
    }
    const __m256 d = _mm256_loadu_ps(dx + 8 * (b0 / BS));
    for (int c = 0; c < kNC; ++c)
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[c]),
                               _mm256_mul_ps(d, _mm256_set1_ps(w.s[c * (kKC / 32) + b0 / BS])), acc[c]);
    if constexpr (Q4K) {
      for (int64_t b = b0; b < b0 + BS; ++b) {
        const __m256 x = _mm256_loadu_ps(xs + 8 * b);
        for (int c = 0; c < kNC; ++c) acc[c] = _mm256_fnmadd_ps(x, _mm256_set1_ps(w.m[c * (kKC / 32) + b]), acc[c]);
      }
    }
  }
  for (int c = 0; c < kNC; ++c) _mm256_storeu_ps(t + c * ldt, _mm256_add_ps(_mm256_loadu_ps(t + c * ldt), acc[c]));
}

__attribute__((target(LLADA_TVNNI))) void group_avxvnni(int, int, const int32_t* xp, const float* dx, const float* xs,
                                                      int64_t nb, const WTile& w, bool q4k, float* t, int64_t ldt) {
  if (q4k) group_avxvnni_t<true>(xp, dx, xs, nb, w, t, ldt);
  else group_avxvnni_t<false>(xp, dx, xs, nb, w, t, ldt);
}

// AVX512-VNNI: vpdpwssd multiplies 16 lanes of x pairs by weight pairs and adds into int32
// lanes. Lane r * J + j holds pair p * J + j of row r: G rows x J pair slots = 16 lanes (G = 16,
// J = 1 for more than 8 rows; 8 x 2, 4 x 4, 2 x 8, 1 x 16 for fewer), the J weight pairs
// broadcast from memory in one load, so a vpdpwssd always does 32 multiply-adds.
template <int J>
__attribute__((target(LLADA_T512), always_inline)) inline __m512i bcast_pairs(const int16_t* w) {
  if constexpr (J == 1) {
    return _mm512_set1_epi32(pair_at(w));
  } else if constexpr (J == 2) {
    int64_t v;
    std::memcpy(&v, w, 8);
    return _mm512_set1_epi64(v);
  } else if constexpr (J == 4) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  } else if constexpr (J == 8) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
  } else {
    return _mm512_loadu_si512(w);
  }
}

template <int J, bool Q4K>
__attribute__((target(LLADA_T512))) void group_vnni_t(const int32_t* xp, const float* dx, const float* xs, int64_t nb,
                                                    const WTile& w, float* t, int64_t ldt) {
  constexpr int G = 16 / J, BS = Q4K ? 4 : 1;  // blocks per scale
  __m512 acc[kNC];
  for (int c = 0; c < kNC; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b0 = 0; b0 < nb; b0 += BS) {
    __m512i s[kNC];
    for (int c = 0; c < kNC; ++c) s[c] = _mm512_setzero_si512();
    for (int64_t b = b0; b < b0 + BS; ++b) {
      const int32_t* xb = xp + 16 * 16 / J * b;
      const int16_t* wb = w.q + 32 * b;
#pragma GCC unroll 16
      for (int p = 0; p < 16 / J; ++p) {
        const __m512i xv = _mm512_loadu_si512(xb + 16 * p);
#pragma GCC unroll 8
        for (int c = 0; c < kNC; ++c) s[c] = _mm512_dpwssd_epi32(s[c], xv, bcast_pairs<J>(wb + c * kKC + 2 * J * p));
      }
    }
    const __m512 d = _mm512_loadu_ps(dx + 16 * (b0 / BS));
    for (int c = 0; c < kNC; ++c)
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[c]),
                               _mm512_mul_ps(d, _mm512_set1_ps(w.s[c * (kKC / 32) + b0 / BS])), acc[c]);
    if constexpr (Q4K) {
      for (int64_t b = b0; b < b0 + BS; ++b) {
        const __m512 x = _mm512_loadu_ps(xs + 16 * b);
        for (int c = 0; c < kNC; ++c) acc[c] = _mm512_fnmadd_ps(x, _mm512_set1_ps(w.m[c * (kKC / 32) + b]), acc[c]);
      }
    }
  }
  for (int c = 0; c < kNC; ++c) {
    if constexpr (J == 1) {
      _mm512_storeu_ps(t + c * ldt, _mm512_add_ps(_mm512_loadu_ps(t + c * ldt), acc[c]));
    } else {
      alignas(64) float v[16];
      _mm512_store_ps(v, acc[c]);
      for (int r = 0; r < G; ++r) {
        float sum = 0.0f;
        for (int j = 0; j < J; ++j) sum += v[r * J + j];
        t[c * ldt + r] += sum;
      }
    }
  }
}

__attribute__((target(LLADA_T512))) void group_vnni(int G, int, const int32_t* xp, const float* dx, const float* xs,
                                                  int64_t nb, const WTile& w, bool q4k, float* t, int64_t ldt) {
  switch (G) {
#define LLADA_G(GG, JJ)                                                               \
  case GG:                                                                            \
    if (q4k) group_vnni_t<JJ, true>(xp, dx, xs, nb, w, t, ldt);                       \
    else group_vnni_t<JJ, false>(xp, dx, xs, nb, w, t, ldt);                          \
    break;
    LLADA_G(16, 1)
    LLADA_G(8, 2)
    LLADA_G(4, 4)
    LLADA_G(2, 8)
    LLADA_G(1, 16)
#undef LLADA_G
    default: throw std::logic_error("quantized kernel: bad row group");
  }
}
#endif

struct Isa {
  const char* name;
  UnpackFn unpack;
  GroupFn group;
  int lanes;  // 32-bit lanes of the kernel's vectors (rows x pair slots of a group)
  bool slots;  // takes groups of fewer rows with J > 1 pair slots (else always `lanes` rows)
};

constexpr Isa kScalar{"scalar", unpack_scalar, group_scalar, 16, true};  // as the VNNI kernel packs

// The kernels of one instruction set, if this CPU (and build) has it.
bool isa_named(const std::string& name, Isa& isa) {
  if (name == "scalar") {
    isa = kScalar;
    return true;
  }
#ifdef LLADA_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  if (name == "avx2" && avx2) {
    isa = {"avx2", unpack_avx2, group_avx2, 8, false};
    return true;
  }
  if (name == "avxvnni" && avx2 && __builtin_cpu_supports("avxvnni")) {
    isa = {"avxvnni", unpack_avx2, group_avxvnni, 8, false};
    return true;
  }
  if (name == "avx512vnni" && avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
    isa = {"avx512vnni", unpack_avx512, group_vnni, 16, true};
    return true;
  }
#endif
  return false;
}

Isa best_isa() {
  Isa isa = kScalar;
  for (const char* name : {"avx512vnni", "avxvnni", "avx2"})
    if (isa_named(name, isa)) return isa;
  return kScalar;
}

Isa& current_isa() {
  static Isa isa = best_isa();
  return isa;
}

}  // namespace

std::string quant_isa() { return quant_amx_on() ? "amx" : current_isa().name; }

bool set_quant_isa(const std::string& name) {
  Isa isa = kScalar;
  if (name == "amx") {  // AMX formats on tiles, Q6_K on the avx512vnni path beside them
    if (!quant_amx_available() || !isa_named("avx512vnni", isa)) return false;
  } else if (!isa_named(name, isa)) {
    return false;
  }
  set_quant_amx(name == "amx");
  current_isa() = isa;
  return true;
}

void dequantize(const void* src, DType dt, int64_t offset, int64_t n, float* dst) {
  const QuantFormat f = quant_format(dt);
  if (offset % f.block || n % f.block) throw std::invalid_argument("dequantize: not on block boundaries");
  thread_local RowBuffers buf;
  Unpacked u = buf.get(n);
  unpack_row(dt, static_cast<const uint8_t*>(src) + offset / f.block * f.bytes, n, u);
  for (int64_t i = 0; i < n; ++i) dst[i] = float(u.q[i]) * u.sv[i / 4] - (u.has_min ? u.m32[i / 32] : 0.0f);
}

// Nearest integer within +-kQMax, branch-free (cvtss2si rounds to nearest even; no libm call).
inline int32_t round_q(float v) {
  v = std::min(std::max(v, -kQMax), kQMax);
#ifdef LLADA_X86
  return _mm_cvtss_si32(_mm_set_ss(v));
#else
  return int32_t(std::nearbyint(v));
#endif
}

const QuantizedRows& quantize_rows(ThreadPool& pool, int64_t M, int64_t K, const float* X, int64_t ldx, int xblock) {
  struct Buffers {
    QuantizedRows xq;
    std::vector<int32_t> xp;
    std::vector<float> dx, xs;
  };
  if (xblock != 32 && xblock != 128) throw std::invalid_argument("quantize_rows: xblock is 32 or 128");
  if (K % xblock) throw std::invalid_argument("quantize_rows: K is not a multiple of xblock");
  thread_local Buffers slots[2];  // per xblock: a fused product of mixed formats holds both
  Buffers& buf = slots[xblock == 128];
  QuantizedRows& xq = buf.xq;
  std::vector<int32_t>& xp = buf.xp;
  std::vector<float>&dx = buf.dx, &xs = buf.xs;
  const Isa& isa = current_isa();
  const int L = isa.lanes;
  int G = L;  // rows per group: all lanes, or the fewest powers of two holding M (more pair slots)
  while (isa.slots && G > 1 && G / 2 >= M) G /= 2;
  const int J = L / G;
  const int64_t groups = (M + G - 1) / G, rows = groups * G, nb = K / 32;
  const int bs = xblock / 32;  // blocks per scale
  if (int64_t(xp.size()) < rows * K / 2) xp.resize(size_t(rows * K / 2));
  if (int64_t(dx.size()) < rows * J * nb) dx.resize(size_t(rows * J * nb)), xs.resize(size_t(rows * J * nb));
  xq.M = M, xq.K = K, xq.xblock = xblock, xq.G = G, xq.J = J, xq.groups = groups;
  xq.xp = xp.data(), xq.dx = dx.data(), xq.xs = xs.data();
  int32_t* const P = xp.data();
  float* const D = dx.data();
  float* const S = xs.data();
  const int64_t chunks = (nb + kKC / 32 - 1) / (kKC / 32);
  // One task per row group and chunk of columns: each 64-byte step of the packed layout is
  // written whole (the group's lanes side by side), not one scattered lane per row.
  pool.run(groups * chunks, [=](int64_t task, int) {
    const int64_t g = task / chunks, b0 = (task % chunks) * (kKC / 32), b1 = std::min(nb, b0 + kKC / 32);
    int32_t* pg = P + g * (K / 2) * G;
    float* dg = D + g * (nb / bs) * L;
    float* sg = S + g * nb * L;
    const float* xr[16];
    float dr[16], idr[16];
    int32_t qs[16];
    for (int r = 0; r < G; ++r) xr[r] = g * G + r < M ? X + (g * G + r) * ldx : nullptr;  // nullptr: padding
    for (int64_t b = b0; b < b1; ++b) {  // chunks start on a scale's first block (1024 = 8 x 128)
      for (int r = 0; r < G; ++r) {
        if (b % bs == 0) {
          float amax = 0.0f;
          if (xr[r] != nullptr)
            for (int i = 0; i < xblock; ++i) amax = std::max(amax, std::fabs(xr[r][32 * b + i]));
          dr[r] = amax / kQMax, idr[r] = amax > 0.0f ? kQMax / amax : 0.0f;
          for (int j = 0; j < J; ++j) dg[b / bs * L + r * J + j] = dr[r];
        }
        qs[r] = 0;
      }
      for (int i = 0; i < 16; ++i) {  // pair i of the block: step i / J, slot i % J
        int32_t* dst = pg + (b * (16 / J) + i / J) * L + i % J;
        for (int r = 0; r < G; ++r) {
          if (xr[r] == nullptr) {
            dst[r * J] = 0;
            continue;
          }
          const int32_t q0 = round_q(xr[r][32 * b + 2 * i] * idr[r]), q1 = round_q(xr[r][32 * b + 2 * i + 1] * idr[r]);
          dst[r * J] = int32_t((uint32_t(q0) & 0xFFFFu) | (uint32_t(q1) << 16));
          qs[r] += q0 + q1;
        }
      }
      // The sum of the quantized x, not of x: Q4_K's q (0..15) and its minimum then see the same
      // x, so its rounding error scales with the centred weight, not with q's mean of 7.5. Slot 0
      // only: the J slots of a row are added up.
      for (int r = 0; r < G; ++r)
        for (int j = 0; j < J; ++j) sg[b * L + r * J + j] = j == 0 ? dr[r] * float(qs[r]) : 0.0f;
    }
  });
  return xq;
}

void quant_tile(const QuantizedRows& xq, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const void* W,
                DType wdt, float* Y, int64_t ldy, bool accumulate) {
  const Isa& isa = current_isa();
  if (xq.xblock != quant_xblock(wdt)) throw std::logic_error("quant_tile: the activations are scaled for another format");
  const int G = xq.G, J = xq.J, L = G * J;
  const bool fits = L == isa.lanes && (J == 1 || isa.slots);
  const GroupFn group = fits ? isa.group : kScalar.group;  // packed for another ISA: the general one
  const int64_t g0 = m0 / G, g1 = (m1 + G - 1) / G, ldt = (g1 - g0) * G;
  const int64_t ncp = (n1 - n0 + kNC - 1) / kNC * kNC;
  thread_local std::vector<float> T;
  thread_local WTile w;
  if (int64_t(T.size()) < ncp * ldt) T.resize(size_t(ncp * ldt));
  std::fill(T.begin(), T.begin() + ncp * ldt, 0.0f);
  const int64_t rb = quant_row_bytes(wdt, K), nb = K / 32, ns = K / xq.xblock;
  const bool q4k = wdt == DType::Q4_K;
  const uint8_t* Wb = static_cast<const uint8_t*>(W);
  auto tile = [&](int64_t k0, int64_t c0) {  // weight rows [c0, c0 + kNC) of the panel, columns [k0, k0 + kKC)
    const int64_t kc = std::min<int64_t>(kKC, K - k0);
    for (int c = 0; c < kNC; ++c) {
      const int64_t n = n0 + c0 + c;
      int16_t* q = w.q + c * kKC;
      float* s = w.s + c * (kKC / 32);
      float* mn = w.m + c * (kKC / 32);
      if (n < n1) {
        isa.unpack(wdt, Wb + n * rb, k0, kc, q, s, mn);
      } else {  // padding rows of the tile: zero values and scales
        std::fill(q, q + kc, int16_t(0));
        std::fill(s, s + kc / 32, 0.0f);
        std::fill(mn, mn + kc / 32, 0.0f);
      }
    }
    for (int64_t g = g0; g < g1; ++g)
      group(G, J, xq.xp + (g * (K / 2) + k0 / 2) * G, xq.dx + (g * ns + k0 / xq.xblock) * L,
            xq.xs + (g * nb + k0 / 32) * L, kc / 32, w, q4k, T.data() + c0 * ldt + (g - g0) * G, ldt);
  };
  // The next tile's weight bytes are asked for (into L2) before this tile is unpacked, so they
  // arrive while this one is multiplied: with 16 cores reading, the unpack otherwise waits on DRAM
  // with no arithmetic to overlap.
  const QuantFormat qf = quant_format(wdt);
  auto prefetch = [&](int64_t k0, int64_t c0) {
    const int64_t off = k0 / qf.block * qf.bytes, len = std::min<int64_t>(kKC, K - k0) / qf.block * qf.bytes;
    for (int c = 0; c < kNC && n0 + c0 + c < n1; ++c) {
      const uint8_t* p = Wb + (n0 + c0 + c) * rb + off;
      for (int64_t i = 0; i < len; i += 64) __builtin_prefetch(p + i, 0, 2);
    }
  };
  if (ldt > 64) {  // many rows: a chunk of X (ldt x 1024 x 2 bytes) stays in L2 across the panel's tiles
    for (int64_t k0 = 0; k0 < K; k0 += kKC)
      for (int64_t c0 = 0; c0 < ncp; c0 += kNC) {
        if (c0 + kNC < ncp) prefetch(k0, c0 + kNC);
        else if (k0 + kKC < K) prefetch(k0 + kKC, 0);
        tile(k0, c0);
      }
  } else {  // few rows: each weight row read start to end, chunk after chunk
    for (int64_t c0 = 0; c0 < ncp; c0 += kNC)
      for (int64_t k0 = 0; k0 < K; k0 += kKC) {
        if (k0 + kKC < K) prefetch(k0 + kKC, c0);
        else if (c0 + kNC < ncp) prefetch(0, c0 + kNC);
        tile(k0, c0);
      }
  }
  const int64_t r0 = g0 * G;
  for (int64_t m = m0; m < m1; ++m) {
    float* y = Y + m * ldy + n0;
    const float* t = T.data() + (m - r0);
    if (accumulate) {
      for (int64_t c = 0; c < n1 - n0; ++c) y[c] += t[c * ldt];
    } else {
      for (int64_t c = 0; c < n1 - n0; ++c) y[c] = t[c * ldt];
    }
  }
}

}  // namespace llada
