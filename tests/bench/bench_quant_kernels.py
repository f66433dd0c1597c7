"""The matrix product alone (`core._engine.matmul`, issue 14): quantized weights against bf16 and
f32 with kernel "auto" as the engine runs them (bf16: own kernels up to 16 rows, else OpenBLAS;
f32: OpenBLAS sgemm), LLaDA-8B's two weight
shapes (4096 x 4096, 12288 x 4096), 8/16/32/256 rows, best of `--repeats` after a warm-up. Prints
ms, multiply-adds per second and weight bytes read per second. Not in CI.

    python tests/bench/bench_quant_kernels.py --threads 16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf.quants import quantize  # noqa: E402

from llada_studio.core.cpp_engine import _engine, load_blas  # noqa: E402
from llada_studio.core.kquant import quantize_k  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_variants  # noqa: E402

SHAPES = ((4096, 4096), (12288, 4096))
ROWS = (8, 16, 32, 256)


def weights(w: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    bf16 = (w.view(np.uint32) >> 16).astype(np.uint16)
    return {
        "f32": (w, "auto"),
        "bf16": (bf16, "auto"),
        "q8_0": (quantize(w, Q.Q8_0), "own"),
        "q4_0": (quantize(w, Q.Q4_0), "own"),
        "q4_k": (quantize_k(w, "q4_k"), "own"),
        "q6_k": (quantize_k(w, "q6_k"), "own"),
    }


def best_time(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--isas",
        default="",
        help="kernel variants to time side by side (kernel_variants.py), e.g. amx,avx512vnni,nogemm",
    )
    ap.add_argument("--rows", default=",".join(map(str, ROWS)))
    ap.add_argument("--formats", default="", help="comma-separated subset (default: all)")
    args = ap.parse_args()
    best = _engine.quant_isa()
    isas = [i for i in args.isas.split(",") if i] or [best]
    kernel_variants.check([f"q@{i}" for i in isas])
    rows_list = [int(r) for r in args.rows.split(",")]
    wanted = [f for f in args.formats.split(",") if f]
    print(f"BLAS: {load_blas() or 'loaded'}; quant ISA {_engine.quant_isa()}; threads {args.threads}")
    print("| N x K | rows | format | ms | GMAC/s | weight GB/s | vs bf16 | vs f32 |")
    print("|---|---|---|---|---|---|---|---|")
    for N, K in SHAPES:
        w = np.random.default_rng(0).standard_normal((N, K)).astype(np.float32)
        ws = {n: v for n, v in weights(w).items() if not wanted or n in wanted or n in ("bf16", "f32")}
        # a quantized format once per variant ("q8_0@amx"); f32 does not depend on it, bf16 only
        # on nogemm (the many-row AMX path off) and noamx
        bf16_runs = [best] + [v for v in (kernel_variants.NO_GEMM, kernel_variants.NO_AMX) if v in isas]
        runs = [(n, i) for n in ws for i in (isas if n.startswith("q") else bf16_runs if n == "bf16" else [best])]
        for rows in rows_list:
            x = np.random.default_rng(rows).standard_normal((rows, K)).astype(np.float32)
            t = {}
            for name, isa in runs:
                arr, kernel = ws[name]
                kernel_variants.use(isa)
                run = lambda x=x, a=arr, n=name, k=kernel: _engine.matmul(x, a, n, k, args.threads)  # noqa: E731
                t[(name, isa)] = best_time(run, args.repeats)
            kernel_variants.reset()
            tb, tf = t[("bf16", best)], t[("f32", best)]
            for name, isa in runs:
                arr = ws[name][0]
                label = f"{name}@{isa}" if isa != best or (name.startswith("q") and len(isas) > 1) else name
                s = t[(name, isa)]
                print(
                    f"| {N}x{K} | {rows} | {label} | {s * 1e3:.2f} | {rows * N * K / s / 1e9:.0f} "
                    f"| {arr.nbytes / s / 1e9:.1f} | {tb / s:.2f}x | {tf / s:.2f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
