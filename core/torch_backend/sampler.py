"""The diffusion sampler in PyTorch (ALGORITHM.md section 2): the reference semantics.

A chain of small functions, as in gpt-fast: guided logits -> proposals -> confidence ->
selection -> commit. `generate` threads an `on_step` callback through the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from ..answer_init import block_steps
from ..errors import NonFiniteLogitsError
from ..events import CancelToken, StepCallback, StepEvent
from ..params import GenerationParams
from ..schedule import num_transfer_tokens

# On CUDA, replay the model passes as CUDA graphs (see cuda_graphs.py): the cached block steps,
# and (GRAPH_FULL_PASS) the plain sampler's full pass.
USE_CUDA_GRAPHS = True
GRAPH_FULL_PASS = True
# The plain pass computes the LM head for the current block's rows only (False: the whole canvas,
# then the block's slice, as before issue 13; kept for benchmarks to compare).
PLAIN_BLOCK_HEAD = True

# (canvas [B, L], attention mask [B, L] bool or None) -> logits [B, L, V] float32
ModelFn = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def model_input(
    x: torch.Tensor, attention_mask: torch.Tensor | None, prompt_index: torch.Tensor, mask_id: int, cfg_scale: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The batch the model runs on: the canvas, and under classifier-free guidance (cfg > 0)
    the unconditional rows after it: the canvas with every prompt position masked."""
    if cfg_scale <= 0:
        return x, attention_mask
    un_x = x.masked_fill(prompt_index, mask_id)
    mask = None if attention_mask is None else torch.cat([attention_mask, attention_mask], dim=0)
    return torch.cat([x, un_x], dim=0), mask


def combine_guidance(logits: torch.Tensor, cfg_scale: float) -> torch.Tensor:
    """logits = un + (cfg + 1) * (cond - un), conditional rows first."""
    if cfg_scale <= 0:
        return logits
    cond, un = logits.chunk(2, dim=0)
    return un + (cfg_scale + 1.0) * (cond - un)


def guided_logits(
    model: ModelFn,
    x: torch.Tensor,
    attention_mask: torch.Tensor | None,
    prompt_index: torch.Tensor,
    mask_id: int,
    cfg_scale: float,
) -> torch.Tensor:
    """Logits for the canvas, with classifier-free guidance when cfg_scale > 0 (conditional and
    unconditional rows in one batched forward)."""
    both, mask = model_input(x, attention_mask, prompt_index, mask_id, cfg_scale)
    return combine_guidance(model(both, mask), cfg_scale)


def noise_generator(device: torch.device, seed: int) -> torch.Generator:
    """The sampler's random stream: on the CPU for CPU runs (the reference stream), on the GPU for
    CUDA runs, where drawing a float64 uniform per vocabulary entry on the CPU and copying it over
    would cost more than the cached model step itself (8B vocabulary: 4 M numbers per 32-row step).
    Same distribution either way; a CUDA run's samples differ from a CPU run's with the same seed."""
    return torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(seed)


def _noise_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def propose(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """x0: argmax at T = 0; else one exact sample of softmax(logits / T) by Gumbel-max.

    The reference computes exp(l) / (-log U)^T in float64; argmax(l / T - log(-log U)) is the
    same sample (a monotone transform: divide the log by T) without overflow. float64 noise
    keeps the tail of the Gumbel distribution exact (Gumbel 1954; Maddison et al. 2014)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    u = torch.rand(logits.shape, dtype=torch.float64, generator=generator, device=_noise_device(generator))
    u = u.to(logits.device)
    # U in [0, 1): -log(-log U) is +inf only at U == 1, which never occurs; U == 0 gives -inf.
    gumbel = -torch.log(-torch.log(u))
    return (logits.double() / temperature + gumbel).argmax(dim=-1)


def confidence(
    logits: torch.Tensor, x0: torch.Tensor, remasking: str, generator: torch.Generator | None
) -> torch.Tensor:
    """Confidence of each proposal, float64, in [0, 1] for every mode (higher = commit first)."""
    if remasking == "random":
        return torch.rand(x0.shape, dtype=torch.float64, generator=generator, device=_noise_device(generator)).to(
            x0.device
        )
    p = torch.softmax(logits.double(), dim=-1)  # max-subtracted inside softmax
    if remasking == "low_confidence":
        return p.gather(-1, x0.unsqueeze(-1)).squeeze(-1)
    if remasking == "margin":
        top2 = p.topk(2, dim=-1).values
        return top2[..., 0] - top2[..., 1]
    if remasking == "entropy":
        # exp(-H): 1 for a one-hot distribution, 1/V for a uniform one; monotone in -H.
        entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(-1)
        return torch.exp(-entropy)
    raise ValueError(f"unknown remasking mode {remasking!r}")


def select_positions(conf: torch.Tensor, k: torch.Tensor) -> list[torch.Tensor]:
    """Per row, the k highest confidences; ties go to the lower index (stable sort)."""
    order = torch.sort(-conf, dim=-1, stable=True).indices
    return [order[r, : int(k[r])] for r in range(conf.shape[0])]


def parallel_count(conf: torch.Tensor, decoding: str, threshold: float, factor: float) -> torch.Tensor:
    """Fast-dLLM's parallel decoding: how many of each row's still-masked positions to commit.

    threshold: every position with confidence >= threshold; factor: the n-th most confident
    (n from 1) while its confidence >= 1 - factor / (n + 1). Always at least one while any
    position is masked (the most confident), so a block always finishes."""
    # NaN ranks lowest (never stalls the rule); -inf marks a position that is not masked.
    conf = torch.where(torch.isnan(conf), torch.finfo(conf.dtype).min, conf)
    ranked = torch.sort(conf, dim=-1, descending=True, stable=True).values  # -inf (not masked) last
    available = (ranked > float("-inf")).sum(dim=-1)  # every still-masked position
    if decoding == "threshold":
        passing = ranked >= threshold
    else:
        n = torch.arange(1, ranked.shape[-1] + 1, device=conf.device, dtype=torch.float64)
        passing = ranked >= 1.0 - factor / (n + 1.0)
    # count the leading run of passing positions (the rule stops at the first that fails)
    leading = torch.cumprod(passing.to(torch.int64), dim=-1).sum(dim=-1)
    return torch.minimum(torch.clamp(leading, min=1), available)


class _Forward:
    """Runs the model for one step: a plain full pass, or the Fast-dLLM block cache (a full pass
    at each block start storing keys and values, then only the block's rows, or the rows from
    the block to the end for the prefix cache)."""

    def __init__(
        self,
        model: ModelFn,
        params: GenerationParams,
        prompt_index: torch.Tensor,
        mask_id: int,
        attention_mask: torch.Tensor | None,
    ) -> None:
        self.model, self.params, self.prompt_index, self.mask_id = model, params, prompt_index, mask_id
        self.attention_mask = attention_mask
        self.cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        if params.cache != "none" and not hasattr(model, "forward_and_cache"):
            raise ValueError(f"cache={params.cache!r} needs a model with forward_and_cache (LLaDAModel)")
        self.rows: Any = getattr(model, "forward_rows", None)
        if params.cache != "none" and USE_CUDA_GRAPHS and prompt_index.is_cuda:
            from .cuda_graphs import GraphedRows

            self.rows = GraphedRows(model)
        # The plain pass: only the block's logits (LLaDAModel.forward_logits_at), from a CUDA graph on CUDA.
        self.full: Any = None
        if params.cache == "none" and PLAIN_BLOCK_HEAD and hasattr(model, "forward_logits_at"):
            if USE_CUDA_GRAPHS and GRAPH_FULL_PASS and prompt_index.is_cuda:
                from .cuda_graphs import GraphedFull

                self.full = GraphedFull.for_model(model)
            else:
                self.full = self._eager_full

    def _eager_full(self, ids: torch.Tensor, mask: torch.Tensor | None, start: int, rows: int) -> torch.Tensor:
        positions = torch.arange(start, start + rows, device=ids.device)
        return self.model.forward_logits_at(ids, mask, positions)  # type: ignore[attr-defined, no-any-return]

    def block_logits(self, x: torch.Tensor, b0: int, b1: int, first_step: bool) -> torch.Tensor:
        """Guided logits [B, b1 - b0, V] of the current block."""
        params = self.params
        both, mask = model_input(x, self.attention_mask, self.prompt_index, self.mask_id, params.cfg_scale)
        if params.cache == "none" and self.full is not None:
            logits = self.full(both, mask, b0, b1 - b0)
        elif params.cache == "none":
            logits = self.model(both, mask)[:, b0:b1]
        elif first_step:
            full, self.cache = self.model.forward_and_cache(both, mask)  # type: ignore[attr-defined]
            logits = full[:, b0:b1]
        else:
            end = b1 if params.cache == "dual" else both.shape[1]
            rows = self.rows(both[:, b0:end], mask, b0, self.cache)
            logits = rows[:, : b1 - b0]
        return combine_guidance(logits, params.cfg_scale)


def _step_lists(
    chosen: list[torch.Tensor], x0: torch.Tensor, conf: torch.Tensor, offset: int
) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...], tuple[tuple[float, ...], ...]]:
    """A step's committed positions, tokens and confidences per row, read back to the host in
    one copy (on CUDA each .tolist() is a wait for the GPU: three per row per step before).
    float64 holds the ids and positions exactly (below 2^53)."""
    parts = [torch.cat([idx.double(), x0[r, idx].double(), conf[r, idx].double()]) for r, idx in enumerate(chosen)]
    flat = torch.cat(parts).cpu().tolist() if parts else []
    positions, tokens, confidences = [], [], []
    at = 0
    for idx in chosen:
        k = idx.numel()
        positions.append(tuple(int(offset + j) for j in flat[at : at + k]))
        tokens.append(tuple(int(t) for t in flat[at + k : at + 2 * k]))
        confidences.append(tuple(float(c) for c in flat[at + 2 * k : at + 3 * k]))
        at += 3 * k
    return tuple(positions), tuple(tokens), tuple(confidences)


@torch.no_grad()
def generate(
    model: ModelFn,
    prompt_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    params: GenerationParams,
    mask_id: int,
    eos_id: int,
    eot_id: int,
    on_step: StepCallback | None = None,
    cancel: CancelToken | None = None,
    answer_init: torch.Tensor | None = None,
    given_is_prompt: torch.Tensor | None = None,
    start_step: int = 0,
) -> tuple[torch.Tensor, list[StepEvent], bool]:
    """Run the sampler. Returns (canvas [B, P + gen_length], trajectory, cancelled).

    answer_init (B, gen_length) long, given_is_prompt (B, gen_length) bool, start_step: the
    generated region's starting content (core/answer_init.py; csrc/generate.h AnswerInit)."""
    params.validate()
    B, P = prompt_ids.shape
    device = prompt_ids.device
    generator = noise_generator(prompt_ids.device, params.seed)
    answer = torch.full((B, params.gen_length), mask_id, dtype=torch.long, device=device)
    if answer_init is not None:
        answer = answer_init.to(device=device, dtype=torch.long)
    x = torch.cat([prompt_ids, answer], dim=1)
    if attention_mask is not None:
        attention_mask = torch.cat(
            [attention_mask.bool(), torch.ones((B, params.gen_length), dtype=torch.bool, device=device)], dim=1
        )
    prompt_index = x != mask_id
    if given_is_prompt is not None:  # given answer positions that are not prompt under CFG
        prompt_index[:, P:] &= given_is_prompt.to(device=device, dtype=torch.bool)
    forward = _Forward(model, params, prompt_index, mask_id, attention_mask)
    num_blocks, steps_per_block = params.num_blocks, params.steps_per_block
    answer_masked = (answer == mask_id).cpu()
    block_masks = [int(answer_masked[:, k * params.block_length : (k + 1) * params.block_length].sum(dim=1).max())
                   for k in range(num_blocks)]  # fmt: skip
    plan = block_steps(num_blocks, steps_per_block, start_step, block_masks)
    if params.dynamic_steps:
        total_steps = max(params.gen_length, start_step + int(answer_masked.sum(dim=1).max()))
    else:
        total_steps = start_step + sum(plan)
    trajectory: list[StepEvent] = []
    start = time.perf_counter()
    forward_passes = 0
    step = start_step  # global step number (the C++ engine keys its random streams by it)
    # The stop rule (the same in csrc/generate.h): a stop is requested by the CancelToken or by
    # on_step returning False. It is honoured at one point only, before the next forward pass: the
    # run then ends with cancelled = True, the canvas as the last delivered step left it and the
    # trajectory up to that step. A request after the last step finds no next forward: the run is
    # complete (cancelled = False).
    stop = False
    for block in range(num_blocks):
        b0 = P + block * params.block_length
        b1 = b0 + params.block_length
        left = plan[block]
        if not params.dynamic_steps and left == 0:
            continue  # done before start_step and nothing re-masked
        masked_per_row = (x[:, b0:b1] == mask_id).sum(dim=1).tolist()
        # The transfer counts of the steps left: the tail of the uninterrupted schedule.
        schedule = torch.tensor([num_transfer_tokens(m, max(left, 1)) for m in masked_per_row])
        i = 0
        while True:
            still_masked = x[:, b0:b1] == mask_id
            if params.dynamic_steps:
                if not still_masked.any():
                    break
            elif i == left:
                break
            if stop or (cancel is not None and cancel.cancelled):  # the stop rule, above
                return x, trajectory, True
            # Only positions of the current block can be committed: work on that slice.
            block_logits = forward.block_logits(x, b0, b1, first_step=i == 0)
            forward_passes += 1
            # The mask token is never proposed (this project's choice): committing it would leave
            # the position masked and break the block's reveal count. Trained models give it ~0.
            block_logits = block_logits.clone()
            block_logits[..., mask_id] = float("-inf")
            if params.logits_eos_inf:
                block_logits[..., eos_id] = float("-inf")
            # Non-finite logits (csrc/generate.cpp checks the same): NaN or +inf anywhere, or nothing
            # above -inf, at a still-masked position leave no meaningful proposal.
            bad = (torch.isnan(block_logits) | (block_logits == float("inf"))).any(dim=-1)
            bad |= ~(block_logits > float("-inf")).any(dim=-1)
            if bool((bad & still_masked).any()):
                raise NonFiniteLogitsError.at_step(step + 1)
            x0 = propose(block_logits, params.temperature, generator)
            conf = confidence(block_logits, x0, params.remasking, generator)
            if params.confidence_eos_eot_inf:
                conf = torch.where((x0 == eos_id) | (x0 == eot_id), torch.zeros_like(conf), conf)
            conf = torch.where(still_masked, conf, torch.full_like(conf, float("-inf")))
            if params.dynamic_steps:
                counts = parallel_count(conf, params.decoding, params.threshold, params.factor)
            else:
                counts = schedule[:, i]
            chosen = select_positions(conf, counts)
            for r, idx in enumerate(chosen):
                x[r, b0 + idx] = x0[r, idx]
            step += 1
            i += 1
            positions, tokens, confidences = _step_lists(chosen, x0, conf, b0 - P)
            event = StepEvent(
                step=step,
                total_steps=total_steps,
                block=block,
                num_blocks=num_blocks,
                positions=positions,
                tokens=tokens,
                confidences=confidences,
                elapsed=time.perf_counter() - start,
                forward_passes=forward_passes,
            )
            trajectory.append(event)
            if on_step is not None and on_step(event) is False:
                stop = True  # honoured before the next forward, if any
    return x, trajectory, False
