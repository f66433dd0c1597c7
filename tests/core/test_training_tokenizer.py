"""Byte-level BPE training with LLaDA's special tokens (small, fast, no network)."""

from llada_studio.core.training.build_all import pack
from llada_studio.core.training.tokenizer_train import (
    BOS,
    EOS,
    MASK,
    SPECIAL_TOKENS,
    special_ids,
    tokenizer_config,
    train_tokenizer,
)

TEXT = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife.",
    "Call me Ishmael. Some years ago--never mind how long precisely--having little or no money.",
    '"But she shouldn\'t have come here in the first place," the women had said.',
] * 20


def test_special_tokens_first_and_roundtrip():
    tok = train_tokenizer(TEXT, vocab_size=400)
    ids = special_ids(tok)
    assert [ids[t] for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    assert 300 <= tok.get_vocab_size() <= 400
    for s in TEXT[:3] + ["Ünïcode – café\n\nnew paragraph"]:
        enc = tok.encode(s, add_special_tokens=False)
        assert tok.decode(enc.ids) == s  # byte-level: exact round trip, proper spaces
    # special tokens are single ids and are skipped when decoding
    enc = tok.encode(f"{BOS}Hello{MASK}{EOS}", add_special_tokens=False)
    assert enc.ids[0] == ids[BOS] and ids[MASK] in enc.ids and enc.ids[-1] == ids[EOS]
    assert tok.decode(enc.ids) == "Hello"


def test_tokenizer_config_matches_training():
    cfg = tokenizer_config(512)
    assert cfg["bos_token"] == BOS and cfg["eos_token"] == EOS and cfg["add_bos_token"] is True
    assert "chat_template" not in cfg


def test_pack_stream_and_paragraph_starts():
    tok = train_tokenizer(TEXT, vocab_size=400)
    eos = special_ids(tok)[EOS]
    docs = [{"text": "One para.\n\nTwo para."}, {"text": "Three."}]
    stream, starts = pack(tok, docs, eos)
    assert stream.dtype.name == "uint16" and (stream == eos).sum() == 2 and stream[-1] == eos
    assert len(starts) == 3 and starts[0] == 0
    assert tok.decode(stream[starts[1] :].tolist()).startswith("Two para.")
    assert tok.decode(stream[: starts[2]].tolist(), skip_special_tokens=True) == "One para.\n\nTwo para."
