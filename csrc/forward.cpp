#include "forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "phase_clock.h"
#include "vecmath.h"

namespace llada {

namespace {

constexpr int64_t kQueryChunk = 128;  // attention query rows per task

template <class T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Runs fn(r0, r1) over [0, rows) in chunks of about `chunk` rows.
template <class Fn>
void parallel_rows(ThreadPool& pool, int64_t rows, int64_t chunk, Fn fn) {
  const int64_t n = (rows + chunk - 1) / chunk;
  pool.run(n, [&](int64_t t, int) { fn(t * chunk, std::min(rows, (t + 1) * chunk)); });
}

// A chunk that gives every thread a share of n items, and no fewer than `least` items per task:
// a cached step has 8-32 rows, so chunks of a fixed 16 rows left most threads idle (SiLU of 32 x
// 12288 values on 2 of 16 threads took ~1 ms a layer, measured with phase_clock.h).
int64_t share_of(const ThreadPool& pool, int64_t n, int64_t least) {
  return std::max(least, (n + pool.size() - 1) / pool.size());
}

// out[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * weight, in float32 (the mean summed in double).
void rmsnorm_rows(ThreadPool& pool, const float* x, int64_t rows, int64_t d, const WeightView& weight, float eps,
                  float* out) {
  std::vector<float> wf(static_cast<size_t>(d));
  convert_to_f32(weight.data, weight.dtype, 0, d, wf.data());
  parallel_rows(pool, rows, share_of(pool, rows, 2), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * d;
      double ss = 0.0;
      for (int64_t i = 0; i < d; ++i) ss += double(xr[i]) * double(xr[i]);
      const float scale = 1.0f / std::sqrt(float(ss / double(d)) + eps);
      float* o = out + r * d;
      for (int64_t i = 0; i < d; ++i) o[i] = (xr[i] * scale) * wf[size_t(i)];
    }
  });
}

// cos, sin (L, hd) for the half-split layout, float32 as the reference computes them:
// inv_freq[i] = 1 / theta^(2i/hd), angle = pos * inv_freq, duplicated over the two halves.
void rope_tables(int L, int hd, float theta, float* cos_t, float* sin_t) {
  const int half = hd / 2;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) {
    const float e = float(2 * i) / float(hd);
    inv[size_t(i)] = 1.0f / float(std::pow(double(theta), double(e)));
  }
  for (int p = 0; p < L; ++p) {
    for (int i = 0; i < half; ++i) {
      const float a = float(p) * inv[size_t(i)];
      const float c = float(std::cos(double(a))), s = float(std::sin(double(a)));
      cos_t[p * hd + i] = cos_t[p * hd + i + half] = c;
      sin_t[p * hd + i] = sin_t[p * hd + i + half] = s;
    }
  }
}

// x' = x*cos + rotate_half(x)*sin, rotate_half([a, b]) = [-b, a], for each head of each row;
// row r of the T rows is position pos0 + r % R.
void apply_rope(ThreadPool& pool, float* x, int64_t T, int64_t R, int64_t pos0, int heads, int hd, const float* cos_t,
                const float* sin_t, bool interleaved) {
  const int half = hd / 2;
  parallel_rows(pool, T, share_of(pool, T, 4), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p = pos0 + r % R;
      const float* c = cos_t + p * hd;
      const float* s = sin_t + p * hd;
      for (int h = 0; h < heads; ++h) {
        float* v = x + r * int64_t(heads) * hd + int64_t(h) * hd;
        if (interleaved) {  // pair i is (2i, 2i + 1), same angle as the half-split pair (i, i + hd/2)
          for (int i = 0; i < half; ++i) {
            const float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * c[i] - b * s[i];
            v[2 * i + 1] = b * c[i + half] + a * s[i + half];
          }
          continue;
        }
        for (int i = 0; i < half; ++i) {
          const float a = v[i], b = v[i + half];
          v[i] = a * c[i] - b * s[i];
          v[i + half] = b * c[i + half] + a * s[i + half];
        }
      }
    }
  });
}

// out (B*Rq, H*hd) = softmax(q k^T / sqrt(hd), padded keys excluded) v, per (sequence b, head h):
// q (B*Rq, H*hd) query rows, k and v (B*Lk, K*hd) the keys of every position.
void attention(ThreadPool& pool, Kernel kernel, const ModelConfig& c, int B, int64_t Rq, int64_t Lk, const float* q,
               const float* k, const float* v, const uint8_t* key_mask, float* out, Workspace& ws) {
  const int64_t hd = c.head_dim, H = c.n_heads, KH = c.n_kv_heads, group = H / KH;
  const int64_t ldq = H * hd, ldk = KH * hd;
  const int64_t chunks = (Rq + kQueryChunk - 1) / kQueryChunk;
  float* scores = grow(ws.scores, size_t(pool.size()) * size_t(kQueryChunk * Lk));
  const float scale = 1.0f / std::sqrt(float(hd));
  pool.run(int64_t(B) * H * chunks, [&](int64_t task, int thread) {
    const int64_t ch = task % chunks, h = (task / chunks) % H, b = task / (chunks * H);
    const int64_t i0 = ch * kQueryChunk, rows = std::min(Rq, i0 + kQueryChunk) - i0;
    const int64_t kv = h / group;
    float* s = scores + size_t(thread) * size_t(kQueryChunk * Lk);
    const float* qb = q + (b * Rq + i0) * ldq + h * hd;
    const float* kb = k + (b * Lk) * ldk + kv * hd;
    const float* vb = v + (b * Lk) * ldk + kv * hd;
    gemm_nt_f32(kernel, rows, Lk, hd, scale, qb, ldq, kb, ldk, s, Lk);
    const uint8_t* mask = key_mask ? key_mask + b * Lk : nullptr;
    for (int64_t i = 0; i < rows; ++i) {
      float* sr = s + i * Lk;
      if (mask)
        for (int64_t j = 0; j < Lk; ++j)
          if (!mask[j]) sr[j] = -std::numeric_limits<float>::infinity();
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < Lk; ++j) mx = std::max(mx, sr[j]);
      const float inv = float(1.0 / exp_shift_sum(sr, Lk, mx));
      for (int64_t j = 0; j < Lk; ++j) sr[j] *= inv;
    }
    gemm_nn_f32(kernel, rows, hd, Lk, s, Lk, vb, ldk, out + (b * Rq + i0) * ldq + h * hd, ldq);
  });
}

// Keeps rows [from, from + n) of each of the B sequences of R rows (row width w), packed in place.
void keep_rows(float* x, int B, int64_t R, int64_t from, int64_t n, int64_t w) {
  for (int b = 0; b < B; ++b)
    std::memmove(x + int64_t(b) * n * w, x + (int64_t(b) * R + from) * w, size_t(n * w) * sizeof(float));
}

}  // namespace

void forward(const ModelWeights& w, ThreadPool& pool, Kernel kernel, const ForwardArgs& a, Workspace& ws) {
  const PhaseTimer whole(Phase::Forward);
  const ModelConfig& c = w.cfg;
  if (a.B <= 0 || a.L <= 0) throw std::invalid_argument("forward: empty batch");
  const bool rows_mode = a.cache_use == CacheUse::Rows;
  const int64_t start = rows_mode ? a.row_from : 0, stop = rows_mode ? a.row_to : a.L;
  if (start < 0 || stop > a.L || start >= stop) throw std::invalid_argument("forward: bad row range");
  if (a.head_from < start || a.head_to > stop || a.head_from > a.head_to)
    throw std::invalid_argument("forward: bad LM-head row range");
  const int64_t d = c.d_model, hd = c.head_dim;
  const int64_t hq = int64_t(c.n_heads) * hd, hk = int64_t(c.n_kv_heads) * hd, ffn = c.ffn;
  KVCache* cache = a.cache_use == CacheUse::None ? nullptr : a.cache;
  if (a.cache_use != CacheUse::None) {
    if (cache == nullptr) throw std::invalid_argument("forward: no cache");
    if (a.cache_use == CacheUse::Store) cache->resize(a.B, a.L, hk, int64_t(w.layers.size()));
    else if (cache->B != a.B || cache->L != a.L || cache->hk != hk || cache->layers != int64_t(w.layers.size()))
      throw std::invalid_argument("forward: the cache does not match this batch");
  }
  const int64_t R0 = stop - start, T0 = int64_t(a.B) * R0;
  float* x = grow(ws.x, size_t(T0 * d));
  float* xn = grow(ws.xn, size_t(T0 * d));
  float* q = grow(ws.q, size_t(T0 * hq));
  float* att = grow(ws.att, size_t(T0 * hq));
  float* gate = grow(ws.gate, size_t(T0 * ffn));
  float* up = grow(ws.up, size_t(T0 * ffn));
  float* kbuf = a.cache_use == CacheUse::Store ? nullptr : grow(ws.k, size_t(T0 * hk));
  float* vbuf = a.cache_use == CacheUse::Store ? nullptr : grow(ws.v, size_t(T0 * hk));
  float* cos_t = grow(ws.cos, size_t(a.L * hd));
  float* sin_t = grow(ws.sin, size_t(a.L * hd));
  if (ws.rope_L != a.L || ws.rope_hd != int(hd) || ws.rope_theta != c.rope_theta) {  // once per length
    rope_tables(a.L, int(hd), c.rope_theta, cos_t, sin_t);
    ws.rope_L = a.L, ws.rope_hd = int(hd), ws.rope_theta = c.rope_theta;
  }

  // Embedding: row t is wte[token t] (no scaling).
  parallel_rows(pool, T0, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t t = r0; t < r1; ++t) {
      const int64_t tok = a.tokens[(t / R0) * a.L + start + t % R0];
      convert_to_f32(w.wte.data, w.wte.dtype, tok * d, d, x + t * d);
    }
  });

  // Rows computed in the current layer: R per sequence from position pos0. In the last layer only
  // the LM head's rows go on after the keys and values (exact: the rest is row-wise).
  int64_t R = R0, pos0 = start;
  const int64_t n_layers = int64_t(w.layers.size());
  for (int64_t li = 0; li < n_layers; ++li) {
    const LayerWeights& l = w.layers[size_t(li)];
    int64_t T = int64_t(a.B) * R;
    rmsnorm_rows(pool, x, T, d, l.attn_norm, c.rms_eps, xn);
    float* k = a.cache_use == CacheUse::Store ? cache->k(li) : kbuf;
    float* v = a.cache_use == CacheUse::Store ? cache->v(li) : vbuf;
    // q, k and v in one parallel loop; in the last layer q waits for the row restriction below.
    const bool last = li == n_layers - 1;
    const bool q_later = last && a.head_to - a.head_from < R;
    const MatmulOut qkv[3] = {{l.wk.data, l.wk.dtype, hk, d, k, hk},
                              {l.wv.data, l.wv.dtype, hk, d, v, hk},
                              {l.wq.data, l.wq.dtype, hq, d, q, hq}};
    {
      const PhaseTimer t(Phase::Products);
      matmul_wt_multi(pool, kernel, T, d, xn, d, qkv, q_later ? 2 : 3, false);
    }
    apply_rope(pool, k, T, R, pos0, c.n_kv_heads, int(hd), cos_t, sin_t, c.rope_interleaved);
    if (rows_mode) {  // the recomputed rows' keys and values go over the cache's
      for (int b = 0; b < a.B; ++b) {
        std::copy(k + int64_t(b) * R * hk, k + int64_t(b + 1) * R * hk, cache->k(li) + (int64_t(b) * a.L + start) * hk);
        std::copy(v + int64_t(b) * R * hk, v + int64_t(b + 1) * R * hk, cache->v(li) + (int64_t(b) * a.L + start) * hk);
      }
      k = cache->k(li);
      v = cache->v(li);
    }
    const float* keys = k;
    const float* vals = v;
    if (q_later) {  // last layer: keep only the LM head's rows
      const int64_t Rh = a.head_to - a.head_from;
      if (Rh == 0) return;
      keep_rows(x, a.B, R, a.head_from - pos0, Rh, d);
      keep_rows(xn, a.B, R, a.head_from - pos0, Rh, d);
      R = Rh;
      pos0 = a.head_from;
      T = int64_t(a.B) * R;
      const PhaseTimer t(Phase::Products);
      matmul_wt(pool, kernel, T, hq, d, xn, d, l.wq.data, l.wq.dtype, d, q, hq, false);
    }
    apply_rope(pool, q, T, R, pos0, c.n_heads, int(hd), cos_t, sin_t, c.rope_interleaved);
    {
      const PhaseTimer t(Phase::Attention);
      attention(pool, kernel, c, a.B, R, a.L, q, keys, vals, a.key_mask, att, ws);
    }
    {
      const PhaseTimer t(Phase::Products);
      matmul_wt(pool, kernel, T, d, hq, att, hq, l.wo.data, l.wo.dtype, hq, x, d, true);  // x += attn_out(att)
    }

    rmsnorm_rows(pool, x, T, d, l.ff_norm, c.rms_eps, xn);
    const MatmulOut gate_up[2] = {{l.w_gate.data, l.w_gate.dtype, ffn, d, gate, ffn},
                                  {l.w_up.data, l.w_up.dtype, ffn, d, up, ffn}};
    {
      const PhaseTimer t(Phase::Products);
      matmul_wt_multi(pool, kernel, T, d, xn, d, gate_up, 2, false);
    }
    parallel_rows(pool, T * ffn, (share_of(pool, T * ffn, 8192) + 15) / 16 * 16,
                  [&](int64_t i0, int64_t i1) { silu_mul(gate + i0, up + i0, i1 - i0); });
    const PhaseTimer t(Phase::Products);
    matmul_wt(pool, kernel, T, d, ffn, gate, ffn, l.w_down.data, l.w_down.dtype, ffn, x, d, true);  // x += ff_out(.)
  }

  // Final norm and LM head, only on the rows asked for (x holds exactly those now).
  const int64_t Rh = a.head_to - a.head_from;
  if (Rh == 0) return;
  if (Rh < R) keep_rows(x, a.B, R, a.head_from - pos0, Rh, d);  // no layers: not reached in practice
  float* hin = grow(ws.head_in, size_t(int64_t(a.B) * Rh * d));
  rmsnorm_rows(pool, x, int64_t(a.B) * Rh, d, w.ln_f, c.rms_eps, hin);
  const PhaseTimer t(Phase::Head);
  matmul_wt(pool, kernel, int64_t(a.B) * Rh, c.vocab, d, hin, d, w.lm_head.data, w.lm_head.dtype, d, a.logits,
            c.vocab, false);
}

}  // namespace llada
