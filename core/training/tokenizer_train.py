"""Byte-level BPE tokenizer with LLaDA's special tokens, trained on the training split only."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from ..checkpoint_writer import SPECIAL_TOKENS

# Ids 0..6, in this order: the one list the checkpoint writer (and so every fixture) uses too.
BOS, EOS, EOT, MASK, PAD = SPECIAL_TOKENS[:5]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )

    def batches() -> Iterator[list[str]]:
        buf: list[str] = []
        for t in texts:
            buf.append(t)
            if len(buf) >= 256:
                yield buf
                buf = []
        if buf:
            yield buf

    tok.train_from_iterator(batches(), trainer=trainer)
    return tok


def special_ids(tok: Tokenizer) -> dict[str, int]:
    ids = {name: tok.token_to_id(name) for name in SPECIAL_TOKENS}
    missing = [k for k, v in ids.items() if v is None]
    if missing:
        raise ValueError(f"tokenizer lacks special tokens {missing}")
    return ids  # type: ignore[return-value]


def tokenizer_config(max_length: int) -> dict:
    """tokenizer_config.json for the shipped base model: training sequences start with BOS."""
    return {
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": max_length,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
