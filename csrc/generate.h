// The diffusion generation loop (ALGORITHM.md section 2): canvas, block schedule, classifier-
// free guidance, proposals and confidences, top-k commit, per-step callback and cancellation.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "forward.h"
#include "sampling.h"

namespace llada {

// How many positions a step commits: the reference's fixed schedule, or Fast-dLLM parallel
// decoding (a block takes as many steps as it needs; ALGORITHM.md section 4).
enum class Decoding { Fixed = 0, Threshold = 1, Factor = 2 };

// Block KV cache (Fast-dLLM, ALGORITHM.md section 4): none = a full pass every step; prefix and
// dual = a full pass storing keys and values at the first step of each block, then later steps
// recompute rows [block start, L) (prefix) or the block's rows only (dual).
enum class CacheMode { None = 0, Prefix = 1, Dual = 2 };

struct GenerateParams {
  int steps = 128;         // total steps over all blocks (max_steps)
  int gen_length = 128;    // masked positions appended to the prompt
  int block_length = 128;  // gen_length / block_length blocks, revealed left to right
  double temperature = 0.0;
  double cfg_scale = 0.0;  // > 0: classifier-free guidance
  Remasking remasking = Remasking::LowConfidence;
  int64_t mask_id = 0;
  int64_t eos_id = 0;
  int64_t eot_id = 0;
  bool logits_eos_inf = false;          // EOS column -inf before sampling
  bool confidence_eos_eot_inf = false;  // EOS/EOT proposals get confidence 0
  uint64_t seed = 0;
  Decoding decoding = Decoding::Fixed;
  double threshold = 0.9;  // Threshold: commit every masked in-block position this confident
  double factor = 1.0;     // Factor: commit the n-th most confident while conf >= 1 - factor/(n+1)
  CacheMode cache = CacheMode::None;
};

// What one step did, per batch row; positions relative to the start of the generated region.
struct StepData {
  int step = 0;         // 1 .. total_steps (from start_step + 1 when continuing)
  int total_steps = 0;  // fixed: start_step + the steps its blocks run (steps for a fresh run);
                        // parallel: the most a run can take, max(gen_length, start_step + masks)
  int block = 0;
  int num_blocks = 0;
  int forward_passes = 0;  // so far (a CFG pass counts once)
  double elapsed = 0.0;    // seconds since generation started
  std::vector<std::vector<int>> positions;
  std::vector<std::vector<int64_t>> tokens;
  std::vector<std::vector<double>> confidences;
};

// The stop rule (the same in core/torch_backend/sampler.py): a stop is requested by the cancel
// check returning true or by the step callback returning false. It is honoured at one point only,
// before the next forward pass: the run then ends with cancelled = true, the canvas as the last
// delivered step left it and steps_done = the number of steps delivered. A request after the last
// step of the run finds no next forward: the run is complete (cancelled = false).
using StepCallback = std::function<bool(const StepData&)>;  // false: request a stop
using CancelCheck = std::function<bool()>;                  // true: request a stop

struct GenerateResult {
  std::vector<int64_t> canvas;  // (B, P + gen_length)
  bool cancelled = false;
  // > 0: the run ended at this step (1-based, not delivered) because a still-masked position of
  // the current block had a NaN or +inf logit, or no logit above -inf once the mask column (and
  // with logits_eos_inf the EOS column) is excluded: corrupt weights or config values. The
  // binding raises NonFiniteLogitsError naming the step.
  int nonfinite_step = 0;
  int steps_done = 0;      // steps delivered by this call (after AnswerInit::start_step)
  int forward_passes = 0;  // by this call
};

// The k_i of each step: masked / steps each, the first masked % steps one more.
std::vector<int> num_transfer_tokens(int masked, int steps);

// Parallel decoding: how many of the confidences (sorted descending, masked positions only)
// to commit: the leading run passing the rule, at least one while any is available.
int parallel_count(const std::vector<double>& ranked, Decoding mode, double threshold, double factor);

// The generated region's starting content (word constraints, infilling, edit and continue):
// all optional; the defaults are a fresh run.
struct AnswerInit {
  // (B, gen_length): mask_id where the model writes; any other id is given and never changed.
  const int64_t* answer = nullptr;
  // (B, gen_length), 1 = this given position counts as prompt (masked in the unconditional CFG
  // rows). nullptr: every given position does (the LLaDA demo's constraint rule).
  const uint8_t* given_is_prompt = nullptr;
  // Steps already done (continuing a run). Fixed decoding: block k gets steps_per_block -
  // clamp(start_step - k*steps_per_block, 0, steps_per_block) steps; a block with none left
  // that holds m masks (re-masked) gets min(steps_per_block, m) again (the same tokens as all
  // steps_per_block: the schedule's tail would reveal nothing); a block with no steps left and
  // no masks is skipped. Step numbers (and so the RNG streams) continue from start_step. Dynamic
  // decoding: every block runs until it holds no mask. With start_step 0 every block runs all
  // its steps, as always.
  int start_step = 0;
};

// Steps each block runs under fixed decoding for this init (block_masks[k]: the most masks a
// row holds in block k): the rule of AnswerInit::start_step.
std::vector<int> block_steps(int num_blocks, int steps_per_block, int start_step,
                             const std::vector<int>& block_masks);

// prompt (B, P) left-padded; prompt_mask (B, P) 1 = real token, or nullptr.
// Throws std::invalid_argument for inconsistent params.
GenerateResult generate(const ModelWeights& w, ThreadPool& pool, Kernel kernel, const int64_t* prompt,
                        const uint8_t* prompt_mask, int B, int P, const GenerateParams& params,
                        const StepCallback& on_step, const CancelCheck& cancelled, const AnswerInit& init = {});

}  // namespace llada
