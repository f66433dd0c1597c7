"""bf16 and f16 against f32 on the ~600M random checkpoint at few rows (issue 3): 8, 16, 32 and 256
rows, batch 1, every kernel choice, each engine alternated and the best of 3 rounds kept.

With few rows a forward reads every weight for little arithmetic, so 16-bit weights can win by
moving half the bytes; with many rows both dtypes run the same f32 FMAs (this CPU has no bf16
arithmetic). Needs the checkpoints bench_engine.py writes (work_data/bench/600M-{f32,bf16,f16}).

    python tests/bench/bench_bf16_rows.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from llada_studio.core.checkpoint import load_checkpoint  # noqa: E402
from llada_studio.core.cpp_engine import CppEngine  # noqa: E402


def main() -> None:
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
