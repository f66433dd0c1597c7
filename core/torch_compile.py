"""torch.compile for the CUDA passes: the switch and what it costs, for the window's setting.

On an NVIDIA GPU the torch engine replays each model pass as a CUDA graph; with compile on, each
pass is first compiled by torch.compile (core/torch_backend/cuda_graphs.py), which fuses the
norm, RoPE and gating element-wise kernels. The compile runs in the first generation of each
shape in a process, so that run is slower by tens of seconds; the following ones are faster.

This module imports no torch (the window may show the setting before any engine is loaded). The
switch is the environment variable that cuda_graphs reads when a generation starts, so turning it
on or off takes effect at the next generation, in this process and in child processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ENV = "LLADA_TORCH_COMPILE"


@dataclass(frozen=True)
class CompileCost:
    """Measured on one shape and GPU: the first generation's extra seconds (the compile, once per
    shape and process) and the later generations' speed-up over the same path uncompiled."""

    first_run_extra_s: float
    speedup: float
    where: str


_WHERE = "LLaDA-8B shape, one H200, 256 tokens after a 256-token prompt, blocks of 32 (tests/bench/RESULTS_gpu.md)"

# tests/bench/RESULTS_gpu.md, 2026-12-02 02:11 UTC (bench_gpu_product_path.py --compile): the
# plain figure was taken after the dual compile in the same process (some kernels may have been
# in the compile cache already); prefix was not measured, so it is given dual's figures.
COMPILE_COST: dict[str, CompileCost] = {
    "none": CompileCost(first_run_extra_s=20.2, speedup=1.35, where=_WHERE + ", plain"),
    "dual": CompileCost(first_run_extra_s=28.2, speedup=1.33, where=_WHERE + ", dual cache"),
}


def compile_enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def set_compile(enabled: bool) -> None:
    """Turn torch.compile on or off for the next generations (CUDA only; no effect on the CPU)."""
    os.environ[ENV] = "1" if enabled else "0"


def compile_cost(cache: str = "dual") -> CompileCost:
    """The measured cost for a cache mode ('none', 'prefix', 'dual'); prefix uses dual's."""
    return COMPILE_COST.get(cache, COMPILE_COST["dual"])


def describe_compile_cost(cache: str = "dual") -> str:
    """One line for the setting, e.g. 'first run +28 s (compiling), then 1.33x faster'."""
    c = compile_cost(cache)
    return f"first run +{c.first_run_extra_s:.0f} s (compiling), then {c.speedup:.2f}x faster ({c.where})"
