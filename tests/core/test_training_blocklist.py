"""The corpus filter for slurs: whole words, any case, whole paragraphs dropped."""

from __future__ import annotations

import base64

from llada_studio.core.training.blocklist import BLOCKED, drop_offensive_paragraphs, offensive_words

SAMPLE = base64.b64decode(b"a2lrZQ==").decode()  # one of the listed words, not spelled in the source


def test_whole_words_any_case():
    assert SAMPLE in BLOCKED
    assert offensive_words(f"He said {SAMPLE.upper()}, then left.") == [SAMPLE.upper()]
    assert offensive_words(f"a {SAMPLE}ry b") == []  # whole words only
    assert offensive_words("Japan and the japonica; darkness; spice; woplet") == []


def test_paragraphs_with_them_are_dropped():
    docs = [
        {"id": "a", "source": "x", "text": f"First paragraph.\n\nThe {SAMPLE} line.\n\nLast one."},
        {"id": "b", "source": "x", "text": f"Only {SAMPLE}."},
        {"id": "c", "source": "x", "text": "Clean text."},
    ]
    kept, dropped = drop_offensive_paragraphs(docs)
    assert dropped == 2
    assert [d["id"] for d in kept] == ["a", "c"]
    assert kept[0]["text"] == "First paragraph.\n\nLast one."
