// Where a forward pass and a sampler step spend their time, summed over calls: the matrix
// products of the layers, attention, the LM head, the rest of the forward (norms, RoPE, SiLU,
// embedding, cache copies), the proposals over the vocabulary, and the step callback (Python's).
// A benchmark resets the sums, runs, and reads them (bindings: phase_times), so a gap between a
// kernel's own speed and a sampler step's is named rather than guessed. Two clock reads per
// timed region (~20-50 ns): a few dozen regions per layer, nothing next to a product.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace llada {

enum class Phase : int { Products = 0, Attention, Head, Forward, Propose, Callback, Steps, Count };

inline const char* phase_name(Phase p) {
  static const char* const names[] = {"products", "attention", "head", "forward", "propose", "callback", "steps"};
  return names[int(p)];
}

// Nanoseconds per phase since the last reset (Forward = whole forward passes, Steps = whole
// sampler steps: the other phases lie inside them).
std::atomic<int64_t>* phase_ns();
void reset_phase_times();

// Adds the time since t0 to one phase.
inline void add_phase_time(Phase p, std::chrono::steady_clock::time_point t0) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
  phase_ns()[int(p)].fetch_add(int64_t(ns.count()), std::memory_order_relaxed);
}

// Adds the time from construction to destruction to one phase.
class PhaseTimer {
 public:
  explicit PhaseTimer(Phase p) : p_(p), t0_(std::chrono::steady_clock::now()) {}
  ~PhaseTimer() { add_phase_time(p_, t0_); }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  Phase p_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace llada
