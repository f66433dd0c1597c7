#include "generate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include "phase_clock.h"

namespace llada {

std::vector<int> num_transfer_tokens(int masked, int steps) {
  std::vector<int> out(size_t(steps), masked / steps);
  for (int i = 0; i < masked % steps; ++i) ++out[size_t(i)];
  return out;
}

int parallel_count(const std::vector<double>& ranked, Decoding mode, double threshold, double factor) {
  int leading = 0;
  for (size_t n = 0; n < ranked.size(); ++n) {
    const bool pass = mode == Decoding::Threshold ? ranked[n] >= threshold
                                                  : ranked[n] >= 1.0 - factor / (double(n + 1) + 1.0);
    if (!pass) break;
    ++leading;
  }
  return std::min(std::max(leading, 1), int(ranked.size()));
}

namespace {
void validate(const GenerateParams& p, int64_t vocab) {
  auto fail = [](const std::string& m) { throw std::invalid_argument(m); };
  if (p.gen_length <= 0 || p.block_length <= 0 || p.steps <= 0) fail("gen_length, block_length and steps must be positive");
  if (p.gen_length % p.block_length != 0) fail("gen_length must be a multiple of block_length");
  if (p.steps % (p.gen_length / p.block_length) != 0) fail("steps must be a multiple of the number of blocks");
  if (!(p.temperature >= 0.0) || !(p.cfg_scale >= 0.0)) fail("temperature and cfg_scale must be >= 0");
  for (int64_t id : {p.mask_id, p.eos_id, p.eot_id})
    if (id < 0 || id >= vocab) fail("mask, eos and eot ids must lie in [0, vocab)");
}
}  // namespace

std::vector<int> block_steps(int num_blocks, int steps_per_block, int start_step,
                             const std::vector<int>& block_masks) {
  std::vector<int> out(static_cast<size_t>(num_blocks));
  for (int k = 0; k < num_blocks; ++k) {
    const int64_t done = std::clamp<int64_t>(int64_t(start_step) - int64_t(k) * steps_per_block, 0, steps_per_block);
    int left = steps_per_block - int(done);
    if (left == 0) left = std::min(steps_per_block, block_masks[size_t(k)]);  // re-masked after its steps
    out[size_t(k)] = left;
  }
  return out;
}

GenerateResult generate(const ModelWeights& w, ThreadPool& pool, Kernel kernel, const int64_t* prompt,
                        const uint8_t* prompt_mask, int B, int P, const GenerateParams& p,
                        const StepCallback& on_step, const CancelCheck& cancelled, const AnswerInit& init) {
  const int64_t V = w.cfg.vocab;
  validate(p, V);
  if (init.start_step < 0) throw std::invalid_argument("start_step must be >= 0");
  const auto start = std::chrono::steady_clock::now();
  const int L = P + p.gen_length;
  const int num_blocks = p.gen_length / p.block_length;
  const int steps_per_block = p.steps / num_blocks;
  const bool cfg = p.cfg_scale > 0.0;
  const bool dynamic = p.decoding != Decoding::Fixed;
  const int rows = cfg ? 2 * B : B;  // conditional rows first, then unconditional
  const int G = p.gen_length;

  // Canvas x = [prompt | answer_init, or mask ...]; prompt_index = positions not mask at the
  // start, less the given answer positions that given_is_prompt says are not prompt.
  GenerateResult res;
  std::vector<int64_t>& x = res.canvas;
  x.assign(size_t(B) * L, p.mask_id);
  for (int b = 0; b < B; ++b) {
    for (int i = 0; i < P; ++i) x[size_t(b) * L + i] = prompt[size_t(b) * P + i];
    if (init.answer != nullptr)
      for (int j = 0; j < G; ++j) x[size_t(b) * L + P + j] = init.answer[size_t(b) * G + j];
  }
  std::vector<uint8_t> is_prompt(x.size());
  for (size_t i = 0; i < x.size(); ++i) is_prompt[i] = x[i] != p.mask_id;
  if (init.given_is_prompt != nullptr)
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < G; ++j)
        if (!init.given_is_prompt[size_t(b) * G + j]) is_prompt[size_t(b) * L + P + j] = 0;

  // Steps per block (fixed decoding) and the step count events report.
  std::vector<int> block_masks(size_t(num_blocks), 0);  // the most masks a row holds per block
  int most_masked = 0;                                  // the most masks any row holds
  for (int b = 0; b < B; ++b) {
    int row_masked = 0;
    std::vector<int> row_blocks(size_t(num_blocks), 0);
    for (int j = 0; j < G; ++j) {
      if (x[size_t(b) * L + P + j] != p.mask_id) continue;
      ++row_masked;
      ++row_blocks[size_t(j / p.block_length)];
    }
    most_masked = std::max(most_masked, row_masked);
    for (int k = 0; k < num_blocks; ++k) block_masks[size_t(k)] = std::max(block_masks[size_t(k)], row_blocks[size_t(k)]);
  }
  const std::vector<int> plan = block_steps(num_blocks, steps_per_block, init.start_step, block_masks);
  int total_steps = init.start_step;
  if (dynamic) {
    total_steps = std::max(p.gen_length, init.start_step + most_masked);
  } else {
    for (int k : plan) total_steps += k;
  }
  std::vector<uint8_t> key_mask;
  if (prompt_mask != nullptr) {
    key_mask.assign(size_t(rows) * L, 1);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < P; ++i) key_mask[size_t(r) * L + i] = prompt_mask[size_t(r % B) * P + i] ? 1 : 0;
  }

  std::vector<int64_t> batch(size_t(rows) * L);
  std::vector<float> logits(size_t(rows) * p.block_length * V);
  std::vector<float> guided(cfg ? size_t(B) * p.block_length * V : 0);
  std::vector<Proposal> prop(size_t(B) * p.block_length);
  Workspace ws;
  KVCache kv;
  const float cfg_factor = float(p.cfg_scale + 1.0);

  int step = init.start_step;  // global step number: the RNG streams are keyed by it
  bool stop = false;  // on_step returned false: a stop request, honoured before the next forward
  for (int block = 0; block < num_blocks; ++block) {
    const int b0 = P + block * p.block_length, b1 = b0 + p.block_length;
    const int block_steps_left = plan[size_t(block)];
    if (!dynamic && block_steps_left == 0) continue;  // done before start_step, nothing re-masked
    // The transfer counts of the steps left: the tail of the uninterrupted schedule (issue 15).
    std::vector<std::vector<int>> schedule(static_cast<size_t>(B));
    for (int b = 0; b < B; ++b) {
      int masked = 0;
      for (int i = b0; i < b1; ++i) masked += x[size_t(b) * L + i] == p.mask_id;
      if (!dynamic) schedule[size_t(b)] = num_transfer_tokens(masked, block_steps_left);
    }
    auto block_done = [&] {
      for (int b = 0; b < B; ++b)
        for (int j = b0; j < b1; ++j)
          if (x[size_t(b) * L + j] == p.mask_id) return false;
      return true;
    };
    for (int i = 0; dynamic ? !block_done() : i < block_steps_left; ++i) {
      const PhaseTimer step_time(Phase::Steps);
      // The stop rule (generate.h): the one point where a stop request ends the run.
      if (stop || (cancelled && cancelled())) {
        res.cancelled = true;
        return res;
      }
      // The model input: the canvas, and under CFG the canvas with the prompt masked.
      std::copy(x.begin(), x.end(), batch.begin());
      if (cfg)
        for (size_t j = 0; j < x.size(); ++j) batch[x.size() + j] = is_prompt[j] ? p.mask_id : x[j];
      ForwardArgs fa;
      fa.tokens = batch.data();
      fa.key_mask = key_mask.empty() ? nullptr : key_mask.data();
      fa.B = rows;
      fa.L = L;
      fa.head_from = b0;  // only the current block's positions are ever sampled
      fa.head_to = b1;
      fa.logits = logits.data();
      if (p.cache != CacheMode::None) {
        fa.cache = &kv;
        fa.cache_use = i == 0 ? CacheUse::Store : CacheUse::Rows;
        fa.row_from = b0;
        fa.row_to = p.cache == CacheMode::Dual ? b1 : L;
      }
      forward(w, pool, kernel, fa, ws);
      ++res.forward_passes;
      float* lg = logits.data();
      const int64_t n = int64_t(B) * p.block_length * V;
      if (cfg) {  // un + (cfg + 1) * (cond - un), in float32 as the reference
        const float* cond = logits.data();
        const float* un = logits.data() + n;
        for (int64_t j = 0; j < n; ++j) guided[size_t(j)] = un[j] + cfg_factor * (cond[j] - un[j]);
        lg = guided.data();
      }
      // Proposals and confidences of the masked positions of this block, in parallel.
      const int64_t cells = int64_t(B) * p.block_length;
      std::atomic<bool> nonfinite{false};
      const auto propose_t0 = std::chrono::steady_clock::now();
      auto masked = [&](int64_t c) { return x[size_t(c / p.block_length) * L + b0 + c % p.block_length] == p.mask_id; };
      // The mask token is never proposed: committing it would leave the position masked and break
      // the block's reveal count (the reference allows it; trained models give it ~0).
      auto exclude = [&](int64_t c) {
        float* row = lg + c * V;
        row[p.mask_id] = -std::numeric_limits<float>::infinity();
        if (p.logits_eos_inf) row[p.eos_id] = -std::numeric_limits<float>::infinity();
      };
      auto keep = [&](int64_t c, Proposal pr) {
        if (p.confidence_eos_eot_inf && (pr.token == p.eos_id || pr.token == p.eot_id)) pr.confidence = 0.0;
        prop[size_t(c)] = pr;
      };
      const bool greedy = p.temperature == 0.0 &&
                          (p.remasking == Remasking::LowConfidence || p.remasking == Remasking::Margin);
      int64_t open = 0;
      for (int64_t c = 0; c < cells; ++c) open += masked(c);
      // A greedy step with fewer positions than threads (a cached step of 8 rows on 16 threads)
      // splits each position's vocabulary: its two passes over the 126464 logits of LLaDA-8B took
      // 2-3.5 ms of a 30-95 ms step on one thread per position (phase_clock.h, 16-core device).
      const int64_t parts = greedy && open > 0 ? std::min<int64_t>(8, pool.size() / open) : 1;
      // Non-finite logits (the torch sampler checks the same): NaN or +inf anywhere, or nothing
      // above -inf, leave no meaningful proposal; the run ends with an error after this pass.
      if (parts >= 2) {
        std::vector<int64_t> cell_of;
        for (int64_t c = 0; c < cells; ++c)
          if (masked(c)) cell_of.push_back(c), exclude(c);
        const int64_t n = int64_t(cell_of.size()), width = (V + parts - 1) / parts;
        std::vector<SliceMax> part_max(size_t(n * parts));
        std::vector<double> part_sum(size_t(n * parts));
        pool.run(n * parts, [&](int64_t t, int) {
          const int64_t v0 = (t % parts) * width;
          part_max[size_t(t)] = slice_max(lg + cell_of[size_t(t / parts)] * V, v0, std::min(V, v0 + width));
        });
        std::vector<SliceMax> whole(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          SliceMax m = part_max[size_t(i * parts)];
          for (int64_t k = 1; k < parts; ++k) m = merge_max(m, part_max[size_t(i * parts + k)]);
          if (m.bad || !m.any) nonfinite.store(true, std::memory_order_relaxed);
          whole[size_t(i)] = m;
        }
        if (!nonfinite.load()) {
          pool.run(n * parts, [&](int64_t t, int) {
            const int64_t v0 = (t % parts) * width;
            part_sum[size_t(t)] = exp_sum(lg + cell_of[size_t(t / parts)] * V, v0, std::min(V, v0 + width),
                                          double(whole[size_t(t / parts)].max));
          });
          for (int64_t i = 0; i < n; ++i) {
            double sum = 0.0;
            for (int64_t k = 0; k < parts; ++k) sum += part_sum[size_t(i * parts + k)];
            const SliceMax& m = whole[size_t(i)];
            keep(cell_of[size_t(i)], Proposal{m.token, greedy_confidence(m, sum, p.remasking)});
          }
        }
      } else {
        pool.run(cells, [&](int64_t c, int) {
          if (!masked(c)) return;
          exclude(c);
          const float* row = lg + c * V;
          const SliceMax m = slice_max(row, 0, V);
          if (m.bad || !m.any) {
            nonfinite.store(true, std::memory_order_relaxed);
            return;
          }
          if (greedy) {  // propose()'s greedy route, the max pass above reused
            keep(c, Proposal{m.token, greedy_confidence(m, exp_sum(row, 0, V, double(m.max)), p.remasking)});
            return;
          }
          const int b = int(c / p.block_length), j = int(c % p.block_length);
          Rng rng = Rng::stream(p.seed, uint64_t(step), uint64_t(b), uint64_t(j));
          keep(c, propose(row, V, p.temperature, p.remasking, rng));
        });
      }
      add_phase_time(Phase::Propose, propose_t0);
      if (nonfinite.load()) {
        res.nonfinite_step = step + 1;
        return res;
      }

      ++step;
      StepData ev;
      ev.step = step;
      ev.total_steps = total_steps;
      ev.block = block;
      ev.num_blocks = num_blocks;
      ev.forward_passes = res.forward_passes;
      ev.positions.resize(size_t(B));
      ev.tokens.resize(size_t(B));
      ev.confidences.resize(size_t(B));
      for (int b = 0; b < B; ++b) {
        std::vector<int> cand;  // masked positions of the block, ascending
        std::vector<double> conf;
        for (int j = 0; j < p.block_length; ++j) {
          if (x[size_t(b) * L + b0 + j] != p.mask_id) continue;
          cand.push_back(j);
          // A NaN confidence ranks lowest (never stalls the parallel rule or breaks the sort).
          const double cj = prop[size_t(b) * p.block_length + j].confidence;
          conf.push_back(std::isnan(cj) ? std::numeric_limits<double>::lowest() : cj);
        }
        int count = 0;
        if (!dynamic) {
          count = schedule[size_t(b)][size_t(i)];
        } else if (!conf.empty()) {
          std::vector<double> ranked(conf);
          std::sort(ranked.begin(), ranked.end(), std::greater<double>());
          count = parallel_count(ranked, p.decoding, p.threshold, p.factor);
        }
        for (int idx : top_k(conf.data(), int(conf.size()), count)) {
          const int j = cand[size_t(idx)];
          const Proposal& pr = prop[size_t(b) * p.block_length + j];
          x[size_t(b) * L + b0 + j] = pr.token;
          ev.positions[size_t(b)].push_back(b0 - P + j);
          ev.tokens[size_t(b)].push_back(pr.token);
          ev.confidences[size_t(b)].push_back(pr.confidence);
        }
      }
      res.steps_done = step - init.start_step;
      ev.elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const auto callback_t0 = std::chrono::steady_clock::now();
      if (on_step && !on_step(ev)) stop = true;  // honoured before the next forward, if any
      add_phase_time(Phase::Callback, callback_t0);
    }
  }
  return res;
}

}  // namespace llada
