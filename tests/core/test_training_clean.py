"""Corpus cleaning, held-out split and evaluation figures of the training recipe (no network)."""

from llada_studio.core.training import clean
from llada_studio.core.training.corpus import split_documents
from llada_studio.core.training.evaluate import (
    distinct_ngram_ratio,
    in_wordlist,
    longest_copied_run,
    word_share,
    words_of,
)


def test_unwrap_joins_hard_wrapped_lines_into_paragraphs():
    lines = [
        "It is a truth universally acknowledged, that a single man in possession",
        "of a good fortune, must be in want of a wife.",
        "",
        "",
        "However little known",
    ]
    assert clean.unwrap_paragraphs(lines) == [
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
        "must be in want of a wife.",
        "However little known",
    ]


def test_italics_and_headings():
    assert clean.strip_italics("she was _very_ much _surprised_.") == "she was very much surprised."
    for h in ("CHAPTER I", "Chapter 12", "VOLUME II", "THE END", "Finis", "XIV"):
        assert clean.is_heading(h), h
    for p in ("It was a dark night.", '"MY DEAR FRIEND,--', "Mr. Darcy bowed."):
        assert not clean.is_heading(p), p


def test_clean_paragraphs_drops_headings_and_italics():
    lines = ["CHAPTER I", "", "The _family_ of Dashwood had long", "been settled in Sussex.", "", "THE END"]
    assert clean.clean_paragraphs(lines) == ["The family of Dashwood had long been settled in Sussex."]


def test_strip_gutenberg_header_and_footer():
    text = (
        "The Project Gutenberg EBook of X\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n"
        "Call me Ishmael.\nEnd of Project Gutenberg's X\nlicence text"
    )
    assert clean.strip_gutenberg(text).strip() == "Call me Ishmael."


def test_split_chapters():
    lines = ["Title", "CHAPTER 1. Loomings.", "a", "b", "CHAPTER 2. The Carpet-Bag.", "c"]
    assert clean.split_chapters(lines, r"^CHAPTER \d+\.") == [["a", "b"], ["c"]]


def test_brown_detokenize_quotes_and_punctuation():
    line = "``/`` It's/pps+bez not/* for/in making/vbg speeches/nns ''/'' ,/, the/at women/nns said/vbd ./."
    assert clean.detokenize(clean.brown_words(line)) == '"It\'s not for making speeches," the women said.'
    assert clean.detokenize(clean.brown_words("``/`` Eh/uh ,/, Torino/np !/. !/. ''/''")) == '"Eh, Torino!"'
    assert clean.detokenize(clean.brown_words("won/vbd by/in Ivan/np Allen/np Jr./np ./.")) == "won by Ivan Allen Jr."
    assert clean.detokenize(["a", "(", "b", ")", "--", "c", ";", "d", "?"]) == "a (b)--c; d?"


def test_brown_paragraphs_join_sentences():
    raw = "\n\n\tThe/at dog/nn ran/vbd ./.\nIt/pps barked/vbd ./.\n\n\n\tNext/ap one/cd ./.\n"
    assert clean.brown_paragraphs(raw) == ["The dog ran. It barked.", "Next one."]


def test_normalize():
    assert clean.normalize("\ufeffa\u2019b \u201cc\u201d\r\nd\u2014e") == 'a\'b "c"\nd--e'


def test_split_holds_out_by_document_per_source_and_is_seeded():
    docs = [{"id": f"{s}/{i}", "source": s, "text": "x"} for s in ("a", "b") for i in range(150)]
    train, val = split_documents(docs, seed=0)
    assert len(val) == 4 and {d["source"] for d in val} == {"a", "b"}
    assert not {d["id"] for d in train} & {d["id"] for d in val}
    assert [d["id"] for d in split_documents(docs, seed=0)[1]] == [d["id"] for d in val]
    assert [d["id"] for d in split_documents(docs, seed=1)[1]] != [d["id"] for d in val]


def test_evaluation_figures():
    words = words_of("The whale's jaw, the whale's jaw, and the sea.")
    assert words == ["the", "whale's", "jaw", "the", "whale's", "jaw", "and", "the", "sea"]
    wl = {"the", "whale", "jaw", "and", "sea"}
    assert in_wordlist("whale's", wl) and not in_wordlist("blorp", wl)
    assert word_share(["the", "blorp"], wl) == 0.5
    assert distinct_ngram_ratio(["a", "b", "c", "a", "b", "c"]) == 0.75
    hay = " it was the best of times it was the worst of times "
    assert longest_copied_run(["so", "it", "was", "the", "best", "day"], hay) == (4, "it was the best")
    assert longest_copied_run(["none", "here"], hay) == (0, "")
