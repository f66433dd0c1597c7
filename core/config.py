"""`config.json` of a LLaDA-format checkpoint (ALGORITHM.md section 1)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeGuard

from .errors import CheckpointError, regular_file_size, shown

KNOWN_ARCHITECTURES = ("LLaDAModelLM",)
KNOWN_MODEL_TYPES = ("llada",)


@dataclass(frozen=True)
class ModelConfig:
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    mlp_hidden_size: int
    vocab_size: int
    embedding_size: int
    rope_theta: float
    rms_norm_eps: float
    max_sequence_length: int
    mask_token_id: int | None
    eos_token_id: int | None
    pad_token_id: int | None
    eot_token_id: int | None
    bos_token_id: int | None
    weight_tying: bool

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_json(self) -> dict[str, Any]:
        """The LLaDA `config.json` this config corresponds to."""
        data = asdict(self)
        for key in ("eot_token_id", "bos_token_id"):
            if data[key] is None:
                del data[key]
        data.update(
            architectures=list(KNOWN_ARCHITECTURES),
            model_type="llada",
            block_type="llama",
            activation_type="silu",
            include_bias=False,
        )
        return data


# Upper bounds: the C++ engine holds sizes and ids in 32-bit ints; a larger value is a typo or an
# attack, and refusing it here keeps every later product of sizes exact and every cast safe.
MAX_INT = 2**31 - 1
ROPE_THETA_RANGE = (1.0, 1e12)
RMS_NORM_EPS_RANGE = (1e-30, 1.0)  # float32 must hold it (the norm is computed in float32)
MAX_CONFIG_BYTES = 16 * 1024 * 1024


def load_json_file(path: Path, what: str, max_bytes: int, missing: str | None = None) -> Any:
    """Parse a JSON file that must be a regular file of at most `max_bytes`; every failure is a
    CheckpointError naming the file (never a RecursionError, a hang on a FIFO or a 10 GB read)."""
    size = regular_file_size(path, what, missing)
    if size > max_bytes:
        raise CheckpointError(path, f"{what} is {size} bytes, more than the {max_bytes} a {what} can need")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(path, f"cannot read {what}: {exc.strerror or exc}") from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CheckpointError(path, f"malformed JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except RecursionError as exc:
        raise CheckpointError(path, "malformed JSON: nested too deep") from exc
    except ValueError as exc:  # JSONDecodeError, or an integer of 4300+ digits
        raise CheckpointError(path, f"malformed JSON: {exc}") from exc


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_field(raw: dict[str, Any], key: str, path: Path, minimum: int = 1) -> int:
    value = raw.get(key)
    if not _is_int(value):
        raise CheckpointError(path, f"'{key}' must be an integer, got {shown(value)}")
    if not minimum <= value <= MAX_INT:
        raise CheckpointError(path, f"'{key}' must be from {minimum} to {MAX_INT}, got {shown(value)}")
    return int(value)


def _optional_id(raw: dict[str, Any], key: str, path: Path) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value <= MAX_INT:
        raise CheckpointError(path, f"'{key}' must be a non-negative integer (a token id), got {shown(value)}")
    return int(value)


def _float_field(raw: dict[str, Any], key: str, path: Path, default: float, bounds: tuple[float, float]) -> float:
    value = raw.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise CheckpointError(path, f"'{key}' must be a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        number = math.inf
    low, high = bounds
    if not math.isfinite(number) or not low <= number <= high:
        raise CheckpointError(path, f"'{key}' must be a finite number from {low:g} to {high:g}, got {shown(value)}")
    return number


def _bool_field(raw: dict[str, Any], key: str, path: Path, default: bool) -> bool:
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise CheckpointError(path, f"'{key}' must be true or false, got {shown(value)}")
    return value


def _choice(raw: dict[str, Any], key: str, path: Path, allowed: tuple[str, ...], default: str | None) -> None:
    value = raw.get(key, default)
    if not isinstance(value, str) or value not in allowed:
        raise CheckpointError(path, f"{key} {shown(value)} is not supported; this app runs {list(allowed)}")


def parse_config(raw: Any, path: Path) -> ModelConfig:
    if not isinstance(raw, dict):
        raise CheckpointError(path, "must hold a JSON object")
    archs = raw.get("architectures")
    if archs is not None:
        if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
            raise CheckpointError(path, f"'architectures' must be a list of names, got {shown(archs)}")
        if not set(archs) & set(KNOWN_ARCHITECTURES):
            raise CheckpointError(
                path, f"unknown architecture {shown(archs)}; this app runs {list(KNOWN_ARCHITECTURES)}"
            )
    model_type = raw.get("model_type")
    if not isinstance(model_type, str) or model_type not in KNOWN_MODEL_TYPES:
        raise CheckpointError(path, f"unknown model_type {shown(model_type)}; this app runs {list(KNOWN_MODEL_TYPES)}")
    _choice(raw, "block_type", path, ("llama",), "llama")
    _choice(raw, "activation_type", path, ("silu",), "silu")
    if _bool_field(raw, "include_bias", path, False):
        raise CheckpointError(path, "include_bias=true is not supported (LLaDA has no biases)")

    d_model = _int_field(raw, "d_model", path)
    n_heads = _int_field(raw, "n_heads", path)
    n_kv_heads = n_heads if raw.get("n_kv_heads") is None else _int_field(raw, "n_kv_heads", path)
    if d_model % n_heads:
        raise CheckpointError(path, f"d_model {d_model} is not divisible by n_heads {n_heads}")
    if (d_model // n_heads) % 2:
        raise CheckpointError(path, f"head dim {d_model // n_heads} must be even for RoPE")
    if n_heads % n_kv_heads:
        raise CheckpointError(path, f"n_heads {n_heads} is not a multiple of n_kv_heads {n_kv_heads}")
    vocab_size = _int_field(raw, "vocab_size", path)
    embedding_size = vocab_size if raw.get("embedding_size") is None else _int_field(raw, "embedding_size", path)
    if embedding_size < vocab_size:
        raise CheckpointError(path, f"embedding_size {embedding_size} must be at least vocab_size {vocab_size}")
    if raw.get("mlp_hidden_size") is None:
        ratio = _float_field(raw, "mlp_ratio", path, 4, (1e-6, 1e6))
        mlp = int(ratio * d_model)
        if not 1 <= mlp <= MAX_INT:
            raise CheckpointError(path, f"'mlp_ratio' {ratio:g} x d_model {d_model} gives an MLP of {mlp} units")
    else:
        mlp = _int_field(raw, "mlp_hidden_size", path)
    return ModelConfig(
        d_model=d_model,
        n_layers=_int_field(raw, "n_layers", path),
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        mlp_hidden_size=mlp,
        vocab_size=vocab_size,
        embedding_size=embedding_size,
        rope_theta=_float_field(raw, "rope_theta", path, 10000.0, ROPE_THETA_RANGE),
        rms_norm_eps=_float_field(raw, "rms_norm_eps", path, 1e-5, RMS_NORM_EPS_RANGE),
        max_sequence_length=_int_field(raw, "max_sequence_length", path) if "max_sequence_length" in raw else 4096,
        mask_token_id=_optional_id(raw, "mask_token_id", path),
        eos_token_id=_optional_id(raw, "eos_token_id", path),
        pad_token_id=_optional_id(raw, "pad_token_id", path),
        eot_token_id=_optional_id(raw, "eot_token_id", path),
        bos_token_id=_optional_id(raw, "bos_token_id", path),
        weight_tying=_bool_field(raw, "weight_tying", path, False),
    )


def load_config(path: Path) -> ModelConfig:
    raw = load_json_file(
        path, "config.json", MAX_CONFIG_BYTES, missing="config.json is missing: this folder is not a model checkpoint"
    )
    return parse_config(raw, path)
