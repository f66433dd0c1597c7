"""Ethnic and racial slurs the bundled model should not learn to write.

The 1961 Brown corpus quotes them (in fiction and reportage of its time), and a model trained on
it reproduces them: one of the 20 default samples of llada-studio-tiny did. They are multi-token
in its vocabulary, so they cannot be suppressed at sampling time; the recipe drops the paragraphs
that contain them (`build_all --filter-offensive`), and `evaluate` counts them in samples.
Ambiguous words (with an everyday meaning in this period's prose) are left out of the list.
Stored base64-encoded so that the source does not spell them out.
"""

from __future__ import annotations

import base64
import re

_ENCODED = (
    "bmlnZ2Vy",
    "bmlnZ2Vycw==",
    "bmlncmE=",
    "bmlncmFz",
    "ZGFya3k=",
    "ZGFya2llcw==",
    "ZGFya2V5",
    "a2lrZQ==",
    "a2lrZXM=",
    "c3BpYw==",
    "c3BpY3M=",
    "d29w",
    "d29wcw==",
    "ZGFnbw==",
    "ZGFnb3M=",
    "Z29vaw==",
    "Z29va3M=",
    "amFw",
    "amFwcw==",
)
BLOCKED = frozenset(base64.b64decode(e).decode() for e in _ENCODED)
_WORD = re.compile(r"[A-Za-z]+")


def offensive_words(text: str) -> list[str]:
    """The blocked words in `text`, in order (case-insensitive, whole words)."""
    return [w for w in _WORD.findall(text) if w.lower() in BLOCKED]


def drop_offensive_paragraphs(docs: list[dict]) -> tuple[list[dict], int]:
    """Documents with every paragraph that holds a blocked word removed; and how many went."""
    dropped = 0
    kept_docs = []
    for d in docs:
        paragraphs = d["text"].split("\n\n")
        kept = [p for p in paragraphs if not offensive_words(p)]
        dropped += len(paragraphs) - len(kept)
        if kept:
            kept_docs.append({**d, "text": "\n\n".join(kept)})
    return kept_docs, dropped
