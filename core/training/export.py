"""Reassemble the weights a GPU run brought back (bf16 safetensors chunks) into a LLaDA-format
checkpoint folder, through core.checkpoint_writer, and check that it loads.

    python -m core.training.export --run work_data/device_run1 --data work_data/arrays \
        --out resources/models/llada-studio-tiny
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..checkpoint import load_checkpoint
from ..checkpoint_writer import write_checkpoint
from ..config import ModelConfig
from . import tokenizer_train


def load_chunks(folder: Path) -> dict:
    from safetensors.torch import load_file

    tensors = {}
    for f in sorted(folder.glob("weights-*.safetensors")):
        for name, t in load_file(str(f)).items():
            tensors[name] = t.float().numpy()
    return tensors


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True, help="folder with model/ and summary_<size>.json")
    ap.add_argument("--data", type=Path, default=Path("work_data/arrays"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--max-len",
        type=int,
        default=512,
        help="max_sequence_length written to config.json (training used 256-token windows)",
    )
    ap.add_argument("--size", default=None, help="the size whose weights are in model/ (default: lowest val_elbo)")
    args = ap.parse_args(argv)

    summaries = {p.stem.removeprefix("summary_"): json.loads(p.read_text()) for p in args.run.glob("summary_*.json")}
    if (args.run / "summaries.json").is_file():
        summaries.update(json.loads((args.run / "summaries.json").read_text()))
    size = args.size or min(summaries, key=lambda s: summaries[s]["best"]["val_elbo"])
    raw_cfg = dict(summaries[size]["config"], max_sequence_length=args.max_len)
    cfg = ModelConfig(**raw_cfg)
    tensors = load_chunks(args.run / "model")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(args.data / "tokenizer.json"))
    ids = tokenizer_train.special_ids(tok)
    assert cfg.mask_token_id == ids[tokenizer_train.MASK] and cfg.bos_token_id == ids[tokenizer_train.BOS]
    assert cfg.eos_token_id == ids[tokenizer_train.EOS] and cfg.eot_token_id == ids[tokenizer_train.EOT]
    write_checkpoint(
        args.out, cfg, tensors, tok, tokenizer_train.tokenizer_config(cfg.max_sequence_length), dtype="bf16"
    )
    ckpt = load_checkpoint(args.out)
    print(f"wrote {args.out}: {size}, {ckpt.num_parameters:,} parameters, {ckpt.file_bytes / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
