"""Benchmark of the C++ engine against the PyTorch reference (issue 3, "Fast"). Not in CI.

Same checkpoint and inputs for both, 2 threads, batch 1 and 2, sequence length 256 and 1024, on
three random checkpoints (~17M, ~100M, ~600M parameters, vocab 8192). Prints, measured in one run:
forward time C++ vs torch (eager, f32, torch.set_num_threads(2)) with the ratio; the f32
matrix-product peak (OpenBLAS sgemm 2048^3 on 2 threads) and the engine's achieved GFLOP/s;
bf16/f16 vs f32; OpenBLAS vs the engine's own kernels; peak memory of a ~600M bf16 forward.

    python tests/bench/bench_engine.py                 # everything (about 10-15 minutes)
    python tests/bench/bench_engine.py --quick         # length 256 only, fewer repeats
    python tests/bench/bench_engine.py --only cache --models 17M   # block KV cache steps

Checkpoints are written once to work_data/bench/ (about 4 GB) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench_shapes import VOCAB, checkpoint  # noqa: E402  (tests/bench, beside this script)

from llada_studio.core.checkpoint import load_checkpoint  # noqa: E402
from llada_studio.core.cpp_engine import CppEngine, _engine  # noqa: E402

THREADS = 2


def best_of(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: page in the weights, size the buffers
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def time_forward(engine: object, ids: np.ndarray, repeats: int) -> float:
    return best_of(lambda: engine.forward_logits(ids), repeats)  # type: ignore[attr-defined]


def time_pair(a: object, b: object, ids: np.ndarray, repeats: int) -> tuple[float, float]:
    """Best times of a and b, run alternately so that both see the same machine load."""
    ta, tb = [], []
    for r in range(repeats + 1):  # the first round warms up
        for engine, times in ((a, ta), (b, tb)):
            t = time.perf_counter()
            engine.forward_logits(ids)  # type: ignore[attr-defined]
            if r:
                times.append(time.perf_counter() - t)
    return min(ta), min(tb)


def forward_flops(cfg: object, B: int, L: int) -> float:
    c = cfg  # ModelConfig
    d, hd, H, K, f, V = c.d_model, c.head_dim, c.n_heads, c.n_kv_heads, c.mlp_hidden_size, c.embedding_size  # type: ignore[attr-defined]
    per_token = c.n_layers * (2 * d * (H + 2 * K) * hd + 2 * H * hd * d + 3 * 2 * d * f) + 2 * d * V  # type: ignore[attr-defined]
    attention = c.n_layers * 4 * B * L * L * H * hd  # type: ignore[attr-defined]
    return float(B * L * per_token + attention)


def sgemm_peak(repeats: int) -> float:
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    t = best_of(lambda: _engine.matmul(a, b, "f32", "blas", THREADS), repeats)
    return 2 * n**3 / t / 1e9


def peak_memory(path: Path, L: int) -> dict[str, float]:
    """One forward in a fresh process; VmHWM (peak resident set, file pages included)."""
    code = f"""
import sys, json, numpy as np
sys.path.insert(0, {str(ROOT)!r})
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'): return int(line.split()[1]) * 1024
from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.cpp_engine import CppEngine
base = hwm()
ck = load_checkpoint({str(path)!r})
e = CppEngine(ck, threads={THREADS})
e.forward_logits(np.zeros((1, {L}), dtype=np.int64))
print(json.dumps(dict(base=base, peak=hwm(), file=ck.file_bytes)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


# The sampler tables' two runs: batch 1, and batch 1 with CFG (2 rows per forward).
SAMPLER_RUNS = (("B 1", 0.0), ("B 1 + CFG", 1.0))


def engine_pair(name: str, folder: Path, torch_engine: type) -> tuple[object, object]:
    """The C++ engine and the torch reference on the same f32 checkpoint, 2 threads each."""
    ck = load_checkpoint(checkpoint(name, "f32", folder))
    return CppEngine(ck, threads=THREADS), torch_engine(ck, threads=THREADS)


class _Sampler:
    """A whole generate() run behind the forward_logits name time_pair calls."""

    def __init__(self, engine: object, params: object) -> None:
        self.engine, self.params = engine, params

    def forward_logits(self, prompt: np.ndarray) -> None:
        self.engine.generate(prompt, None, self.params)  # type: ignore[attr-defined]


def bench_generate(models: list[str], folder: Path, repeats: int, torch_engine: type) -> None:
    """Whole sampler runs: canvas 256 = prompt 192 + 64 generated, one block, 4 steps, B 1 and
    B 1 with CFG (2 rows per forward). The C++ engine runs the LM head on the block's rows only."""
    from llada_studio.core.params import GenerationParams

    print("| model | sampler run (4 steps, L 256) | torch ms/step | C++ ms/step | ratio |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for name in models:
        cpp, ref = engine_pair(name, folder, torch_engine)
        prompt = rng.integers(32, VOCAB, size=(1, 192))
        for label, cfg in SAMPLER_RUNS:
            params = GenerationParams(max_steps=4, gen_length=64, block_length=64, cfg_scale=cfg)

            t_cpp, t_ref = time_pair(_Sampler(cpp, params), _Sampler(ref, params), prompt, repeats)
            row = f"| {name} | {label} | {t_ref / 4 * 1e3:.0f} | {t_cpp / 4 * 1e3:.0f} | {t_cpp / t_ref:.2f} |"
            print(row, flush=True)


class _TorchCached:
    """The torch sampler run on the LLaDAModel itself (TorchEngine.generate hands the sampler a
    plain function, which has no forward_and_cache: no cache through it)."""

    def __init__(self, engine: object, params: object) -> None:
        self.engine, self.params = engine, params

    def forward_logits(self, prompt: np.ndarray) -> None:
        import torch

        from llada_studio.core.torch_backend import sampler

        ck, model = self.engine.ckpt, self.engine.model  # type: ignore[attr-defined]
        with torch.no_grad():
            sampler.generate(model, torch.as_tensor(prompt), None, self.params, ck.mask_id, ck.eos_id, ck.eot_id)


def bench_cache(models: list[str], folder: Path, repeats: int, torch_engine: type) -> None:
    """Block KV cache: canvas 256 = prompt 128 + 128 generated, blocks of 32, 2 tokens per step
    (64 steps: per block 1 full pass + 15 cached), B 1 and B 1 with CFG; ms per step, both
    samplers with the same cache mode, alternated."""
    from llada_studio.core.params import GenerationParams

    print("| model | run | cache | torch ms/step | C++ ms/step | ratio | C++ vs C++ none |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for name in models:
        cpp, ref = engine_pair(name, folder, torch_engine)
        prompt = rng.integers(32, VOCAB, size=(1, 128))
        for label, cfg in SAMPLER_RUNS:
            base = None
            for cache in ("none", "prefix", "dual"):
                params = GenerationParams(max_steps=64, gen_length=128, block_length=32, cfg_scale=cfg, cache=cache)
                t_cpp, t_ref = time_pair(_Sampler(cpp, params), _TorchCached(ref, params), prompt, repeats)
                base = base or t_cpp
                print(
                    f"| {name} | {label} | {cache} | {t_ref / 64 * 1e3:.1f} | {t_cpp / 64 * 1e3:.1f} "
                    f"| {t_cpp / t_ref:.2f} | {base / t_cpp:.2f}x |",
                    flush=True,
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="length 256 only, 1 repeat")
    ap.add_argument("--models", default="17M,100M,600M")
    ap.add_argument("--folder", type=Path, default=ROOT / "work_data" / "bench")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--only", choices=("all", "generate", "cache"), default="all", help="generate / cache: that sampler table only"
    )
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats
    lengths = (256,) if args.quick else (256, 1024)
    models = args.models.split(",")

    import torch

    torch.set_num_threads(THREADS)
    from llada_studio.core.torch_backend.engine import TorchEngine

    print(
        f"# C++ engine benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {THREADS} threads, "
        f"torch {torch.__version__}, simd {_engine.simd}, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}"
    )
    peak = sgemm_peak(max(3, repeats))
    print(f"f32 sgemm peak (OpenBLAS, 2048^3, {THREADS} threads): {peak:.1f} GFLOP/s at the start\n")

    if args.only == "generate":
        bench_generate(models, args.folder, repeats, TorchEngine)
        return
    if args.only == "cache":
        bench_cache(models, args.folder, repeats, TorchEngine)
        return
    print("| model | B | L | torch ms | C++ ms | ratio | C++ GFLOP/s | % of peak |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for name in models:
        ck = load_checkpoint(checkpoint(name, "f32", args.folder))
        peak = max(peak, sgemm_peak(3))  # the machine may be shared: keep the best seen
        cpp = CppEngine(ck, threads=THREADS)
        ref = TorchEngine(ck, threads=THREADS)
        for L in lengths:
            for B in (1, 2):
                ids = rng.integers(0, VOCAB, size=(B, L))
                t_cpp, t_ref = time_pair(cpp, ref, ids, repeats)
                gf = forward_flops(ck.config, B, L) / t_cpp / 1e9
                print(
                    f"| {name} | {B} | {L} | {t_ref * 1e3:.0f} | {t_cpp * 1e3:.0f} | {t_cpp / t_ref:.2f} "
                    f"| {gf:.1f} | {100 * gf / peak:.0f}% |",
                    flush=True,
                )

    print(f"\nf32 sgemm peak, best seen during the run: {peak:.1f} GFLOP/s")
    if "600M" in models:
        # Row counts from the dual cache's steps (8, 32) to a full canvas (256): with few rows a
        # forward reads every weight for little arithmetic (bound by memory: bf16/f16 move half
        # the bytes); with many it is bound by the f32 FMAs either way (no bf16 arithmetic here).
        lens = (8, 32, 64, 256)
        print("\n| 600M, B 1 | dtype | kernel | " + " | ".join(f"L {n} ms (vs f32)" for n in lens) + " |")
        print("|---|---|---|" + "---|" * len(lens))
        base: dict[tuple[str, int], float] = {}
        for dtype in ("f32", "bf16", "f16"):
            ck = load_checkpoint(checkpoint("600M", dtype, args.folder))
            for kernel in ("blas", "own"):
                eng = CppEngine(ck, threads=THREADS, kernel=kernel)
                t = {L: time_forward(eng, rng.integers(0, VOCAB, size=(1, L)), repeats) for L in lens}
                if dtype == "f32":
                    base.update({(kernel, L): t[L] for L in lens})
                cells = " | ".join(f"{t[L] * 1e3:.0f} ({base[(kernel, L)] / t[L]:.2f}x)" for L in lens)
                print(f"| | {dtype} | {kernel} | {cells} |", flush=True)

        mem = peak_memory(checkpoint("600M", "bf16", args.folder), 256)
        print(
            f"\npeak memory, 600M bf16, one forward B 1 L 256: {mem['peak'] / 2**20:.0f} MiB "
            f"(interpreter before loading {mem['base'] / 2**20:.0f} MiB), file {mem['file'] / 2**20:.0f} MiB, "
            f"peak / file = {mem['peak'] / mem['file']:.2f}, (peak - interpreter) / file = "
            f"{(mem['peak'] - mem['base']) / mem['file']:.2f}"
        )


if __name__ == "__main__":
    main()
