"""The LLaDA-8B-shaped checkpoint on the CPU through the product path (issue 13): the C++ engine via
`python -m llada_studio.core.cli generate --engine cpp` (what `llada-studio generate` runs) in a
fresh process, and via Session (the app worker's path: generate_ids on a fresh thread with a
step callback turning the tokens into texts). Load time, first-step and per-step times, plain and
dual cache, peak resident memory (VmHWM / ru_maxrss: the memory-mapped weights' pages count).

A full pass of the 8B shape takes seconds on a CPU, so the run is short: a 256-token prompt, one
block of 32 tokens, `--plain-steps` steps plain (every one a full pass) and `--dual-steps` steps
with the dual cache (a full pass that stores the cache, then cached steps of the block's rows).

    python3 tests/bench/bench_cpu8b.py --folder /tmp/llada8b-random --threads 16
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
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from llada_studio.core.events import CancelToken  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402
from llada_studio.core.session import Session  # noqa: E402


def vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def steps(trajectory: Any) -> dict[str, Any]:
    elapsed = [e.elapsed if hasattr(e, "elapsed") else e["elapsed"] for e in trajectory]
    diffs = [b - a for a, b in zip(elapsed, elapsed[1:])]
    return {
        "first_step_s": round(elapsed[0], 3),
        "later_steps_s": [round(d, 3) for d in diffs],
        "median_later_step_s": round(statistics.median(diffs), 3) if diffs else None,
        "steps": len(elapsed),
    }


def run_cli(cmd: list[str]) -> tuple[dict[str, Any], float, float]:
    """(the JSON record, process wall seconds, peak RSS GiB from os.wait4)."""
    out = Path(f"/tmp/bench_cpu8b_{os.getpid()}.json")
    t = time.perf_counter()
    with out.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(proc.stderr.read()[-2000:] if proc.stderr else "failed")
    record = json.loads(out.read_text().strip().splitlines()[-1])
    return record, wall, usage.ru_maxrss * 1024 / 2**30


def on_worker(session: Session, prompt: list[int], params: GenerationParams) -> Any:
    """Session.generate_ids on a fresh thread with a CancelToken and a step callback that makes
    the step's token texts, as app/worker.py runs it (without Qt)."""
    cancel = CancelToken()
    out: dict[str, Any] = {}

    def on_step(event: Any) -> bool:
        tuple(session.tokenizer.token_texts(event.tokens[0]))
        return not cancel.cancelled

    def work() -> None:
        out["result"] = session.generate_ids([prompt], params, on_step, cancel)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return out["result"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/llada8b-random"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--prompt-length", type=int, default=256)
    ap.add_argument("--gen-length", type=int, default=32)
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--plain-steps", type=int, default=3)
    ap.add_argument("--dual-steps", type=int, default=4)
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("cpu8b.json"))
    args = ap.parse_args()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "shape": {"prompt": args.prompt_length, "gen": args.gen_length, "block": args.block_length},
    }
    prompt = [int(t) for t in np.random.default_rng(0).integers(0, 120000, size=args.prompt_length)]

    def params(cache: str) -> GenerationParams:
        n = args.plain_steps if cache == "none" else args.dual_steps
        return GenerationParams(
            max_steps=n, gen_length=args.gen_length, block_length=args.block_length, temperature=0.0, cache=cache
        )

    # -- Session, as the worker drives it --------------------------------------------------------
    t = time.perf_counter()
    session = Session.open(args.folder, engine="cpp", threads=args.threads, memory_for=params("dual"))
    s: dict[str, Any] = {"load_s": round(time.perf_counter() - t, 2)}
    s["vmhwm_after_load_gib"] = round(vm("VmHWM") / 2**30, 2)
    s["kernel"] = getattr(session.engine, "kernel", "?")
    s["engine_threads"] = session.engine.threads
    results["session"] = s
    for cache in ("none", "dual"):
        t = time.perf_counter()
        result = on_worker(session, prompt, params(cache))
        s[cache] = {"generation_s": round(time.perf_counter() - t, 2), **steps(result.trajectory)}
        s[cache]["vmhwm_gib"] = round(vm("VmHWM") / 2**30, 2)
        print("session", cache, s[cache], flush=True)
        args.out.write_text(json.dumps(results, indent=1))

    # -- the command line, a fresh process each ------------------------------------------------
    if not args.skip_cli:
        for cache in ("none", "dual"):
            p = params(cache)
            cmd = [sys.executable, "-m", "llada_studio.core.cli", "generate", "--model", str(args.folder), "--json"]
            cmd += ["--prompt-ids", ",".join(map(str, prompt)), "--engine", "cpp", "--threads", str(args.threads)]
            cmd += ["--steps", str(p.max_steps), "--gen-length", str(p.gen_length)]
            cmd += ["--block-length", str(p.block_length), "--temperature", "0", "--cache", cache]
            try:
                record, wall, rss = run_cli(cmd)
                timings = record["timings"]
                results.setdefault("cli", {})[cache] = {
                    "process_wall_s": round(wall, 2),
                    "load_s": round(timings["load_s"], 2),
                    "generation_s": round(timings["total_s"], 2),
                    **steps(record["trajectory"]),
                    "peak_rss_gib": round(rss, 2),
                }
            except Exception as exc:  # noqa: BLE001 - keep the rest
                results.setdefault("cli", {})[cache] = {"error": str(exc)}
            print("cli", cache, results["cli"][cache], flush=True)
            args.out.write_text(json.dumps(results, indent=1))
    print("CPU8B " + json.dumps(results))


if __name__ == "__main__":
    main()
