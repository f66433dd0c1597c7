"""The request bodies (Pydantic) of /v1/completions and /v1/chat/completions, and how their
fields become a `GenerationParams`.

OpenAI's fields keep OpenAI's meaning where the sampler has one: `max_tokens` (or
`max_completion_tokens`) is the generation length, `temperature` and `seed` are the sampler's.
The diffusion parameters are extra top-level fields, one per GenerationParams field, named as on
the command line without the dashes (`steps`, `block_length`, `cfg_scale`, `remasking`,
`decoding`, `threshold`, `factor`, `cache`, `logits_eos_inf`, `confidence_eos_eot_inf`,
`constraints`, and any parameter declared later); with the official client they go in
`extra_body`. An unknown field is an error (400), so a misspelt diffusion parameter is not
silently ignored. OpenAI fields the sampler has no equivalent for are accepted only at their
neutral value (`n` 1, `top_p` 1, penalties 0, no logprobs).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal, get_args, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, create_model

from ..params import MAX_STEPS, GenerationParams, ParamError, recommended_params
from .errors import APIError, bad_request

# The request field each GenerationParams field is known by on the wire.
WIRE_NAMES: dict[str, str] = {"max_steps": "steps", "gen_length": "max_tokens"}
# The block length a request gets when it gives none: the recommended one, or the largest
# divisor of the length below it (a length of 50 gets blocks of 5).
DEFAULT_BLOCK = recommended_params().block_length

Number = StrictFloat | StrictInt

# GenerationParams fields that are not request fields of their own: OpenAI's (max_tokens is the
# generation length, temperature and seed are declared with OpenAI's fields below) and the
# checkpoint's mask id.
NOT_ON_THE_WIRE = frozenset({"gen_length", "temperature", "seed", "mask_id"})


def _strict(annotation: Any) -> Any:
    """The strict request type of a GenerationParams field type (no silent str -> int)."""
    kinds = set(get_args(annotation)) - {type(None)} or {annotation}
    if bool in kinds:
        return StrictBool
    if float in kinds:
        return Number
    if int in kinds:
        return StrictInt
    return StrictStr


_HINTS = get_type_hints(GenerationParams)
# The sampler fields a request may set by their own name (besides max_tokens, temperature, seed):
# every GenerationParams field, so a new parameter is a request field without a line here.
DIFFUSION_FIELDS: tuple[str, ...] = tuple(
    WIRE_NAMES.get(f.name, f.name) for f in fields(GenerationParams) if f.name not in NOT_ON_THE_WIRE
)
# Diffusion parameters (core/params.py declares their ranges), each optional: None = the default.
_PARAM_FIELDS: dict[str, Any] = {
    WIRE_NAMES.get(f.name, f.name): (_strict(_HINTS[f.name]) | None, None)
    for f in fields(GenerationParams)
    if f.name not in NOT_ON_THE_WIRE
}
_DiffusionParams: Any = create_model("DiffusionParams", **_PARAM_FIELDS)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


class DiffusionFields(_DiffusionParams):  # type: ignore[misc]  # fields made from GenerationParams
    """The fields both routes share: OpenAI's sampling fields and the diffusion extras."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr
    max_tokens: StrictInt | None = None
    temperature: Number | None = None
    seed: StrictInt | None = None
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    stop: StrictStr | list[StrictStr] | None = None
    user: StrictStr | None = None
    # Accepted at their neutral value only (the sampler has nothing they could change).
    n: StrictInt = 1
    top_p: Number | None = None
    presence_penalty: Number | None = None
    frequency_penalty: Number | None = None
    logprobs: Any = None
    logit_bias: dict[str, Any] | None = None
    # Extension: one stream chunk per sampler step carrying a `diffusion_step` object.
    stream_steps: StrictBool = False

    def stop_strings(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s]

    def check_neutral(self) -> None:
        if self.n != 1:
            raise bad_request("n must be 1: send one request per completion (they are batched)", "n")
        if self.top_p is not None and self.top_p != 1:
            raise bad_request("top_p is not supported by the diffusion sampler; use temperature", "top_p")
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name) not in (None, 0):
                raise bad_request(f"{name} is not supported by the diffusion sampler", name)
        if self.logprobs not in (None, False):
            raise bad_request("logprobs are not supported", "logprobs")
        if self.logit_bias:
            raise bad_request("logit_bias is not supported", "logit_bias")
        if self.stream_steps and not self.stream:
            raise bad_request("stream_steps needs stream: true", "stream_steps")

    def generation_length(self) -> int | None:
        return self.max_tokens

    def to_params(self, max_steps: int = MAX_STEPS) -> tuple[GenerationParams, bool]:
        """The sampler's parameters, and whether the request fixed the seed (an unseeded request
        gets the seed of the batch it runs in). Bad values are a 400 naming the wire field."""
        base = recommended_params()
        length = self.generation_length()
        gen_length = base.gen_length if length is None else length
        changes: dict[str, Any] = {"gen_length": gen_length}
        fields_given = {f: getattr(self, f) for f in DIFFUSION_FIELDS}
        if fields_given["block_length"] is not None:
            changes["block_length"] = fields_given["block_length"]
        elif isinstance(gen_length, int) and gen_length >= 1:
            changes["block_length"] = max(
                d for d in range(1, min(DEFAULT_BLOCK, gen_length) + 1) if gen_length % d == 0
            )
        if fields_given["steps"] is not None:
            changes["max_steps"] = fields_given["steps"]
        elif isinstance(gen_length, int) and gen_length >= 1:
            changes["max_steps"] = gen_length  # one token per step, as the recommended settings
        for name in ("temperature", "seed"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        for f in fields(GenerationParams):
            wire = WIRE_NAMES.get(f.name, f.name)
            if wire in fields_given and wire not in ("steps", "block_length") and fields_given[wire] is not None:
                changes[f.name] = fields_given[wire]
        try:
            params = base.with_(**changes)
        except ParamError as exc:
            raise param_error(exc) from None
        if params.max_steps > max_steps:
            raise bad_request(f"steps must be at most {max_steps} on this server, got {params.max_steps}", "steps")
        return params, self.seed is not None


def wire_name(field: str) -> str:
    return WIRE_NAMES.get(field, field)


def param_error(exc: ParamError) -> APIError:
    """A ParamError as a 400 whose message and `param` use the request's field names."""
    message = exc.template.format(wire_name(exc.name), *(wire_name(o) for o in exc.others))
    return bad_request(message, wire_name(exc.name), "invalid_parameter")


class CompletionRequest(DiffusionFields):
    # One prompt: text, or token ids (what the window sends to reproduce its own tokenization).
    prompt: StrictStr | list[StrictStr] | list[StrictInt]
    echo: StrictBool = False
    best_of: StrictInt | None = None
    suffix: StrictStr | None = None

    def check_neutral(self) -> None:
        super().check_neutral()
        if self.echo:
            raise bad_request("echo is not supported", "echo")
        if self.best_of not in (None, 1):
            raise bad_request("best_of must be 1", "best_of")
        if self.suffix:
            raise bad_request("suffix is not supported", "suffix")


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: StrictStr
    text: StrictStr | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.type != "text" or part.text is None:
                raise bad_request(f"only text content parts are supported, got {part.type!r}", "messages")
            parts.append(part.text)
        return "".join(parts)


class ChatRequest(DiffusionFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: StrictInt | None = None

    def generation_length(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def chat_messages(self) -> list[dict[str, str]]:
        # "developer" is OpenAI's newer name for "system"; templates know "system".
        return [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in self.messages]


def validation_error(exc: Any) -> APIError:
    """A Pydantic ValidationError as a 400 naming the first bad field."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = ".".join(str(p) for p in first.get("loc", ()))
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        message = f"unknown field {loc!r}; the diffusion parameters are: {', '.join(DIFFUSION_FIELDS)}, stream_steps"
    elif kind == "missing":
        message = f"the field {loc!r} is required"
    else:
        message = f"{loc}: {first.get('msg', 'invalid value')}"
    return bad_request(message, loc.split(".")[0] or None, "invalid_parameter")
