"""Issue 7 benchmark: parallel decoding and the block KV cache against the plain sampler, on the
bundled model, in one run.

20 prompts (those of core/training/evaluate.py, none in the training text), gen lengths 128 and
256, blocks of 32, greedy (temperature 0) so that outputs can be compared token by token.
The plain sampler commits one token per step (steps = gen length). For each configuration:
forward passes and wall time (mean per prompt, and the ratio to plain), the share of generated
tokens identical to the plain greedy output, and the model issue's quality figures (share of
words in /usr/share/dict/words, distinct word 3-gram ratio).

    python tests/bench/bench_fast_decoding.py [--engine auto|cpp|torch] [--prompts 20] [--threads 2]
        [--set default|fewer-passes]

An engine without a configuration (e.g. a cache mode it lacks) prints "n/a" for that row.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere: the repo root first

import argparse
import platform
import statistics
import time
from pathlib import Path

from llada_studio.core.errors import EngineUnavailableError
from llada_studio.core.params import GenerationParams
from llada_studio.core.session import Session
from llada_studio.core.training.evaluate import PROMPTS, distinct_ngram_ratio, load_wordlist, word_share, words_of

CONFIGS: dict[str, dict[str, object]] = {
    "plain": {},
    "threshold 0.9": {"decoding": "threshold", "threshold": 0.9},
    "factor 1.0": {"decoding": "factor", "factor": 1.0},
    "prefix cache": {"cache": "prefix"},
    "dual cache": {"cache": "dual"},
    "dual + threshold 0.9": {"cache": "dual", "decoding": "threshold", "threshold": 0.9},
}

# Ways to a third of the forward passes, side by side: fewer fixed steps (the reference sampler's
# own knob: 3 tokens per step), Fast-dLLM's factor rule (factor 4 commits at least 3 per step,
# more where confident), each with and without the dual cache, and a low threshold with it.
FEWER_PASSES: dict[str, dict[str, object]] = {
    "plain": {},
    "dual cache": {"cache": "dual"},
    "fixed 1/3 steps": {"steps_div": 3},
    "factor 4.0": {"decoding": "factor", "factor": 4.0},
    "dual + 1/3 steps": {"cache": "dual", "steps_div": 3},
    "dual + factor 4.0": {"cache": "dual", "decoding": "factor", "factor": 4.0},
    "dual + threshold 0.1": {"cache": "dual", "decoding": "threshold", "threshold": 0.1},
}
SETS = {"default": CONFIGS, "fewer-passes": FEWER_PASSES}


def run_config(session: Session, prompts: list[list[int]], params: GenerationParams) -> dict[str, object]:
    passes, seconds, outputs = [], [], []
    for ids in prompts:
        t0 = time.perf_counter()
        result = session.generate_ids([ids], params)
        seconds.append(time.perf_counter() - t0)
        passes.append(result.trajectory[-1].forward_passes)
        outputs.append((result.generated_ids[0], result.texts[0]))
    return {"passes": statistics.mean(passes), "seconds": statistics.mean(seconds), "outputs": outputs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the bundled model)")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--lengths", default="128,256")
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--set", choices=sorted(SETS), default="default", help="which configurations")
    args = ap.parse_args()

    session = Session.open(args.model, engine=args.engine, threads=args.threads)
    wordlist = load_wordlist(Path("/usr/share/dict/words"))
    prompts = [session.encode(p) for p in PROMPTS[: args.prompts]]
    print(f"# {session.description}; {len(prompts)} prompts; blocks of {args.block_length}; greedy")
    print(f"# {platform.node()} {platform.machine()} {time.strftime('%Y-%m-%d %H:%M')}")
    header = f"{'config':<22}{'len':>5}{'passes':>8}{'x fewer':>9}{'wall s':>9}{'x faster':>10}"
    header += f"{'same tok':>10}{'words':>8}{'dist3':>7}"
    print(header)
    for length in (int(v) for v in args.lengths.split(",")):
        base = GenerationParams(max_steps=length, gen_length=length, block_length=args.block_length)
        plain = None
        for name, config in SETS[args.set].items():
            changes = dict(config)
            if "steps_div" in changes:  # fixed steps: a fraction of the gen length, whole steps per block
                blocks = length // args.block_length
                changes["max_steps"] = length // int(changes.pop("steps_div")) // blocks * blocks  # type: ignore[call-overload]
            try:
                res = run_config(session, prompts, base.with_(**changes))
            except (ValueError, EngineUnavailableError) as exc:
                print(f"{name:<22}{length:>5}  n/a ({str(exc)[:60]})")
                continue
            if plain is None:
                plain = res
            same = [
                sum(a == b for a, b in zip(ids, ref_ids)) / len(ref_ids)
                for (ids, _), (ref_ids, _) in zip(res["outputs"], plain["outputs"])
            ]
            words = [words_of(text) for _, text in res["outputs"]]
            share = statistics.mean(word_share(w, wordlist) for w in words if w) if any(words) else 0.0
            dist3 = statistics.mean(distinct_ngram_ratio(w) for w in words if len(w) >= 3) if any(words) else 0.0
            print(
                f"{name:<22}{length:>5}{res['passes']:>8.1f}{plain['passes'] / res['passes']:>9.2f}"
                f"{res['seconds']:>9.3f}{plain['seconds'] / res['seconds']:>10.2f}{statistics.mean(same):>10.3f}"
                f"{share:>8.3f}{dist3:>7.3f}"
            )


if __name__ == "__main__":
    main()
