"""Try sampler settings on one or more checkpoints (the 20 evaluation prompts each) and write
every setting's figures and samples to one JSON file; used to pick the app's defaults.

    python -m core.training.sweep --models resources/models/llada-studio-tiny --out sweep.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .evaluate import PROMPTS, load_wordlist, sample_figures, training_haystack

# (temperature, remasking, steps, block_length); gen_length 128
SETTINGS = [
    (0.8, "low_confidence", 128, 32),
    (1.0, "low_confidence", 128, 32),
    (1.0, "low_confidence", 128, 16),
    (0.9, "low_confidence", 128, 8),
    (1.0, "low_confidence", 128, 8),
    (1.0, "random", 128, 32),
    (1.0, "random", 128, 128),
    (0.9, "random", 128, 32),
    (0.8, "random", 128, 16),
    (1.0, "margin", 128, 32),
    (1.0, "entropy", 128, 32),
    (0.7, "low_confidence", 128, 4),
    (1.0, "low_confidence", 64, 32),
    (1.0, "random", 64, 32),
]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("work_data"))
    ap.add_argument("--wordlist", type=Path, default=Path("/usr/share/dict/words"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=0, help="only the first N settings")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, nargs="+", default=[0])
    ap.add_argument(
        "--settings",
        nargs="*",
        default=None,
        help="TEMP:REMASKING:STEPS:BLOCK[:GEN_LENGTH] items instead of the built-in list",
    )
    args = ap.parse_args(argv)

    import torch

    from ..checkpoint import load_checkpoint
    from ..params import GenerationParams
    from ..tokenizer import Tokenizer
    from ..torch_backend.model import LLaDAModel

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    wordlist = load_wordlist(args.wordlist)
    haystack = training_haystack(args.data)
    results = []
    settings = [(t, r, s, b, 128) for t, r, s, b in SETTINGS]
    if args.settings:
        settings = []
        for item in args.settings:
            f = item.split(":")
            settings.append((float(f[0]), f[1], int(f[2]), int(f[3]), int(f[4]) if len(f) > 4 else 128))
    settings = settings[: args.limit] if args.limit else settings
    for path in args.models:
        ckpt = load_checkpoint(path)
        model = LLaDAModel.from_checkpoint(ckpt, dtype=torch.float32, device=device)
        tok = Tokenizer(path)
        for (temp, remask, steps, block, gen), seed in ((x, sd) for x in settings for sd in args.seed):
            params = GenerationParams(
                max_steps=steps, gen_length=gen, block_length=block, temperature=temp, remasking=remask, seed=seed
            )
            t0 = time.time()
            rep = sample_figures(
                model, tok, ckpt.config, params, PROMPTS[: args.n], wordlist, haystack, device, verbose=False
            )
            rep["model"] = str(path)
            results.append(rep)
            f = rep["figures"]
            print(
                f"{path.name} T{temp} {remask} steps {steps} block {block} gen {gen} seed {seed}: "
                f"share {f['word_share_pooled']:.3f} "
                f"(min {f['word_share_min']:.3f}) d3 {f['distinct3_mean']:.3f} (min {f['distinct3_min']:.3f}) "
                f"copy max {f['longest_copy_max']} words {f['mean_words']:.0f} eos {f['stopped_at_eos']} "
                f"[{time.time() - t0:.1f}s]",
                flush=True,
            )
            args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
