"""A corpus of malformed checkpoint folders (issue 17), each a few kilobytes, built from one tiny
valid checkpoint by a named mutation.

Every kind says what must come of it: `Expect.error(file, field)` (a CheckpointError whose path
names `file` and whose message matches `field`), or `Expect.ok()` (the format allows it and the
model runs). `tests/core/malformed/test_malformed.py` runs every kind through every path (core
loader, Session with each engine, the seed API, the CLI). To write the corpus to disk (for the
sanitizer build or another tool): `python3 tests/core/malformed/corpus.py OUTDIR`.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from llada_studio.core.checkpoint_writer import random_checkpoint  # noqa: E402

ST = "model.safetensors"
IDX = "model.safetensors.index.json"
CFG = "config.json"
TOK = "tokenizer.json"
TOKCFG = "tokenizer_config.json"
WTE = "model.transformer.wte.weight"
NORM = "model.transformer.blocks.0.attn_norm.weight"
QPROJ = "model.transformer.blocks.0.q_proj.weight"
DEEP = 100_000  # past any recursion limit
SHALLOW = 500  # under it: parses, must then fail the type checks
SPARSE_TAIL = 2**36  # 64 GiB of holes: no disk, no memory


@dataclass(frozen=True)
class Expect:
    outcome: str  # "error" | "ok" | "nonfinite" (loads; every run path: NonFiniteLogitsError)
    file: str = ""  # the file the error must name (its path ends with / contains this)
    field: str = ""  # a regex the message must match

    @staticmethod
    def error(file: str, field: str) -> Expect:
        return Expect("error", file, field)

    @staticmethod
    def ok() -> Expect:
        return Expect("ok")

    @staticmethod
    def nonfinite() -> Expect:
        """Loads (big matrices are not scanned), then the first step's logits are non-finite."""
        return Expect("nonfinite", "", "non-finite logit")


@dataclass(frozen=True)
class Kind:
    name: str
    build: Callable[[Path], Path]  # mutates a fresh copy of the base folder; returns the model folder
    expect: Expect
    sharded: bool = False  # start from the 2-shard base instead of the single-file one


def make_bases(root: Path) -> dict[str, Path]:
    """The valid starting points: 1 layer, d 32, vocab 64, f32 (52 KB), single file and 2 shards."""
    small = dict(n_layers=1, d_model=32, n_heads=2, mlp_hidden_size=48, vocab_size=64)
    return {
        "single": random_checkpoint(root / "base-single", **small),  # type: ignore[arg-type]
        "sharded": random_checkpoint(root / "base-sharded", shards=2, **small),  # type: ignore[arg-type]
    }


# -- helpers to rewrite a safetensors file ---------------------------------------------------------


def read_st(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def write_st(path: Path, header: Any, data: bytes, *, pad_to: int = 8, header_text: bytes | None = None) -> None:
    text = header_text if header_text is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad_to > 1:
        text += b" " * (-len(text) % pad_to)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def edit_header(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        header, data = read_st(folder / ST)
        result = change(header)
        write_st(folder / ST, header if result is None else result, data)
        return folder

    return build


def edit_entry(name: str, key: str, value: Any) -> Callable[[Path], Path]:
    def change(header: dict[str, Any]) -> None:
        if value is _DELETE:
            del header[name][key]
        else:
            header[name][key] = value

    return edit_header(change)


def raw_header(text: bytes, data: bytes | None = None) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        _, old = read_st(folder / ST)
        write_st(folder / ST, None, old if data is None else data, header_text=text)
        return folder

    return build


def raw_file(name: str, content: bytes) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        (folder / name).write_bytes(content)
        return folder

    return build


def edit_data(change: Callable[[dict[str, Any], bytearray], bytes]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        header, data = read_st(folder / ST)
        new = change(header, bytearray(data))
        write_st(folder / ST, header, new)
        return folder

    return build


def nested(depth: int, leaf: str = "1", open_: str = "[", close: str = "]") -> str:
    return open_ * depth + leaf + close * depth


def deep_obj(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


_DELETE = object()


def edit_json(name: str, change: Callable[[Any], Any]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        raw = json.loads((folder / name).read_text())
        result = change(raw)
        (folder / name).write_text(json.dumps(raw if result is None else result, allow_nan=True))
        return folder

    return build


def set_config(key: str, value: Any) -> Callable[[Path], Path]:
    def change(raw: dict[str, Any]) -> None:
        if value is _DELETE:
            raw.pop(key, None)
        else:
            raw[key] = value

    return edit_json(CFG, change)


def config_text(key: str, literal: str) -> Callable[[Path], Path]:
    """config.json with `key` set to a raw JSON text (NaN, 1e300, a 5000-digit integer...)."""

    def build(folder: Path) -> Path:
        raw = json.loads((folder / CFG).read_text())
        raw[key] = "@@VALUE@@"
        (folder / CFG).write_text(json.dumps(raw).replace('"@@VALUE@@"', literal))
        return folder

    return build


def replace_path(name: str, how: str) -> Callable[[Path], Path]:
    """Put something that is not a regular file where `name` should be."""

    def build(folder: Path) -> Path:
        target = folder / name
        if target.exists() or target.is_symlink():
            target.unlink()
        if how == "dir":
            target.mkdir()
        elif how == "fifo":
            os.mkfifo(target)
        elif how == "devzero":
            target.symlink_to("/dev/zero")
        elif how == "dangling":
            target.symlink_to(folder / "no-such-file")
        elif how == "loop":
            target.symlink_to(target)
        elif how == "missing":
            pass
        elif how == "sparse":  # a regular file of 64 MiB + 1 of holes (past every JSON cap)
            with target.open("wb") as fh:
                fh.truncate(64 * 1024 * 1024 + 1)
        return folder

    return build


def shard_names(folder: Path) -> list[str]:
    return sorted(set(json.loads((folder / IDX).read_text())["weight_map"].values()))


def index_value(value: Any) -> Callable[[Path], Path]:
    def change(raw: dict[str, Any]) -> None:
        first = next(iter(raw["weight_map"]))
        raw["weight_map"][first] = value

    return edit_json(IDX, change)


def rename_shard(new_name: str, create: bool = True) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        old = shard_names(folder)[0]
        raw = json.loads((folder / IDX).read_text())
        raw["weight_map"] = {k: (new_name if v == old else v) for k, v in raw["weight_map"].items()}
        (folder / IDX).write_text(json.dumps(raw))
        if create:
            (folder / old).rename(folder / new_name)
        return folder

    return build


def shard_replaced(how: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        return replace_path(shard_names(folder)[0], how)(folder)

    return build


def poison(name: str, value: float, index: int = 0) -> Callable[[Path], Path]:
    """Write a non-finite value into a tensor's data."""

    def change(header: dict[str, Any], data: bytearray) -> bytes:
        begin = header[name]["data_offsets"][0] + 4 * index
        data[begin : begin + 4] = struct.pack("<f", value)
        return bytes(data)

    return edit_data(change)


def sparse_tail(folder: Path) -> Path:
    with (folder / ST).open("r+b") as fh:
        fh.truncate((folder / ST).stat().st_size + SPARSE_TAIL)
    return folder


def trailing(extra: bytes) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        with (folder / ST).open("ab") as fh:
            fh.write(extra)
        return folder

    return build


def gap_after_first(size: int) -> Callable[[Path], Path]:
    """Insert `size` unindexed bytes after the first tensor (offsets of the rest shifted)."""

    def change(header: dict[str, Any], data: bytearray) -> bytes:
        end0 = header[WTE]["data_offsets"][1]
        for name, entry in header.items():
            if name != "__metadata__" and entry["data_offsets"][0] >= end0:
                entry["data_offsets"] = [o + size for o in entry["data_offsets"]]
        return bytes(data[:end0]) + b"\0" * size + bytes(data[end0:])

    return edit_data(change)


def gap_at_start(size: int) -> Callable[[Path], Path]:
    def change(header: dict[str, Any], data: bytearray) -> bytes:
        for name, entry in header.items():
            if name != "__metadata__":
                entry["data_offsets"] = [o + size for o in entry["data_offsets"]]
        return b"\0" * size + bytes(data)

    return edit_data(change)


def overlap(folder: Path) -> Path:
    def change(header: dict[str, Any]) -> None:
        header[NORM]["data_offsets"] = [header[NORM]["data_offsets"][0] - 4, header[NORM]["data_offsets"][1] - 4]

    return edit_header(change)(folder)


def misaligned(shift: int) -> Callable[[Path], Path]:
    """Header padded so the data starts `shift` bytes off 8-byte alignment (allowed by the format)."""

    def build(folder: Path) -> Path:
        header, data = read_st(folder / ST)
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * ((-len(text) % 8) + shift)
        (folder / ST).write_bytes(struct.pack("<Q", len(text)) + text + data)
        return folder

    return build


def truncate_to(fraction: float) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        raw = (folder / ST).read_bytes()
        (folder / ST).write_bytes(raw[: int(len(raw) * fraction)])
        return folder

    return build


def add_tensor(name: str, dtype: str = "F32", shape: tuple[int, ...] = (4,)) -> Callable[[Path], Path]:
    def change(header: dict[str, Any], data: bytearray) -> bytes:
        n = 4
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + n]}
        return bytes(data) + b"\0" * n

    return edit_data(change)


def folder_elsewhere(how: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        if how == "missing":
            return folder / "does-not-exist"
        if how == "file":
            return folder / CFG
        if how == "long":
            return folder / ("x" * 300)
        if how == "very-long":
            return Path("/" + "/".join(["y" * 200] * 30))
        if how == "nul":
            return Path(str(folder) + "\0evil")
        raise ValueError(how)

    return build


# -- the kinds -----------------------------------------------------------------------------------


def _kinds() -> list[Kind]:
    k: list[Kind] = []

    def add(name: str, build: Callable[[Path], Path], expect: Expect, sharded: bool = False) -> None:
        k.append(Kind(name, build, expect, sharded))

    st = lambda field: Expect.error(ST, field)  # noqa: E731
    cfg = lambda field: Expect.error(CFG, field)  # noqa: E731
    idx = lambda field: Expect.error(IDX, field)  # noqa: E731

    # The model folder itself.
    add("folder/missing", folder_elsewhere("missing"), Expect.error("does-not-exist", "not a folder"))
    add("folder/is-a-file", folder_elsewhere("file"), Expect.error(CFG, "not a folder"))
    add("folder/name-300-chars", folder_elsewhere("long"), Expect.error("xxxx", "not a folder|too long"))
    add("folder/path-6000-chars", folder_elsewhere("very-long"), Expect.error("yyyy", "not a folder|too long"))
    add("folder/nul-in-path", folder_elsewhere("nul"), Expect.error("evil", "folder|not valid|null"))

    # The safetensors file: size and header length.
    for n in (0, 1, 7):
        add(f"st/file-{n}-bytes", raw_file(ST, b"\x01" * n), st("truncated"))
    add("st/header-len-2^64-1", raw_file(ST, b"\xff" * 8 + b"{}"), st("header length"))
    add("st/header-len-past-end", raw_file(ST, struct.pack("<Q", 1000) + b"{}"), st("header length"))
    add("st/header-len-past-cap", raw_file(ST, struct.pack("<Q", 200 * 2**20) + b"{}"), st("header length"))
    add("st/header-len-0", raw_file(ST, struct.pack("<Q", 0)), st("malformed safetensors header"))
    for how in ("dir", "fifo", "devzero", "dangling", "loop", "missing"):
        want = {"dir": "folder", "fifo": "pipe", "devzero": "device", "dangling": "link", "loop": "links|read"}
        add(
            f"st/path-is-{how}",
            replace_path(ST, how),
            st(want.get(how, "no weights")) if how != "missing" else Expect.error("", "no weights"),
        )
    add("st/truncated-mid-header", truncate_to(0.005), st("header length|malformed"))
    add("st/truncated-mid-data", truncate_to(0.5), st("past the end|truncated"))

    # Header JSON.
    bad_json = {
        "not-utf8": b'{"\xff\xfe":1}',
        "invalid": b"{not json",
        "truncated": b'{"a": {"dtype": "F32"',
        "array": b"[]",
        "string": b'"hello"',
        "number": b"42",
        "null": b"null",
        "true": b"true",
        "nan-literal": b'{"x": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 0]}}',
        "infinity-literal": b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, Infinity]}}',
        "neg-infinity": b'{"x": {"dtype": "F32", "shape": [-Infinity], "data_offsets": [0, 0]}}',
        "nul-padding": b"{}" + b"\0" * 6,
        "bom": b"\xef\xbb\xbf{}",
        "5000-digit-int": b'{"x": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 0]}}',
        "duplicate-tensor": b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
        b'"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
        "duplicate-metadata": b'{"__metadata__": {}, "__metadata__": {}}',
        "deep-table": nested(DEEP).encode(),
        "deep-in-shape": b'{"x": {"dtype": "F32", "shape": ' + nested(DEEP).encode() + b', "data_offsets": [0, 4]}}',
        "deep-in-metadata": b'{"__metadata__": ' + deep_obj(DEEP).encode() + b"}",
        "deep-objects": deep_obj(DEEP).encode(),
    }
    for name, text in bad_json.items():
        add(f"st/header-json-{name}", raw_header(text, b""), st("malformed safetensors header|not a JSON object"))
    add(
        "st/shallow-nest-in-shape",
        raw_header(
            b'{"x": {"dtype": "F32", "shape": ' + nested(SHALLOW).encode() + b', "data_offsets": [0, 4]}}', b"\0" * 4
        ),
        st("shape"),
    )
    add(
        "st/shallow-nest-in-dtype",
        raw_header(
            b'{"x": {"dtype": ' + nested(SHALLOW).encode() + b', "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4
        ),
        st("dtype"),
    )
    add(
        "st/shallow-nest-in-metadata",
        raw_header(b'{"__metadata__": ' + deep_obj(SHALLOW).encode() + b"}", b""),
        st("__metadata__"),
    )
    add("st/shallow-nest-as-entry", raw_header(b'{"x": ' + nested(SHALLOW).encode() + b"}", b""), st("not an object"))
    add("st/whitespace-padding-ok", misaligned(0), Expect.ok())

    # __metadata__.
    for name, value in {
        "list": [1],
        "string": "pt",
        "number": 3,
        "int-value": {"a": 1},
        "dict-value": {"a": {}},
        "null-value": {"a": None},
    }.items():
        add(f"st/metadata-{name}", edit_header(lambda h, v=value: h.__setitem__("__metadata__", v)), st("__metadata__"))
    add("st/metadata-missing-ok", edit_header(lambda h: h.pop("__metadata__") and None), Expect.ok())

    # One entry.
    for name, value in {"list": [1, 2], "string": "F32", "null": None, "number": 7}.items():
        add(f"st/entry-{name}", edit_header(lambda h, v=value: h.__setitem__(WTE, v)), st("not an object"))
    dtypes: dict[str, Any] = {
        "missing": _DELETE,
        "list": ["F32"],
        "dict": {"F32": 1},
        "int": 4,
        "null": None,
        "bool": True,
        "lowercase": "f32",
        "F64": "F64",
        "I64": "I64",
        "U8": "U8",
        "BOOL": "BOOL",
        "F8_E4M3": "F8_E4M3",
        "unknown": "XYZ",
        "empty": "",
        "long": "F" * 100_000,
    }
    for name, value in dtypes.items():
        add(f"st/dtype-{name}", edit_entry(WTE, "dtype", value), st("dtype"))
    shapes: dict[str, Any] = {
        "missing": _DELETE,
        "string": "64,32",
        "int": 2048,
        "dict": {"0": 64},
        "null": None,
        "bool-dims": [True, 32],
        "false-dim": [64, False],
        "negative": [-64, -32],
        "float": [64.0, 32],
        "string-dim": ["64", 32],
        "null-dim": [None, 32],
        "2^63": [2**63, 1],
        "2^64": [2**64, 1],
        "10^30": [10**30, 1],
        "wraps-2^32x2^32": [2**32, 2**32],
        "wraps-2^62x4": [2**62, 4],
        "wraps-to-span": [2**62 + 512, 4],
        "rank-9": [1] * 9,
        "rank-100": [1] * 100,
        "nested-dim": [[64], 32],
        "empty": [],
        "transposed": [32, 64],
        "zero": [0, 32],
    }
    for name, value in shapes.items():
        expect = st("shape|data_offsets") if name != "transposed" else st("shape .* config.json implies")
        add(f"st/shape-{name}", edit_entry(WTE, "shape", value), expect)
    offsets: dict[str, Any] = {
        "missing": _DELETE,
        "string": "0,8192",
        "int": 0,
        "len-1": [0],
        "len-3": [0, 8192, 8192],
        "negative": [-4, 8188],
        "reversed": [8192, 0],
        "floats": [0.0, 8192.0],
        "bools": [False, True],
        "strings": ["0", "8192"],
        "nulls": [None, None],
        "2^64": [2**64, 2**64 + 8192],
        "past-end": [10**9, 10**9 + 8192],
        "span-short": [0, 8188],
        "span-long": [0, 8196],
        "nested": [[0], [8192]],
    }
    for name, value in offsets.items():
        add(f"st/offsets-{name}", edit_entry(WTE, "data_offsets", value), st("data_offsets|past the end|overlap|gap"))

    # How the tensors tile the data.
    add("st/gap-between-tensors", gap_after_first(4), st("belong to no tensor|without gaps"))
    add("st/gap-4096-between-tensors", gap_after_first(4096), st("belong to no tensor"))
    add("st/gap-at-start", gap_at_start(8), st("before the first tensor"))
    add("st/overlap", overlap, st("overlap"))
    add("st/trailing-1-byte", trailing(b"\0"), st("after the last tensor"))
    add("st/trailing-garbage-4k", trailing(os.urandom(4096)), st("after the last tensor"))
    add("st/trailing-second-header", trailing(b"\x08\0\0\0\0\0\0\0{}      "), st("after the last tensor"))
    add("st/sparse-64GiB-tail", sparse_tail, st("after the last tensor"))
    add("st/misaligned-by-1-ok", misaligned(1), Expect.ok())
    add("st/misaligned-by-2-ok", misaligned(2), Expect.ok())
    add("st/misaligned-by-5-ok", misaligned(5), Expect.ok())
    add("st/empty-table-with-data", edit_header(lambda h: {"__metadata__": {}}), st("after the last tensor"))
    add("st/empty-table-no-data", raw_header(b"{}", b""), cfg("imply .* parameters"))

    # Names.
    add("st/extra-tensor", add_tensor("model.transformer.extra.weight"), st("unexpected tensor"))
    add("st/extra-empty-name", add_tensor(""), st("unexpected tensor"))
    add("st/extra-10k-name", add_tensor("n" * 10_000), st("unexpected tensor"))
    add("st/extra-unicode-name", add_tensor("model.transformer.blocks.0.q_proj.weight\u200b"), st("unexpected"))
    add("st/extra-nul-name", add_tensor("model.transformer.wte.weight\0"), st("unexpected tensor"))
    add("st/extra-zero-size", add_tensor("model.transformer.empty", shape=(0,)), st("unexpected tensor"))
    add("st/extra-layer-1", add_tensor("model.transformer.blocks.1.attn_norm.weight", shape=(32,)), st("unexpected"))
    add("st/missing-tensor", edit_data(_drop(QPROJ)), st("missing tensor"))
    add("st/renamed-tensor", edit_header(lambda h: h.__setitem__("x", h.pop(QPROJ))), st("missing tensor"))

    # Weight values (the format allows any bits; see test_malformed.py for the decision).
    add("values/nan-in-norm", poison(NORM, float("nan")), st("non-finite"))
    add("values/inf-in-norm", poison(NORM, float("inf")), st("non-finite"))
    add("values/nan-in-final-norm", poison("model.transformer.ln_f.weight", float("nan"), 3), st("non-finite"))
    add("values/nan-in-embedding-runtime", poison(WTE, float("nan"), 100), Expect.nonfinite())
    add("values/inf-in-q-proj-runtime", poison(QPROJ, float("inf")), Expect.nonfinite())

    # config.json: the file.
    for how in ("dir", "fifo", "devzero", "dangling", "missing", "sparse"):
        want = {
            "dir": "folder",
            "fifo": "pipe",
            "devzero": "device",
            "dangling": "link",
            "missing": "missing",
            "sparse": "bytes, more than",
        }[how]
        add(f"cfg/path-is-{how}", replace_path(CFG, how), cfg(want))
    for name, text in {
        "empty": b"",
        "invalid": b"{",
        "not-utf8": b'{"a": "\xff"}',
        "array": b"[]",
        "string": b'"x"',
        "null": b"null",
        "nan": b"NaN",
        "deep": nested(DEEP).encode(),
        "deep-objects": deep_obj(DEEP).encode(),
        "5000-digit-int": b"9" * 5000,
    }.items():
        add(f"cfg/json-{name}", raw_file(CFG, text), cfg("malformed JSON|JSON object"))
    add("cfg/deep-in-field", config_text("d_model", nested(DEEP)), cfg("malformed JSON"))
    add("cfg/shallow-in-field", config_text("d_model", nested(SHALLOW)), cfg("d_model"))
    add("cfg/shallow-in-unused-key-ok", config_text("notes", nested(SHALLOW)), Expect.ok())

    # config.json: architecture and kind.
    archs: dict[str, Any] = {
        "string": "LLaDAModelLM",
        "dict-inside": [{"a": 1}],
        "list-inside": [["LLaDAModelLM"]],
        "unknown": ["GPT2LMHeadModel"],
        "number": 5,
        "empty": [],
        "null-inside": [None],
        "nested": json.loads(nested(SHALLOW, '"LLaDAModelLM"')),
    }
    for name, value in archs.items():
        add(f"cfg/architectures-{name}", set_config("architectures", value), cfg("architecture"))
    for name, value in {
        "missing": _DELETE,
        "list": ["llada"],
        "dict": {"llada": 1},
        "unknown": "llama",
        "int": 1,
    }.items():
        add(f"cfg/model_type-{name}", set_config("model_type", value), cfg("model_type"))
    for key, bad in (("block_type", "gpt"), ("activation_type", "gelu")):
        add(f"cfg/{key}-unknown", set_config(key, bad), cfg(key))
        add(f"cfg/{key}-list", set_config(key, [bad]), cfg(key))
    add("cfg/include_bias-true", set_config("include_bias", True), cfg("include_bias"))
    add("cfg/include_bias-string", set_config("include_bias", "no"), cfg("include_bias"))
    add("cfg/weight_tying-string", set_config("weight_tying", "false"), cfg("weight_tying"))
    add("cfg/weight_tying-int", set_config("weight_tying", 0), cfg("weight_tying"))
    add("cfg/weight_tying-true-but-head-present", set_config("weight_tying", True), st("unexpected tensor"))

    # config.json: every size.
    bad_ints: dict[str, str] = {
        "string": '"32"',
        "list": "[32]",
        "float": "32.5",
        "float-integral": "32.0",
        "nan": "NaN",
        "inf": "Infinity",
        "1e300": "1e300",
        "true": "true",
        "null": "null",
        "zero": "0",
        "negative": "-32",
        "2^31": str(2**31),
        "10^30": str(10**30),
        "dict": '{"v": 32}',
    }
    for key in (
        "d_model",
        "n_layers",
        "n_heads",
        "n_kv_heads",
        "mlp_hidden_size",
        "vocab_size",
        "embedding_size",
        "max_sequence_length",
    ):
        for name, literal in bad_ints.items():
            if literal == "null" and key in ("n_kv_heads", "embedding_size", "mlp_hidden_size"):
                continue  # null means "the default" for these three
            add(f"cfg/{key}-{name}", config_text(key, literal), cfg(key))
    add("cfg/d_model-missing", set_config("d_model", _DELETE), cfg("d_model"))
    add("cfg/n_layers-missing", set_config("n_layers", _DELETE), cfg("n_layers"))
    add("cfg/n_layers-10^9", set_config("n_layers", 10**9), cfg("n_layers .* tensors"))
    add("cfg/n_layers-2^31-1", set_config("n_layers", 2**31 - 1), cfg("n_layers .* tensors"))
    add("cfg/n_layers-2", set_config("n_layers", 2), st("missing tensor"))
    add("cfg/d_model-2^30", edit_json(CFG, lambda c: c.update(d_model=2**30)), cfg("imply .* parameters"))
    add("cfg/embedding-2^31-1", set_config("embedding_size", 2**31 - 1), cfg("imply .* parameters"))
    add("cfg/mlp-2^31-1", set_config("mlp_hidden_size", 2**31 - 1), cfg("imply .* parameters"))
    add("cfg/d_model-odd-head", set_config("d_model", 34), cfg("head dim|divisible"))
    add("cfg/heads-not-dividing", set_config("n_heads", 3), cfg("divisible"))
    add("cfg/kv-not-dividing", edit_json(CFG, lambda c: c.update(n_heads=4, n_kv_heads=3)), cfg("multiple"))
    add("cfg/embedding-below-vocab", set_config("embedding_size", 10), cfg("embedding_size"))
    add("cfg/wrong-n_heads-shapes", edit_json(CFG, lambda c: c.update(n_heads=4, n_kv_heads=1)), st("shape"))

    # config.json: the two floats and mlp_ratio.
    bad_floats: dict[str, str] = {
        "string": '"10000"',
        "list": "[10000]",
        "nan": "NaN",
        "inf": "Infinity",
        "neg-inf": "-Infinity",
        "1e300": "1e300",
        "zero": "0",
        "negative": "-1",
        "true": "true",
        "dict": "{}",
        "10^400": "1" + "0" * 400,
    }
    for key in ("rope_theta", "rms_norm_eps"):
        for name, literal in bad_floats.items():
            add(f"cfg/{key}-{name}", config_text(key, literal), cfg(key))
    add("cfg/rms_norm_eps-1e-50", config_text("rms_norm_eps", "1e-50"), cfg("rms_norm_eps"))
    add("cfg/rope_theta-int-ok", config_text("rope_theta", "10000"), Expect.ok())
    for name, literal in {
        "nan": "NaN",
        "list": "[4]",
        "string": '"4"',
        "1e300": "1e300",
        "zero": "0",
        "negative": "-4",
        "tiny": "1e-9",
        "true": "true",
    }.items():

        def build(folder: Path, literal: str = literal) -> Path:
            set_config("mlp_hidden_size", _DELETE)(folder)
            return config_text("mlp_ratio", literal)(folder)

        add(f"cfg/mlp_ratio-{name}", build, cfg("mlp_ratio"))

    # config.json: token ids.
    bad_ids: dict[str, Any] = {
        "string": "3",
        "negative": -1,
        "float": 3.0,
        "2^40": 2**40,
        "bool": True,
        "list": [3],
        "outside-embedding": 64,
    }
    for key in ("mask_token_id", "eos_token_id"):
        for name, value in bad_ids.items():
            add(f"cfg/{key}-{name}", set_config(key, value), cfg(key.replace("_id", "") + "|" + key))
    add("cfg/mask-disagrees", set_config("mask_token_id", 5), cfg("disagrees"))
    add("cfg/pad_token_id-string", set_config("pad_token_id", "x"), cfg("pad_token_id"))
    add("cfg/bos_token_id-negative", set_config("bos_token_id", -5), cfg("bos_token_id"))

    # The index of a sharded checkpoint.
    for how in ("dir", "fifo", "devzero", "dangling", "sparse"):
        want = {"dir": "folder", "fifo": "pipe", "devzero": "device", "dangling": "link", "sparse": "more than"}[how]
        add(f"idx/path-is-{how}", replace_path(IDX, how), idx(want), sharded=True)
    for name, text in {
        "invalid": b"{",
        "array": b"[]",
        "null": b"null",
        "deep": nested(DEEP).encode(),
        "not-utf8": b'{"\xff": 1}',
    }.items():
        add(f"idx/json-{name}", raw_file(IDX, text), idx("malformed JSON|weight_map"), sharded=True)
    for name, value in {"missing": None, "list": [], "empty": {}, "string": "x"}.items():
        add(
            f"idx/weight_map-{name}",
            edit_json(IDX, lambda r, v=value: r.__setitem__("weight_map", v)),
            idx("weight_map"),
            sharded=True,
        )
    names: dict[str, Any] = {
        "int": 1,
        "null": None,
        "list": ["a"],
        "dotdot": "../model.safetensors",
        "absolute": "/etc/passwd",
        "subdir": "sub/x.safetensors",
        "hidden": ".x.safetensors",
        "backslash": "..\\x.safetensors",
        "nul": "a\0b.safetensors",
        "empty": "",
        "300-chars": "s" * 300 + ".safetensors",
        "dev-zero": "/dev/zero",
    }
    for name, value in names.items():
        add(f"idx/shard-name-{name}", index_value(value), idx("maps to"), sharded=True)
    add(
        "idx/shard-name-255-missing",
        index_value("m" * 243 + ".safetensors"),
        Expect.error("mmm", "missing"),
        sharded=True,
    )
    add("idx/shard-missing", index_value("model-99999.safetensors"), Expect.error("99999", "missing"), sharded=True)
    add(
        "idx/tensor-not-in-shard",
        edit_json(IDX, lambda r: r["weight_map"].__setitem__("x.weight", next(iter(r["weight_map"].values())))),
        Expect.error("model-0000", "named in"),
        sharded=True,
    )
    for how in ("dir", "fifo", "devzero"):
        want = {"dir": "folder", "fifo": "pipe", "devzero": "device"}[how]
        add(f"idx/shard-is-{how}", shard_replaced(how), Expect.error("model-0000", want), sharded=True)
    add("idx/shard-linked-ok", _linked_shard, Expect.ok(), sharded=True)

    # The tokenizer files (their content is tokenizer.py's; the loader checks what they are).
    for how in ("dir", "fifo", "devzero", "missing"):
        want = {"dir": "folder", "fifo": "pipe", "devzero": "device", "missing": "missing"}[how]
        add(f"tok/path-is-{how}", replace_path(TOK, how), Expect.error(TOK, want))
    add("tok/invalid", raw_file(TOK, b"{"), Expect.error(TOK, "not a valid"))
    for how in ("dir", "fifo", "devzero", "sparse"):
        want = {"dir": "folder", "fifo": "pipe", "devzero": "device", "sparse": "more than"}[how]
        add(f"tokcfg/path-is-{how}", replace_path(TOKCFG, how), Expect.error(TOKCFG, want))
    add("tokcfg/invalid", raw_file(TOKCFG, b"{"), Expect.error(TOKCFG, "malformed JSON"))
    add("tokcfg/deep", raw_file(TOKCFG, nested(DEEP).encode()), Expect.error(TOKCFG, "malformed JSON"))
    add("tokcfg/array", raw_file(TOKCFG, b"[]"), Expect.error(TOKCFG, "JSON object"))
    # tokenizer_config.json fields and chat templates (found by tests/fuzz/fuzz_tokenizer.py: each
    # was a traceback, a hang, or hundreds of MB to GB of memory before core/tokenizer.py bounded it).
    tok = lambda field: Expect.error(TOKCFG, field)  # noqa: E731
    templates: dict[str, str] = {
        "loop-10^10": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "loop-over-4M-chars": "{% set s = ('x' * 900000)|list %}{% for a in s %}{% for b in s %}{% endfor %}"
        "{% endfor %}",
        "center-10^9": "{{ 'x'.center(999999999) }}",
        "center-filter-10^9": "{{ 'x'|center(1000000000) }}",
        "format-width-10^9": "{{ '{:>999999999}'.format(1) }}",
        "percent-width-10^9": "{{ '%999999999d' % 1 }}",
        "percent-star-width": "{{ '%*d' % (999999999, 1) }}",
        "format-filter-width": "{{ '%-999999999s'|format('a') }}",
        "replace-1.6G": "{{ ('a' * 400000).replace('a', 'a' * 4000) }}",
        "join-4G": "{{ (['x' * 900000] * 1000)|join }}",
        "join-separator-bomb": "{{ (('ab' * 400000)|list)|join('x' * 100) }}",
        "list-of-big-strings-repeated": "{{ [('x' * 900000)] * 4000000 }}",
        "concat-past-limit": "{{ ('x' * 900000) + ('y' * 900000) }}",
        "namespace-doubling": "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "indent-bomb": "{{ ('x\\n' * 500000)|indent(1000) }}",
        "output-past-1M": "{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}",
    }
    for name, text in templates.items():
        add(f"tokcfg/template-{name}", edit_json(TOKCFG, lambda c, t=text: c.__setitem__("chat_template", t)),
            tok("chat_template"))
    fields: dict[str, tuple[str, Any]] = {
        "chat_template-int": ("chat_template", 5),
        "chat_template-dict": ("chat_template", {"default": "x"}),
        "chat_template-named-unhashable-name": ("chat_template", [{"name": {}, "template": "x"}]),
        "chat_template-named-list-of-strings": ("chat_template", ["{{ x }}"]),
        "chat_template-named-default-int": ("chat_template", [{"name": "default", "template": 5}]),
        "bos_token-int": ("bos_token", 5),
        "bos_token-list": ("bos_token", ["<s>"]),
        "eos_token-content-int": ("eos_token", {"content": 5}),
        "add_bos_token-string": ("add_bos_token", "false"),
        "add_bos_token-int": ("add_bos_token", 2),
    }
    for name, (key, value) in fields.items():
        add(f"tokcfg/{name}", edit_json(TOKCFG, lambda c, kk=key, v=value: c.__setitem__(kk, v)), tok(key))
    named_default = lambda c: c.__setitem__("chat_template", [{"name": "default", "template": c["chat_template"]}])  # noqa: E731
    add("tokcfg/chat_template-named-default-ok", edit_json(TOKCFG, named_default), Expect.ok())
    return k


def _drop(name: str) -> Callable[[dict[str, Any], bytearray], bytes]:
    """Remove a tensor and its bytes, closing the gap."""

    def change(header: dict[str, Any], data: bytearray) -> bytes:
        b, e = header.pop(name)["data_offsets"]
        for n, entry in header.items():
            if n != "__metadata__" and entry["data_offsets"][0] >= e:
                entry["data_offsets"] = [o - (e - b) for o in entry["data_offsets"]]
        return bytes(data[:b]) + bytes(data[e:])

    return change


def _linked_shard(folder: Path) -> Path:
    """A shard that is a link to a blob outside the folder (the Hugging Face cache layout)."""
    name = shard_names(folder)[0]
    blobs = folder.parent / (folder.name + "-blobs")
    blobs.mkdir()
    (folder / name).rename(blobs / "abc123")
    (folder / name).symlink_to(blobs / "abc123")
    return folder


KINDS: list[Kind] = _kinds()


def build_kind(kind: Kind, bases: dict[str, Path], work: Path) -> Path:
    """A fresh copy of the base with the kind's mutation applied; returns the folder to open."""
    folder = work / kind.name.replace("/", "__")
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(bases["sharded" if kind.sharded else "single"], folder)
    return kind.build(folder)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: corpus.py OUTDIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    bases = make_bases(out / "_bases")
    for kind in KINDS:
        build_kind(kind, bases, out)
    (out / "EXPECTED.json").write_text(json.dumps({k.name: k.expect.__dict__ for k in KINDS}, indent=1))
    print(f"{len(KINDS)} kinds written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
