"""Write LLaDA-format checkpoint folders: used by training, by the test fixtures (tiny random
checkpoints in the real format) and by the benchmarks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import INDEX_FILE, SINGLE_FILE, expected_tensors
from .config import ModelConfig
from .safetensors_io import save_safetensors

SPECIAL_TOKENS = (
    "<|startoftext|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|mdm_mask|>",
    "<|pad|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
)

# A LLaDA-style chat template (the Instruct model's, simplified to what a tiny model needs).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def write_checkpoint(
    folder: str | Path,
    config: ModelConfig,
    tensors: Mapping[str, np.ndarray],
    tokenizer_json: str | Path | Any,
    tokenizer_config: dict[str, Any],
    dtype: str = "f32",
    shards: int = 1,
    extra_config: dict[str, Any] | None = None,
) -> Path:
    """Write config.json, weights (one file or `shards` shards with an index) and the tokenizer.

    `tokenizer_json` is a path to a tokenizer.json or a `tokenizers.Tokenizer`."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config.to_json()
    cfg.update(extra_config or {})
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    names = list(expected_tensors(config))
    missing = [n for n in names if n not in tensors]
    if missing:
        raise ValueError(f"write_checkpoint: tensors missing: {missing[:3]}")
    if shards <= 1:
        save_safetensors(out / SINGLE_FILE, {n: tensors[n] for n in names}, dtype)
    else:
        weight_map: dict[str, str] = {}
        chunk = -(-len(names) // shards)
        for s in range(shards):
            part = names[s * chunk : (s + 1) * chunk]
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            save_safetensors(out / fname, {n: tensors[n] for n in part}, dtype)
            weight_map.update({n: fname for n in part})
        (out / INDEX_FILE).write_text(
            json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2), encoding="utf-8"
        )
    if isinstance(tokenizer_json, (str, Path)):
        (out / "tokenizer.json").write_text(Path(tokenizer_json).read_text(encoding="utf-8"), encoding="utf-8")
    else:
        tokenizer_json.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")
    return out


def word_level_tokenizer(vocab_size: int) -> Any:
    """A tokenizer over `vocab_size` ids: the special tokens, then made-up words w0, w1, ...
    Enough to encode and decode test prompts; real models ship a trained BPE."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    words = list(SPECIAL_TOKENS) + ["<unk>"]
    common = ["the", "a", "of", "and", "to", "in", "is", "was", "he", "she", "it", "that", "hello", "world"]
    words += [w for w in common if w not in words]
    words += [f"w{i}" for i in range(vocab_size - len(words))]
    vocab = {w: i for i, w in enumerate(words[:vocab_size])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins with spaces
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return tok


def random_checkpoint(
    folder: str | Path,
    *,
    n_layers: int = 2,
    d_model: int = 64,
    n_heads: int = 4,
    n_kv_heads: int | None = None,
    mlp_hidden_size: int = 128,
    vocab_size: int = 256,
    dtype: str = "f32",
    weight_tying: bool = False,
    shards: int = 1,
    seed: int = 0,
    chat_template: bool = True,
    rope_theta: float = 10000.0,
    max_sequence_length: int = 4096,
) -> Path:
    """A checkpoint with random weights, scaled so logits are spread (few near-ties)."""
    n_kv = n_heads if n_kv_heads is None else n_kv_heads
    if vocab_size < 32:
        raise ValueError("vocab_size must be at least 32 for the special tokens and test words")
    cfg = ModelConfig(
        d_model=d_model,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        mlp_hidden_size=mlp_hidden_size,
        vocab_size=vocab_size,
        embedding_size=vocab_size,
        rope_theta=rope_theta,
        rms_norm_eps=1e-5,
        max_sequence_length=max_sequence_length,
        mask_token_id=SPECIAL_TOKENS.index("<|mdm_mask|>"),
        eos_token_id=SPECIAL_TOKENS.index("<|endoftext|>"),
        pad_token_id=SPECIAL_TOKENS.index("<|endoftext|>"),
        eot_token_id=SPECIAL_TOKENS.index("<|eot_id|>"),
        bos_token_id=SPECIAL_TOKENS.index("<|startoftext|>"),
        weight_tying=weight_tying,
    )
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}
    for name, shape in expected_tensors(cfg).items():
        if len(shape) == 1:
            tensors[name] = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        elif name.endswith("wte.weight"):
            tensors[name] = rng.standard_normal(shape).astype(np.float32)
        else:
            tensors[name] = (rng.standard_normal(shape) * (1.5 / np.sqrt(shape[1]))).astype(np.float32)
    tok_cfg: dict[str, Any] = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "add_bos_token": False,
        "model_max_length": max_sequence_length,
    }
    if chat_template:
        tok_cfg["chat_template"] = CHAT_TEMPLATE
    return write_checkpoint(folder, cfg, tensors, word_level_tokenizer(vocab_size), tok_cfg, dtype, shards)
