#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace llada {

namespace {
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  uint64_t st = seed;
  for (uint64_t& s : s_) s = splitmix64(st);
}

Rng Rng::stream(uint64_t seed, uint64_t step, uint64_t row, uint64_t position) {
  // Mix the coordinates through splitmix64 one after another into one 64-bit key.
  uint64_t st = seed;
  uint64_t key = splitmix64(st);
  st = key ^ step;
  key = splitmix64(st);
  st = key ^ row;
  key = splitmix64(st);
  st = key ^ position;
  return Rng(splitmix64(st));
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

SliceMax slice_max(const float* logits, int64_t v0, int64_t v1) {
  SliceMax m;
  for (int64_t v = v0; v < v1; ++v) {
    const float l = logits[v];
    m.bad |= std::isnan(l) || l == std::numeric_limits<float>::infinity();
    m.any |= l > -std::numeric_limits<float>::infinity();
    if (l > m.max || m.token < 0) {
      if (m.token >= 0) m.second = m.max;
      m.max = l, m.token = v;
    } else if (l > m.second) {
      m.second = l;
    }
  }
  return m;
}

SliceMax merge_max(const SliceMax& a, const SliceMax& b) {
  if (a.token < 0) return b;
  if (b.token < 0) return a;
  SliceMax m;
  m.bad = a.bad || b.bad, m.any = a.any || b.any;
  const bool b_wins = b.max > a.max;  // a's slice comes first: a keeps ties
  const SliceMax& w = b_wins ? b : a;
  const SliceMax& o = b_wins ? a : b;
  m.max = w.max, m.token = w.token, m.second = std::max(w.second, o.max);
  return m;
}

double exp_sum(const float* logits, int64_t v0, int64_t v1, double mx) {
  double sum = 0.0;
  for (int64_t v = v0; v < v1; ++v) sum += std::exp(double(logits[v]) - mx);
  return sum;
}

double greedy_confidence(const SliceMax& m, double sum, Remasking mode) {
  // p(token) = exp(max - max) / sum; margin = p1 - p2.
  return mode == Remasking::Margin ? (1.0 - std::exp(double(m.second) - double(m.max))) / sum : 1.0 / sum;
}

Proposal propose(const float* logits, int64_t V, double temperature, Remasking mode, Rng& rng) {
  Proposal out;
  if (temperature == 0.0 && (mode == Remasking::LowConfidence || mode == Remasking::Margin)) {
    const SliceMax m = slice_max(logits, 0, V);
    out.token = m.token;
    out.confidence = greedy_confidence(m, exp_sum(logits, 0, V, double(m.max)), mode);
    return out;
  }
  if (temperature == 0.0) {
    float best = logits[0];
    for (int64_t v = 1; v < V; ++v)
      if (logits[v] > best) best = logits[v], out.token = v;
  } else {
    double best = -std::numeric_limits<double>::infinity();
    for (int64_t v = 0; v < V; ++v) {
      const double g = -std::log(-std::log(rng.uniform()));
      const double val = double(logits[v]) / temperature + g;
      if (val > best) best = val, out.token = v;
    }
  }
  if (mode == Remasking::Random) {
    out.confidence = rng.uniform();
    return out;
  }
  // Softmax in float64 with max subtraction.
  double mx = -std::numeric_limits<double>::infinity(), second = mx;
  for (int64_t v = 0; v < V; ++v) {
    const double l = logits[v];
    if (l > mx) {
      second = mx;
      mx = l;
    } else if (l > second) {
      second = l;
    }
  }
  double sum = 0.0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(double(logits[v]) - mx);
  switch (mode) {
    case Remasking::LowConfidence:
      out.confidence = std::exp(double(logits[out.token]) - mx) / sum;
      break;
    case Remasking::Margin:
      out.confidence = (1.0 - std::exp(second - mx)) / sum;  // p1 - p2
      break;
    case Remasking::Entropy: {
      // H = -sum p log p; p log p -> 0 as p -> 0 (the reference clamps p at 1e-300).
      double h = 0.0;
      for (int64_t v = 0; v < V; ++v) {
        const double p = std::exp(double(logits[v]) - mx) / sum;
        h -= p * std::log(std::max(p, 1e-300));
      }
      out.confidence = std::exp(-h);
      break;
    }
    case Remasking::Random:
      break;
  }
  return out;
}

std::vector<int> top_k(const double* conf, int n, int k) {
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  k = std::max(0, std::min(k, n));
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return conf[a] > conf[b]; });
  order.resize(size_t(k));
  return order;
}

}  // namespace llada
