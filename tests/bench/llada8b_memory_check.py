"""LLaDA-8B-shaped check (issue 3; not in CI): write a bf16 checkpoint with random weights in the
real layout (LLaDA-8B shapes from ALGORITHM.md: d 4096, 32 layers, 32 heads, MLP 12288, vocab
126464, untied head; about 16 GB in 6 shards), run one C++ forward of 64 tokens, print the time
and the peak resident memory (VmHWM, file pages included). Target: under 24 GB.

    python tests/bench/llada8b_memory_check.py [--folder /tmp/llada8b-random] [--keep]

The weights are streamed to disk tensor by tensor from a pool of random bf16 values (never the
whole model in memory); the folder is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from llada_studio.core.checkpoint import INDEX_FILE, expected_tensors  # noqa: E402
from llada_studio.core.checkpoint_writer import SPECIAL_TOKENS, word_level_tokenizer  # noqa: E402
from llada_studio.core.config import ModelConfig  # noqa: E402
from llada_studio.core.safetensors_io import float32_to_bf16_bits  # noqa: E402

VOCAB = 126464
SHARDS = 6


def vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def config() -> ModelConfig:
    return ModelConfig(
        d_model=4096,
        n_layers=32,
        n_heads=32,
        n_kv_heads=32,
        mlp_hidden_size=12288,
        vocab_size=VOCAB,
        embedding_size=VOCAB,
        rope_theta=500000.0,
        rms_norm_eps=1e-5,
        max_sequence_length=4096,
        mask_token_id=SPECIAL_TOKENS.index("<|mdm_mask|>"),
        eos_token_id=SPECIAL_TOKENS.index("<|endoftext|>"),
        pad_token_id=SPECIAL_TOKENS.index("<|endoftext|>"),
        eot_token_id=SPECIAL_TOKENS.index("<|eot_id|>"),
        bos_token_id=SPECIAL_TOKENS.index("<|startoftext|>"),
        weight_tying=False,
    )


def write(folder: Path) -> None:
    cfg = config()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    pool_n = 1 << 25  # 32M values = 64 MB per pool
    pools = {
        "matrix": float32_to_bf16_bits(rng.standard_normal(pool_n, dtype=np.float32) * np.float32(1.5 / 64)),
        "embedding": float32_to_bf16_bits(rng.standard_normal(pool_n, dtype=np.float32)),
    }
    shapes = expected_tensors(cfg)
    names = list(shapes)
    per = -(-len(names) // SHARDS)
    weight_map: dict[str, str] = {}
    for s in range(SHARDS):
        part = names[s * per : (s + 1) * per]
        fname = f"model-{s + 1:05d}-of-{SHARDS:05d}.safetensors"
        header: dict[str, object] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for n in part:
            size = int(np.prod(shapes[n])) * 2
            header[n] = {"dtype": "BF16", "shape": list(shapes[n]), "data_offsets": [offset, offset + size]}
            offset += size
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        with (folder / fname).open("wb") as fh:
            fh.write(struct.pack("<Q", len(raw)))
            fh.write(raw)
            for n in part:
                count = int(np.prod(shapes[n]))
                if len(shapes[n]) == 1:  # norm weights: ones
                    fh.write(np.full(count, 0x3F80, dtype=np.uint16).tobytes())
                    continue
                pool = pools["embedding" if n.endswith("wte.weight") else "matrix"]
                start = int(rng.integers(0, pool_n))
                while count > 0:
                    take = min(count, pool_n - start)
                    fh.write(pool[start : start + take].tobytes())
                    count -= take
                    start = 0
            weight_map.update({n: fname for n in part})
        print(f"  wrote {fname}", flush=True)
    (folder / INDEX_FILE).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(cfg.to_json(), indent=2))
    word_level_tokenizer(VOCAB).save(str(folder / "tokenizer.json"))
    tok_cfg = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "add_bos_token": False}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_cfg))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/llada8b-random"))
    ap.add_argument("--keep", action="store_true", help="keep the 16 GB checkpoint afterwards")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    try:
        if not (args.folder / INDEX_FILE).is_file():
            t = time.perf_counter()
            print(f"writing the random 8B-shaped checkpoint to {args.folder} ...", flush=True)
            write(args.folder)
            print(f"written in {time.perf_counter() - t:.0f} s", flush=True)
        from llada_studio.core.checkpoint import load_checkpoint
        from llada_studio.core.cpp_engine import CppEngine

        base = vm("VmHWM")
        t = time.perf_counter()
        ck = load_checkpoint(args.folder)
        engine = CppEngine(ck, threads=args.threads)
        t_load = time.perf_counter() - t
        ids = np.random.default_rng(0).integers(0, VOCAB, size=(1, args.tokens))
        t = time.perf_counter()
        logits = engine.forward_logits(ids)
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        engine.forward_logits(ids)
        t_second = time.perf_counter() - t
        peak = vm("VmHWM")
        assert logits.shape == (1, args.tokens, VOCAB) and np.isfinite(logits).all()
        gib = 2**30
        print(
            f"checkpoint: {ck.num_parameters / 1e9:.2f} B parameters, {ck.file_bytes / gib:.2f} GiB bf16, "
            f"kernel {engine.kernel}, {engine.threads} threads"
        )
        print(f"load (map + validate): {t_load:.1f} s")
        print(f"forward of {args.tokens} tokens: first {t_first:.1f} s (pages the weights in), second {t_second:.1f} s")
        print(
            f"peak RSS (VmHWM): {peak / gib:.2f} GiB (interpreter before loading {base / gib:.2f} GiB); "
            f"target < 24 GiB: {'OK' if peak < 24 * gib else 'OVER'}"
        )
    finally:
        if not args.keep and args.folder.exists():
            shutil.rmtree(args.folder)
            print(f"deleted {args.folder}")


if __name__ == "__main__":
    main()
