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
  std::vector<float> head_in;   // (B*R, d) final-norm rows fed to the LM head
};

struct ForwardArgs {
  const int64_t* tokens = nullptr;    // (B, L), every id in [0, V)
  const uint8_t* key_mask = nullptr;  // (B, L) 1 = attend, 0 = padding; nullptr = all attend
  int B = 0;
  int L = 0;
  int head_from = 0;  // the LM head runs on positions [head_from, head_to) of each row
  int head_to = 0;
  float* logits = nullptr;  // (B, head_to - head_from, V)
};

void forward(const ModelWeights& w, ThreadPool& pool, Kernel kernel, const ForwardArgs& args, Workspace& ws);

}  // namespace llada
