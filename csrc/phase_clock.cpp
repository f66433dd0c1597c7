#include "phase_clock.h"

namespace llada {

std::atomic<int64_t>* phase_ns() {
  static std::atomic<int64_t> ns[int(Phase::Count)] = {};
  return ns;
}

void reset_phase_times() {
  for (int i = 0; i < int(Phase::Count); ++i) phase_ns()[i].store(0, std::memory_order_relaxed);
}

}  // namespace llada
