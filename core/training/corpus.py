"""Build the cleaned corpus: documents from every source, a seeded held-out split by document."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from . import sources


def build_documents(raw: Path, bible: bool = False) -> list[dict]:
    sources.fetch(raw)
    docs = sources.austen_documents(raw) + sources.mobydick_documents(raw) + sources.brown_documents(raw)
    if bible:
        docs += sources.bible_documents(raw)
    return docs


def split_documents(docs: list[dict], seed: int, val_fraction: float = 0.01) -> tuple[list[dict], list[dict]]:
    """Hold out about `val_fraction` of the documents of each source (at least one each)."""
    rng = random.Random(seed)
    by_source: dict[str, list[dict]] = {}
    for d in docs:
        by_source.setdefault(d["source"], []).append(d)
    val_ids: set[str] = set()
    for name in sorted(by_source):
        group = by_source[name]
        k = max(1, math.floor(len(group) * val_fraction + 0.5))
        val_ids.update(d["id"] for d in rng.sample(group, k))
    train = [d for d in docs if d["id"] not in val_ids]
    val = [d for d in docs if d["id"] in val_ids]
    return train, val


def write_jsonl(docs: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
