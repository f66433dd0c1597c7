// One sampling step on the logits of one position: the proposal (argmax, or Gumbel-max at
// T > 0) and its confidence; and the top-k choice among positions. Pure functions of their
// inputs and of the random stream they are handed.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace llada {

// xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2018),
// seeded through splitmix64. One independent stream per (seed, step, row, position), so the
// result does not depend on how positions are spread over threads.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  static Rng stream(uint64_t seed, uint64_t step, uint64_t row, uint64_t position);
  uint64_t next();
  // Uniform double in the open interval (0, 1): 53 random bits, offset by half a step.
  double uniform() { return (double(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

 private:
  uint64_t s_[4];
};

enum class Remasking { LowConfidence = 0, Random = 1, Margin = 2, Entropy = 3 };

struct Proposal {
  int64_t token = 0;
  double confidence = 0.0;
};

// logits: (V) guided logits of one position (the EOS column already -inf when excluded).
// T == 0: token = argmax (lowest index on ties). T > 0: token = argmax(l/T + G), G = -log(-log U)
// in float64, one exact sample of softmax(l/T) (Gumbel-max; Gumbel 1954, Maddison et al. 2014).
// Confidence, in float64 with max subtraction: low_confidence = p(token); margin = top-1 minus
// top-2 probability; entropy = exp(-H); random = a uniform draw.
Proposal propose(const float* logits, int64_t V, double temperature, Remasking mode, Rng& rng);

// A greedy proposal (T == 0, low_confidence or margin) in pieces, so one position's vocabulary can
// be split over threads when a step has fewer positions than threads: slice_max over slices of
// the logits, merge_max of the slices in order, then exp_sum over slices with the merged max, and
// greedy_confidence. propose() takes the same route with one slice.
struct SliceMax {
  float max = -std::numeric_limits<float>::infinity();  // largest logit, first index on ties
  int64_t token = -1;
  float second = -std::numeric_limits<float>::infinity();  // largest of the others
  bool bad = false;  // a NaN or +inf seen
  bool any = false;  // a logit above -inf seen
};
SliceMax slice_max(const float* logits, int64_t v0, int64_t v1);
SliceMax merge_max(const SliceMax& a, const SliceMax& b);  // a's slice before b's
double exp_sum(const float* logits, int64_t v0, int64_t v1, double mx);
double greedy_confidence(const SliceMax& m, double sum, Remasking mode);

// Indices of the k largest values of conf[0:n], ties to the lower index, in that order.
std::vector<int> top_k(const double* conf, int n, int k);

}  // namespace llada
