"""What the sampler controls offer: the values each slider steps through, the labels and tooltips
of the modes, the presets, and each control's label and tooltip (from core's parameter declarations)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llada_studio.core.params import SPECS, recommended_params

GEN_LENGTHS: tuple[int, ...] = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
TEMPERATURES: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(0, 41))  # 0 .. 2
CFG_SCALES: tuple[float, ...] = tuple(round(0.25 * i, 2) for i in range(0, 17))  # 0 .. 4
THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(0, 11))  # 0.5 .. 1
FACTORS: tuple[float, ...] = tuple(round(0.25 * i, 2) for i in range(1, 17))  # 0.25 .. 4
SEED_MAX = 2**31 - 1

REMASKING_LABELS = {
    "low_confidence": "Low confidence",
    "random": "Random",
    "margin": "Top-2 margin",
    "entropy": "Entropy",
}
REMASKING_TIPS = {
    "low_confidence": "Keep the tokens the model is most sure of; remask the rest (LLaDA's default).",
    "random": "Reveal randomly chosen positions each step.",
    "margin": "Keep tokens with the largest gap between the top two probabilities.",
    "entropy": "Keep tokens whose predictive distribution has the lowest entropy.",
}
DECODING_LABELS = {"fixed": "Fixed schedule", "threshold": "Parallel: threshold", "factor": "Parallel: factor"}
DECODING_TIPS = {
    "fixed": "The reference schedule: the steps are split evenly over the blocks.",
    "threshold": "Fast-dLLM: each step commits every proposal at least as confident as the threshold "
                 "(a block takes as many steps as it needs).",
    "factor": "Fast-dLLM: commit the n-th most confident proposal while its confidence >= 1 - factor/(n+1).",
}
CACHE_LABELS = {"none": "Off", "prefix": "Prefix", "dual": "Dual (prefix + suffix)"}
CACHE_TIPS = {
    "none": "Recompute the whole sequence every step (exact).",
    "prefix": "Reuse keys and values before the current block (Fast-dLLM; approximate, faster).",
    "dual": "Reuse keys and values before and after the current block (Fast-dLLM; fastest).",
}


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def block_length_choices(gen_length: int) -> list[int]:
    """Block lengths that divide gen_length (so the generated region splits into whole blocks)."""
    return divisors(gen_length)


def step_choices(gen_length: int, block_length: int) -> list[int]:
    """Step counts that split evenly over the blocks, up to one token per step."""
    blocks = gen_length // block_length
    return list(range(blocks, gen_length + 1, blocks))


# Presets: named starting points. Values outside a model's range are snapped to the nearest valid.
# "Balanced" is the bundled model's tested default (its MODEL_CARD.md: over 20 held-out prompts,
# 98% of words in the English word list, distinct word 3-gram ratio 0.97); short blocks at
# temperature 1.0 keep confidence-ordered decoding out of loops.
PRESETS: dict[str, dict[str, Any]] = {
    "Fast": dict(gen_length=64, block_length=8, max_steps=32, temperature=1.0, cfg_scale=0.0,
                 remasking="low_confidence"),
    # The bundled model's tested default: the same values the command line starts from (core).
    "Balanced": {k: getattr(recommended_params(), k) for k in ("gen_length", "block_length", "max_steps",
                                                               "temperature", "cfg_scale", "remasking")},
    "Quality": dict(gen_length=128, block_length=8, max_steps=128, temperature=0.9, cfg_scale=0.0,
                    remasking="low_confidence"),
    "Creative": dict(gen_length=128, block_length=32, max_steps=128, temperature=1.0, cfg_scale=0.0,
                     remasking="random"),
    "Greedy": dict(gen_length=128, block_length=32, max_steps=128, temperature=0.0, cfg_scale=0.0,
                   remasking="low_confidence"),
    "Turbo": dict(gen_length=128, block_length=16, max_steps=128, temperature=1.0, cfg_scale=0.0,
                  remasking="low_confidence", decoding="factor", factor=4.0, cache="dual"),
}
# Presets that leave a field out get its default (so picking "Fast" after "Turbo" is not parallel).
PRESET_DEFAULTS: dict[str, Any] = dict(decoding="fixed", threshold=0.9, factor=1.0, cache="none")
PRESET_TIPS = {
    "Fast": "64 tokens in blocks of 8, 2 tokens revealed per step, temperature 1.0.",
    "Balanced": "128 tokens in blocks of 8, one token per step, temperature 1.0 (the bundled model's tested default).",
    "Quality": "128 tokens in blocks of 8, one token per step, temperature 0.9: fewer made-up words.",
    "Creative": "128 tokens in blocks of 32, random reveal order, temperature 1.0: never loops, more odd words.",
    "Greedy": "128 tokens in blocks of 32, one token per step, temperature 0: deterministic, as the reference.",
    "Turbo": "128 tokens in blocks of 16, parallel decoding (factor 4: 3 or more tokens per step) with the"
             " dual KV cache: about 7x faster than Balanced on the bundled model, a few more made-up words.",
}
CUSTOM = "Custom"


@dataclass(frozen=True)
class ControlSpec:
    """A control's label and tooltip: the parameter's declaration in core.params, with the
    window's own longer tooltip where the command line's help is too terse."""

    key: str  # the GenerationParams field
    label: str
    tip: str


# Tooltips longer than the declaration's help (which the command line shows).
_TIPS = {
    "gen_length": "Generation length: how many tokens to generate (masked positions).",
    "block_length": "Semi-autoregressive block size. Only divisors of the generation length are offered.",
    "max_steps": "Sampling steps (forward passes). Only multiples of the number of blocks are offered; "
                 "fewer steps reveal more tokens per step.",
    "temperature": "Gumbel-noise temperature. 0 is greedy (deterministic).",
    "cfg_scale": "Classifier-free guidance strength. 0 turns it off; above 0 doubles the compute per step.",
    "remasking": "Which predicted tokens to keep each step; the rest are remasked.",
    "seed": "Random seed (for temperature > 0 and random remasking). A new one is drawn for every run "
            "unless “Keep” is ticked.",
    "logits_eos_inf": "Set the end-of-text logit to -inf so the model cannot end the text early.",
    "confidence_eos_eot_inf": "Give EOS/EOT tokens -inf confidence so they are revealed last.",
    "decoding": "How many tokens a step commits: a fixed schedule, or parallel decoding.",
    "threshold": "Parallel (threshold): commit proposals at least this confident.",
    "factor": "Parallel (factor): larger commits more tokens per step.",
    "cache": "Reuse attention keys and values across steps (faster, approximate).",
}
CONTROL_SPECS: tuple[ControlSpec, ...] = tuple(
    ControlSpec(p.name, p.label, _TIPS.get(p.name, p.help[:1].upper() + p.help[1:] + ".")) for p in SPECS
)
SPEC = {s.key: s for s in CONTROL_SPECS}
