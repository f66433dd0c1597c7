"""`llada-studio quantize SRC DST --type q8_0|q4_0|q4_k|q6_k|q4_k_m|f16|f32`: a LLaDA-format
checkpoint folder written as a GGUF file in llama.cpp's layout (architecture `llada`, the
converter's tensor names and q/k row permutation, the tokenizer as tokenizer.ggml.*), written with
the `gguf` package's GGUFWriter. The 2-D matrices are quantized (Q8_0/Q4_0 by gguf's own
quantizer, Q4_K/Q6_K by kquant.py); the norms stay f32. `q4_k_m` mixes as llama.cpp's Q4_K_M does:
Q6_K for the LM head and for attn_v and ffn_down in the first and last eighth of the layers and
every third layer between, Q4_K elsewhere. A K-quant matrix whose rows are not a multiple of 256
values falls back to Q4_0 (for Q4_K; llama.cpp takes Q5_0) or Q8_0 (for Q6_K)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .checkpoint import Checkpoint, load_checkpoint
from .events import CancelToken
from .gguf_loader import _LAYER_NAMES, _TOP_NAMES, ARCH, TOKEN_CONTROL, dequantized, permute_rows
from .kquant import QK_K, quantize_k

TYPES = ("q8_0", "q4_0", "q4_k", "q6_k", "q4_k_m", "f16", "f32")
# general.file_type (llama.cpp's llama_ftype): MOSTLY_Q4_K_S for all-Q4_K, MOSTLY_Q4_K_M for the mix
FILE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q4_k": 14, "q4_k_m": 15, "q6_k": 18}
NORMAL_TOKEN = 1
# A K-quant matrix whose rows are not whole super-blocks of 256: llama.cpp writes Q5_0 for Q4_K
# (the engine has no Q5_0: Q4_0 here) and Q8_0 for Q6_K.
K_FALLBACK = {"q4_k": "q4_0", "q6_k": "q8_0"}


def _more_bits(layer: int, n_layers: int) -> bool:
    """llama.cpp's use_more_bits: the first and last eighth of the layers and every third between."""
    return layer < n_layers // 8 or layer >= 7 * n_layers // 8 or (layer - n_layers // 8) % 3 == 2


def tensor_type(gguf_name: str, qtype: str, n_layers: int) -> str:
    """The format of one 2-D matrix for --type qtype (q4_k_m: Q4_K_M's mix)."""
    if qtype != "q4_k_m":
        return qtype
    if gguf_name == "output.weight":
        return "q6_k"
    parts = gguf_name.split(".")
    if len(parts) == 4 and parts[2] in ("attn_v", "ffn_down") and _more_bits(int(parts[1]), n_layers):
        return "q6_k"
    return "q4_k"


def _tokenizer_metadata(writer: Any, ck: Checkpoint) -> None:
    tj = json.loads(ck.tokenizer._tok.to_str())
    model = tj.get("model", {})
    size = ck.config.embedding_size
    added = {a["id"]: a for a in tj.get("added_tokens", [])}
    if model.get("type") == "BPE" and tj.get("pre_tokenizer", {}).get("type") == "ByteLevel":
        vocab = {i: t for t, i in model["vocab"].items()}
        vocab.update({i: a["content"] for i, a in added.items()})
        tokens = [vocab.get(i, f"[PAD{i}]") for i in range(size)]
        types = [TOKEN_CONTROL if i in added else NORMAL_TOKEN for i in range(size)]
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        writer.add_tokenizer_model("gpt2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
    else:  # another tokenizer kind: the whole tokenizer.json (this project's reader takes it)
        writer.add_tokenizer_model("none")
        writer.add_string("tokenizer.huggingface.json", ck.tokenizer._tok.to_str())
    for what, value in (("bos", ck.bos_id), ("eos", ck.eos_id), ("padding", ck.pad_id)):
        if value is not None:
            writer.add_uint32(f"tokenizer.ggml.{what}_token_id", value)
    writer.add_uint32("tokenizer.ggml.mask_token_id", ck.mask_id)
    writer.add_uint32("tokenizer.ggml.eot_token_id", ck.eot_id)
    writer.add_add_bos_token(bool(ck.tokenizer.add_bos_token))
    if ck.tokenizer.chat_template:
        writer.add_chat_template(ck.tokenizer.chat_template)


def quantize_checkpoint(
    src: str | Path, dst: str | Path, qtype: str, on_progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Write `src` as a GGUF at `dst` in `qtype`. on_progress(tensors done, tensors in all) after
    each tensor; a cancelled token stops before the next tensor and removes the partial file
    (QuantizeCancelled)."""
    import gguf
    from gguf.quants import quantize

    ck = load_checkpoint(src)
    cfg = ck.config
    out = Path(dst)
    if qtype not in TYPES:
        raise ValueError(f"unknown --type {qtype!r}; one of {', '.join(TYPES)}")
    w = gguf.GGUFWriter(out, ARCH)
    w.add_context_length(cfg.max_sequence_length)
    w.add_embedding_length(cfg.d_model)
    w.add_block_count(cfg.n_layers)
    w.add_feed_forward_length(cfg.mlp_hidden_size)
    w.add_head_count(cfg.n_heads)
    w.add_head_count_kv(cfg.n_kv_heads)
    w.add_rope_freq_base(cfg.rope_theta)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_causal_attention(False)
    w.add_file_type(FILE_TYPES[qtype])
    _tokenizer_metadata(w, ck)
    names = {v: k for k, v in _TOP_NAMES.items()}
    for n in range(cfg.n_layers):
        for g, part in _LAYER_NAMES.items():
            names[f"model.transformer.blocks.{n}.{part}.weight"] = f"blk.{n}.{g}.weight"
    total = len(ck.tensors)
    for done, (name, view) in enumerate(ck.tensors.items()):
        if cancel is not None and cancel.cancelled:
            w.close()
            out.unlink(missing_ok=True)
            raise QuantizeCancelled(f"quantizing {Path(src).name} was cancelled; nothing was kept")
        if on_progress is not None:
            on_progress(done, total)
        data = dequantized(view)
        if name.endswith("q_proj.weight"):
            data = permute_rows(data, cfg.n_heads)
        elif name.endswith("k_proj.weight"):
            data = permute_rows(data, cfg.n_kv_heads)
        kind = tensor_type(names[name], qtype, cfg.n_layers)
        if kind in ("q4_k", "q6_k") and data.shape[-1] % QK_K:
            kind = K_FALLBACK[kind]
        qt = gguf.GGMLQuantizationType[kind.upper()] if kind not in ("f32", "f16") else None
        if data.ndim == 2 and qt is not None and data.shape[1] % gguf.GGML_QUANT_SIZES[qt][0] == 0:
            if kind in ("q4_k", "q6_k"):
                blocks = quantize_k(np.ascontiguousarray(data, dtype=np.float32), kind)
            else:
                blocks = quantize(data, qt)
            w.add_tensor(names[name], blocks, raw_dtype=qt)
        elif data.ndim == 2 and kind == "f16":
            w.add_tensor(names[name], data.astype(np.float16))
        else:
            w.add_tensor(names[name], np.ascontiguousarray(data, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if on_progress is not None:
        on_progress(total, total)
    return out


class QuantizeCancelled(Exception):
    """quantize_checkpoint stopped by its cancel token (the partial file removed)."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    q = sub.add_parser("quantize", help="write a checkpoint as a quantized GGUF file")
    q.set_defaults(run=run)
    q.add_argument("src", help="checkpoint folder (safetensors) or GGUF file")
    q.add_argument("dst", help="the GGUF file to write")
    q.add_argument("--type", default="q8_0", choices=TYPES, help="weight format (default %(default)s)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    dst = quantize_checkpoint(args.src, args.dst, args.type)
    size = dst.stat().st_size
    print(f"wrote {dst} ({args.type}, {size / 2**20:.1f} MiB)", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(0)
