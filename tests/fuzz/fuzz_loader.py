"""Fuzz the checkpoint loader's parsers (issue 17): the safetensors header, config.json and the
shard index, each written into a copy of a tiny valid checkpoint and opened. Every input must
end in a CheckpointError (or load); any other exception is a finding.

Two engines, the same targets:
- atheris (coverage-guided, libFuzzer) when it is installed:
    python3 tests/fuzz/fuzz_loader.py --atheris --seconds 3600
- a seeded Python mutation loop otherwise (bit flips, byte edits, splices, and JSON-aware
  edits that put nasty values - NaN, 1e300, 2^64, deep nesting, lists, bools - into fields):
    python3 tests/fuzz/fuzz_loader.py --seconds 60 --seed 17      (what CI runs)

Findings (input bytes and traceback) go to --findings (default tests/fuzz/findings/); each one
is then written into tests/core/malformed/corpus.py as a kind. Inputs tried and findings so far:
tests/fuzz/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGETS = ("header", "config", "index")
NASTY: list[Any] = [
    float("nan"),
    float("inf"),
    -float("inf"),
    1e300,
    -1e300,
    2**31,
    2**32,
    2**63,
    2**64,
    2**100,
    -1,
    0,
    True,
    False,
    None,
    "",
    "x" * 300,
    "../x",
    "/dev/zero",
    "a\0b",
    [],
    {},
    [1],
    ["F32"],
    {"a": 1},
    [[[[1]]]],
    0.5,
    3.0,
]


class Harness:
    """Copies of a 1-layer checkpoint (single file and 2 shards) and the three targets."""

    def __init__(self, work: Path) -> None:
        from llada_studio.core.checkpoint_writer import random_checkpoint

        small: dict[str, Any] = dict(n_layers=1, d_model=32, n_heads=2, mlp_hidden_size=48, vocab_size=64)
        self.single = random_checkpoint(work / "single", **small)
        self.sharded = random_checkpoint(work / "sharded", shards=2, **small)
        self.seeds = {
            "header": (self.single / "model.safetensors").read_bytes(),
            "config": (self.single / "config.json").read_bytes(),
            "index": (self.sharded / "model.safetensors.index.json").read_bytes(),
        }
        self.originals = dict(self.seeds)

    def run(self, target: str, data: bytes) -> None:
        """Raises only what is a finding: CheckpointError (and a successful load) are fine."""
        from llada_studio.core.checkpoint import load_checkpoint
        from llada_studio.core.errors import CheckpointError
        from llada_studio.core.safetensors_io import read_table

        folder = self.sharded if target == "index" else self.single
        name = {"header": "model.safetensors", "config": "config.json", "index": "model.safetensors.index.json"}
        path = folder / name[target]
        path.write_bytes(data)
        try:
            if target == "header":
                read_table(path)
            load_checkpoint(folder)
        except CheckpointError:
            pass
        finally:
            path.write_bytes(self.originals[target])


# -- the Python mutation loop --------------------------------------------------------------------


def _mutate_json(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """Replace, drop, wrap or nest one value somewhere in a JSON document."""
    if isinstance(value, dict) and value and depth < 4 and rng.random() < 0.8:
        key = rng.choice(list(value))
        out = dict(value)
        roll = rng.random()
        if roll < 0.1:
            del out[key]
        elif roll < 0.15:
            out[rng.choice(["__metadata__", "x", "", key + "\u200b"])] = rng.choice(NASTY)
        else:
            out[key] = _mutate_json(rng, value[key], depth + 1)
        return out
    if isinstance(value, list) and value and depth < 4 and rng.random() < 0.7:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        out_list[i] = _mutate_json(rng, out_list[i], depth + 1)
        if rng.random() < 0.1:
            out_list.append(rng.choice(NASTY))
        return out_list
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(NASTY)
    if roll < 0.7:
        return [value]
    if roll < 0.8 and isinstance(value, int) and not isinstance(value, bool):
        return value * rng.choice([2, -1, 2**32, 0]) + rng.choice([0, 1, -1])
    if roll < 0.9:
        d = rng.choice([10, 900, 5000])
        return json.loads("[" * d + "1" + "]" * d) if d < 990 else value
    return str(value)


def _dump(rng: random.Random, doc: Any) -> bytes:
    text = json.dumps(doc, allow_nan=True)
    if rng.random() < 0.05:  # deep nesting past the recursion limit, as raw text
        d = rng.choice([2000, 100_000])
        text = text[:-1] + ', "deep": ' + "[" * d + "]" * d + "}" if text.endswith("}") else text
    return text.encode()


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 8])):
        if not b:
            b += bytes([rng.randrange(256)])
        op = rng.random()
        i = rng.randrange(len(b))
        if op < 0.4:
            b[i] ^= 1 << rng.randrange(8)
        elif op < 0.6:
            b[i] = rng.choice([0, 0xFF, 0x7F, 0x80, ord("["), ord("{"), ord('"'), ord("9")])
        elif op < 0.75:
            del b[i : i + rng.choice([1, 4, 64])]
        elif op < 0.9:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 16])))
        else:
            j = rng.randrange(len(b))
            b[i:i] = b[j : j + rng.choice([8, 64, 512])]
    return bytes(b)


def mutate(rng: random.Random, target: str, seed: bytes) -> bytes:
    if target == "header":
        import struct

        (n,) = struct.unpack("<Q", seed[:8])
        header, data = seed[8 : 8 + n], seed[8 + n :]
        roll = rng.random()
        if roll < 0.55:
            doc = _mutate_json(rng, json.loads(header))
            text = _dump(rng, doc)
            text += b" " * (-len(text) % 8)
            return struct.pack("<Q", len(text)) + text + data
        if roll < 0.75:
            text = _mutate_bytes(rng, header)
            return struct.pack("<Q", len(text)) + text + data
        if roll < 0.85:
            return struct.pack("<Q", rng.choice([0, n - 1, n + 1, 2**63, 2**64 - 1, len(seed)])) + seed[8:]
        return _mutate_bytes(rng, seed)
    if rng.random() < 0.8:
        return _dump(rng, _mutate_json(rng, json.loads(seed)))
    return _mutate_bytes(rng, seed)


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    where = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
    return f"{type(exc).__name__} at {where}"


def python_loop(harness: Harness, seconds: float, seed: int, findings: Path, max_inputs: int | None = None) -> dict:
    rng = random.Random(seed)
    start = time.monotonic()
    tried = {t: 0 for t in TARGETS}
    found: dict[str, str] = {}
    while time.monotonic() - start < seconds and (max_inputs is None or sum(tried.values()) < max_inputs):
        target = TARGETS[sum(tried.values()) % len(TARGETS)]
        data = mutate(rng, target, harness.seeds[target])
        tried[target] += 1
        try:
            harness.run(target, data)
        except Exception as exc:  # a finding
            sig = f"{target}: {_signature(exc)}"
            if sig not in found:
                found[sig] = traceback.format_exc(limit=-4)
                findings.mkdir(parents=True, exist_ok=True)
                stem = f"{target}-{len(found):03d}"
                (findings / f"{stem}.bin").write_bytes(data)
                (findings / f"{stem}.txt").write_text(f"{sig}\n\n{found[sig]}")
                print(f"FINDING {sig}", flush=True)
    elapsed = time.monotonic() - start
    return {"inputs": tried, "total": sum(tried.values()), "seconds": round(elapsed, 1), "findings": sorted(found)}


# -- atheris ---------------------------------------------------------------------------------------


def atheris_main(harness: Harness, seconds: int, seed: int) -> None:
    import atheris

    def one_input(data: bytes) -> None:
        if not data:
            return
        target = TARGETS[data[0] % len(TARGETS)]
        harness.run(target, data[1:])

    seeds = Path(tempfile.mkdtemp(prefix="fuzz-seeds-"))
    for i, t in enumerate(TARGETS):
        (seeds / t).write_bytes(bytes([i]) + harness.seeds[t])
    args = [sys.argv[0], f"-max_total_time={seconds}", f"-seed={seed}", "-rss_limit_mb=4096", str(seeds)]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--atheris", action="store_true", help="coverage-guided (needs `pip install atheris`)")
    parser.add_argument("--findings", type=Path, default=Path(__file__).with_name("findings"))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fuzz-loader-"))
    if args.atheris:
        import atheris

        # Coverage for the loader's modules. instrument_imports() misses modules found through an
        # editable install's import hook, so instrument what is loaded instead.
        import llada_studio.core.checkpoint  # noqa: F401
        import llada_studio.core.checkpoint_writer  # noqa: F401

        atheris.instrument_all()
    try:
        harness = Harness(work)
        if args.atheris:
            atheris_main(harness, int(args.seconds), args.seed)
            return 0
        report = python_loop(harness, args.seconds, args.seed, args.findings)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"fuzz_loader: {json.dumps(report)}")
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
