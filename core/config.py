"""`config.json` of a LLaDA-format checkpoint (ALGORITHM.md section 1)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import CheckpointError

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

    @property
    def logits_size(self) -> int:
        """Columns of the logits: the embedding table's rows (LLaDA pads vocab to it)."""
        return self.embedding_size

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


def _int_field(raw: dict[str, Any], key: str, path: Path, minimum: int = 1) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckpointError(path, f"'{key}' must be an integer, got {value!r}")
    if value < minimum:
        raise CheckpointError(path, f"'{key}' must be at least {minimum}, got {value}")
    return value


def _optional_id(raw: dict[str, Any], key: str, path: Path) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CheckpointError(path, f"'{key}' must be a non-negative integer, got {value!r}")
    return value


def parse_config(raw: Any, path: Path) -> ModelConfig:
    if not isinstance(raw, dict):
        raise CheckpointError(path, "must hold a JSON object")
    archs = raw.get("architectures")
    if archs is not None and not (isinstance(archs, list) and set(archs) & set(KNOWN_ARCHITECTURES)):
        raise CheckpointError(path, f"unknown architecture {archs!r}; this app runs {list(KNOWN_ARCHITECTURES)}")
    model_type = raw.get("model_type")
    if model_type not in KNOWN_MODEL_TYPES:
        raise CheckpointError(path, f"unknown model_type {model_type!r}; this app runs {list(KNOWN_MODEL_TYPES)}")
    if raw.get("block_type", "llama") != "llama":
        raise CheckpointError(path, f"block_type {raw.get('block_type')!r} is not supported (only 'llama')")
    if raw.get("activation_type", "silu") != "silu":
        raise CheckpointError(path, f"activation_type {raw.get('activation_type')!r} is not supported (only 'silu')")
    if raw.get("include_bias", False):
        raise CheckpointError(path, "include_bias=true is not supported (LLaDA has no biases)")

    d_model = _int_field(raw, "d_model", path)
    n_heads = _int_field(raw, "n_heads", path)
    n_kv_heads = raw.get("n_kv_heads")
    n_kv_heads = n_heads if n_kv_heads is None else _int_field(raw, "n_kv_heads", path)
    if d_model % n_heads:
        raise CheckpointError(path, f"d_model {d_model} is not divisible by n_heads {n_heads}")
    if (d_model // n_heads) % 2:
        raise CheckpointError(path, f"head dim {d_model // n_heads} must be even for RoPE")
    if n_heads % n_kv_heads:
        raise CheckpointError(path, f"n_heads {n_heads} is not a multiple of n_kv_heads {n_kv_heads}")
    vocab_size = _int_field(raw, "vocab_size", path)
    embedding_size = raw.get("embedding_size") or vocab_size
    if not isinstance(embedding_size, int) or embedding_size < vocab_size:
        raise CheckpointError(path, f"embedding_size {embedding_size!r} must be an integer >= vocab_size {vocab_size}")
    mlp = raw.get("mlp_hidden_size")
    if mlp is None:
        ratio = raw.get("mlp_ratio", 4)
        mlp = int(ratio * d_model)
    if not isinstance(mlp, int) or mlp <= 0:
        raise CheckpointError(path, f"'mlp_hidden_size' must be a positive integer, got {mlp!r}")
    rope_theta = float(raw.get("rope_theta", 10000.0))
    eps = float(raw.get("rms_norm_eps", 1e-5))
    if rope_theta <= 0 or eps <= 0:
        raise CheckpointError(path, "rope_theta and rms_norm_eps must be positive")
    return ModelConfig(
        d_model=d_model,
        n_layers=_int_field(raw, "n_layers", path),
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        mlp_hidden_size=mlp,
        vocab_size=vocab_size,
        embedding_size=embedding_size,
        rope_theta=rope_theta,
        rms_norm_eps=eps,
        max_sequence_length=_int_field(raw, "max_sequence_length", path) if "max_sequence_length" in raw else 4096,
        mask_token_id=_optional_id(raw, "mask_token_id", path),
        eos_token_id=_optional_id(raw, "eos_token_id", path),
        pad_token_id=_optional_id(raw, "pad_token_id", path),
        eot_token_id=_optional_id(raw, "eot_token_id", path),
        bos_token_id=_optional_id(raw, "bos_token_id", path),
        weight_tying=bool(raw.get("weight_tying", False)),
    )


def load_config(path: Path) -> ModelConfig:
    if not path.is_file():
        raise CheckpointError(path, "config.json is missing: this folder is not a model checkpoint")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(path, f"malformed JSON: {exc}") from exc
    return parse_config(raw, path)
