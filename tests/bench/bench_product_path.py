"""The product path against the raw engine on the same shapes, side by side in one run (issue 14,
"First: the product path's own speed"). Not in CI.

For each random checkpoint (bench_engine.py's shapes, vocab 8192) and dtype, one generation of
canvas 272 (prompt 16 + 256 tokens, blocks of 32, T 0) is timed per step through:

- `engine`: the C++ loop alone (`core._engine.Engine.generate`, no step callback);
- `session`: `Session.generate_ids` with a step callback, on a worker thread (the app's worker
  path without Qt: the window runs it the same way);
- `cli`: `python -m app generate ... --json` in a fresh process (what `llada-studio generate`
  runs), its own per-step timing (load excluded);
- `forward`: one `forward_logits` of the canvas (what bench_engine.py reports).

The paths are alternated round by round; medians are printed with the ratio to `engine` and the
CPU time per wall second of the in-process paths (about the thread count when the pool's threads
all ran; much less says the machine was busy: read the ratios, not the times, then).

    python tests/bench/bench_product_path.py --models 17M,100M --dtypes f32,bf16
    python tests/bench/bench_product_path.py --models 600M --cache dual --threads 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench_shapes import VOCAB, checkpoint  # noqa: E402  (tests/bench, beside this script)

from llada_studio.core.checkpoint import load_checkpoint  # noqa: E402
from llada_studio.core.cpp_engine import CppEngine, generate_params  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402
from llada_studio.core.session import Session  # noqa: E402

PROMPT = 16
GEN = 256
BLOCK = 32


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def on_worker(fn: Callable[[], object]) -> Callable[[], None]:
    """Runs fn on a fresh thread and waits, as the app's worker does."""

    def run() -> None:
        t = threading.Thread(target=fn)
        t.start()
        t.join()

    return run


def cli_step(path: Path, prompt: list[int], args: argparse.Namespace) -> float:
    cmd = [sys.executable, "-m", "app", "generate", "--model", str(path), "--json"]
    cmd += ["--prompt-ids", ",".join(map(str, prompt)), "--steps", str(args.steps), "--gen-length", str(GEN)]
    cmd += ["--block-length", str(BLOCK), "--temperature", "0", "--threads", str(args.threads), "--cache", args.cache]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    timings = json.loads(out.strip().splitlines()[-1])["timings"]
    return float(timings["per_step_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="17M,100M")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=16, help="steps for the 256 tokens (multiple of 8)")
    ap.add_argument("--cache", default="none", choices=("none", "prefix", "dual"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-cli", action="store_true", help="skip the subprocess path")
    ap.add_argument("--folder", default=str(ROOT / "work_data" / "bench"))
    args = ap.parse_args()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    print(
        f"# product path vs engine, {time.strftime('%Y-%m-%d %H:%M')}, {args.threads} threads, canvas "
        f"{PROMPT + GEN}, {args.steps} steps, blocks of {BLOCK}, cache {args.cache}, {os.cpu_count()} CPUs"
    )
    print(
        "| model | dtype | kernel | engine ms/step | session ms/step (x) | cli ms/step (x) | forward ms (x) "
        "| CPU/wall engine, session |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    prompt = [int(t) for t in rng.integers(32, VOCAB - 64, size=PROMPT)]
    params = GenerationParams(
        max_steps=args.steps, gen_length=GEN, block_length=BLOCK, temperature=0.0, cache=args.cache
    )
    for name in args.models.split(","):
        for dtype in args.dtypes.split(","):
            path = checkpoint(name, dtype, folder)
            ck = load_checkpoint(path)
            eng = CppEngine(ck, threads=args.threads)
            session = Session(ck, eng)
            ids = np.array([prompt], dtype=np.int64)
            canvas = np.concatenate([ids, np.full((1, GEN), ck.mask_id, dtype=np.int64)], axis=1)
            raw = generate_params(params, ck.mask_id, ck.eos_id, ck.eot_id)  # the bound C++ struct
            paths: dict[str, Callable[[], object]] = {
                "engine": lambda: eng._engine.generate(ids, None, raw, None, None),  # noqa: B023
                "session": on_worker(lambda: session.generate_ids([prompt], params, lambda e: None)),  # noqa: B023
                "forward": lambda: eng.forward_logits(canvas),  # noqa: B023
            }
            per_step = {"engine": args.steps, "session": args.steps, "forward": 1}
            times: dict[str, list[float]] = {k: [] for k in [*paths, "cli"]}
            cpu: dict[str, list[float]] = {k: [] for k in paths}
            for r in range(args.rounds + 1):  # round 0 warms up (pages the weights in)
                for key, fn in paths.items():
                    w, c = timed(fn)
                    if r:
                        times[key].append(w / per_step[key])
                        cpu[key].append(c / w)
                if r and not args.no_cli:
                    times["cli"].append(cli_step(path, prompt, args))
            med = {k: statistics.median(v) * 1e3 for k, v in times.items() if v}
            base = med["engine"]
            cli = f"{med['cli']:.0f} ({med['cli'] / base:.2f}x)" if "cli" in med else "-"
            print(
                f"| {name} | {dtype} | {eng.kernel} | {base:.0f} | {med['session']:.0f} ({med['session'] / base:.2f}x) "
                f"| {cli} | {med['forward']:.0f} ({med['forward'] / base:.2f}x) "
                f"| {statistics.median(cpu['engine']):.2f}, {statistics.median(cpu['session']):.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
