"""Will this model fit? The memory a load and a generation need, against what the machine has.

Counted (bytes): the weights as the engine holds them (the C++ engine maps the file in its stored
dtype; the torch engine upcasts to float32 on the CPU and keeps the stored dtype on a GPU), the
block KV cache (every layer's keys and values for the canvas; the CUDA graphs keep a second copy),
the activations of one forward pass over the canvas (hidden states, the MLP's three
[rows, mlp_hidden] products, the logits in float32), all times the batch and doubled by
classifier-free guidance, plus a fixed runtime overhead (a CUDA context, the process). Available:
MemAvailable in /proc/meminfo (RAM the kernel can hand out without swapping; other systems: the
free physical pages), or torch.cuda.mem_get_info on a GPU.

A model that will not fit is refused before its weights are read (`MemoryEstimate.require`), with
the figures and what to change: swapping an 8B model in would stall the machine for minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import Checkpoint
from .errors import EngineUnavailableError

GIB = 1 << 30
DTYPE_BYTES = {"f32": 4, "f16": 2, "bf16": 2}
CPU_OVERHEAD = GIB // 2  # the interpreter, numpy, tokenizers, the engine's own buffers
CUDA_OVERHEAD = GIB  # the CUDA context, cuBLAS workspaces, the caching allocator's slack
HEADROOM = 1.10  # 10 % margin on the counted buffers (allocator rounding, temporaries)
ENV_SKIP = "LLADA_SKIP_MEMORY_CHECK"  # "1": never refuse (the estimate is still computed)


class InsufficientMemoryError(EngineUnavailableError):
    """The model would not fit in the memory available (the message has the figures and what to
    change). An EngineUnavailableError, so the CLI and the window report it like one."""

    def __init__(self, estimate: MemoryEstimate) -> None:
        self.estimate = estimate
        super().__init__(estimate.refusal())


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


@dataclass(frozen=True)
class MemoryEstimate:
    """What a model needs on one device, in bytes, and what that device has free."""

    model: str
    device: str  # "cpu" or "cuda[:N]"
    engine: str
    weights: int
    kv_cache: int
    activations: int
    overhead: int
    available: int | None  # None: unknown (then nothing is refused)
    canvas_tokens: int
    rows: int  # batch x (2 with CFG)

    @property
    def total(self) -> int:
        return int((self.weights + self.kv_cache + self.activations) * HEADROOM) + self.overhead

    @property
    def fits(self) -> bool:
        return self.available is None or self.total <= self.available

    def describe(self) -> str:
        where = "RAM" if self.device == "cpu" else f"GPU memory ({self.device})"
        have = "unknown" if self.available is None else gib(self.available)
        return (
            f"{self.model} on {self.device} ({self.engine} engine) needs about {gib(self.total)} of {where}: "
            f"weights {gib(self.weights)}, KV cache {gib(self.kv_cache)}, activations {gib(self.activations)} "
            f"({self.rows} row(s) x {self.canvas_tokens} tokens), runtime {gib(self.overhead)}; available {have}"
        )

    def suggestions(self) -> list[str]:
        tips = []
        if self.rows > 1:
            tips.append("turn CFG off or generate fewer prompts at once")
        if self.canvas_tokens > 512:
            tips.append("shorten the generation length or the prompt")
        if self.kv_cache:
            tips.append("use --cache none (no block KV cache)")
        if self.device == "cpu" and self.engine == "torch":
            tips.append("use the C++ engine (weights stay in their stored dtype, not float32)")
        if self.device != "cpu":
            tips.append("use the CPU (C++ engine) if it has the RAM")
        else:
            tips.append("close other programs, or use a machine or GPU with more memory")
        tips.append(f"or set {ENV_SKIP}=1 to load anyway (the system may swap)")
        return tips

    def refusal(self) -> str:
        return f"will not fit: {self.describe()}. To fit: " + "; ".join(self.suggestions())

    def require(self) -> None:
        """Raise InsufficientMemoryError unless the model fits (or LLADA_SKIP_MEMORY_CHECK=1)."""
        if not self.fits and os.environ.get(ENV_SKIP, "") in ("", "0"):
            raise InsufficientMemoryError(self)


def available_memory(device: str = "cpu") -> int | None:
    """Bytes free for a new load: MemAvailable on Linux, free physical pages elsewhere, or the
    GPU's free memory (torch.cuda.mem_get_info) for "cuda[:N]"; None when it cannot be read."""
    if device.startswith("cuda"):
        try:
            import torch

            if not torch.cuda.is_available():
                return None
            index = int(device.split(":", 1)[1]) if ":" in device else torch.cuda.current_device()
            free, _total = torch.cuda.mem_get_info(index)
            return int(free)
        except (ImportError, RuntimeError, ValueError):
            return None
    meminfo = Path("/proc/meminfo")
    try:
        for line in meminfo.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # macOS and other POSIX systems: the free physical pages (an under-estimate)
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def estimate_memory(
    ckpt: Checkpoint,
    engine: str,
    device: str = "cpu",
    canvas_tokens: int = 512,
    batch: int = 1,
    cfg: bool = False,
    cache: str = "none",
    block_length: int = 32,
    available: int | None = None,
    measure_available: bool = True,
) -> MemoryEstimate:
    """The memory `ckpt` needs with `engine` ("cpp" or "torch") on `device` for a canvas of
    `canvas_tokens` (prompt + generation) and `batch` prompts. `available` overrides the
    measured figure (tests, or a planner asking about another machine)."""
    c = ckpt.config
    rows = batch * (2 if cfg else 1)
    stored = DTYPE_BYTES.get(ckpt.weight_dtype, 4)
    on_gpu = device != "cpu"
    if engine == "torch" and not on_gpu:
        weights, act_bytes = ckpt.num_parameters * 4, 4  # upcast to float32 on the CPU
    elif engine == "torch":
        weights, act_bytes = ckpt.num_parameters * stored, stored
    else:
        weights, act_bytes = ckpt.file_bytes, 4  # mapped as stored; the C++ engine computes in f32
    kv_per_token = 2 * c.n_layers * c.n_kv_heads * c.head_dim * act_bytes
    kv = 0
    if cache != "none":
        kv = rows * canvas_tokens * kv_per_token * (2 if on_gpu else 1)  # the graphs' cache copy
    hidden = rows * canvas_tokens * (6 * c.d_model + 3 * c.mlp_hidden_size) * act_bytes
    layer_kv = rows * canvas_tokens * 2 * c.n_kv_heads * c.head_dim * act_bytes
    # Logits in float32: the torch sampler keeps only the block's rows (plus float64 softmax);
    # the C++ engine and a plain forward_logits write the whole canvas.
    logit_rows = rows * block_length * 3 if engine == "torch" else rows * canvas_tokens
    logits = logit_rows * c.embedding_size * 4
    activations = hidden + layer_kv + logits
    if available is None and measure_available:
        available = available_memory(device)
    return MemoryEstimate(
        model=ckpt.name,
        device=device,
        engine=engine,
        weights=int(weights),
        kv_cache=int(kv),
        activations=int(activations),
        overhead=CUDA_OVERHEAD if on_gpu else CPU_OVERHEAD,
        available=available,
        canvas_tokens=canvas_tokens,
        rows=rows,
    )
