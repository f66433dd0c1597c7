// A view of the model weights where they lie (the memory-mapped checkpoint), in stored dtype.
// Nothing here owns memory: the Python wrapper keeps the arrays alive.
#pragma once

#include <cstdint>
#include <vector>

#include "dtype.h"

namespace llada {

// Row-major matrix [rows, cols] (PyTorch [out, in] layout), or a vector when rows == 1.
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
};

struct ModelConfig {
  int d_model = 0;     // d
  int n_layers = 0;
  int n_heads = 0;     // H
  int n_kv_heads = 0;  // K (grouped-query attention when K < H)
  int head_dim = 0;    // hd = d / H
  int ffn = 0;         // mlp_hidden_size
  int vocab = 0;       // V = embedding_size (rows of wte, columns of the logits)
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  // RoPE pairs: false = half-split (value i with i + hd/2, the LLaDA checkpoints); true =
  // interleaved (2i with 2i + 1): llama.cpp's converter permutes q/k rows into that layout, and
  // rotating the pairs where they lie gives the same q.k as un-permuting the rows would.
  bool rope_interleaved = false;
};

struct LayerWeights {
  WeightView attn_norm;  // (d)
  WeightView wq;         // (H*hd, d)
  WeightView wk;         // (K*hd, d)
  WeightView wv;         // (K*hd, d)
  WeightView wo;         // (d, H*hd)
  WeightView ff_norm;    // (d)
  WeightView w_gate;     // (ffn, d)  ff_proj, SiLU applies to it
  WeightView w_up;       // (ffn, d)  up_proj
  WeightView w_down;     // (d, ffn)  ff_out
};

struct ModelWeights {
  ModelConfig cfg;
  WeightView wte;                   // (V, d) token embedding
  std::vector<LayerWeights> layers;  // n_layers
  WeightView ln_f;                  // (d)
  WeightView lm_head;               // (V, d); wte itself when the weights are tied
};

// Throws std::invalid_argument naming the first tensor whose shape disagrees with cfg.
void check_weights(const ModelWeights& w);

}  // namespace llada
