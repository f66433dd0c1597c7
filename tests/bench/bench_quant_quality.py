"""Quality of the bundled model per weight format on the C++ engine (issue 14). Not in CI.

For bf16 (the bundled safetensors) and the GGUF files `llada-studio quantize` writes from it
(Q8_0, Q4_0, Q4_K, Q4_K_M), with the model card's 20 prompts (core/training/evaluate.py) in one
left-padded batch:

- logits of one canvas against a float64 forward on the format's dequantized weights (relative
  error: max |diff| / max |ref|, the kernels' own error, the weights' rounding excluded);
- T=0 tokens against bf16's (share of identical generated tokens; gen 128, steps 128, block 8);
  with `--reference FMT`, also the C++ engine's T=0 tokens for FMT against the PyTorch reference
  on the same file (it dequantizes the weights): the kernels' own share, the weights' rounding
  excluded;
- the model card's sampling figures at its settings (gen 128, steps 128, block 8, temperature 1.0,
  low_confidence, seed 0): share of words in /usr/share/dict/words (pooled / lowest sample) and
  distinct word 3-gram ratio (mean / lowest sample), with evaluate.py's functions. The model card
  ran the PyTorch reference sampler; here every format runs the C++ engine, bf16 included.

The bundled model's width is 384, not a multiple of 256: Q4_K's super-blocks fit only ffn_down
(rows of 1024 values); the other matrices fall back to Q4_0 (llama.cpp writes Q5_0 there), so
"q4_k" here is mostly Q4_0 and the figures say little about Q4_K itself.

    python tests/bench/bench_quant_quality.py --threads 2       # about 15 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from llada_studio.core.checkpoint import load_checkpoint  # noqa: E402
from llada_studio.core.cli_quantize import quantize_checkpoint  # noqa: E402
from llada_studio.core.cpp_engine import CppEngine  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402
from llada_studio.core.resources import bundled_model_dir  # noqa: E402
from llada_studio.core.session import Session  # noqa: E402
from llada_studio.core.training.evaluate import (  # noqa: E402
    PROMPTS,
    distinct_ngram_ratio,
    load_wordlist,
    word_share,
    words_of,
)

FORMATS = ("bf16", "q8_0", "q4_0", "q4_k", "q4_k_m")


def logits_rel_err(path: Path, threads: int) -> float:
    import torch

    from llada_studio.core.torch_backend.model import LLaDAModel

    ck = load_checkpoint(path)
    ids = np.random.default_rng(0).integers(32, ck.config.vocab_size, size=(2, 96))
    with torch.no_grad():
        ref = LLaDAModel.from_checkpoint(ck, dtype=torch.float64)(torch.as_tensor(ids)).double().numpy()
    y = CppEngine(ck, threads=threads).forward_logits(ids)
    return float(np.abs(y - ref).max() / np.abs(ref).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--wordlist", type=Path, default=Path("/usr/share/dict/words"))
    ap.add_argument("--folder", default="")
    ap.add_argument("--reference", default="", help="formats whose T=0 tokens are also compared with the torch engine")
    args = ap.parse_args()
    formats = args.formats.split(",")
    folder = Path(args.folder or tempfile.mkdtemp(prefix="quant_quality_"))
    folder.mkdir(parents=True, exist_ok=True)
    wordlist = load_wordlist(args.wordlist)
    src = bundled_model_dir()
    paths = {f: src if f == "bf16" else quantize_checkpoint(src, folder / f"tiny-{f}.gguf", f) for f in formats}
    greedy = GenerationParams(max_steps=128, gen_length=128, block_length=8, temperature=0.0)
    card = GenerationParams(
        max_steps=128, gen_length=128, block_length=8, temperature=1.0, remasking="low_confidence", seed=0
    )
    prompts = list(PROMPTS)
    results: dict[str, dict] = {}
    t0_ids = {}
    for fmt in formats:
        t = time.perf_counter()
        s = Session.open(paths[fmt], engine="cpp", threads=args.threads)
        t0_ids[fmt] = s.generate(prompts, greedy).generated_ids
        res = s.generate(prompts, card)
        shares, ratios, n_words = [], [], []
        for ids in res.generated_ids:
            w = words_of(s.decode(ids))
            shares.append(word_share(w, wordlist))
            ratios.append(distinct_ngram_ratio(w))
            n_words.append(len(w))
        size = sum(p.stat().st_size for p in Path(paths[fmt]).glob("*.safetensors")) if fmt == "bf16" else None
        results[fmt] = {
            "file_mib": (size if size is not None else Path(paths[fmt]).stat().st_size) / 2**20,
            "logits_rel_err": logits_rel_err(Path(paths[fmt]), args.threads) if fmt != "bf16" else None,
            "word_share_pooled": float(np.dot(shares, n_words) / max(1, sum(n_words))),
            "word_share_min": float(min(shares)),
            "distinct3_mean": float(np.mean(ratios)),
            "distinct3_min": float(min(ratios)),
            "seconds": time.perf_counter() - t,
        }
        if fmt != "bf16" and "bf16" in t0_ids:
            a, b = t0_ids["bf16"], t0_ids[fmt]
            results[fmt]["t0_identical"] = float(np.mean([x == y for ra, rb in zip(a, b) for x, y in zip(ra, rb)]))
        if fmt in args.reference.split(","):
            ref = Session.open(paths[fmt], engine="torch", threads=args.threads).generate(prompts, greedy)
            a, b = t0_ids[fmt], ref.generated_ids
            results[fmt]["t0_identical_to_torch"] = float(
                np.mean([x == y for ra, rb in zip(a, b) for x, y in zip(ra, rb)])
            )
        print(f"{fmt}: {json.dumps(results[fmt])}", flush=True)

    print(
        "\n| format | file MiB | logits rel err vs float64 | T=0 tokens identical to bf16 | word share pooled / min "
        "| distinct 3-grams mean / min |"
    )
    print("|---|---|---|---|---|---|")
    for fmt, r in results.items():
        err = f"{r['logits_rel_err']:.1e}" if r["logits_rel_err"] is not None else "-"
        same = f"{r['t0_identical']:.3f}" if "t0_identical" in r else "-"
        words = f"{r['word_share_pooled']:.3f} / {r['word_share_min']:.3f}"
        grams = f"{r['distinct3_mean']:.3f} / {r['distinct3_min']:.3f}"
        print(f"| {fmt} | {r['file_mib']:.1f} | {err} | {same} | {words} | {grams} |")
    print("json " + json.dumps(results))


if __name__ == "__main__":
    main()
