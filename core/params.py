"""Generation parameters: one frozen dataclass, validated in one place.

Names and defaults follow the seed API (`max_steps`, `gen_length`, `block_length`, ...).
Every error says what to change, with the nearest valid values where there are some.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

# Remasking strategies, in the order the UI lists them. The first two are the reference's;
# `margin` and `entropy` are Dream-style extensions (ALGORITHM.md section 4).
REMASKING_MODES: tuple[str, ...] = ("low_confidence", "random", "margin", "entropy")

# How many positions a step commits (ALGORITHM.md section 4): "fixed" is the reference schedule
# (steps split evenly over each block); "threshold" and "factor" are Fast-dLLM's parallel
# decoding, where a block takes as many steps as it needs.
DECODING_MODES: tuple[str, ...] = ("fixed", "threshold", "factor")

# Block KV cache (Fast-dLLM): "none" recomputes the whole canvas every step; "prefix" reuses the
# keys and values before the current block; "dual" reuses those before and after it.
CACHE_MODES: tuple[str, ...] = ("none", "prefix", "dual")


def recommended_params() -> GenerationParams:
    """The command line's and the app's starting point: the bundled model's tested settings
    (resources/models/*/MODEL_CARD.md). Short blocks at temperature 1.0 keep confidence-ordered
    decoding out of loops. The seed API keeps the seed's own defaults (GenerationParams())."""
    return GenerationParams(max_steps=128, gen_length=128, block_length=8, temperature=1.0)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _nearest(values: list[int], target: int, count: int = 3) -> list[int]:
    return sorted(sorted(values, key=lambda v: (abs(v - target), v))[:count])


@dataclass(frozen=True)
class GenerationParams:
    """What one generation does. Immutable; build variants with `with_(...)`."""

    max_steps: int = 128
    gen_length: int = 128
    block_length: int = 128
    temperature: float = 0.0
    cfg_scale: float = 0.0
    remasking: str = "low_confidence"
    mask_id: int | None = None  # None: the checkpoint's mask id
    logits_eos_inf: bool = False
    confidence_eos_eot_inf: bool = False
    seed: int = 0
    decoding: str = "fixed"
    threshold: float = 0.9  # "threshold": commit every in-block proposal at least this confident
    factor: float = 1.0  # "factor": commit the n-th most confident while conf >= 1 - factor/(n+1)
    cache: str = "none"

    def __post_init__(self) -> None:
        self.validate()

    # -- derived quantities ---------------------------------------------------------------
    @property
    def num_blocks(self) -> int:
        return self.gen_length // self.block_length

    @property
    def steps_per_block(self) -> int:
        return self.max_steps // self.num_blocks

    @property
    def dynamic_steps(self) -> bool:
        """True when blocks take as many steps as they need (parallel decoding)."""
        return self.decoding != "fixed"

    @property
    def step_budget(self) -> int:
        """Steps the run takes (fixed) or at most takes (parallel decoding: one per token)."""
        return self.gen_length if self.dynamic_steps else self.max_steps

    def with_(self, **changes: Any) -> GenerationParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # -- validation -----------------------------------------------------------------------
    def validate(self) -> None:
        for name in ("max_steps", "gen_length", "block_length", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        if self.gen_length <= 0:
            raise ValueError(f"gen_length must be positive, got {self.gen_length}")
        if self.block_length <= 0:
            raise ValueError(f"block_length must be positive, got {self.block_length}")
        if self.max_steps <= 0:
            raise ValueError(f"max_steps must be positive, got {self.max_steps}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        if self.gen_length % self.block_length != 0:
            valid = _nearest(_divisors(self.gen_length), self.block_length)
            raise ValueError(
                f"gen_length ({self.gen_length}) must be a multiple of block_length "
                f"({self.block_length}); block lengths that divide it near yours: {valid}"
            )
        blocks = self.gen_length // self.block_length
        if self.max_steps % blocks != 0:
            lower = (self.max_steps // blocks) * blocks
            upper = lower + blocks
            valid = [v for v in (lower, upper) if v > 0]
            raise ValueError(
                f"max_steps ({self.max_steps}) must be a multiple of the number of blocks "
                f"({blocks} = gen_length {self.gen_length} / block_length {self.block_length}); "
                f"nearest valid step counts: {valid}"
            )
        for name in ("temperature", "cfg_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.remasking not in REMASKING_MODES:
            raise ValueError(f"unknown remasking mode {self.remasking!r}; valid modes: " + ", ".join(REMASKING_MODES))
        if self.decoding not in DECODING_MODES:
            raise ValueError(f"unknown decoding mode {self.decoding!r}; valid modes: " + ", ".join(DECODING_MODES))
        if self.cache not in CACHE_MODES:
            raise ValueError(f"unknown cache mode {self.cache!r}; valid modes: " + ", ".join(CACHE_MODES))
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, (int, float))
            or not (0 < self.threshold <= 1)
        ):
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold!r}")
        if (
            isinstance(self.factor, bool)
            or not isinstance(self.factor, (int, float))
            or not (math.isfinite(self.factor) and self.factor > 0)
        ):
            raise ValueError(f"factor must be a finite number > 0, got {self.factor!r}")
        if self.mask_id is not None and (
            isinstance(self.mask_id, bool) or not isinstance(self.mask_id, int) or self.mask_id < 0
        ):
            raise ValueError(f"mask_id must be a non-negative integer or None, got {self.mask_id!r}")
