// The LLaDA forward pass (ALGORITHM.md section 1) on a batch of sequences: embedding, per
// block RMSNorm -> q,k,v -> half-split RoPE -> bidirectional attention (key-padding mask, GQA)
// -> attn_out + residual -> RMSNorm -> SiLU-gated MLP + residual; final RMSNorm and LM head.
// Shapes: B batch, L length, T = B*L rows, d width, H heads, K kv heads, hd head dim, V vocab.
#pragma once

#include <cstdint>
#include <vector>

#include "matmul.h"
#include "threadpool.h"
#include "weights.h"

namespace llada {

// Activation buffers, grown on demand and reused across calls.
struct Workspace {
  std::vector<float> x;      // (T, d)    the residual stream
  std::vector<float> xn;     // (T, d)    normalised input of a sub-block
  std::vector<float> q;      // (T, H*hd)
  std::vector<float> k;      // (T, K*hd)
  std::vector<float> v;      // (T, K*hd)
  std::vector<float> att;    // (T, H*hd) attention output before attn_out
  std::vector<float> gate;   // (T, ffn)
  std::vector<float> up;     // (T, ffn)
  std::vector<float> scores; // (threads, q_chunk, L) attention probabilities per thread
  std::vector<float> cos, sin;  // (L, hd) RoPE tables
  int rope_L = 0, rope_hd = 0;  // what the tables hold (rebuilt when these change)
  float rope_theta = 0.0f;
  std::vector<float> head_in;   // (B*R, d) final-norm rows fed to the LM head
};

// The block KV cache (Fast-dLLM, ALGORITHM.md section 4): every layer's keys and values after
// RoPE, layout per layer [K (B, L, n_kv*hd) | V (B, L, n_kv*hd)]. Store mode fills it with a full
// pass; rows mode recomputes rows [row_from, row_to) of each sequence, writes their keys and values
// over the same rows of the cache (those rows are always recomputed by later steps of the block,
// so what the torch reference keeps from the full pass there is never read) and attends to all L.
struct KVCache {
  std::vector<float> data;
  int B = 0, L = 0;
  int64_t hk = 0, layers = 0;
  void resize(int b, int l, int64_t kv_width, int64_t n_layers) {
    B = b, L = l, hk = kv_width, layers = n_layers;
    data.assign(size_t(n_layers) * 2 * size_t(b) * size_t(l) * size_t(kv_width), 0.0f);
  }
  float* k(int64_t layer) { return data.data() + size_t(layer) * 2 * size_t(B) * size_t(L) * size_t(hk); }
  float* v(int64_t layer) { return k(layer) + size_t(B) * size_t(L) * size_t(hk); }
};

enum class CacheUse { None = 0, Store = 1, Rows = 2 };

struct ForwardArgs {
  const int64_t* tokens = nullptr;    // (B, L) the whole canvas, every id in [0, V)
  const uint8_t* key_mask = nullptr;  // (B, L) 1 = attend, 0 = padding; nullptr = all attend
  int B = 0;
  int L = 0;
  int head_from = 0;  // the LM head runs on positions [head_from, head_to) of each row
  int head_to = 0;
  float* logits = nullptr;  // (B, head_to - head_from, V)
  CacheUse cache_use = CacheUse::None;
  KVCache* cache = nullptr;  // Store / Rows
  int row_from = 0;  // Rows: the recomputed positions [row_from, row_to), containing the head rows
  int row_to = 0;
};

void forward(const ModelWeights& w, ThreadPool& pool, Kernel kernel, const ForwardArgs& args, Workspace& ws);

}  // namespace llada
