#include "weights.h"

#include <stdexcept>
#include <string>

namespace llada {

static void expect(const WeightView& v, int64_t rows, int64_t cols, const std::string& what) {
  if (v.data == nullptr) throw std::invalid_argument("weight " + what + " is missing");
  if (v.rows != rows || v.cols != cols) {
    throw std::invalid_argument("weight " + what + " has shape [" + std::to_string(v.rows) + ", " +
                                std::to_string(v.cols) + "], expected [" + std::to_string(rows) + ", " +
                                std::to_string(cols) + "]");
  }
}

void check_weights(const ModelWeights& w) {
  const ModelConfig& c = w.cfg;
  if (c.d_model <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0 ||
      c.head_dim <= 0 ||
      int64_t(c.head_dim) * c.n_heads != c.d_model || c.head_dim % 2 != 0 || c.ffn <= 0 || c.vocab <= 0) {
    throw std::invalid_argument("inconsistent model config (d_model, heads, kv heads, head_dim, ffn, vocab)");
  }
  if (int(w.layers.size()) != c.n_layers) throw std::invalid_argument("layer count disagrees with config");
  const int64_t d = c.d_model, hq = int64_t(c.n_heads) * c.head_dim, hk = int64_t(c.n_kv_heads) * c.head_dim;
  expect(w.wte, c.vocab, d, "wte");
  expect(w.ln_f, 1, d, "ln_f");
  expect(w.lm_head, c.vocab, d, "lm_head");
  for (int n = 0; n < c.n_layers; ++n) {
    const LayerWeights& l = w.layers[n];
    const std::string p = "blocks." + std::to_string(n) + ".";
    expect(l.attn_norm, 1, d, p + "attn_norm");
    expect(l.wq, hq, d, p + "q_proj");
    expect(l.wk, hk, d, p + "k_proj");
    expect(l.wv, hk, d, p + "v_proj");
    expect(l.wo, d, hq, p + "attn_out");
    expect(l.ff_norm, 1, d, p + "ff_norm");
    expect(l.w_gate, c.ffn, d, p + "ff_proj");
    expect(l.w_up, c.ffn, d, p + "up_proj");
    expect(l.w_down, d, c.ffn, p + "ff_out");
  }
}

}  // namespace llada
