"""Block-quantized weights against bf16 and f32 in the C++ engine (issue 14, "Benchmarks"). Not in CI.

For each checkpoint shape a random bf16 checkpoint is written with core/checkpoint_writer.py, then
turned by the project's own quantizer (core/cli_quantize.py, what `llada-studio quantize` runs) into
f32, Q8_0, Q4_0 and Q4_K GGUF files (every matrix of these shapes has rows of a multiple of 256, so
the Q4_K file is Q4_K throughout). The same weights are then timed in one process, formats alternated
round by round (the order rotated each round), medians over the rounds:

- `cached R` (R = 8, 16, 32): a dual-cache step of R rows in the sampler (`generate`, cache dual,
  canvas 256 = prompt 256-R + one block of R, `--steps` steps): the first step of the block is a
  full pass that stores the KV cache, the later ones are cached steps on the block's R rows; each
  cached step's time is the difference of the step events' elapsed times (the engine's clock).
- `full 256`: the block's first step, the full pass over the canvas of 256 that stores the cache
  (LM head on the block rows); `fwd 256`: `forward_logits` of 256 rows (LM head on all rows).
- `dual avg`: the per-step average of a run with blocks of 32 and 8 steps per block (1 full pass +
  7 cached steps), from the figures above: what bench_product_path.py's `--cache dual` reports.
- peak memory: a fresh child process per format loads the checkpoint, builds the engine and runs one
  dual-cache generation of canvas 256; VmHWM (peak resident set, mapped file pages included; it
  starts afresh at exec). resource.getrusage's ru_maxrss is kept in the json line only: Linux
  carries it across exec from the forked parent, so there it shows the parent's peak.

Ratios are speed-ups (time of bf16 or f32 / time of the format: > 1 is faster) and memory shares
(peak of the format / peak of bf16). Q6_K alone is not timed (`--formats` takes q6_k and q4_k_m too).

A format may name a kernel variant after an @ (kernel_variants.py: an ISA of the quantized kernels,
`q8_0@avx512vnni`; `nogemm`, `bf16@nogemm`: the many-row AMX-BF16 path off; `noamx`: no AMX at all): the same file
through a second engine, the variant set before each of its runs, so two kernels are timed side by
side in one process; without an @ the CPU's best is used.

With `--layers N` a shape keeps its width and vocabulary but has N blocks (for the 8B shape on a
machine or a time limit that cannot hold 32); the table then also gives the step extrapolated to
the shape's own layer count: the LM head's matrix product on R rows is timed alone
(`core._engine.matmul`), the rest scaled by layers (a cached step is weight-read bound, per layer).

    python tests/bench/bench_quant.py --models tiny --threads 2          # a check, seconds
    python tests/bench/bench_quant.py --models 600M,8B --layers 8B=8 --threads 16
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from llada_studio.core.checkpoint import load_checkpoint  # noqa: E402
from llada_studio.core.checkpoint_writer import random_checkpoint  # noqa: E402
from llada_studio.core.cli_quantize import quantize_checkpoint  # noqa: E402
from llada_studio.core.cpp_engine import CppEngine, _engine, default_threads  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_variants  # noqa: E402

SHAPES = {
    "tiny": dict(n_layers=2, d_model=256, n_heads=4, mlp_hidden_size=512, vocab_size=1024),
    "17M": dict(n_layers=8, d_model=384, n_heads=6, mlp_hidden_size=1024, vocab_size=8192),
    "100M": dict(n_layers=12, d_model=768, n_heads=12, mlp_hidden_size=2048, vocab_size=8192),
    "600M": dict(n_layers=16, d_model=1536, n_heads=12, mlp_hidden_size=4096, vocab_size=8192),
    # LLaDA-8B's shape (GSAI-ML/LLaDA-8B-Instruct config.json): 32 blocks, d 4096, 32 heads, MLP 12288.
    "8B": dict(n_layers=32, d_model=4096, n_heads=32, mlp_hidden_size=12288, vocab_size=126464),
}
FORMATS = ("f32", "bf16", "q8_0", "q4_0", "q4_k")
ROWS = (8, 16, 32)
CANVAS = 256


def prepare(name: str, layers: int, folder: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    """bf16 safetensors written once, the other formats quantized from it (in parallel)."""
    shape = dict(SHAPES[name], n_layers=layers)
    tag = f"{name}-L{layers}"
    bf16 = folder / f"{tag}-bf16"
    if not (bf16 / "config.json").is_file():
        t = time.perf_counter()
        random_checkpoint(bf16, dtype="bf16", seed=0, **shape)  # type: ignore[arg-type]
        print(f"wrote {bf16} in {time.perf_counter() - t:.0f} s", flush=True)
    paths = {"bf16": bf16}
    todo = []
    for fmt in formats:
        if fmt == "bf16":
            continue
        paths[fmt] = folder / f"{tag}-{fmt}.gguf"
        if not paths[fmt].is_file():
            todo.append(fmt)
    if todo:
        t = time.perf_counter()
        with ProcessPoolExecutor(max_workers=len(todo)) as pool:
            tmp = {f: paths[f].with_suffix(".part") for f in todo}
            for f, fut in [(f, pool.submit(quantize_checkpoint, bf16, tmp[f], f)) for f in todo]:
                fut.result()
                tmp[f].rename(paths[f])
        print(f"quantized {', '.join(todo)} in {time.perf_counter() - t:.0f} s (in parallel)", flush=True)
    return {f: paths[f] for f in formats}


def params_for(rows: int, steps: int) -> GenerationParams:
    return GenerationParams(max_steps=steps, gen_length=rows, block_length=rows, temperature=0.0, cache="dual")


def sampler_run(engine: CppEngine, rows: int, steps: int) -> tuple[float, list[float]]:
    """One dual-cache generation: (first step = full pass, [cached step times])."""
    prompt = np.random.default_rng(rows).integers(32, engine.ckpt.config.vocab_size, size=(1, CANVAS - rows))
    res = engine.generate(prompt, None, params_for(rows, steps))
    el = [ev.elapsed for ev in res.trajectory]
    return el[0], [b - a for a, b in zip(el, el[1:])]


def phases_of_cached_step(engine: CppEngine, rows: int, steps: int) -> dict[str, float]:
    """Seconds per phase of one cached step (csrc/phase_clock.h): a run of `steps` steps less a
    run of its first step alone (the full pass), over the steps - 1 cached steps."""
    def run(n: int) -> dict[str, float]:
        _engine.reset_phase_times()
        sampler_run(engine, rows, n)
        return _engine.phase_times()

    whole, first = run(steps), run(1)
    return {k: (whole[k] - first[k]) / (steps - 1) for k in whole}


def phase_table(phases: dict[tuple[str, int], list[dict[str, float]]]) -> None:
    """Where a cached step goes, medians over the rounds: the products of the layers, the LM head,
    attention, the rest of the forward pass, the proposals, the step callback, the rest."""
    print("\n| cached step | format | step ms | products | LM head | attention | rest of forward | propose | callback "
          "| rest |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (fmt, r), runs in phases.items():
        m = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
        rest_fwd = m["forward"] - m["products"] - m["head"] - m["attention"]
        rest = m["steps"] - m["forward"] - m["propose"] - m["callback"]
        cells = [m["steps"], m["products"], m["head"], m["attention"], rest_fwd, m["propose"], m["callback"], rest]
        print(f"| {r} rows | {fmt} | " + " | ".join(f"{c * 1e3:.1f}" for c in cells) + " |")


def head_time(engine: CppEngine, rows: int, threads: int, repeats: int = 3) -> float:
    """The LM head's matrix product on `rows` rows alone, best of `repeats`."""
    lm = engine.ckpt.lm_head()
    x = np.random.default_rng(0).standard_normal((rows, engine.ckpt.config.d_model)).astype(np.float32)
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        _engine.matmul(x, lm.data, lm.dtype, "auto", threads)
        times.append(time.perf_counter() - t)
    return min(times[1:])


CHILD = """
import json, resource, sys, numpy as np
sys.path.insert(0, {root!r})
sys.argv = ["child"]
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            return int(line.split()[1]) * 1024
    return 0
from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.cpp_engine import CppEngine
from llada_studio.core.params import GenerationParams
base = hwm()
ck = load_checkpoint({path!r})
e = CppEngine(ck, threads={threads})
loaded = hwm()
p = GenerationParams(max_steps=4, gen_length=32, block_length=32, temperature=0.0, cache="dual")
e.generate(np.full((1, {prompt}), 40, dtype=np.int64), None, p)
print(json.dumps(dict(base=base, loaded=loaded, peak=hwm(),
                      maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)))
"""


def peak_memory(path: Path, threads: int) -> dict[str, int]:
    code = CHILD.format(root=str(ROOT), path=str(path), threads=threads, prompt=CANVAS - 32)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def file_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.glob("*.safetensors"))
    return path.stat().st_size


def bench(
    name: str,
    layers: int,
    folder: Path,
    formats: tuple[str, ...],
    threads: int,
    rounds: int,
    steps: int,
    memory: bool = True,
    extrapolate: bool = True,
    phases: bool = False,
) -> None:
    full_layers = SHAPES[name]["n_layers"]
    kernel_variants.check(formats)
    bases = tuple(dict.fromkeys(f.partition("@")[0] for f in formats))
    paths = prepare(name, layers, folder, bases)
    paths.update({f: paths[f.partition("@")[0]] for f in formats})
    print(f"\n## {name} shape, {layers} of {full_layers} layers, {threads} threads, quant ISA {_engine.quant_isa()}")
    mem = {}
    for fmt in bases if memory else ():  # one child at a time, before the timing (nothing else running)
        mem[fmt] = peak_memory(paths[fmt], threads)
        print(
            f"memory {fmt}: peak {mem[fmt]['peak'] / 2**30:.2f} GiB, file {file_bytes(paths[fmt]) / 2**30:.2f} GiB",
            flush=True,
        )

    engines = {f: CppEngine(load_checkpoint(paths[f]), threads=threads) for f in formats}
    kernels = ", ".join(f"{f} {e.kernel}" for f, e in engines.items())
    print(f"kernels: {kernels}; BLAS: {engines[formats[0]].blas_status or 'loaded'}")
    cached: dict[tuple[str, int], list[float]] = {(f, r): [] for f in formats for r in ROWS}
    first: dict[str, list[float]] = {f: [] for f in formats}
    fwd: dict[str, list[float]] = {f: [] for f in formats}
    phase_runs: dict[tuple[str, int], list[dict[str, float]]] = {(f, r): [] for f in formats for r in ROWS}
    ids = np.random.default_rng(1).integers(32, SHAPES[name]["vocab_size"], size=(1, CANVAS))
    for rnd in range(rounds + 1):  # round 0 warms up (pages the weights in, sizes the buffers)
        order = formats[rnd % len(formats) :] + formats[: rnd % len(formats)]
        t0 = time.perf_counter()
        for fmt in order:
            e = engines[fmt]
            kernel_variants.use(kernel_variants.variant_of(fmt))
            for r in ROWS:
                f0, steps_t = sampler_run(e, r, steps)
                if rnd:
                    cached[(fmt, r)].extend(steps_t)
                    if r == 32:
                        first[fmt].append(f0)
                    if phases:
                        phase_runs[(fmt, r)].append(phases_of_cached_step(e, r, steps))
            t = time.perf_counter()
            e.forward_logits(ids)
            if rnd:
                fwd[fmt].append(time.perf_counter() - t)
        print(f"round {rnd} ({'warm-up' if rnd == 0 else 'timed'}): {time.perf_counter() - t0:.1f} s", flush=True)

    med = {k: statistics.median(v) for k, v in cached.items()}
    med_first = {f: statistics.median(v) for f, v in first.items()}
    med_fwd = {f: statistics.median(v) for f, v in fwd.items()}
    dual = {f: (med_first[f] + 7 * med[(f, 32)]) / 8 for f in formats}

    def ratios(t: dict[str, float], fmt: str) -> str:
        b = f"{t['bf16'] / t[fmt]:.2f}x" if "bf16" in t else "-"
        f = f"{t['f32'] / t[fmt]:.2f}x" if "f32" in t else "-"
        return f"{b} | {f}"

    print(f"\n| {name} (L{layers}) | format | ms | vs bf16 | vs f32 |")
    print("|---|---|---|---|---|")
    rows_of = [(f"cached {r}", {f: med[(f, r)] for f in formats}) for r in ROWS]
    rows_of += [("full 256 (store)", med_first), ("fwd 256", med_fwd), ("dual avg (32, 8/block)", dual)]
    for label, t in rows_of:
        for fmt in formats:
            print(f"| {label} | {fmt} | {t[fmt] * 1e3:.1f} | {ratios(t, fmt)} |")
    if phases:
        phase_table(phase_runs)
    print(f"\n| {name} (L{layers}) | format | file GiB | peak GiB (VmHWM) | after load GiB | vs bf16 |")
    print("|---|---|---|---|---|---|")
    for fmt in bases if memory else ():
        m = mem[fmt]
        share = f"{m['peak'] / mem['bf16']['peak']:.2f}" if "bf16" in mem else "-"
        print(
            f"| {name} | {fmt} | {file_bytes(paths[fmt]) / 2**30:.2f} | {m['peak'] / 2**30:.2f} "
            f"| {m['loaded'] / 2**30:.2f} | {share} |"
        )
    if layers != full_layers and extrapolate:
        scale = full_layers / layers
        print(f"\nextrapolated to {full_layers} layers: head + (step - head) x {scale:g}; head = LM head matmul alone")
        print("| format | head 32 rows ms | cached 32 ms | cached 8 ms | dual avg ms | full 256 ms | c32 vs bf16 |")
        print("|---|---|---|---|---|---|---|")
        ext = {}
        for fmt in formats:
            kernel_variants.use(kernel_variants.variant_of(fmt))
            h32, h8 = head_time(engines[fmt], 32, threads), head_time(engines[fmt], 8, threads)
            c32 = h32 + (med[(fmt, 32)] - h32) * scale
            c8 = h8 + (med[(fmt, 8)] - h8) * scale
            full = h32 + (med_first[fmt] - h32) * scale
            ext[fmt] = (h32, c32, c8, (full + 7 * c32) / 8, full)
        for fmt, (h32, c32, c8, d, full) in ext.items():
            vs = f"{ext['bf16'][1] / c32:.2f}x" if "bf16" in ext else "-"
            cells = " | ".join(f"{v * 1e3:.0f}" for v in (c32, c8, d, full))
            print(f"| {fmt} | {h32 * 1e3:.1f} | {cells} | {vs} |")
    summary = dict(
        model=name,
        layers=layers,
        threads=threads,
        cached={f"{f}/{r}": v for (f, r), v in med.items()},
        first=med_first,
        fwd=med_fwd,
        dual=dual,
        mem=mem,
    )
    print("json " + json.dumps(summary), flush=True)
    kernel_variants.reset()
    del engines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="600M", help=f"comma-separated, of {', '.join(SHAPES)}")
    ap.add_argument("--layers", default="", help="NAME=N[,NAME=N]: fewer blocks for a shape (e.g. 8B=8)")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--threads", type=int, default=0, help="engine threads (default: the CPUs this process may use)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds after one warm-up round")
    ap.add_argument("--steps", type=int, default=5, help="sampler steps per block (1 full pass + steps-1 cached)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory children (timing only)")
    ap.add_argument("--phases", action="store_true", help="also where each cached step's time goes (phase_clock.h)")
    ap.add_argument("--no-extrapolate", action="store_true", help="with --layers: skip the LM-head timing")
    ap.add_argument("--folder", default=str(ROOT / "work_data" / "bench" / "quant"))
    args = ap.parse_args()
    threads = args.threads or default_threads()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    layers = {k: int(v) for k, v in (p.split("=") for p in args.layers.split(",") if p)}
    formats = tuple(args.formats.split(","))
    print(
        f"bench_quant: {time.strftime('%Y-%m-%d %H:%M')}, python {sys.version.split()[0]}, "
        f"cpus {os.cpu_count()}, threads {threads}, quant ISA {_engine.quant_isa()}, rusage {resource.RUSAGE_SELF}"
    )
    for name in args.models.split(","):
        n_layers = layers.get(name, SHAPES[name]["n_layers"])
        bench(
            name,
            n_layers,
            folder,
            formats,
            threads,
            args.rounds,
            args.steps,
            not args.no_memory,
            not args.no_extrapolate,
            args.phases,
        )


if __name__ == "__main__":
    main()
