"""Models > Quantize…: what a quantized copy of a library model will be (formats, file name, size)
and whether the disk can take it, before core's quantizer runs on a thread
(core/cli_quantize.py, the same as `llada-studio quantize`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from llada_studio.core.model_library import ModelEntry, library_dir

# The formats offered, with bits per weight (for the size estimate) and a one-line description.
FORMATS: tuple[tuple[str, float, str], ...] = (
    ("q8_0", 8.5, "8-bit: closest to the original, about 0.53x of bf16"),
    ("q4_k_m", 4.9, "4-bit K-quants, some 6-bit (llama.cpp's usual choice), about 0.31x"),
    ("q6_k", 6.6, "6-bit K-quants, about 0.41x"),
    ("q4_k", 4.5, "4-bit K-quants, about 0.28x"),
    ("q4_0", 4.5, "4-bit, the simplest, about 0.28x"),
)
BITS_OF_DTYPE = {"f32": 32.0, "bf16": 16.0, "f16": 16.0}


@dataclass(frozen=True)
class QuantizePlan:
    source: Path
    target: Path
    qtype: str
    estimated_bytes: int


def can_quantize(entry: ModelEntry) -> str | None:
    """None when the entry can be quantized, else why not (shown on the disabled button)."""
    if entry.problem:
        return f"{entry.name} cannot be opened: {entry.problem}"
    if entry.path.suffix.lower() == ".gguf" or entry.dtype not in BITS_OF_DTYPE:
        return f"{entry.name} is already quantized ({entry.dtype or 'unknown format'}); quantize the original"
    return None


def plan_quantize(entry: ModelEntry, qtype: str, folder: Path | None = None) -> QuantizePlan:
    """Where the copy goes (the library, `<name>-<TYPE>.gguf`) and about how large it will be.
    ValueError with what to do when the file exists or the disk lacks the space."""
    bits = dict((f, b) for f, b, _ in FORMATS)[qtype]
    out_dir = folder or library_dir()
    target = out_dir / f"{entry.name}-{qtype.upper()}.gguf"
    if target.exists():
        raise ValueError(f"{target} exists already: open it, or delete it to quantize again")
    estimated = int(entry.size_bytes * bits / BITS_OF_DTYPE[entry.dtype])
    out_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out_dir).free
    if free < estimated * 1.1:
        raise ValueError(f"{out_dir} has {free / 1e9:.1f} GB free; the {qtype} copy needs about "
                         f"{estimated / 1e9:.1f} GB: free some space first")
    return QuantizePlan(entry.path, target, qtype, estimated)
