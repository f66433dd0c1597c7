"""The CUDA product path against the sampler called directly (issue 13), in one run on one GPU.

An LLaDA-8B-shaped checkpoint with random bf16 weights in the real sharded layout is written to
disk (llada8b_memory_check.write), then, on 256 tokens after a 256-token prompt, blocks of 32,
one token per step, T 0, plain (`none`) and dual cache:

- `sampler`: core.torch_backend.sampler.generate on the loaded module, no callback (what
  bench_gpu_cache.py times), timed twice (first and last of the round: the spread);
- `product`: Session.generate_ids with a step callback, on the calling thread;
- `worker`: what app/worker.py runs, without Qt (PySide6 is not on the device): Session.generate_ids
  on a fresh thread with a CancelToken and a step callback that turns the step's tokens into
  texts (tokenizer.token_texts) and queues them, as the worker's StepUpdate signal carries them;
- `cli`: `python -m llada_studio.core.cli generate --json` in a fresh process: its own timings
  (load; the generation, which is its process's first), the process's wall time and peak RSS;
- `probe`: the CLI's path (Session.open + generate_ids) in a fresh process with the warm-up at
  load off (LLADA_CUDA_WARMUP=0): where a first generation's time went before the warm-up
  (first step, the captures' seconds) - `--child` runs it.

Then, optionally, the CPU benchmark (bench_cpu8b.py) as a child process on the same checkpoint,
and torch.compile (`LLADA_TORCH_COMPILE=1` set in this process): for dual and plain the first
generation (compile + capture) and a second one, against the same path uncompiled. Sections that
would overrun `--budget-s` are skipped and say so.

    PYTHONUNBUFFERED=1 python3 tests/bench/bench_gpu_product_path.py --folder /tmp/llada8b --out gpu.json \
        --probes none,dual --compile --budget-s 370 --cpu "--threads 16 --out cpu8b.json"
    python3 tests/bench/bench_gpu_product_path.py --child none   # one probe (LLADA_CUDA_WARMUP=0 or 1)

RESULTS_gpu.md (2026-12-02 02:09) says how `llada_studio` was made importable on the device
machine (no install there) and has the figures.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from llada_studio.core.checkpoint import INDEX_FILE  # noqa: E402
from llada_studio.core.events import CancelToken  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402
from llada_studio.core.session import Session  # noqa: E402
from llada_studio.core.torch_backend import cuda_graphs, sampler  # noqa: E402

T_IMPORTS = time.perf_counter() - T_START
RESULTS: dict[str, Any] = {}
DEVICE = "cuda"


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
        "median_step_ms": round(statistics.median(diffs), 2) if diffs else 0.0,
        "steps": len(elapsed),
    }


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed_run(fn: Any) -> tuple[float, Any]:
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - t0, out


def base_params(args: argparse.Namespace, cache: str) -> GenerationParams:
    return GenerationParams(
        max_steps=args.gen_length, gen_length=args.gen_length, block_length=args.block_length, temperature=0.0,
        cache=cache,
    )  # fmt: skip


def prompt_ids(args: argparse.Namespace) -> list[int]:
    rng = np.random.default_rng(0)
    return [int(t) for t in rng.integers(0, 126000 if DEVICE == "cuda" else 120000, size=args.prompt_length)]


def child(args: argparse.Namespace) -> None:
    """The CLI's path in this fresh process (Session.open + generate_ids with a step callback),
    with timers: imports, load (and its warm-up), the first generation's steps and captures."""
    cache = args.child
    params = base_params(args, cache)
    t = time.perf_counter()
    session = Session.open(
        args.folder, engine="torch", device=DEVICE, memory_for=params, prompt_tokens=args.prompt_length
    )
    sync()
    load_s = time.perf_counter() - t
    captures = len(cuda_graphs.STATS["capture_s"])
    seconds, result = timed_run(lambda: session.generate_ids([prompt_ids(args)], params, lambda e: True))
    # then the sampler called directly on the same shapes (warm: the reference of this process)
    x = torch.tensor([prompt_ids(args)], device=DEVICE)
    ck = session.checkpoint
    model = session.engine.model  # type: ignore[attr-defined]
    ref, _ = timed_run(lambda: sampler.generate(model, x, None, params, ck.mask_id, ck.eos_id, ck.eot_id))
    print(
        "CHILD "
        + json.dumps({
            "warm_up": cuda_graphs.warm_up_requested(),
            "imports_s": round(T_IMPORTS, 2),
            "load_s": round(load_s, 2),
            "warm_up_s": cuda_graphs.STATS["warm_up_s"],
            "generation_s": round(seconds, 3),
            "tokens_per_s": round(args.gen_length / seconds, 2),
            **step_ms(result.trajectory),
            "first_generation_capture_s": cuda_graphs.STATS["capture_s"][captures:],
            "sampler_after_tokens_per_s": round(args.gen_length / ref, 2),
            "first_over_sampler_after": round(ref / seconds, 3),
            "failures": cuda_graphs.FAILURES,
        })
    )  # fmt: skip


def run_child(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> dict[str, Any]:
    """Runs cmd; returns its stdout, process wall seconds and peak RSS (os.wait4's ru_maxrss)."""
    log = Path(f"/tmp/bench_child_{os.getpid()}.out")
    t = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        deadline = time.time() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.time() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
    wall = time.perf_counter() - t
    stderr = proc.stderr.read() if proc.stderr else ""
    return {
        "rc": os.waitstatus_to_exitcode(status),
        "stdout": log.read_text(),
        "stderr": stderr[-3000:],
        "process_wall_s": round(wall, 2),
        "peak_rss_gib": round(usage.ru_maxrss * 1024 / 2**30, 2),
    }


def main() -> None:
    global DEVICE
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", type=Path, default=Path("/tmp/llada8b-random"))
    ap.add_argument("--out", type=Path, default=Path("gpu_product_path.json"))
    ap.add_argument("--prompt-length", type=int, default=256)
    ap.add_argument("--gen-length", type=int, default=256)
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--probes", default="none", help="caches to probe with the warm-up off, comma-separated")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (dual, then plain)")
    ap.add_argument("--cpu", default="", help="extra arguments for bench_cpu8b.py, run as a child on the same folder")
    ap.add_argument("--budget-s", type=float, default=1e9, help="skip sections that would end after this")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--cpu-dry-run", action="store_true", help="a tiny checkpoint on the CPU (checks the script)")
    args = ap.parse_args()
    if args.cpu_dry_run:
        DEVICE = "cpu"
        if not (args.folder / INDEX_FILE).is_file():
            from llada_studio.core.checkpoint_writer import random_checkpoint

            random_checkpoint(args.folder, vocab_size=128000, d_model=32, n_heads=2, shards=2)
    if args.child:
        child(args)
        return

    def left() -> float:
        return args.budget_s - (time.perf_counter() - T_START)

    RESULTS["device"] = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"
    RESULTS["torch"] = torch.__version__
    RESULTS["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    RESULTS["shapes"] = {"prompt": args.prompt_length, "gen": args.gen_length, "block": args.block_length}
    RESULTS["skipped"] = []
    if not (args.folder / INDEX_FILE).is_file():
        from llada8b_memory_check import write

        t = time.perf_counter()
        write(args.folder)
        RESULTS["write_checkpoint_s"] = round(time.perf_counter() - t, 1)
    RESULTS["checkpoint_bytes"] = sum(f.stat().st_size for f in args.folder.iterdir())
    save(args.out)

    # -- load through the product path (with the warm-up at load) ------------------------------
    t = time.perf_counter()
    session = Session.open(args.folder, engine="torch", device=DEVICE)
    sync()
    RESULTS["load_s"] = round(time.perf_counter() - t, 2)
    RESULTS["warm_up_s"] = list(cuda_graphs.STATS["warm_up_s"])
    RESULTS["gpu_allocated_after_load_gib"] = round(torch.cuda.memory_allocated() / 2**30, 2) if DEVICE == "cuda" else 0
    RESULTS["host_peak_rss_after_load_gib"] = round(vm("VmHWM") / 2**30, 2)
    print("load", RESULTS["load_s"], "s, warm-up", RESULTS["warm_up_s"], flush=True)
    save(args.out)
    prompt = prompt_ids(args)
    model = session.engine.model  # type: ignore[attr-defined]
    ck = session.checkpoint
    x = torch.tensor([prompt], device=DEVICE)
    tokenizer = session.tokenizer

    def product(params: GenerationParams, stop_after_block0: bool = False) -> Any:
        on_step = (lambda e: e.block == 0) if stop_after_block0 else (lambda e: True)
        return session.generate_ids([prompt], params, on_step)

    def worker(params: GenerationParams) -> Any:
        updates: queue.SimpleQueue[Any] = queue.SimpleQueue()
        cancel = CancelToken()
        out: dict[str, Any] = {}

        def on_step(event: Any) -> bool:
            texts = tuple(tokenizer.token_texts(event.tokens[0])) if event.tokens else ()
            updates.put((event, texts))
            return not cancel.cancelled

        def work() -> None:
            out["result"] = session.generate_ids([prompt], params, on_step, cancel)

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        return out["result"]

    def direct(params: GenerationParams, stop_after_block0: bool = False) -> Any:
        on_step = (lambda e: e.block == 0) if stop_after_block0 else None
        return sampler.generate(model, x, None, params, ck.mask_id, ck.eos_id, ck.eot_id, on_step)

    # The first generation in the process, as a user's first run sees it (plain, graphed).
    captures = len(cuda_graphs.STATS["capture_s"])
    seconds, result = timed_run(lambda: product(base_params(args, "none")))
    RESULTS["product_first_generation"] = {
        "seconds": round(seconds, 3),
        "tokens_per_s": round(args.gen_length / seconds, 2),
        **step_ms(result.trajectory),
        "capture_s": cuda_graphs.STATS["capture_s"][captures:],
    }
    print("first generation", RESULTS["product_first_generation"], flush=True)
    save(args.out)

    def entry(seconds: float, trajectory: Any, tokens: Any) -> dict[str, Any]:
        return {
            "seconds": round(seconds, 3),
            "tokens_per_s": round(args.gen_length / seconds, 2),
            **step_ms(trajectory),
            "tokens_head": [int(t) for t in list(tokens)[:8]],
        }

    def time_path(path: str, params: GenerationParams) -> dict[str, Any]:
        if path == "sampler":
            seconds, (canvas, trajectory, _) = timed_run(lambda: direct(params))
            return entry(seconds, trajectory, canvas[0, args.prompt_length :].tolist())
        fn = product if path == "product" else worker
        seconds, result = timed_run(lambda: fn(params))
        return entry(seconds, result.trajectory, result.generated_ids[0])

    for name in ("none", "dual"):
        params = base_params(args, name)
        captures = sampler_captures = len(cuda_graphs.STATS["capture_s"])
        direct(params, stop_after_block0=True)  # warm-up on the same shapes (captures this shape's graph)
        sampler_captures = len(cuda_graphs.STATS["capture_s"]) - captures
        r = RESULTS.setdefault(name, {})
        for path in ("sampler", "product", "worker", "sampler_again"):
            r[path] = time_path(path.replace("_again", ""), params)
            print(name, path, r[path], flush=True)
        r["captures_in_warm_up"] = sampler_captures
        r["captures_in_timed_runs"] = len(cuda_graphs.STATS["capture_s"]) - captures - sampler_captures
        ref = statistics.mean([r["sampler"]["tokens_per_s"], r["sampler_again"]["tokens_per_s"]])
        r["sampler_mean_tokens_per_s"] = round(ref, 2)
        r["product_over_sampler"] = round(r["product"]["tokens_per_s"] / ref, 3)
        r["worker_over_sampler"] = round(r["worker"]["tokens_per_s"] / ref, 3)
        save(args.out)
    RESULTS["graph_failures"] = list(cuda_graphs.FAILURES)
    RESULTS["gpu_peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2) if DEVICE == "cuda" else 0
    RESULTS["host_peak_rss_gib"] = round(vm("VmHWM") / 2**30, 2)
    save(args.out)

    # -- the command line and the probes, a fresh process each -----------------------------------
    ids = ",".join(str(t) for t in prompt)
    shape = ["--gen-length", str(args.gen_length), "--block-length", str(args.block_length)]
    if not args.skip_cli:
        for cache in ("none", "dual"):
            if left() < 40:
                RESULTS["skipped"].append(f"cli {cache}")
                continue
            cmd = [sys.executable, "-m", "llada_studio.core.cli", "generate", "--model", str(args.folder)]
            cmd += ["--prompt-ids", ids, "--engine", "torch", "--device", DEVICE, "--json", "--temperature", "0"]
            cmd += ["--cache", cache, "--steps", str(args.gen_length), *shape]
            proc = run_child(cmd)
            cli: dict[str, Any] = {k: proc[k] for k in ("rc", "process_wall_s", "peak_rss_gib")}
            try:
                record = json.loads(proc["stdout"].strip().splitlines()[-1])
                timings = record["timings"]
                cli.update({
                    "load_s": round(timings["load_s"], 2),
                    "generation_s": round(timings["total_s"], 3),
                    "tokens_per_s": round(args.gen_length / timings["total_s"], 2),
                    **step_ms(record["trajectory"]),
                })  # fmt: skip
                cli["over_sampler"] = round(cli["tokens_per_s"] / RESULTS[cache]["sampler_mean_tokens_per_s"], 3)
            except Exception as exc:  # noqa: BLE001 - keep what came back
                cli["error"] = f"{exc}: {proc['stderr']}"
            RESULTS[cache]["cli"] = cli
            print(cache, "cli", cli, flush=True)
            save(args.out)
    for cache in [c for c in args.probes.split(",") if c]:
        if left() < 40:
            RESULTS["skipped"].append(f"probe {cache}")
            continue
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", cache, "--folder", str(args.folder)]
        cmd += ["--prompt-length", str(args.prompt_length), *shape] + (["--cpu-dry-run"] if args.cpu_dry_run else [])
        proc = run_child(cmd, env={**os.environ, "LLADA_CUDA_WARMUP": "0"})
        probe: dict[str, Any] = {k: proc[k] for k in ("rc", "process_wall_s", "peak_rss_gib")}
        lines = [ln for ln in proc["stdout"].splitlines() if ln.startswith("CHILD ")]
        if lines:
            probe.update(json.loads(lines[-1][6:]))
            probe["over_sampler"] = round(probe["tokens_per_s"] / RESULTS[cache]["sampler_mean_tokens_per_s"], 3)
        else:
            probe["error"] = proc["stderr"]
        RESULTS[cache]["probe_no_warm_up"] = probe
        print(cache, "probe (no warm-up)", probe, flush=True)
        save(args.out)

    # -- the CPU (C++ engine) on the same checkpoint, while this process waits --------------------
    if args.cpu:
        if left() < 60:
            RESULTS["skipped"].append("cpu")
        else:
            cmd = [sys.executable, str(ROOT / "tests" / "bench" / "bench_cpu8b.py"), "--folder", str(args.folder)]
            cmd += args.cpu.split()
            proc = run_child(cmd, timeout=max(30, left() - 100 if args.compile else left() - 5))
            RESULTS["cpu_child"] = {k: proc[k] for k in ("rc", "process_wall_s")}
            RESULTS["cpu_child"]["stderr"] = proc["stderr"][-1500:]
            print(proc["stdout"], flush=True)
            save(args.out)

    # -- torch.compile: its one-time cost and its steady speed-up ----------------------------------
    if args.compile:
        os.environ["LLADA_TORCH_COMPILE"] = "1"
        for name, need in (("dual", 75), ("none", 95)):
            if left() < need:
                RESULTS["skipped"].append(f"compile {name}")
                continue
            params = base_params(args, name)
            first, result = timed_run(lambda p=params: product(p))
            r1 = entry(first, result.trajectory, result.generated_ids[0])
            second, result = timed_run(lambda p=params: product(p))
            r2 = entry(second, result.trajectory, result.generated_ids[0])
            eager = RESULTS[name]["product"]
            RESULTS[name]["compiled"] = {
                "first_generation": r1,
                "second_generation": r2,
                "first_run_extra_s": round(first - eager["seconds"], 1),
                "speedup_vs_eager_product": round(r2["tokens_per_s"] / eager["tokens_per_s"], 3),
                "cached_step_speedup": round(eager["median_step_ms"] / max(r2["median_step_ms"], 1e-9), 3),
            }
            print(name, "compiled", RESULTS[name]["compiled"], flush=True)
            save(args.out)
        os.environ.pop("LLADA_TORCH_COMPILE")
        RESULTS["graph_failures"] = list(cuda_graphs.FAILURES)
    RESULTS["elapsed_s"] = round(time.perf_counter() - T_START, 1)
    save(args.out)
    print(json.dumps(RESULTS, indent=1))


if __name__ == "__main__":
    main()
