"""GPU benchmark (issue 7): the torch backend on CUDA with an LLaDA-8B-shaped bf16 model of
random weights made on the device. Tokens per second at gen length 256 after a 256-token
prompt, blocks of 32, one token per step: the plain sampler against the prefix and dual block
caches, in one run. Random weights make threshold decoding meaningless, so it is not run here.

    python tests/bench/bench_gpu_cache.py [--layers 32] [--gen-length 256]

Not part of the test suite (it needs a CUDA GPU with ~20 GB free).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere: the repo root first

import argparse
import json
import os
import time

import torch

from llada_studio.core.config import ModelConfig
from llada_studio.core.params import GenerationParams
from llada_studio.core.torch_backend import cuda_graphs, sampler
from llada_studio.core.torch_backend.model import LLaDAModel
from llada_studio.core.torch_backend.sampler import generate

LLADA_8B = dict(
    d_model=4096, n_layers=32, n_heads=32, n_kv_heads=32, mlp_hidden_size=12288, vocab_size=126464,
    embedding_size=126464, rope_theta=500000.0, rms_norm_eps=1e-5, max_sequence_length=4096,
    mask_token_id=126336, eos_token_id=126081, pad_token_id=126081, eot_token_id=126348, bos_token_id=126080,
    weight_tying=False,
)


def random_model(layers: int) -> LLaDAModel:
    cfg = ModelConfig(**{**LLADA_8B, "n_layers": layers})
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LLaDAModel(cfg).to(torch.bfloat16)
    for p in model.parameters():
        if p.dim() == 2:
            torch.nn.init.normal_(p, std=0.02)
    return model.eval()


def timed(fn) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--prompt-length", type=int, default=256)
    ap.add_argument("--gen-length", type=int, default=256)
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--no-fuse", action="store_true", help="keep q, k, v as three matrices")
    ap.add_argument("--compile", action="store_true", help="also run the dual cache with torch.compile")
    args = ap.parse_args()
    model = random_model(args.layers)
    if not args.no_fuse:
        model.fuse_qkv()  # as TorchEngine does on CUDA
    prompt = torch.randint(0, 126000, (1, args.prompt_length), device="cuda")
    with torch.no_grad():
        x = torch.randint(0, 126000, (1, args.prompt_length + args.gen_length), device="cuda")
        model(x)
        fwd = min(timed(lambda: model(x)) for _ in range(5))
    results: dict[str, object] = {f"forward_ms_len{x.shape[1]}": fwd * 1000}
    base = GenerationParams(max_steps=args.gen_length, gen_length=args.gen_length, block_length=args.block_length)
    outputs = {}
    def run(params: GenerationParams):  # type: ignore[no-untyped-def]
        return generate(model, prompt, None, params, 126336, 126081, 126348)

    names = ("none", "prefix", "dual", "dual-eager") + (("dual-compiled",) if args.compile else ())
    for name in names:
        cache = name.split("-")[0]
        sampler.USE_CUDA_GRAPHS = not name.endswith("-eager")
        os.environ["LLADA_TORCH_COMPILE"] = "1" if name.endswith("-compiled") else "0"
        params = base.with_(cache=cache)
        warm = time.perf_counter()
        # warm-up on the same shapes (graph capture, compile), stopped after the first block
        generate(model, prompt, None, params, 126336, 126081, 126348, on_step=lambda e: e.block == 0)
        torch.cuda.synchronize()
        warm_s = time.perf_counter() - warm
        before = dict(cuda_graphs.STATS)
        t0 = time.perf_counter()
        outputs[name] = run(params)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        canvas, traj, _ = outputs[name]
        results[name] = {
            "seconds": seconds,
            "tokens_per_s": args.gen_length / seconds,
            "forward_passes": traj[-1].forward_passes,
            "warm_up_s": warm_s,  # one block; with -compiled this includes torch.compile
            "graph_captures": cuda_graphs.STATS["captures"] - before["captures"],
            "graph_replays": cuda_graphs.STATS["replays"] - before["replays"],
            # per-step wall time (ms) of the first block: step 1 is the full pass that stores the cache
            "first_block_step_ms": [
                round(1000 * (b.elapsed - a.elapsed), 2)
                for a, b in zip(traj[: args.block_length], traj[1 : args.block_length])
            ],
        }
    plain = outputs["none"][0][0, args.prompt_length :]
    for name in names[1:]:
        same = (outputs[name][0][0, args.prompt_length :] == plain).float().mean().item()
        results[name]["speedup_vs_plain"] = results["none"]["seconds"] / results[name]["seconds"]
        results[name]["tokens_identical_to_plain"] = same
    results["graph_failures"] = cuda_graphs.FAILURES
    results["device"] = torch.cuda.get_device_name()
    results["layers"] = args.layers
    results["fused_qkv"] = not args.no_fuse
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
