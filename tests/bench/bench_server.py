"""Issue 16 benchmark: the local server under 1, 2, 4 and 8 concurrent clients, on the bundled
model (CPU), with batching (requests that arrive together run as one padded batch) and without
(max_batch 1: one request at a time, the rest queue), and the same work straight through
Session.generate_ids with no server (engine-direct: one call per round on all the prompts).

Each client sends `--rounds` non-streamed /v1/completions requests one after another (a fresh
prompt each time, unseeded, the same sampler settings so they can share a batch); all clients
start together. Figures: wall time of the whole run, requests per second, generated tokens per
second (gen_length tokens per request), and per-request latency (mean, median, max) as the
client sees it, queueing included.

    python tests/bench/bench_server.py [--clients 1,2,4,8] [--rounds 2] [--tokens 64] [--threads 2]
        [--model DIR] [--engine auto|cpp|torch] [--device cpu]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere: the repo root first

import argparse
import platform
import statistics
import threading
import time
from datetime import datetime

import httpx

from llada_studio.core.params import recommended_params
from llada_studio.core.server import Limits, create_app
from llada_studio.core.server.runner import BackgroundServer
from llada_studio.core.session import Session
from llada_studio.core.training.evaluate import PROMPTS


def run(session: Session, clients: int, rounds: int, body: dict[str, object], max_batch: int) -> dict[str, float]:
    app = create_app(session, limits=Limits(max_batch=max_batch, max_queue=64))
    latencies: list[float] = []
    sizes: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    failures: list[str] = []

    def client(i: int, base: str) -> None:
        with httpx.Client(base_url=base, timeout=600) as http:
            start.wait()
            for k in range(rounds):
                prompt = PROMPTS[(i * rounds + k) % len(PROMPTS)]
                t0 = time.perf_counter()
                r = http.post("/completions", json=body | {"prompt": prompt})
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code != 200:
                        failures.append(r.text)
                        continue
                    latencies.append(dt)
                    sizes.append(r.json()["diffusion"]["batch_size"])

    with BackgroundServer(app) as url:
        threads = [threading.Thread(target=client, args=(i, url + "/v1")) for i in range(clients)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[0]}")
    n = len(latencies)
    tokens = n * int(body["max_tokens"])  # type: ignore[call-overload]
    return {
        "requests": n,
        "wall": wall,
        "rps": n / wall,
        "tps": tokens / wall,
        "mean": statistics.mean(latencies),
        "p50": statistics.median(latencies),
        "max": max(latencies),
        "batch": statistics.mean(sizes),
    }


def run_direct(session: Session, clients: int, rounds: int, body: dict[str, object]) -> dict[str, float]:
    """The same work without the server: each round is one Session.generate_ids call on all the
    clients' prompts (the ideal batch), for the server's overhead to be read against."""
    params = recommended_params().with_(
        gen_length=body["max_tokens"],
        max_steps=body["steps"],
        block_length=body["block_length"],
        cache=body["cache"],
        decoding=body["decoding"],
        factor=body["factor"],
    )
    latencies: list[float] = []
    t0 = time.perf_counter()
    for k in range(rounds):
        prompts = [session.encode(PROMPTS[(i * rounds + k) % len(PROMPTS)]) for i in range(clients)]
        t1 = time.perf_counter()
        session.generate_ids(prompts, params)
        latencies += [time.perf_counter() - t1] * clients
    wall = time.perf_counter() - t0
    n = clients * rounds
    tokens = n * params.gen_length
    return {"requests": n, "wall": wall, "rps": n / wall, "tps": tokens / wall, "mean": statistics.mean(latencies),
            "p50": statistics.median(latencies), "max": max(latencies), "batch": float(clients)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="1,2,4,8")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--block", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache", default="none")
    ap.add_argument("--decoding", default="fixed")
    ap.add_argument("--factor", type=float, default=1.0)
    ap.add_argument("--modes", default="batched,one-at-a-time,engine-direct")
    args = ap.parse_args()
    session = Session.open(args.model, engine=args.engine, device=args.device, threads=args.threads)
    model = session.checkpoint.name
    body: dict[str, object] = {
        "model": model,
        "max_tokens": args.tokens,
        "steps": args.tokens,
        "block_length": args.block,
        "temperature": 1.0,
        "cache": args.cache,
        "decoding": args.decoding,
        "factor": args.factor,
    }
    print(f"# {session.description}; {args.tokens} tokens, {args.tokens} steps, blocks of {args.block}, T 1.0,")
    print(f"# cache {args.cache}, decoding {args.decoding} (factor {args.factor:g}); {args.rounds} requests per client")
    print(f"# {platform.node()} {platform.machine()}")
    print(f"# {datetime.now():%Y-%m-%d %H:%M}")
    print(f"{'mode':<14} {'clients':>7} {'reqs':>5} {'wall s':>7} {'req/s':>6} {'tok/s':>6} "
          f"{'mean s':>7} {'p50 s':>6} {'max s':>6} {'batch':>5}")  # fmt: skip
    # The modes alternate for each client count, so a change in the machine's load hits both.
    for clients in (int(c) for c in args.clients.split(",")):
        for mode in args.modes.split(","):
            if mode == "engine-direct":
                r = run_direct(session, clients, args.rounds, body)
            else:
                r = run(session, clients, args.rounds, body, 8 if mode == "batched" else 1)
            print(
                f"{mode:<14} {clients:>7} {r['requests']:>5} {r['wall']:>7.2f} {r['rps']:>6.2f} {r['tps']:>6.1f} "
                f"{r['mean']:>7.2f} {r['p50']:>6.2f} {r['max']:>6.2f} {r['batch']:>5.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
