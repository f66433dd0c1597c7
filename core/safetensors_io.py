"""Reading and writing safetensors files: header validation and memory-mapped tensor views.

We parse the (simple, documented) format ourselves rather than through the `safetensors`
package because (1) numpy has no bfloat16, and weights must stay in their stored dtype, and
(2) every defect must become an error naming the file and the tensor. The test suite reads
our files back with the `safetensors` package to keep the two honest.

Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
data_offsets: [begin, end]}, "__metadata__": {...}}, then the data; offsets are relative to
the end of the header.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError

# safetensors dtype -> (our short name, numpy storage dtype). bf16 is stored as raw uint16.
DTYPES: dict[str, tuple[str, np.dtype]] = {
    "F32": ("f32", np.dtype("<f4")),
    "F16": ("f16", np.dtype("<f2")),
    "BF16": ("bf16", np.dtype("<u2")),
}
SHORT_TO_SAFETENSORS = {short: name for name, (short, _) in DTYPES.items()}
MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorView:
    """A tensor inside a memory-mapped file, in its stored dtype (bf16 as uint16 bits)."""

    name: str
    dtype: str  # "f32" | "f16" | "bf16"
    shape: tuple[int, ...]
    data: np.ndarray  # storage view into the mmap, dtype float32 / float16 / uint16
    file: Path

    def to_float32(self) -> np.ndarray:
        """An f32 copy (tests and small tensors only: the engines read `data` in place)."""
        if self.dtype == "bf16":
            return (self.data.astype(np.uint32) << 16).view(np.float32).reshape(self.shape)
        return self.data.astype(np.float32).reshape(self.shape)


def read_header(path: Path) -> tuple[dict[str, Any], int, int]:
    """Validate and return (header, data_start, data_size) of a safetensors file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(path, f"cannot read weights file: {exc}") from exc
    if size < 8:
        raise CheckpointError(path, f"truncated weights file ({size} bytes, not even a header)")
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
            raise CheckpointError(
                path,
                f"header length {header_len} reaches past the end of the file ({size} bytes): "
                "the file is truncated or not a safetensors file",
            )
        raw = fh.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"malformed safetensors header JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointError(path, "safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    data_start = 8 + header_len
    return header, data_start, size - data_start


def _check_entry(path: Path, name: str, entry: Any, data_size: int) -> tuple[str, tuple[int, ...], int, int]:
    if not isinstance(entry, dict):
        raise CheckpointError(path, f"tensor {name!r}: header entry is not an object")
    dtype = entry.get("dtype")
    if dtype not in DTYPES:
        raise CheckpointError(path, f"tensor {name!r}: dtype {dtype!r} is not supported (use F32, BF16 or F16)")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise CheckpointError(path, f"tensor {name!r}: malformed shape {shape!r}")
    offsets = entry.get("data_offsets")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise CheckpointError(path, f"tensor {name!r}: malformed data_offsets {offsets!r}")
    begin, end = offsets
    nbytes = int(np.prod(shape, dtype=np.int64)) * DTYPES[dtype][1].itemsize
    if end - begin != nbytes:
        raise CheckpointError(
            path,
            f"tensor {name!r}: data_offsets span {end - begin} bytes but shape {shape} in {dtype} needs {nbytes}",
        )
    if end > data_size:
        raise CheckpointError(
            path,
            f"tensor {name!r} reaches past the end of the file (byte {end} of {data_size} data "
            "bytes): the file is truncated",
        )
    return DTYPES[dtype][0], tuple(shape), begin, end


def open_safetensors(path: Path) -> dict[str, TensorView]:
    """Validate a safetensors file and map its tensors without copying them."""
    header, data_start, data_size = read_header(path)
    spans: list[tuple[int, int, str]] = []
    checked: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    for name, entry in header.items():
        checked[name] = _check_entry(path, name, entry, data_size)
        spans.append((checked[name][2], checked[name][3], name))
    spans.sort()
    for (_, e0, n0), (b1, _, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise CheckpointError(path, f"tensors {n0!r} and {n1!r} overlap in the file")
    tensors: dict[str, TensorView] = {}
    if not checked:
        return tensors
    # mode "c": copy-on-write, so frameworks that insist on writable buffers get one
    # without copying the file; nothing is ever written back.
    mm = (
        np.memmap(path, dtype=np.uint8, mode="c", offset=data_start, shape=(data_size,))
        if data_size
        else np.zeros(0, np.uint8)
    )
    for name, (dtype, shape, begin, end) in checked.items():
        storage = DTYPES[SHORT_TO_SAFETENSORS[dtype]][1]
        arr = mm[begin:end].view(storage).reshape(shape)
        tensors[name] = TensorView(name=name, dtype=dtype, shape=shape, data=arr, file=path)
    return tensors


def float32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even f32 -> bf16, returned as uint16 bits."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + rounding) >> 16).astype(np.uint16)


def save_safetensors(
    path: Path, tensors: Mapping[str, np.ndarray], dtype: str = "f32", metadata: dict[str, str] | None = None
) -> None:
    """Write f32 arrays as one safetensors file in `dtype` ("f32", "f16" or "bf16")."""
    if dtype not in SHORT_TO_SAFETENSORS:
        raise ValueError(f"dtype must be one of {list(SHORT_TO_SAFETENSORS)}, got {dtype!r}")
    header: dict[str, Any] = {"__metadata__": metadata or {"format": "pt"}}
    blobs: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        if dtype == "bf16":
            raw = float32_to_bf16_bits(array).tobytes()
        else:
            raw = np.ascontiguousarray(array, dtype=DTYPES[SHORT_TO_SAFETENSORS[dtype]][1]).tobytes()
        header[name] = {
            "dtype": SHORT_TO_SAFETENSORS[dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # keep the data 8-byte aligned
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(encoded)))
        fh.write(encoded)
        for raw in blobs:
            fh.write(raw)
