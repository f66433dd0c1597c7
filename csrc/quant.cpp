#include "quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#define LLADA_X86 1
#include <immintrin.h>
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

// A weight row in the common form every kernel reads.
struct Unpacked {
  int8_t* q;       // (K)    values, |q| <= 32 (K-quants, Q4_0) or 127 (Q8_0)
  float* sv;       // (K/4)  the scale of each group of 4 values (one per int32 lane)
  int32_t* corr;   // (K/4)  -128 * the sum of each group of 4 (vpdpbusd's +128 offset undone)
  float* m32;      // (K/32) subtracted offset of each block of 32 (Q4_K's minimums)
  bool has_min;
};

struct RowBuffers {
  std::vector<int8_t> q;
  std::vector<float> sv, m32;
  std::vector<int32_t> corr;
  Unpacked get(int64_t K) {
    if (int64_t(q.size()) < K) {
      q.resize(size_t(K) + 64);
      sv.resize(size_t(K / 4) + 16);
      corr.resize(size_t(K / 4) + 16);
      m32.resize(size_t(K / 32) + 2);
    }
    return {q.data(), sv.data(), corr.data(), m32.data(), false};
  }
};

inline void fill(float* p, int n, float v) {
  for (int i = 0; i < n; ++i) p[i] = v;
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
  for (int64_t g = 0; g < K / 4; ++g)
    u.corr[g] = -128 * (int32_t(u.q[4 * g]) + u.q[4 * g + 1] + u.q[4 * g + 2] + u.q[4 * g + 3]);
}

// ---- kernels: Y[m] for X rows [m0, m1) against one unpacked weight row -----------------------
using RowsFn = void (*)(const Unpacked& w, const QuantizedRows& x, int64_t m0, int64_t m1, int64_t K, float* y,
                        int64_t ldy, bool acc);

inline float min_term(const Unpacked& w, const QuantizedRows& x, int64_t m, int64_t K) {
  if (!w.has_min) return 0.0f;
  const float* ds = x.dsum + m * (K / 32);
  float s = 0.0f;
  for (int64_t b = 0; b < K / 32; ++b) s += w.m32[b] * ds[b];
  return s;
}

void rows_scalar(const Unpacked& w, const QuantizedRows& x, int64_t m0, int64_t m1, int64_t K, float* y, int64_t ldy,
                 bool acc) {
  for (int64_t m = m0; m < m1; ++m) {
    const int8_t* xq = x.q + m * K;
    const float* d4 = x.d4 + m * (K / 4);
    float s = 0.0f;
    for (int64_t g = 0; g < K / 4; ++g) {
      int32_t dot = 0;
      for (int i = 0; i < 4; ++i) dot += int32_t(w.q[4 * g + i]) * xq[4 * g + i];
      s += float(dot) * (w.sv[g] * d4[g]);
    }
    s -= min_term(w, x, m, K);
    y[m * ldy] = acc ? y[m * ldy] + s : s;
  }
}

#ifdef LLADA_X86
__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// vpmaddubsw needs one unsigned operand: |w| against x carrying w's sign (both within 127, so
// the pairwise i16 sums cannot saturate), then vpmaddwd with ones to i32 lanes of 4 values.
template <int MR>
__attribute__((target("avx2,fma"), always_inline)) inline void rows_avx2_mr(const Unpacked& w, const QuantizedRows& x,
                                                                         int64_t m, int64_t K, float* y, int64_t ldy,
                                                                         bool acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 c[MR];
  for (int r = 0; r < MR; ++r) c[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; k += 32) {
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.q + k));
    const __m256i wa = _mm256_sign_epi8(wq, wq);
    const __m256 sv = _mm256_loadu_ps(w.sv + k / 4);
    for (int r = 0; r < MR; ++r) {
      const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + (m + r) * K + k));
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wa, _mm256_sign_epi8(xq, wq)), ones);
      const __m256 sc = _mm256_mul_ps(sv, _mm256_loadu_ps(x.d4 + (m + r) * (K / 4) + k / 4));
      c[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sc, c[r]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    const float s = hsum256(c[r]) - min_term(w, x, m + r, K);
    float* o = y + (m + r) * ldy;
    *o = acc ? *o + s : s;
  }
}

__attribute__((target("avx2,fma"))) void rows_avx2(const Unpacked& w, const QuantizedRows& x, int64_t m0, int64_t m1,
                                                  int64_t K, float* y, int64_t ldy, bool acc) {
  int64_t m = m0;
  for (; m + 4 <= m1; m += 4) rows_avx2_mr<4>(w, x, m, K, y, ldy, acc);
  for (; m < m1; ++m) rows_avx2_mr<1>(w, x, m, K, y, ldy, acc);
}

// vpdpbusd: (x + 128) as u8 times w as s8, summed per 4 into i32 lanes that start at
// -128 * sum(w) (precomputed per row): exactly sum(x * w), 64 values per instruction.
template <int MR>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma"), always_inline)) inline void rows_vnni_mr(
    const Unpacked& w, const QuantizedRows& x, int64_t m, int64_t K, float* y, int64_t ldy, bool acc) {
  __m512 c[MR];
  for (int r = 0; r < MR; ++r) c[r] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 64 <= K; k += 64) {
    const __m512i wq = _mm512_loadu_si512(w.q + k);
    const __m512i corr = _mm512_loadu_si512(w.corr + k / 4);
    const __m512 sv = _mm512_loadu_ps(w.sv + k / 4);
    for (int r = 0; r < MR; ++r) {
      const __m512i xu = _mm512_loadu_si512(x.u + (m + r) * K + k);
      const __m512i p = _mm512_dpbusd_epi32(corr, xu, wq);
      const __m512 sc = _mm512_mul_ps(sv, _mm512_loadu_ps(x.d4 + (m + r) * (K / 4) + k / 4));
      c[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, c[r]);
    }
  }
  float tail[MR] = {};
  if (k < K) {  // one block of 32 left
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.q + k));
    const __m256i corr = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.corr + k / 4));
    const __m256 sv = _mm256_loadu_ps(w.sv + k / 4);
    for (int r = 0; r < MR; ++r) {
      const __m256i xu = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.u + (m + r) * K + k));
      const __m256i p = _mm256_dpbusd_epi32(corr, xu, wq);
      const __m256 sc = _mm256_mul_ps(sv, _mm256_loadu_ps(x.d4 + (m + r) * (K / 4) + k / 4));
      tail[r] = hsum256(_mm256_mul_ps(_mm256_cvtepi32_ps(p), sc));
    }
  }
  for (int r = 0; r < MR; ++r) {
    const float s = _mm512_reduce_add_ps(c[r]) + tail[r] - min_term(w, x, m + r, K);
    float* o = y + (m + r) * ldy;
    *o = acc ? *o + s : s;
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma"))) void rows_vnni(
    const Unpacked& w, const QuantizedRows& x, int64_t m0, int64_t m1, int64_t K, float* y, int64_t ldy, bool acc) {
  int64_t m = m0;
  for (; m + 4 <= m1; m += 4) rows_vnni_mr<4>(w, x, m, K, y, ldy, acc);
  for (; m < m1; ++m) rows_vnni_mr<1>(w, x, m, K, y, ldy, acc);
}
#endif

struct Isa {
  const char* name;
  RowsFn fn;
};

Isa best_isa() {
#ifdef LLADA_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512vnni"))
    return {"avx512vnni", rows_vnni};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"avx2", rows_avx2};
#endif
  return {"scalar", rows_scalar};
}

Isa& current_isa() {
  static Isa isa = best_isa();
  return isa;
}

}  // namespace

std::string quant_isa() { return current_isa().name; }

bool set_quant_isa(const std::string& name) {
  const Isa best = best_isa();
  const std::string order[] = {"scalar", "avx2", "avx512vnni"};
  auto rank = [&](const std::string& n) { return int(std::find(order, order + 3, n) - order); };
  if (rank(name) >= 3 || rank(name) > rank(best.name)) return false;
  if (name == "scalar") current_isa() = {"scalar", rows_scalar};
#ifdef LLADA_X86
  else if (name == "avx2") current_isa() = {"avx2", rows_avx2};
  else current_isa() = best;
#endif
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

const QuantizedRows& quantize_rows(ThreadPool& pool, int64_t M, int64_t K, const float* X, int64_t ldx) {
  thread_local QuantizedRows xq;
  thread_local std::vector<int8_t> q;
  thread_local std::vector<uint8_t> u;
  thread_local std::vector<float> d4, dsum;
  const size_t n = size_t(M * K);
  if (q.size() < n) q.resize(n), u.resize(n);
  if (d4.size() < n / 4) d4.resize(n / 4);
  if (dsum.size() < n / 32 + 1) dsum.resize(n / 32 + 1);
  xq = {M, K, q.data(), u.data(), d4.data(), dsum.data()};
  const QuantizedRows out = xq;  // the workers' own thread_local xq is not this one: copy the pointers
  pool.run((M + 3) / 4, [&, out](int64_t t, int) {
    const QuantizedRows& xq = out;
    for (int64_t m = 4 * t; m < std::min(M, 4 * t + 4); ++m) {
      const float* x = X + m * ldx;
      for (int64_t b = 0; b < K / 32; ++b) {
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[32 * b + i]));
        const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int i = 0; i < 32; ++i) {
          const int v = int(std::nearbyint(x[32 * b + i] * id));
          const size_t at = size_t(m * K + 32 * b + i);
          xq.q[at] = int8_t(v);
          xq.u[at] = uint8_t(v + 128);
          sum += v;
        }
        fill(xq.d4 + m * (K / 4) + 8 * b, 8, d);
        xq.dsum[m * (K / 32) + b] = d * float(sum);
      }
    }
  });
  return xq;
}

void quant_tile(const QuantizedRows& xq, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const void* W,
                DType wdt, float* Y, int64_t ldy, bool accumulate) {
  thread_local RowBuffers buf;
  Unpacked u = buf.get(K);
  const int64_t rb = quant_row_bytes(wdt, K);
  const RowsFn fn = current_isa().fn;
  for (int64_t n = n0; n < n1; ++n) {
    unpack_row(wdt, static_cast<const uint8_t*>(W) + n * rb, K, u);
    fn(u, xq, m0, m1, K, Y + n, ldy, accumulate);
  }
}

}  // namespace llada
