"""Generation parameters: declared once, validated in one place.

Each field of `GenerationParams` carries its declaration in the dataclass field's metadata
(`param(...)`): the window's label, the command line's option, a help text, and the range or
choices it accepts. The CLI options (core/cli_generate.py), the window's control labels and
tooltips (app/controls.py) and the range checks below all read that one declaration.

Names and defaults follow the seed API (`max_steps`, `gen_length`, `block_length`, ...).
Every error is a `ParamError` that says what to change, with the nearest valid values where there
are some, and can name the parameter the way the reader knows it: the field (API), the option
(`--steps`) or the label ("Steps").
"""

from __future__ import annotations

import math
import sys
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, replace
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

# Upper bounds that keep a typo from allocating gigabytes or running for days: no model reads
# more than a million tokens, and a step that reveals nothing is wasted (steps beyond the token
# count are allowed for the seed API's sake, but not without limit). Seeds are 64-bit in C++.
MAX_TOKENS = 1 << 20
MAX_STEPS = 1 << 20
# The largest float: an int parameter value beyond it cannot be a float (math.isfinite overflows).
_FLOAT_MAX = int(sys.float_info.max)
SEED_LIMIT = 1 << 64


@dataclass(frozen=True)
class ParamSpec:
    """The declaration of one generation parameter (read with `spec(name)`)."""

    name: str
    label: str  # what the window calls it
    flag: str  # the command-line option
    help: str
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    above: float | None = None  # exclusive lower bound
    choices: tuple[str, ...] = ()
    expert: bool = False  # shown under "Advanced" in the window


def param(default: Any, label: str, flag: str, help: str, **limits: Any) -> Any:
    """A dataclass field carrying its `ParamSpec` (the name is filled in from the field)."""
    return field(default=default, metadata={"spec": dict(label=label, flag=flag, help=help, **limits)})


class ParamError(ValueError):
    """A bad generation parameter. `str()` names the field; `describe()` names it as the reader
    knows it. The message is a template in which `{}` stands for the parameter's name."""

    def __init__(self, name: str, template: str, others: tuple[str, ...] = ()) -> None:
        self.name = name
        self.template = template
        self.others = others  # further parameters the template names with {1}, {2}, ...
        super().__init__(self.describe("name"))

    def describe(self, style: str = "name") -> str:
        """style: "name" (max_steps), "flag" (--steps) or "label" (Steps)."""

        def call(n: str) -> str:
            if style == "name":
                return n
            s = spec(n)
            return s.flag if style == "flag" else f"“{s.label}”"

        return self.template.format(call(self.name), *(call(o) for o in self.others))


class ParamTypeError(ParamError, TypeError):
    """A generation parameter of the wrong type (also a TypeError, as Python's own checks are)."""


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """'1 step', '2 steps' (the wording the CLI and the window share)."""
    return f"{n:g} {word if n == 1 else (many or word + 's')}"


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

    max_steps: int = param(
        128, "Steps", "--steps",
        "sampling steps (forward passes with the fixed schedule); a multiple of the number of blocks",
        minimum=1, maximum=MAX_STEPS,
    )  # fmt: skip
    gen_length: int = param(
        128, "Length", "--gen-length", "tokens to generate (masked positions)", minimum=1, maximum=MAX_TOKENS
    )
    block_length: int = param(
        128, "Block length", "--block-length",
        "semi-autoregressive block length; must divide the generation length", minimum=1, maximum=MAX_TOKENS,
    )  # fmt: skip
    temperature: float = param(0.0, "Temperature", "--temperature", "Gumbel-noise temperature; 0 = greedy", minimum=0)
    cfg_scale: float = param(
        0.0, "CFG scale", "--cfg-scale", "classifier-free guidance strength; 0 = off (above 0 doubles the work)",
        minimum=0,
    )  # fmt: skip
    remasking: str = param(
        "low_confidence", "Remasking", "--remasking", "which proposals a step commits first", choices=REMASKING_MODES
    )
    mask_id: int | None = None  # None: the checkpoint's mask id (API only)
    logits_eos_inf: bool = param(
        False, "Suppress EOS", "--logits-eos-inf", "never propose EOS (the text cannot end early)", expert=True
    )
    confidence_eos_eot_inf: bool = param(
        False, "Never keep EOS/EOT first", "--confidence-eos-eot-inf", "commit EOS/EOT proposals last", expert=True
    )
    seed: int = param(0, "Seed", "--seed", "random seed", minimum=0, maximum=SEED_LIMIT - 1)
    decoding: str = param(
        "fixed", "Decoding", "--decoding",
        "fixed: the reference schedule; threshold/factor: parallel decoding (Fast-dLLM)",
        choices=DECODING_MODES, expert=True,
    )  # fmt: skip
    threshold: float = param(
        0.9, "Threshold", "--threshold", "parallel (threshold): commit proposals at least this confident",
        above=0, maximum=1, expert=True,
    )  # fmt: skip
    factor: float = param(
        1.0, "Factor", "--factor", "parallel (factor): commit the n-th most confident while conf >= 1 - f/(n+1)",
        above=0, expert=True,
    )  # fmt: skip
    cache: str = param(
        "none", "KV cache", "--cache", "block KV cache (approximate, faster): none, prefix or dual",
        choices=CACHE_MODES, expert=True,
    )  # fmt: skip
    constraints: str = param(
        "", "Word constraints", "--constraints",
        "pin words in the answer, as the LLaDA demo: 'pos:word, pos:word' (pos counted from the answer's "
        "start; each word gets a leading space; a word of several tokens fills pos, pos+1, ...)",
    )  # fmt: skip

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

    @property
    def idle_steps(self) -> int:
        """Fixed-schedule steps that reveal nothing (more steps than tokens in a block)."""
        if self.dynamic_steps:
            return 0
        return max(0, self.steps_per_block - self.block_length) * self.num_blocks

    def with_(self, **changes: Any) -> GenerationParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # -- validation -----------------------------------------------------------------------
    def validate(self) -> None:
        for s in SPECS:
            _check_declared(s, getattr(self, s.name), _default_of(s.name))
        if self.gen_length % self.block_length != 0:
            valid = _nearest(_divisors(self.gen_length), self.block_length)
            raise ParamError(
                "block_length",
                f"{{1}} ({self.gen_length}) must be a multiple of {{0}} ({self.block_length}); "
                f"block lengths that divide it near yours: {valid}",
                ("gen_length",),
            )
        blocks = self.gen_length // self.block_length
        if self.max_steps % blocks != 0:
            lower = (self.max_steps // blocks) * blocks
            valid = [v for v in (lower, lower + blocks) if v > 0]
            raise ParamError(
                "max_steps",
                f"{{0}} ({self.max_steps}) must be a multiple of the number of blocks "
                f"({blocks} = {{1}} {self.gen_length} / {{2}} {self.block_length}); "
                f"nearest valid step counts: {valid}",
                ("gen_length", "block_length"),
            )
        if self.constraints:
            from .constraints import ConstraintError, parse_constraints

            try:
                parse_constraints(self.constraints)
            except ConstraintError as exc:
                raise ParamError("constraints", exc.template) from None
        if self.mask_id is not None and (
            isinstance(self.mask_id, bool) or not isinstance(self.mask_id, int) or self.mask_id < 0
        ):
            raise ValueError(f"mask_id must be a non-negative integer or None, got {self.mask_id!r}")


def _default_of(name: str) -> Any:
    f = _FIELDS[name]
    return None if f.default is MISSING else f.default


def _check_declared(s: ParamSpec, value: Any, default: Any) -> None:
    """The checks a declaration implies: type, range, choices."""
    if s.choices:
        if value not in s.choices:
            raise ParamError(s.name, f"unknown {{}} {value!r}; valid modes: {', '.join(s.choices)}")
        return
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ParamTypeError(s.name, f"{{}} must be text, got {value!r}")
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ParamTypeError(s.name, f"{{}} must be true or false, got {value!r}")
        return
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamTypeError(s.name, f"{{}} must be a whole number, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamTypeError(s.name, f"{{}} must be a number, got {value!r}")
    elif isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:  # math.isfinite would overflow
        raise ParamError(s.name, f"{{}} must be a finite number, got an integer of {len(str(abs(value)))} digits")
    elif not math.isfinite(value):
        raise ParamError(s.name, f"{{}} must be a finite number, got {value}")
    if s.minimum is not None and value < s.minimum:
        word = "positive" if s.minimum == 1 and isinstance(default, int) else f"at least {s.minimum:g}"
        raise ParamError(s.name, f"{{}} must be {word}, got {value}")
    if s.above is not None and value <= s.above:
        raise ParamError(s.name, f"{{}} must be greater than {s.above:g}, got {value}")
    if s.maximum is not None and value > s.maximum:
        limit = int(s.maximum) if float(s.maximum).is_integer() else s.maximum
        raise ParamError(s.name, f"{{}} must be at most {limit}, got {value}")


_FIELDS: dict[str, Field[Any]] = {f.name: f for f in fields(GenerationParams)}
# The declared parameters, in the order the CLI's help and the window list them.
SPECS: tuple[ParamSpec, ...] = tuple(
    ParamSpec(name=f.name, **f.metadata["spec"]) for f in fields(GenerationParams) if "spec" in f.metadata
)
_SPEC_BY_NAME = {s.name: s for s in SPECS}


def spec(name: str) -> ParamSpec:
    """The declaration of one parameter (KeyError for an undeclared name)."""
    return _SPEC_BY_NAME[name]
