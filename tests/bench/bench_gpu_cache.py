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
import time

import torch

from core.config import ModelConfig
from core.params import GenerationParams
from core.torch_backend import sampler
from core.torch_backend.model import LLaDAModel
from core.torch_backend.sampler import generate

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
    args = ap.parse_args()
    model = random_model(args.layers)
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

    for name in ("none", "prefix", "dual", "dual-eager"):
        cache = name.removesuffix("-eager")
        sampler.USE_CUDA_GRAPHS = not name.endswith("-eager")
        params = base.with_(cache=cache)
        run(params.with_(gen_length=args.block_length, max_steps=args.block_length))  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        outputs[name] = run(params)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        canvas, traj, _ = outputs[name]
        results[name] = {
            "seconds": seconds,
            "tokens_per_s": args.gen_length / seconds,
            "forward_passes": traj[-1].forward_passes,
        }
    plain = outputs["none"][0][0, args.prompt_length :]
    for name in ("prefix", "dual", "dual-eager"):
        same = (outputs[name][0][0, args.prompt_length :] == plain).float().mean().item()
        results[name]["speedup_vs_plain"] = results["none"]["seconds"] / results[name]["seconds"]
        results[name]["tokens_identical_to_plain"] = same
    results["device"] = torch.cuda.get_device_name()
    results["layers"] = args.layers
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
