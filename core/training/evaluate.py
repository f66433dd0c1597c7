"""Measure a trained checkpoint: samples from held-out prompts with the reference sampler
(core/torch_backend/sampler.py), and their figures:

- share of words found in an English word list (/usr/share/dict/words, Debian's wamerican);
- distinct word 3-gram ratio of each sample;
- longest run of consecutive words copied verbatim from the training text;
- optionally the validation losses (ELBO-weighted, and plain CE at a fixed 50% mask).

    python -m core.training.evaluate --model resources/models/llada-studio-tiny \
        --data work_data --steps 128 --gen-length 128 --block-length 32 --temperature 0.8
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from .blocklist import offensive_words

# Openings written for this evaluation; the script checks that none occurs in the training text.
PROMPTS = (
    "The lighthouse keeper had not spoken to anyone for",
    "When the letter finally arrived, Margaret",
    "On the morning of the storm, the village",
    "He opened the door slowly and saw",
    "The committee met again on Thursday to consider",
    "It was late in the autumn when the young doctor",
    "My grandmother used to say that",
    "The ship lay at anchor in the quiet bay, and",
    "Nobody in the town could remember the last time",
    "She looked at the old photograph and",
    "The new road through the valley",
    "After dinner the two brothers walked down to the river",
    "The professor cleared his throat and began",
    "There was a small garden behind the house where",
    "The captain of the whaler stood on deck and",
    "Mrs. Weston had always believed that",
    "The report from the city council showed that",
    "In the evening the wind rose, and the children",
    "Elizabeth could not help wondering why",
    "The sheriff rode into town just before noon, and",
)

WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


def words_of(text: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(text)]


def load_wordlist(path: Path) -> set[str]:
    return {w.strip().lower() for w in path.read_text(encoding="utf-8", errors="replace").splitlines() if w.strip()}


def in_wordlist(word: str, wordlist: set[str]) -> bool:
    """A word counts as English if the list has it, or it without a possessive / contraction."""
    if word in wordlist:
        return True
    for suffix in ("'s", "'", "n't", "'ll", "'d", "'re", "'ve", "'m"):
        if word.endswith(suffix) and word[: -len(suffix)] in wordlist:
            return True
    return word in {"i", "a"}


def word_share(words: list[str], wordlist: set[str]) -> float:
    return sum(in_wordlist(w, wordlist) for w in words) / max(1, len(words))


def distinct_ngram_ratio(words: list[str], n: int = 3) -> float:
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / max(1, len(grams))


def longest_copied_run(words: list[str], haystack: str) -> tuple[int, str]:
    """Longest run of consecutive words of `words` found in `haystack` (the training text's
    words, lower case, joined by single spaces, with a space at each end)."""
    best, best_text = 0, ""
    i = 0
    while i + best < len(words):
        phrase = " " + " ".join(words[i : i + best + 1]) + " "
        if phrase in haystack:
            best += 1
            best_text = phrase.strip()
        else:
            i += 1
    return best, best_text


def training_haystack(data: Path) -> str:
    """From build_all's output: corpus/train.jsonl, or else the packed training tokens decoded."""
    jsonl = data / "corpus" / "train.jsonl"
    if jsonl.is_file():
        from .corpus import read_jsonl

        texts = [d["text"] for d in read_jsonl(jsonl)]
    else:
        import numpy as np
        from tokenizers import Tokenizer as HFTokenizer

        tok = HFTokenizer.from_file(str(data / "arrays" / "tokenizer.json"))
        stream = np.load(data / "arrays" / "train_tokens.npy").astype(np.int64)
        eos = tok.token_to_id("<|endoftext|>")
        cuts = np.flatnonzero(stream == eos)
        docs = np.split(stream, cuts + 1)
        texts = tok.decode_batch([d.tolist() for d in docs if d.size], skip_special_tokens=True)
    return " " + " ".join(w for t in texts for w in words_of(t)) + " "


def sample_figures(
    model, tok, cfg, params, prompts, wordlist: set[str], haystack: str, device, verbose: bool = True
) -> dict:
    """Generate one sample per prompt (one left-padded batch, as the session does) and measure."""
    import torch

    from ..torch_backend.sampler import generate

    for p in prompts:
        if " " + " ".join(words_of(p)) + " " in haystack:
            raise SystemExit(f"prompt occurs in the training text: {p!r}")
    encoded = [tok.encode(p) for p in prompts]
    P = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), P), cfg.pad_token_id, dtype=torch.long)
    attn = torch.zeros((len(encoded), P), dtype=torch.bool)
    for r, e in enumerate(encoded):
        ids[r, P - len(e) :] = torch.tensor(e)
        attn[r, P - len(e) :] = True
    t0 = time.time()
    with torch.no_grad():
        canvas, _, _ = generate(
            model, ids.to(device), attn.to(device), params, cfg.mask_token_id, cfg.eos_token_id, cfg.eot_token_id
        )
    canvas = canvas.cpu()
    gen_s = time.time() - t0
    report: dict = {"settings": params.to_dict(), "samples": []}
    shares, ratios, runs = [], [], []
    all_words = 0
    for r, p in enumerate(prompts):
        out = canvas[r, P:].tolist()
        stop = [i for i, t in enumerate(out) if t in (cfg.eos_token_id, cfg.eot_token_id)]
        text = tok.decode(out[: stop[0]] if stop else out)
        w = words_of(text)
        all_words += len(w)
        share, ratio = word_share(w, wordlist), distinct_ngram_ratio(w)
        run, run_text = longest_copied_run(w, haystack)
        shares.append(share)
        ratios.append(ratio)
        runs.append(run)
        report["samples"].append(
            {
                "prompt": p,
                "text": text,
                "words": len(w),
                "word_share": share,
                "distinct3": ratio,
                "longest_copy": run,
                "longest_copy_text": run_text,
                "stopped_at_eos": bool(stop),
                "offensive_words": len(offensive_words(text)),
            }
        )
        if verbose:
            print(f"--- [{r}] words {len(w)} share {share:.3f} d3 {ratio:.3f} copy {run}\n{p}{text}\n", flush=True)
    unknown = sorted({x for s in report["samples"] for x in words_of(s["text"]) if not in_wordlist(x, wordlist)})
    report["figures"] = {
        "word_share_pooled": sum(s["word_share"] * s["words"] for s in report["samples"]) / max(1, all_words),
        "word_share_min": min(shares),
        "distinct3_mean": sum(ratios) / len(ratios),
        "distinct3_min": min(ratios),
        "longest_copy_max": max(runs),
        "longest_copy_mean": sum(runs) / len(runs),
        "mean_words": all_words / len(prompts),
        "stopped_at_eos": sum(s["stopped_at_eos"] for s in report["samples"]),
        "offensive_words": sum(s["offensive_words"] for s in report["samples"]),
        "generation_seconds": round(gen_s, 1),
        "unknown_words": unknown[:80],
    }
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("resources/models/llada-studio-tiny"))
    ap.add_argument("--data", type=Path, default=Path("work_data"), help="build_all's output folder")
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--gen-length", type=int, default=128)
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--remasking", default="low_confidence")
    ap.add_argument("--cfg-scale", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=20, help="number of prompts (samples)")
    ap.add_argument("--wordlist", type=Path, default=Path("/usr/share/dict/words"))
    ap.add_argument("--val", action="store_true", help="also compute validation losses (slow on CPU)")
    ap.add_argument("--val-windows", type=int, default=0, help="use the first N validation windows (0: all)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures and samples here")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    from ..checkpoint import load_checkpoint
    from ..params import GenerationParams
    from ..tokenizer import Tokenizer
    from ..torch_backend.model import LLaDAModel

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ckpt = load_checkpoint(args.model)
    cfg = ckpt.config
    model = LLaDAModel.from_checkpoint(ckpt, dtype=torch.float32, device=device)
    tok = Tokenizer(args.model)
    wordlist = load_wordlist(args.wordlist)
    haystack = training_haystack(args.data)
    val = None
    if args.val:
        import numpy as np

        from .train import evaluate as val_eval
        from .train import val_windows

        windows = val_windows(np.load(args.data / "arrays" / "val_tokens.npy"), cfg.bos_token_id, 256)
        if args.val_windows:
            windows = windows[: args.val_windows]
        t0 = time.time()
        val = val_eval(model, windows, cfg.mask_token_id, device, amp=False, batch=16)
        print(f"validation ({windows.shape[0]} windows, {time.time() - t0:.0f}s): {val}", flush=True)

    params = GenerationParams(
        max_steps=args.steps,
        gen_length=args.gen_length,
        block_length=args.block_length,
        temperature=args.temperature,
        remasking=args.remasking,
        cfg_scale=args.cfg_scale,
        seed=args.seed,
    )
    report = sample_figures(model, tok, cfg, params, PROMPTS[: args.n], wordlist, haystack, device)
    report["model"] = str(args.model)
    if val is not None:
        report["val"] = val
    print(json.dumps(report["figures"], indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
