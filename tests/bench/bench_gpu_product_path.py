"""The CUDA product path against the sampler called directly (issue 13), in one run on one GPU.

An LLaDA-8B-shaped checkpoint with random bf16 weights in the real sharded layout is written to
disk (llada8b_memory_check.write), then, on 256 tokens after a 256-token prompt, blocks of 32,
one token per step, T 0:

- `product`: Session.open(engine="torch", device="cuda") + Session.generate_ids with a step
  callback (what the CLI and the app's worker run);
- `sampler`: core.torch_backend.sampler.generate on the same loaded module, no callback
  (what bench_gpu_cache.py times);
- `bench_model`: bench_gpu_cache.random_model (weights made on the GPU), sampler called directly;
- `cli`: `python -m core.cli generate --json` in a fresh process (load and first run included);

each for the plain sampler with the full pass replayed as a CUDA graph (`none`), the plain
sampler eager as before this change (`none-eager`), and the prefix and dual caches. Also the
load time, the first generation's first-step time, per-step medians, peak GPU and host memory,
and a torch.profiler table of one eager and one graphed plain block.

    PYTHONUNBUFFERED=1 python3 tests/bench/bench_gpu_product_path.py --out results.json
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from llada_studio.core.checkpoint import INDEX_FILE  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402
from llada_studio.core.session import Session  # noqa: E402
from llada_studio.core.torch_backend import cuda_graphs, sampler  # noqa: E402

RESULTS: dict[str, Any] = {}


def vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def save(path: Path) -> None:
    path.write_text(json.dumps(RESULTS, indent=2))


def step_ms(trajectory: Any) -> dict[str, float]:
    elapsed = [e.elapsed if hasattr(e, "elapsed") else e["elapsed"] for e in trajectory]
    diffs = [1000 * (b - a) for a, b in zip(elapsed, elapsed[1:])]
    return {
        "first_step_ms": round(1000 * elapsed[0], 2),
        "median_step_ms": round(statistics.median(diffs), 2),
        "steps": len(elapsed),
    }


def configure(name: str) -> GenerationParams:
    sampler.USE_CUDA_GRAPHS = True
    sampler.GRAPH_FULL_PASS = sampler.PLAIN_BLOCK_HEAD = not name.endswith("-eager")
    return BASE.with_(cache=name.split("-")[0])


DEVICE = "cuda"


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed_run(fn: Any) -> tuple[float, Any]:
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - t0, out


def main() -> None:
    global BASE, DEVICE
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", type=Path, default=Path("/tmp/llada8b-random"))
    ap.add_argument("--out", type=Path, default=Path("gpu_product_path.json"))
    ap.add_argument("--prompt-length", type=int, default=256)
    ap.add_argument("--gen-length", type=int, default=256)
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--skip-bench-model", action="store_true")
    ap.add_argument("--cpu-dry-run", action="store_true", help="a tiny checkpoint on the CPU (checks the script)")
    args = ap.parse_args()
    if args.cpu_dry_run:
        from llada_studio.core.checkpoint_writer import random_checkpoint

        DEVICE = "cpu"
        args.folder = random_checkpoint(args.folder, vocab_size=128000, d_model=32, n_heads=2, shards=2)
        args.skip_bench_model = True
    BASE = GenerationParams(max_steps=args.gen_length, gen_length=args.gen_length, block_length=args.block_length)
    RESULTS["device"] = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"
    RESULTS["torch"] = torch.__version__
    RESULTS["shapes"] = {"prompt": args.prompt_length, "gen": args.gen_length, "block": args.block_length}

    if not (args.folder / INDEX_FILE).is_file():
        from llada8b_memory_check import write

        t = time.perf_counter()
        write(args.folder)
        RESULTS["write_checkpoint_s"] = round(time.perf_counter() - t, 1)
    RESULTS["checkpoint_bytes"] = sum(f.stat().st_size for f in args.folder.iterdir())
    save(args.out)

    # -- load through the product path ------------------------------------------------------
    t = time.perf_counter()
    session = Session.open(args.folder, engine="torch", device=DEVICE)
    sync()
    RESULTS["load_s"] = round(time.perf_counter() - t, 2)
    RESULTS["gpu_allocated_after_load_gib"] = round(torch.cuda.memory_allocated() / 2**30, 2) if DEVICE == "cuda" else 0
    RESULTS["host_peak_rss_after_load_gib"] = round(vm("VmHWM") / 2**30, 2)
    save(args.out)
    rng = np.random.default_rng(0)
    prompt = [int(t) for t in rng.integers(0, 126000, size=args.prompt_length)]
    model = session.engine.model  # type: ignore[attr-defined]
    ck = session.checkpoint
    x = torch.tensor([prompt], device=DEVICE)

    def product(params: GenerationParams, stop_after_block0: bool = False) -> Any:
        on_step = (lambda e: e.block == 0) if stop_after_block0 else (lambda e: True)
        return session.generate_ids([prompt], params, on_step)

    def direct(m: Any, params: GenerationParams, stop_after_block0: bool = False) -> Any:
        on_step = (lambda e: e.block == 0) if stop_after_block0 else None
        return sampler.generate(m, x, None, params, ck.mask_id, ck.eos_id, ck.eot_id, on_step)

    # the first generation in the process, as a user's first run sees it (plain, graphed)
    seconds, result = timed_run(lambda: product(configure("none")))
    RESULTS["product_first_generation"] = {
        "seconds": round(seconds, 3),
        "tokens_per_s": round(args.gen_length / seconds, 2),
        **step_ms(result.trajectory),
    }
    print("first generation", RESULTS["product_first_generation"], flush=True)
    save(args.out)

    names = ("none", "none-eager", "prefix", "dual")
    for name in names:
        for path in ("product", "sampler"):
            params = configure(name)
            if path == "product":
                product(params, stop_after_block0=True)  # warm-up on the same shapes
                seconds, result = timed_run(lambda p=params: product(p))
                trajectory = result.trajectory
                tokens = result.generated_ids[0]
            else:
                direct(model, params, stop_after_block0=True)
                seconds, (canvas, trajectory, _) = timed_run(lambda p=params: direct(model, p))
                tokens = tuple(canvas[0, args.prompt_length :].tolist())
            entry = {
                "seconds": round(seconds, 3),
                "tokens_per_s": round(args.gen_length / seconds, 2),
                **step_ms(trajectory),
                "tokens_head": list(tokens[:8]),
            }
            RESULTS.setdefault(name, {})[path] = entry
            print(name, path, entry, flush=True)
            save(args.out)
        r = RESULTS[name]
        r["product_over_sampler"] = round(r["product"]["tokens_per_s"] / r["sampler"]["tokens_per_s"], 3)
    RESULTS["graph_failures"] = list(cuda_graphs.FAILURES)
    RESULTS["gpu_peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2) if DEVICE == "cuda" else 0
    RESULTS["host_peak_rss_gib"] = round(vm("VmHWM") / 2**30, 2)
    save(args.out)

    # -- where the plain step's time goes -----------------------------------------------------
    from torch.profiler import ProfilerActivity, profile

    tables = []
    for name in ("none-eager", "none"):
        params = configure(name)
        product(params, stop_after_block0=True)
        sync()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE == "cuda" else [])
        with profile(activities=activities) as prof:
            product(params, stop_after_block0=True)
            sync()
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14, max_name_column_width=48)
        tables.append(f"## {name} (one block of 32 steps through Session.generate_ids)\n{table}\n")
        events = prof.key_averages()
        RESULTS.setdefault("profile", {})[name] = {
            "cpu_total_ms": round(sum(e.self_cpu_time_total for e in events) / 1000, 1),
            "cuda_total_ms": round(sum(getattr(e, "self_device_time_total", 0) for e in events) / 1000, 1),
            "kernel_launches": int(sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel"))),
        }
    args.out.with_suffix(".profile.txt").write_text("\n".join(tables))
    save(args.out)

    # -- a bench_gpu_cache-style model made on the GPU, sampler called directly ---------------
    if not args.skip_bench_model:
        from bench_gpu_cache import random_model

        del session, model
        torch.cuda.empty_cache()
        bench_model = random_model(32).fuse_qkv()
        for name in ("none", "none-eager", "dual"):
            params = configure(name)
            direct(bench_model, params, stop_after_block0=True)
            seconds, (_, trajectory, _) = timed_run(lambda p=params: direct(bench_model, p))
            RESULTS.setdefault(name, {})["bench_model_sampler"] = {
                "seconds": round(seconds, 3),
                "tokens_per_s": round(args.gen_length / seconds, 2),
                **step_ms(trajectory),
            }
            print(name, "bench_model", RESULTS[name]["bench_model_sampler"], flush=True)
            save(args.out)
        del bench_model
        torch.cuda.empty_cache()

    # -- the command line, a fresh process each --------------------------------------------------
    if not args.skip_cli:
        ids = ",".join(str(t) for t in prompt)
        for cache in ("none", "dual"):
            cmd = [sys.executable, "-m", "llada_studio.core.cli", "generate", "--model", str(args.folder)]
            cmd += ["--prompt-ids", ids]
            cmd += ["--engine", "torch", "--device", DEVICE, "--json", "--temperature", "0", "--cache", cache]
            cmd += ["--steps", str(args.gen_length), "--gen-length", str(args.gen_length)]
            cmd += ["--block-length", str(args.block_length)]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                RESULTS.setdefault(cache, {})["cli"] = {"error": proc.stderr[-2000:]}
                continue
            record = json.loads(proc.stdout)
            timings = record["timings"]
            RESULTS.setdefault(cache, {})["cli"] = {
                "process_wall_s": round(wall, 2),
                "load_s": round(timings["load_s"], 2),
                "generation_s": round(timings["total_s"], 3),
                "tokens_per_s": round(args.gen_length / timings["total_s"], 2),
                **step_ms(record["trajectory"]),
            }
            print(cache, "cli", RESULTS[cache]["cli"], flush=True)
            save(args.out)
    print(json.dumps(RESULTS, indent=2))


BASE = GenerationParams()

if __name__ == "__main__":
    main()
