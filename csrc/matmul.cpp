#include "matmul.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "bf16dot.h"
#include "blas.h"
#include "quant.h"
#include "amx_gemm.h"
#include "quant_amx.h"

namespace llada {

Kernel resolve_kernel(Kernel k) {
  if (k == Kernel::Auto) return blas::available() ? Kernel::Blas : Kernel::Own;
  if (k == Kernel::Blas && !blas::available()) return Kernel::Own;
  return k;
}

// ---------------------------------------------------------------------------------------------
// Own kernels: a dot-product micro-kernel over MR rows of X and NR rows of W, the whole K in
// registers (MR*NR accumulators), the dtype of W converted as it is loaded.
namespace {

constexpr int kMR = 4, kNR = 3, kMBlock = 32;
constexpr int64_t kOwnRowsMax16Bit = 16;

#ifdef LLADA_AVX2
template <DType DT>
inline __m256 load8(const void* base, int64_t i) {
  if constexpr (DT == DType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + i);
  } else if constexpr (DT == DType::BF16) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i)));
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

template <DType DT, int MR, int NR>
void micro(const float* X, int64_t ldx, const void* W, int64_t ldw, float* Y, int64_t ldy, int64_t K, bool acc) {
  int64_t k = 0;
  float sum[MR][NR];
#ifdef LLADA_AVX2
  __m256 c[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i][j] = _mm256_setzero_ps();
  for (; k + 8 <= K; k += 8) {
    __m256 w[NR];
    for (int j = 0; j < NR; ++j) w[j] = load8<DT>(W, j * ldw + k);
    for (int i = 0; i < MR; ++i) {
      __m256 x = _mm256_loadu_ps(X + i * ldx + k);
      for (int j = 0; j < NR; ++j) c[i][j] = _mm256_fmadd_ps(x, w[j], c[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) sum[i][j] = hsum(c[i][j]);
#else
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) sum[i][j] = 0.0f;
#endif
  for (; k < K; ++k) {
    for (int j = 0; j < NR; ++j) {
      float w = load_as_f32(W, DT, j * ldw + k);
      for (int i = 0; i < MR; ++i) sum[i][j] += X[i * ldx + k] * w;
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) Y[i * ldy + j] = acc ? Y[i * ldy + j] + sum[i][j] : sum[i][j];
}

// Y[m0:m1, n0:n1] of the product, single-threaded.
template <DType DT>
void own_tile(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const float* X, int64_t ldx,
              const void* W, int64_t ldw, float* Y, int64_t ldy, bool acc) {
  const int64_t es = dtype_size(DT);
  auto wrow = [&](int64_t n) { return static_cast<const char*>(W) + n * ldw * es; };
  for (int64_t mb = m0; mb < m1; mb += kMBlock) {  // keep a block of X rows hot in L1/L2
    const int64_t me = std::min(m1, mb + kMBlock);
    int64_t n = n0;
    for (; n + kNR <= n1; n += kNR) {
      int64_t m = mb;
      for (; m + kMR <= me; m += kMR) micro<DT, kMR, kNR>(X + m * ldx, ldx, wrow(n), ldw, Y + m * ldy + n, ldy, K, acc);
      for (; m < me; ++m) micro<DT, 1, kNR>(X + m * ldx, ldx, wrow(n), ldw, Y + m * ldy + n, ldy, K, acc);
    }
    for (; n < n1; ++n) {
      int64_t m = mb;
      for (; m + kMR <= me; m += kMR) micro<DT, kMR, 1>(X + m * ldx, ldx, wrow(n), ldw, Y + m * ldy + n, ldy, K, acc);
      for (; m < me; ++m) micro<DT, 1, 1>(X + m * ldx, ldx, wrow(n), ldw, Y + m * ldy + n, ldy, K, acc);
    }
  }
}

void own_tile_any(DType dt, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const float* X, int64_t ldx,
                  const void* W, int64_t ldw, float* Y, int64_t ldy, bool acc) {
  switch (dt) {
    case DType::F32: own_tile<DType::F32>(m0, m1, n0, n1, K, X, ldx, W, ldw, Y, ldy, acc); break;
    case DType::BF16: own_tile<DType::BF16>(m0, m1, n0, n1, K, X, ldx, W, ldw, Y, ldy, acc); break;
    case DType::F16: own_tile<DType::F16>(m0, m1, n0, n1, K, X, ldx, W, ldw, Y, ldy, acc); break;
    default: break;  // Q types go to quant_tile
  }
}

// A thread-local scratch buffer (panels of converted weights, transposed V).
float* scratch(size_t n, int which) {
  thread_local std::vector<float> buf[2];
  if (buf[which].size() < n) buf[which].resize(n);
  return buf[which].data();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
void matmul_wt(ThreadPool& pool, Kernel kernel, int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx,
               const void* W, DType wdt, int64_t ldw, float* Y, int64_t ldy, bool accumulate) {
  const MatmulOut out{W, wdt, N, ldw, Y, ldy};
  matmul_wt_multi(pool, kernel, M, K, X, ldx, &out, 1, accumulate);
}

void matmul_wt_multi(ThreadPool& pool, Kernel kernel, int64_t M, int64_t K, const float* X, int64_t ldx,
                     const MatmulOut* outs, int n_outs, bool accumulate) {
  if (M <= 0 || n_outs <= 0) return;
  // bf16 weights, few rows, a CPU with AMX-BF16 (or AVX-512): bf16dot.h, the weights read as
  // stored, the activations packed once per call. Auto only for products of >= 1M weights with
  // K >= 1024 (small models: the packing and the extra pool loop cost more than they save); Own
  // always. 8B shape, 32 rows: the cached step 3.3x faster (tests/bench/RESULTS_cpu8b.md).
  bool bf16_dot = false;
  if ((kernel == Kernel::Auto || kernel == Kernel::Own) && M <= kBf16DotRowsMax && bf16_dot_enabled()) {
    int64_t weights = 0;
    for (int o = 0; o < n_outs; ++o) {
      bf16_dot = bf16_dot || outs[o].wdt == DType::BF16;
      weights += outs[o].N * K;
    }
    if (kernel == Kernel::Auto && (K < 1024 || weights < (int64_t(1) << 20))) bf16_dot = false;
  }
  // Many rows (full passes) on AMX-BF16 tiles, bf16 or quantized weights (amx_gemm.h): every
  // output in a format it computes, with at least its rows. Whatever the size (unlike the few
  // rows above): on the 2-core machine, 2 threads, BLAS took 1.4-3.7x as long from 65 x 384 x 128
  // (the bundled model's shapes: 2.1-3.0x) to 272 x 768 x 8192; level at 100 x 64 x 64.
  bool amx_many = (kernel == Kernel::Auto || kernel == Kernel::Own) && bf16_amx_available();
  for (int o = 0; o < n_outs && amx_many; ++o) {
    const DType dt = outs[o].wdt;
    const int64_t rows = amx_gemm_rows(dt);
    const bool picked = is_quant(dt) ? quant_amx_on() : bf16_amx_on();
    amx_many = amx_gemm_format(dt) && picked && rows > 0 && M >= rows;
  }
  if (amx_many) bf16_dot = false;
  // A few rows against 16-bit weights is bound by reading the weights, not by arithmetic. Our
  // kernels convert in registers and read each weight once; the BLAS path converts a panel to
  // f32 and sgemm then packs it again. 600M bf16, B 1 (tests/bench/RESULTS_engine.md): 8 rows
  // 107 ms (own) vs 192 ms (BLAS), 32 rows 390 vs 298 ms: Auto takes ours up to 16 rows.
  if (kernel == Kernel::Auto && outs[0].wdt != DType::F32 && (M <= kOwnRowsMax16Bit || bf16_dot)) kernel = Kernel::Own;
  kernel = resolve_kernel(kernel);
  const int threads = pool.size();
  int64_t N_total = 0;
  for (int o = 0; o < n_outs; ++o) N_total += outs[o].N;
  if (N_total <= 0) return;
  // Tasks: panels of W rows (so each weight byte is read once per call) and, when there are too
  // few panels to keep every thread busy, blocks of X rows. One panel width for all outputs.
  const DType wdt = outs[0].wdt;
  // Quantized weights: X quantized once per call, shared by every task: as int8 tiles for the AMX
  // formats (quant_amx.h), as int16 pairs for the others (quant.h: per 32 values, Q4_K's per 128);
  // a fused product of mixed formats (Q4_K_M's Q4_K and Q6_K) gets each it needs.
  const QuantizedRows* xq[2] = {nullptr, nullptr};  // [quant_xblock == 128]
  const AmxRows* xa = nullptr;
  const bool amx = quant_amx_on();
  for (int o = 0; o < n_outs && !amx_many; ++o) {
    const DType dt = outs[o].wdt;
    if (!is_quant(dt)) continue;
    if (K % quant_format(dt).block) throw std::invalid_argument("quantized weights: K is not a block multiple");
    if (amx && quant_amx_format(dt)) {
      if (xa == nullptr) xa = &quantize_rows_amx(pool, M, K, X, ldx);
    } else if (const int xb = quant_xblock(dt); xq[xb == 128] == nullptr) {
      xq[xb == 128] = &quantize_rows(pool, M, K, X, ldx, xb);
    }
  }
  const uint16_t* xg = nullptr;  // amx_many: X as bf16dot.h's AMX B tiles, shared by every task
  if (amx_many) {
    thread_local std::vector<uint64_t> gbuf;
    gbuf.resize((bf16_amx_bytes(M, K) + 7) / 8);
    void* p = gbuf.data();
    const int64_t parts = bf16_amx_pack_parts(K, pool.size());
    pool.run(parts, [&](int64_t t, int) { bf16_amx_pack(t, parts, M, K, X, ldx, p); });
    xg = static_cast<const uint16_t*>(p);
  }
  const void* xb = nullptr;
  if (bf16_dot) {  // X packed in parallel; the caller's thread-local buffer, read by every task
    thread_local std::vector<uint64_t> xbuf;
    xbuf.resize((bf16_dot_bytes(M, K) + 7) / 8);
    void* p = xbuf.data();
    const int64_t parts = bf16_dot_pack_parts(M, K, pool.size());
    pool.run(parts, [&](int64_t t, int) { bf16_dot_pack(t, parts, M, K, X, ldx, p); });
    xb = p;
  }
  int64_t nb;
  if (kernel == Kernel::Blas && wdt != DType::F32 && !is_quant(wdt)) {
    nb = std::max<int64_t>(16, std::min<int64_t>(256, (int64_t(1) << 20) / std::max<int64_t>(K, 1)));  // <= 4 MB
  } else {
    nb = 256;
  }
  nb = std::min(nb, std::max<int64_t>(16, ((N_total + 4 * threads - 1) / (4 * threads) + 15) / 16 * 16));
  struct Panel {
    int o;
    int64_t n0, n1;
  };
  thread_local std::vector<Panel> panels;  // the caller's thread only: workers never touch it
  panels.clear();
  for (int o = 0; o < n_outs; ++o) {  // equal panels (multiples of 16) within each output
    const int64_t N = outs[o].N, count = (N + nb - 1) / nb;
    const int64_t width = std::min(nb, ((N + count - 1) / count + 15) / 16 * 16);
    for (int64_t n0 = 0; n0 < N; n0 += width) panels.push_back({o, n0, std::min(N, n0 + width)});
  }
  const int64_t n_panels = int64_t(panels.size());
  int64_t m_blocks = 1;
  if (n_panels < 2 * threads && !(bf16_dot && bf16_dot_whole_rows()))
    m_blocks = std::min<int64_t>((2 * threads + n_panels - 1) / n_panels, std::max<int64_t>(1, M / 32));
  int64_t mb = (M + m_blocks - 1) / m_blocks;
  if (xq[0] != nullptr || xq[1] != nullptr || xa != nullptr) mb = (mb + 15) / 16 * 16;  // whole row groups of the quantized kernels (8 or 16 rows)
  if (xg != nullptr) mb = (mb + 63) / 64 * 64;  // whole groups of 4 row blocks (bf16_amx_pair's layout)
  const Panel* pl = panels.data();

  pool.run(n_panels * m_blocks, [&](int64_t task, int) {
    const Panel& pn = pl[task % n_panels];
    const MatmulOut& out = outs[pn.o];
    const int64_t n0 = pn.n0, n1 = pn.n1;
    const int64_t m0 = (task / n_panels) * mb, m1 = std::min(M, m0 + mb);
    if (m0 >= m1) return;
    if (xg != nullptr) {
      amx_gemm_tile(xg, M, m0, m1, n0, n1, K, out.W, out.wdt, out.ldw, out.Y, out.ldy, accumulate);
      return;
    }
    if (is_quant(out.wdt)) {
      if (xa != nullptr && quant_amx_format(out.wdt))
        quant_amx_tile(*xa, m0, m1, n0, n1, K, out.W, out.wdt, out.Y, out.ldy, accumulate);
      else
        quant_tile(*xq[quant_xblock(out.wdt) == 128], m0, m1, n0, n1, K, out.W, out.wdt, out.Y, out.ldy, accumulate);
      return;
    }
    if (xb != nullptr && out.wdt == DType::BF16) {
      bf16_dot_tile(xb, M, m0, m1, n0, n1, K, static_cast<const uint16_t*>(out.W), out.ldw, out.Y, out.ldy, accumulate);
      return;
    }
    const int64_t es = dtype_size(out.wdt);
    const char* wp = static_cast<const char*>(out.W) + n0 * out.ldw * es;
    if (kernel == Kernel::Own) {
      own_tile_any(out.wdt, m0, m1, n0, n1, K, X, ldx, out.W, out.ldw, out.Y, out.ldy, accumulate);
      return;
    }
    const float* panel;
    int64_t ldp;
    if (out.wdt == DType::F32) {
      panel = reinterpret_cast<const float*>(wp);
      ldp = out.ldw;
    } else {  // convert this panel of weight rows to f32 (small, thread-local, reused)
      float* buf = scratch(size_t((n1 - n0) * K), 0);
      for (int64_t r = 0; r < n1 - n0; ++r) convert_to_f32(out.W, out.wdt, (n0 + r) * out.ldw, K, buf + r * K);
      panel = buf;
      ldp = K;
    }
    blas::sgemm(true, int(m1 - m0), int(n1 - n0), int(K), 1.0f, X + m0 * ldx, int(ldx), panel, int(ldp),
                accumulate ? 1.0f : 0.0f, out.Y + m0 * out.ldy + n0, int(out.ldy));
  });
}

void gemm_nt_f32(Kernel kernel, int64_t M, int64_t N, int64_t K, float alpha, const float* X, int64_t ldx,
                 const float* B, int64_t ldb, float* Y, int64_t ldy) {
  if (resolve_kernel(kernel) == Kernel::Blas) {
    blas::sgemm(true, int(M), int(N), int(K), alpha, X, int(ldx), B, int(ldb), 0.0f, Y, int(ldy));
    return;
  }
  own_tile<DType::F32>(0, M, 0, N, K, X, ldx, B, ldb, Y, ldy, false);
  if (alpha != 1.0f)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) Y[i * ldy + j] *= alpha;
}

void gemm_nn_f32(Kernel kernel, int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const float* B,
                 int64_t ldb, float* Y, int64_t ldy) {
  if (resolve_kernel(kernel) == Kernel::Blas) {
    blas::sgemm(false, int(M), int(N), int(K), 1.0f, X, int(ldx), B, int(ldb), 0.0f, Y, int(ldy));
    return;
  }
  float* bt = scratch(size_t(N * K), 1);  // B^T [N, K]
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) bt[n * K + k] = B[k * ldb + n];
  own_tile<DType::F32>(0, M, 0, N, K, X, ldx, bt, K, Y, ldy, false);
}

}  // namespace llada
