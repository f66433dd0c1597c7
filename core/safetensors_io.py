"""Reading and writing safetensors files: header validation and memory-mapped tensor views.

We parse the (simple, documented) format ourselves rather than through the `safetensors`
package because (1) numpy has no bfloat16, and weights must stay in their stored dtype, and
(2) every defect must become an error naming the file and the tensor. The test suite reads
our files back with the `safetensors` package to keep the two honest.

Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data; offsets are relative to
the end of the header.

What this reader accepts, decided against the format's own rules (the safetensors crate's
validation) and the malformed-input corpus in tests/core/malformed/:
- The data must be fully indexed: tensors tile the byte buffer from 0 to its end with no gap,
  no overlap and nothing after the last tensor (the format forbids holes so a file cannot be a
  polyglot; a file with a huge sparse tail is refused here before anything is mapped).
- Header: a JSON object without duplicate keys, NaN/Infinity or deep nesting; `__metadata__`
  maps strings to strings; shapes are lists of non-negative integers (not booleans) whose
  byte size is computed exactly (no int64 wrap-around) and must equal the offsets' span.
- Misaligned tensors (a start that is not a multiple of the element size, which the format
  allows) are accepted and copied into aligned memory: engines never read an unaligned float.
  Files written by this project and by the safetensors package are aligned, so nothing is
  copied for them.
- Weights are mapped read-only (mode "r": a shared read-only mapping, not copy-on-write), so
  a file larger than RAM + swap still opens; nothing may write into them.

The file is validated completely (`read_table`) before anything is mapped (`map_tensors`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, regular_file_size, shown

# safetensors dtype -> (our short name, numpy storage dtype). bf16 is stored as raw uint16.
DTYPES: dict[str, tuple[str, np.dtype]] = {
    "F32": ("f32", np.dtype("<f4")),
    "F16": ("f16", np.dtype("<f2")),
    "BF16": ("bf16", np.dtype("<u2")),
}
# Dtypes of the format we do not run (named so the message says "not supported", not "unknown").
OTHER_DTYPES = ("F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL", "F8_E4M3", "F8_E5M2")
SHORT_TO_SAFETENSORS = {short: name for name, (short, _) in DTYPES.items()}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors crate's limit
MAX_RANK = 8
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class TensorEntry:
    """One validated header entry: where a tensor lies in the data buffer."""

    name: str
    dtype: str  # "f32" | "f16" | "bf16"
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class SafetensorsTable:
    """A validated safetensors header; nothing mapped yet."""

    path: Path
    entries: dict[str, TensorEntry]
    data_start: int
    data_size: int
    metadata: dict[str, str]


@dataclass(frozen=True)
class TensorView:
    """A tensor inside a memory-mapped file, in its stored dtype (bf16 as uint16 bits)."""

    name: str
    dtype: str  # "f32" | "f16" | "bf16"
    shape: tuple[int, ...]
    data: np.ndarray  # read-only storage view into the mmap, dtype float32 / float16 / uint16
    file: Path

    def to_float32(self) -> np.ndarray:
        """An f32 copy (tests and small tensors only: the engines read `data` in place)."""
        if self.dtype == "bf16":
            return (self.data.astype(np.uint32) << 16).view(np.float32).reshape(self.shape)
        return self.data.astype(np.float32).reshape(self.shape)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {shown(key)}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_header_json(raw: bytes, path: Path) -> dict[str, Any]:
    """The header bytes as a JSON object, or a CheckpointError saying what is wrong."""
    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise CheckpointError(
            path, f"malformed safetensors header: not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from exc
    except RecursionError as exc:
        raise CheckpointError(path, "malformed safetensors header JSON: nested too deep") from exc
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, integers of 4300+ digits
        raise CheckpointError(path, f"malformed safetensors header JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointError(path, f"safetensors header is not a JSON object (got {type(header).__name__})")
    return header


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_entry(path: Path, name: str, entry: Any, data_size: int) -> TensorEntry:
    """Validate one header entry against the data buffer's size."""
    where = f"tensor {shown(name)}"
    if not isinstance(entry, dict):
        raise CheckpointError(path, f"{where}: header entry is not an object (got {shown(entry)})")
    dtype = entry.get("dtype")
    if not isinstance(dtype, str):
        raise CheckpointError(path, f"{where}: 'dtype' must be a string such as \"BF16\", got {shown(dtype)}")
    if dtype not in DTYPES:
        what = "is not supported" if dtype in OTHER_DTYPES else "is not a safetensors dtype"
        raise CheckpointError(path, f"{where}: dtype {shown(dtype)} {what} (use F32, BF16 or F16)")
    shape = entry.get("shape")
    if not isinstance(shape, list) or len(shape) > MAX_RANK:
        raise CheckpointError(path, f"{where}: 'shape' must be a list of at most {MAX_RANK} sizes, got {shown(shape)}")
    for d in shape:
        if not _is_int(d) or not 0 <= d <= INT64_MAX:
            raise CheckpointError(
                path, f"{where}: 'shape' {shown(shape)} holds {shown(d)}; sizes are integers from 0 to 2^63-1"
            )
    offsets = entry.get("data_offsets")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise CheckpointError(
            path, f"{where}: 'data_offsets' must be [begin, end] with 0 <= begin <= end, got {shown(offsets)}"
        )
    begin, end = offsets
    count = 1
    for d in shape:  # exact: Python integers do not wrap (2^32 x 2^32 is not 0)
        count *= d
    nbytes = count * DTYPES[dtype][1].itemsize
    if end - begin != nbytes:
        raise CheckpointError(
            path,
            f"{where}: data_offsets span {end - begin} bytes but shape {shape} in {dtype} needs {nbytes}",
        )
    if end > data_size:
        raise CheckpointError(
            path,
            f"{where} reaches past the end of the file (byte {end} of {data_size} data bytes): the file is truncated",
        )
    return TensorEntry(name=name, dtype=DTYPES[dtype][0], shape=tuple(shape), begin=begin, end=end)


def read_table(path: Path) -> SafetensorsTable:
    """Validate a safetensors file completely (header, every entry, the tiling of the data)
    without mapping it."""
    size = regular_file_size(path, "weights file")
    if size < 8:
        raise CheckpointError(path, f"truncated weights file ({size} bytes, not even a header)")
    try:
        with path.open("rb") as fh:
            (header_len,) = struct.unpack("<Q", fh.read(8))
            if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
                raise CheckpointError(
                    path,
                    f"header length {header_len} reaches past the end of the file ({size} bytes) or beyond "
                    f"{MAX_HEADER_BYTES} bytes: the file is truncated or not a safetensors file",
                )
            raw = fh.read(header_len)
    except OSError as exc:
        raise CheckpointError(path, f"cannot read weights file: {exc.strerror or exc}") from exc
    if len(raw) != header_len:
        raise CheckpointError(path, "the file shrank while it was read")
    header = parse_header_json(raw, path)
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(path, f"'__metadata__' must map strings to strings, got {shown(metadata)}")
    data_start = 8 + header_len
    data_size = size - data_start
    entries = {name: check_entry(path, name, entry, data_size) for name, entry in header.items()}
    # The format's rule: the data is fully indexed, without holes.
    position, previous = 0, None
    for e in sorted(entries.values(), key=lambda e: (e.begin, e.end)):
        if e.begin < position:
            raise CheckpointError(path, f"tensors {shown(previous)} and {shown(e.name)} overlap in the file")
        if e.begin > position:
            after = f"after tensor {shown(previous)}" if previous is not None else "before the first tensor"
            raise CheckpointError(
                path,
                f"{e.begin - position} bytes {after} belong to no tensor (data byte {position}); the safetensors "
                "format requires the data to be fully indexed, without gaps",
            )
        position, previous = e.end, e.name
    if position != data_size:
        raise CheckpointError(
            path,
            f"{data_size - position} bytes after the last tensor belong to no tensor (the file has {size} bytes, "
            f"the header indexes {data_start + position}); trailing data is not allowed in safetensors",
        )
    return SafetensorsTable(path=path, entries=entries, data_start=data_start, data_size=data_size, metadata=metadata)


def map_tensors(table: SafetensorsTable) -> dict[str, TensorView]:
    """Map a validated file read-only and return a view per tensor, in its stored dtype."""
    tensors: dict[str, TensorView] = {}
    if not table.entries:
        return tensors
    # mode "r": a shared read-only mapping (not copy-on-write, which the kernel may refuse for a
    # file larger than RAM + swap). Engines only read; a write would fault.
    mm = (
        np.memmap(table.path, dtype=np.uint8, mode="r", offset=table.data_start, shape=(table.data_size,))
        if table.data_size
        else np.zeros(0, np.uint8)
    )
    for name, e in table.entries.items():
        storage = DTYPES[SHORT_TO_SAFETENSORS[e.dtype]][1]
        raw = mm[e.begin : e.end]
        if (table.data_start + e.begin) % storage.itemsize:
            raw = np.array(raw)  # misaligned start: an aligned copy (numpy allocates aligned)
            raw.setflags(write=False)
        arr = raw.view(storage).reshape(e.shape)
        tensors[name] = TensorView(name=name, dtype=e.dtype, shape=e.shape, data=arr, file=table.path)
    return tensors


def open_safetensors(path: Path) -> dict[str, TensorView]:
    """Validate a safetensors file and map its tensors read-only without copying them."""
    return map_tensors(read_table(path))


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
