"""GGUF files of the `llada` architecture (llama.cpp's converter, convert_hf_to_gguf.py's
LLaDAModel) as a `Checkpoint`: the metadata read with the `gguf` package, every tensor a
read-only numpy view into the file's memory map (quantized ones as uint8 [rows, row bytes]), the
tokenizer built from tokenizer.ggml.* and the chat template from tokenizer.chat_template.

The converter permutes q_proj/k_proj rows into the interleaved RoPE layout (its `undo_permute`);
the checkpoint says so (`rope_interleaved`): the C++ engine rotates the pairs where they lie, the
torch reference un-permutes its dequantized copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .config import ModelConfig
from .errors import CheckpointError, regular_file_size
from .safetensors_io import TensorView
from .tokenizer import EOT_TOKEN, MASK_TOKEN, Tokenizer

ARCH = "llada"
# GGML type -> this project's dtype name; the C++ engine computes with each directly.
GGML_DTYPES = {0: "f32", 1: "f16", 30: "bf16", 8: "q8_0", 2: "q4_0", 12: "q4_k", 14: "q6_k"}
QUANT_DTYPES = ("q8_0", "q4_0", "q4_k", "q6_k")
# GGUF tensor name -> the LLaDA checkpoint's (ALGORITHM.md section 1).
_LAYER_NAMES = {
    "attn_norm": "attn_norm",
    "attn_q": "q_proj",
    "attn_k": "k_proj",
    "attn_v": "v_proj",
    "attn_output": "attn_out",
    "ffn_norm": "ff_norm",
    "ffn_gate": "ff_proj",
    "ffn_up": "up_proj",
    "ffn_down": "ff_out",
}
_TOP_NAMES = {
    "token_embd.weight": "model.transformer.wte.weight",
    "output_norm.weight": "model.transformer.ln_f.weight",
    "output.weight": "model.transformer.ff_out.weight",
}
TOKEN_CONTROL, TOKEN_USER_DEFINED = 3, 4


def llada_name(gguf_name: str) -> str | None:
    if gguf_name in _TOP_NAMES:
        return _TOP_NAMES[gguf_name]
    parts = gguf_name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[1].isdigit() and parts[3] == "weight":
        part = _LAYER_NAMES.get(parts[2])
        if part is not None:
            return f"model.transformer.blocks.{int(parts[1])}.{part}.weight"
    return None


class _Fields:
    """Typed access to the metadata, each failure a CheckpointError naming the file and key."""

    def __init__(self, path: Path, reader: Any) -> None:
        self.path, self.reader = path, reader

    def get(self, key: str, default: Any = None, required: bool = False) -> Any:
        field = self.reader.fields.get(key)
        if field is None:
            if required:
                raise CheckpointError(self.path, f"GGUF metadata {key!r} is missing")
            return default
        try:
            return field.contents()
        except Exception as exc:  # a malformed field: the reader's own error names no key
            raise CheckpointError(self.path, f"GGUF metadata {key!r} cannot be read: {exc}") from exc

    def integer(self, key: str, default: int | None = None, required: bool = False) -> int | None:
        v = self.get(key, default, required)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) < 2**31:
            raise CheckpointError(self.path, f"GGUF metadata {key!r} must be an integer in [0, 2^31), got {v!r}")
        return int(v)

    def number(self, key: str, default: float) -> float:
        v = self.get(key, default)
        if not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v <= 0:
            raise CheckpointError(self.path, f"GGUF metadata {key!r} must be a positive number, got {v!r}")
        return float(str(np.float32(v)))  # stored as float32: 1e-05, not 9.999999747e-06


def _tokenizer(path: Path, f: _Fields) -> Tokenizer:
    """A `tokenizers` object from tokenizer.ggml.* (byte-level BPE, 'gpt2', as LLaDA's), or from
    tokenizer.huggingface.json when the file carries one."""
    from tokenizers import AddedToken, decoders, models, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer

    hf_json = f.get("tokenizer.huggingface.json")
    kind = f.get("tokenizer.ggml.model")
    tokens = f.get("tokenizer.ggml.tokens")
    types = f.get("tokenizer.ggml.token_type")
    if isinstance(hf_json, str):
        try:
            tok = HFTokenizer.from_str(hf_json)
        except Exception as exc:
            raise CheckpointError(
                path, f"GGUF metadata 'tokenizer.huggingface.json' is not a tokenizer: {exc}"
            ) from exc
    elif kind == "gpt2":
        merges = f.get("tokenizer.ggml.merges", required=True)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens) or not tokens:
            raise CheckpointError(path, "GGUF metadata 'tokenizer.ggml.tokens' must be a list of strings")
        if not isinstance(merges, list) or not all(isinstance(m, str) and " " in m for m in merges):
            raise CheckpointError(path, "GGUF metadata 'tokenizer.ggml.merges' must be a list of 'a b' strings")
        vocab = {t: i for i, t in enumerate(tokens)}
        pairs = [tuple(m.split(" ", 1)) for m in merges]
        tok = HFTokenizer(models.BPE(vocab, pairs, fuse_unk=False, byte_fallback=False))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        if isinstance(types, list) and len(types) == len(tokens):
            special = [t for t, k in zip(tokens, types) if k in (TOKEN_CONTROL, TOKEN_USER_DEFINED)]
            tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    else:
        raise CheckpointError(
            path, f"GGUF metadata 'tokenizer.ggml.model' is {kind!r}: only byte-level BPE ('gpt2') is supported"
        )
    out = Tokenizer.__new__(Tokenizer)  # the folder-less constructor: the same fields as Tokenizer(folder)
    out._tok = tok
    bos, eos = f.integer("tokenizer.ggml.bos_token_id"), f.integer("tokenizer.ggml.eos_token_id")
    out.bos_token = tok.id_to_token(bos) if bos is not None else None
    out.eos_token = tok.id_to_token(eos) if eos is not None else None
    out.add_bos_token = bool(f.get("tokenizer.ggml.add_bos_token", False))
    template = f.get("tokenizer.chat_template")
    out.chat_template = template if isinstance(template, str) else None
    out.config = {"bos_token": out.bos_token, "eos_token": out.eos_token, "chat_template": out.chat_template}
    out._compiled_template = None
    return out


def load_gguf(path: str | Path, progress: Any = None) -> Any:
    """Validate and open a `llada` GGUF file as a Checkpoint (core.checkpoint)."""
    from gguf import GGUFReader

    from .checkpoint import Checkpoint, expected_tensors

    file = Path(path).expanduser()
    report = progress or (lambda fraction, message: None)
    regular_file_size(file, "GGUF file")
    report(0.0, f"reading {file.name}")
    try:
        reader = GGUFReader(file, "r")
    except Exception as exc:  # the reader raises ValueError/struct errors on a broken header
        raise CheckpointError(file, f"not a readable GGUF file: {exc}") from exc
    f = _Fields(file, reader)
    arch = f.get("general.architecture", required=True)
    if arch != ARCH:
        raise CheckpointError(file, f"GGUF metadata 'general.architecture' is {arch!r}; this app runs {ARCH!r}")

    def key(k: str) -> str:
        return f"{ARCH}.{k}"

    d = f.integer(key("embedding_length"), required=True)
    n_layers = f.integer(key("block_count"), required=True)
    n_heads = f.integer(key("attention.head_count"), required=True)
    assert d is not None and n_layers is not None and n_heads is not None
    n_kv = f.integer(key("attention.head_count_kv"), n_heads)
    ffn = f.integer(key("feed_forward_length"), required=True)
    if not n_heads or d % n_heads or not n_kv or n_heads % n_kv:
        raise CheckpointError(file, f"GGUF metadata: embedding_length {d}, head_count {n_heads}, head_count_kv {n_kv}")
    report(0.3, "building the tokenizer")
    tok = _tokenizer(file, f)
    tensors_by_name = {t.name: t for t in reader.tensors}
    wte_t = tensors_by_name.get("token_embd.weight")
    if wte_t is None:
        raise CheckpointError(file, "tensor 'token_embd.weight' is missing")
    embedding = int(wte_t.shape[-1]) if len(wte_t.shape) == 2 else 0
    vocab = f.integer(key("vocab_size"), embedding) or embedding

    def special(k: str, token: str | None) -> int | None:
        v = f.integer(f"tokenizer.ggml.{k}")
        return v if v is not None else (tok.token_to_id(token) if token else None)

    mask_id = special("mask_token_id", MASK_TOKEN)
    eos_id = special("eos_token_id", None)
    eot_id = special("eot_token_id", EOT_TOKEN)
    cfg = ModelConfig(
        d_model=d,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv or n_heads,
        mlp_hidden_size=ffn or 0,
        vocab_size=vocab,
        embedding_size=embedding,
        rope_theta=f.number(key("rope.freq_base"), 10000.0),
        rms_norm_eps=f.number(key("attention.layer_norm_rms_epsilon"), 1e-5),
        max_sequence_length=f.integer(key("context_length"), 4096) or 4096,
        mask_token_id=mask_id,
        eos_token_id=eos_id,
        pad_token_id=special("padding_token_id", None),
        eot_token_id=eot_id if eot_id is not None else eos_id,
        bos_token_id=special("bos_token_id", None),
        weight_tying="output.weight" not in tensors_by_name,
    )
    for what, value in (("mask", mask_id), ("eos", eos_id)):
        if value is None or value >= embedding:
            raise CheckpointError(
                file, f"the {what} token id is unknown or outside the embedding (tokenizer.ggml.{what}_token_id)"
            )
    report(0.6, "mapping tensors")
    expected = expected_tensors(cfg)
    tensors: dict[str, TensorView] = {}
    for t in reader.tensors:
        name = llada_name(t.name)
        if name is None or name not in expected:
            raise CheckpointError(file, f"unexpected tensor {t.name!r}: not part of a {n_layers}-layer llada model")
        dtype = GGML_DTYPES.get(int(t.tensor_type))
        if dtype is None:
            raise CheckpointError(
                file, f"tensor {t.name!r} is {t.tensor_type.name}: supported are F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K"
            )
        shape = tuple(int(s) for s in reversed(t.shape.tolist()))  # GGUF lists ne0 (columns) first
        if shape != expected[name]:
            raise CheckpointError(file, f"tensor {t.name!r} has shape {list(shape)}, the metadata implies "
                                  f"{list(expected[name])}")  # fmt: skip
        data = t.data
        if dtype == "bf16":
            data = data.view(np.uint16)
        rows = shape[0] if len(shape) == 2 else 1
        data = data.reshape(rows, -1) if len(shape) == 2 else data.reshape(-1)
        if dtype in QUANT_DTYPES and len(shape) != 2:
            raise CheckpointError(file, f"tensor {t.name!r}: quantized 1-D tensors are not supported")
        if dtype in ("f32", "f16", "bf16"):
            data = data.reshape(shape)
        tensors[name] = TensorView(name=name, dtype=dtype, shape=shape, data=data, file=file)
    missing = [n for n in expected if n not in tensors]
    if missing:
        raise CheckpointError(file, f"missing tensor(s) {missing[:3]} for a {n_layers}-layer model")
    for name, view in tensors.items():
        if len(view.shape) == 1 and not np.isfinite(view.data.astype(np.float32)).all():
            raise CheckpointError(file, f"tensor {name!r} holds non-finite values: the weights are corrupt")
    report(1.0, "ready")
    assert eos_id is not None and mask_id is not None
    return Checkpoint(
        path=file,
        config=cfg,
        tensors=tensors,
        tokenizer=tok,
        mask_id=mask_id,
        eos_id=eos_id,
        eot_id=cfg.eot_token_id if cfg.eot_token_id is not None else eos_id,
        pad_id=cfg.pad_token_id if cfg.pad_token_id is not None else eos_id,
        bos_id=cfg.bos_token_id,
        files=[file],
        rope_interleaved=True,
    )


def dequantized(view: TensorView) -> np.ndarray:
    """An f32 copy of any tensor of a GGUF checkpoint (the torch reference, tests)."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    if view.dtype in QUANT_DTYPES:
        qt = GGMLQuantizationType[view.dtype.upper()]
        return np.asarray(dequantize(np.asarray(view.data), qt), dtype=np.float32).reshape(view.shape)
    if view.dtype == "bf16":
        return (np.asarray(view.data).astype(np.uint32) << 16).view(np.float32).reshape(view.shape)
    return np.asarray(view.data, dtype=np.float32).reshape(view.shape)


def unpermute_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """The converter's q/k row permutation undone (interleaved RoPE rows -> half-split)."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permute_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """What llama.cpp's converter does to q/k rows (LLaDAModel.permute)."""
    rows = w.shape[0]
    return w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
