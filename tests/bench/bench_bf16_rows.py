"""bf16 and f16 against f32 on the ~600M random checkpoint at few rows (issue 3): 8, 16, 32 and 256
rows, batch 1, every kernel choice, each engine alternated and the best of 3 rounds kept.

With few rows a forward reads every weight for little arithmetic, so 16-bit weights can win by
moving half the bytes; with many rows both dtypes run the same f32 FMAs (this CPU has no bf16
arithmetic). Needs the checkpoints bench_engine.py writes (work_data/bench/600M-{f32,bf16,f16}).

    python tests/bench/bench_bf16_rows.py

`--paths`: the bf16 paths of csrc/bf16dot.* side by side in one process on one bf16 checkpoint
(issue 14: AMX-BF16 tiles, AVX-512 f32 FMAs, and the older f32 path = the weights converted to f32:
own AVX2 kernels up to 16 rows, OpenBLAS sgemm above), switched with `_engine.set_bf16_isa`
between runs, paths alternated and rotated round by round, medians:

- the product alone (`_engine.matmul`, kernel auto, the checkpoint's own matrices: q/o 4096x4096,
  gate 12288x4096, down 4096x12288, LM head), best of `--repeats`, at 8/16/32/64 rows;
- the dual-cache step of 8/16/32 rows in the sampler (bench_quant.py's method: canvas 256, the
  block's later steps), the full pass that stores the cache, and the step extrapolated to the
  shape's own layer count (LM head alone + the rest x 32 / layers).

    python tests/bench/bench_bf16_rows.py --paths --model 8B --layers 6 --threads 16 --folder /tmp/bq
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from llada_studio.core.checkpoint import load_checkpoint  # noqa: E402
from llada_studio.core.cpp_engine import CppEngine  # noqa: E402


def paths(model: str, layers: int, threads: int, rounds: int, steps: int, repeats: int, folder: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "bench"))
    from bench_quant import ROWS, SHAPES, prepare, sampler_run  # noqa: PLC0415

    from llada_studio.core import _engine  # noqa: PLC0415

    default = _engine.bf16_isa()
    isas = [i for i in ("f32", "avx512", "amx") if _engine.set_bf16_isa(i)]
    _engine.set_bf16_isa(default)
    print(f"bench_bf16_rows --paths: {time.strftime('%Y-%m-%d %H:%M')}, paths {isas}, default {default}", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    path = prepare(model, layers, folder, ("bf16",))["bf16"]
    ck = load_checkpoint(path)
    eng = CppEngine(ck, threads=threads)
    print(f"kernel {eng.kernel}; BLAS: {eng.blas_status or 'loaded'}", flush=True)

    p0 = "model.transformer.blocks.0."
    mats = {
        "q/o 4096x4096": ck.tensors[p0 + "q_proj.weight"],
        "gate 12288x4096": ck.tensors[p0 + "ff_proj.weight"],
        "down 4096x12288": ck.tensors[p0 + "ff_out.weight"],
        "LM head": ck.lm_head(),
    }
    rng = np.random.default_rng(0)
    prod: dict[tuple[str, int, str], float] = {}
    for name, t in mats.items():
        for r in (8, 16, 32, 64):
            x = rng.standard_normal((r, t.shape[1])).astype(np.float32)
            for isa in isas:
                _engine.set_bf16_isa(isa)
                times = []
                for _ in range(repeats + 1):
                    t0 = time.perf_counter()
                    _engine.matmul(x, t.data, t.dtype, "auto", threads)
                    times.append(time.perf_counter() - t0)
                prod[(name, r, isa)] = min(times[1:])
    print(f"\n| product ({threads} threads) | rows | " + " | ".join(f"{i} ms" for i in isas) + " | best vs f32 |")
    print("|---|---|" + "---|" * (len(isas) + 1))
    for name in mats:
        for r in (8, 16, 32, 64):
            cells = " | ".join(f"{prod[(name, r, i)] * 1e3:.2f}" for i in isas)
            print(f"| {name} | {r} | {cells} | {prod[(name, r, 'f32')] / prod[(name, r, isas[-1])]:.2f}x |")

    cached: dict[tuple[str, int], list[float]] = {(i, r): [] for i in isas for r in ROWS}
    first: dict[str, list[float]] = {i: [] for i in isas}
    for rnd in range(rounds + 1):  # round 0 warms up
        order = isas[rnd % len(isas) :] + isas[: rnd % len(isas)]
        t0 = time.perf_counter()
        for isa in order:
            _engine.set_bf16_isa(isa)
            for r in ROWS:
                f0, st = sampler_run(eng, r, steps)
                if rnd:
                    cached[(isa, r)].extend(st)
                    if r == 32:
                        first[isa].append(f0)
        print(f"round {rnd} ({'warm-up' if rnd == 0 else 'timed'}): {time.perf_counter() - t0:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in cached.items()}
    mf = {i: statistics.median(v) for i, v in first.items()}
    full_layers = SHAPES[model]["n_layers"]
    scale = full_layers / layers
    print(f"\n| {model} L{layers}, {threads} threads | " + " | ".join(f"{i} ms" for i in isas) + " | best vs f32 |")
    print("|---|" + "---|" * (len(isas) + 1))
    for label, t in [(f"cached {r}", {i: med[(i, r)] for i in isas}) for r in ROWS] + [("full 256 (store)", mf)]:
        cells = " | ".join(f"{t[i] * 1e3:.1f}" for i in isas)
        print(f"| {label} | {cells} | {t['f32'] / t[isas[-1]]:.2f}x |")
    if layers != full_layers:
        print(f"\nextrapolated to {full_layers} layers: head + (step - head) x {scale:g} (head: the LM head alone)")
        print("| step | " + " | ".join(f"{i} ms" for i in isas) + " | best vs f32 |")
        print("|---|" + "---|" * (len(isas) + 1))
        for r in ROWS:
            head = {i: prod[("LM head", r, i)] for i in isas}
            ext = {i: head[i] + (med[(i, r)] - head[i]) * scale for i in isas}
            cells = " | ".join(f"{ext[i] * 1e3:.0f}" for i in isas)
            print(f"| cached {r} | {cells} | {ext['f32'] / ext[isas[-1]]:.2f}x |")
    _engine.set_bf16_isa(default)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", action="store_true", help="the bf16 paths side by side (else the 600M dtypes)")
    ap.add_argument("--model", default="8B")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folder", default=str(ROOT / "work_data" / "bench" / "quant"))
    args = ap.parse_args()
    if args.paths:
        paths(args.model, args.layers, args.threads, args.rounds, args.steps, args.repeats, Path(args.folder))
    else:
        dtypes()


def dtypes() -> None:
    rng = np.random.default_rng(0)
    engines = {}
    for dt in ("f32", "bf16", "f16"):
        ck = load_checkpoint(ROOT / "work_data" / "bench" / f"600M-{dt}")
        for k in ("auto", "blas", "own"):
            engines[(dt, k)] = CppEngine(ck, threads=2, kernel=k)
    for L in (8, 16, 32, 256):
        ids = rng.integers(0, 8192, size=(1, L))
        best: dict[tuple[str, str], float] = {}
        for rnd in range(4 if L < 256 else 2):  # round 0 warms up
            for key, e in engines.items():
                if L == 256 and key[1] != "auto":
                    continue
                t = time.perf_counter()
                e.forward_logits(ids)
                elapsed = time.perf_counter() - t
                if rnd:
                    best[key] = min(best.get(key, float("inf")), elapsed)
        f32 = best[("f32", "auto")]
        cells = "  ".join(f"{d}/{k} {v * 1000:.0f} ms ({f32 / v:.2f}x)" for (d, k), v in best.items())
        print(f"L {L}: {cells}", flush=True)


if __name__ == "__main__":
    main()
