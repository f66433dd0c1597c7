"""`llada-studio generate PROMPT [options]`: one generation, drawn live in a terminal.

In a terminal the reveal is shown live (masks visible, step k/n); `--json` prints one JSON
object with the prompt and generated ids, the text, the parameters, the whole trajectory and
the timings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from typing import Any, TextIO

from .engine import ENGINE_KINDS
from .events import StepEvent
from .params import CACHE_MODES, DECODING_MODES, REMASKING_MODES, GenerationParams, recommended_params
from .session import Session

MASK_GLYPH = "░"


def _prompt_ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--prompt-ids takes comma-separated integers, e.g. 1,2,3 ({exc})") from exc
    if not ids or any(i < 0 for i in ids):
        raise argparse.ArgumentTypeError("--prompt-ids needs at least one non-negative integer")
    return ids


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    gen = sub.add_parser("generate", help="generate text from a prompt")
    gen.set_defaults(run=run)
    gen.add_argument("prompt", nargs="?", default=None, help="prompt text (omit with --prompt-ids)")
    gen.add_argument("--model", help="checkpoint folder (default: the bundled model)")
    defaults = recommended_params()
    gen.add_argument("--steps", type=int, default=defaults.max_steps, help="sampling steps (default %(default)s)")
    gen.add_argument(
        "--gen-length", type=int, default=defaults.gen_length, help="tokens to generate (default %(default)s)"
    )
    gen.add_argument(
        "--block-length",
        type=int,
        default=defaults.block_length,
        help="semi-autoregressive block length (default %(default)s)",
    )
    gen.add_argument("--temperature", type=float, default=defaults.temperature, help="0 = greedy (default %(default)s)")
    gen.add_argument("--cfg-scale", type=float, default=defaults.cfg_scale, help="classifier-free guidance, 0 = off")
    gen.add_argument(
        "--remasking", default=defaults.remasking, choices=REMASKING_MODES, help="which proposals to commit first"
    )
    gen.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default %(default)s)")
    gen.add_argument("--logits-eos-inf", action="store_true", help="never propose EOS")
    gen.add_argument("--confidence-eos-eot-inf", action="store_true", help="commit EOS/EOT proposals last")
    gen.add_argument(
        "--decoding",
        default=defaults.decoding,
        choices=DECODING_MODES,
        help="fixed: the reference schedule; threshold/factor: parallel decoding (Fast-dLLM)",
    )
    gen.add_argument(
        "--threshold", type=float, default=defaults.threshold, help="confidence threshold for --decoding threshold"
    )
    gen.add_argument("--factor", type=float, default=defaults.factor, help="factor for --decoding factor")
    gen.add_argument(
        "--cache",
        default=defaults.cache,
        choices=CACHE_MODES,
        help="block KV cache (approximate): none, prefix or dual",
    )
    gen.add_argument(
        "--engine", default="auto", choices=(*ENGINE_KINDS, "auto"), help="cpp (default when built) or torch"
    )
    gen.add_argument("--device", default="cpu", help="cpu, or cuda / cuda:N with the torch engine")
    gen.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    gen.add_argument("--prompt-ids", type=_prompt_ids, default=None, help="raw token ids instead of text, e.g. 1,2,3")
    gen.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of the live view")
    gen.add_argument("--no-live", action="store_true", help="print only the final text")


class LiveView:
    """Redraws the generated region in place: masks as ░, step k/n, block b/B."""

    def __init__(self, session: Session, gen_length: int, out: TextIO, prompt: str = "") -> None:
        self.session = session
        self.out = out
        self.prompt = prompt  # shown dimmed before the generated region
        self.ids: list[int | None] = [None] * gen_length
        self.lines_drawn = 0
        self.dynamic = False

    def _render(self, header: str) -> str:
        texts = self.session.tokenizer.token_texts([t for t in self.ids if t is not None])
        it = iter(texts)
        body = "".join(MASK_GLYPH if t is None else next(it) for t in self.ids)
        return f"{header}\n{self.prompt}{body}"

    def draw(self, header: str) -> None:
        width = max(20, shutil.get_terminal_size().columns)
        text = self._render(header)
        if self.lines_drawn:
            self.out.write(f"\x1b[{self.lines_drawn}F\x1b[J")  # back to our first line, clear below
        # Dim the prompt; the line count below is taken on the plain text (escapes take no room).
        shown = text.replace(self.prompt, f"\x1b[2m{self.prompt}\x1b[0m", 1) if self.prompt else text
        self.out.write(shown + "\n")
        self.out.flush()
        self.lines_drawn = sum(max(1, -(-len(line) // width)) for line in text.split("\n"))

    def on_step(self, event: StepEvent) -> None:
        for pos, tok in zip(event.positions[0], event.tokens[0]):
            self.ids[pos] = tok
        total = f"≤{event.total_steps}" if self.dynamic else str(event.total_steps)
        where = f"block {event.block + 1}/{event.num_blocks} · {event.elapsed:.1f} s"
        self.draw(f"step {event.step}/{total} · forward passes {event.forward_passes} · {where}")


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.prompt is None and args.prompt_ids is None:
        raise SystemExit("llada-studio generate: give a PROMPT or --prompt-ids 1,2,3")
    params = GenerationParams(
        max_steps=args.steps,
        gen_length=args.gen_length,
        block_length=args.block_length,
        temperature=args.temperature,
        cfg_scale=args.cfg_scale,
        remasking=args.remasking,
        logits_eos_inf=args.logits_eos_inf,
        confidence_eos_eot_inf=args.confidence_eos_eot_inf,
        seed=args.seed,
        decoding=args.decoding,
        threshold=args.threshold,
        factor=args.factor,
        cache=args.cache,
    )
    t0 = time.perf_counter()
    session = Session.open(args.model, engine=args.engine, device=args.device, threads=args.threads)
    load_s = time.perf_counter() - t0
    if args.prompt_ids is not None:
        prompt_ids = list(args.prompt_ids)
        vocab = session.checkpoint.config.embedding_size
        if max(prompt_ids) >= vocab:
            raise ValueError(f"--prompt-ids: id {max(prompt_ids)} is outside the vocabulary (0..{vocab - 1})")
    else:
        prompt_ids = session.encode(args.prompt, chat=args.chat)
    live = None
    if not args.json and not args.no_live and out.isatty():
        live = LiveView(session, params.gen_length, out, args.prompt or "")
        live.dynamic = params.dynamic_steps
        live.draw(f"{session.description} · step 0/{params.max_steps}")
    result = session.generate_ids([prompt_ids], params, live.on_step if live else None)
    if args.json:
        payload: dict[str, Any] = {
            "model": str(session.checkpoint.path),
            "engine": session.engine.name,
            "threads": session.engine.threads,
            "prompt": args.prompt,
            "prompt_ids": prompt_ids,
            "generated_ids": list(result.generated_ids[0]),
            "text": result.texts[0],
            "params": params.to_dict()
            | {"mask_id": params.mask_id if params.mask_id is not None else session.checkpoint.mask_id},
            "trajectory": [e.to_json() for e in result.trajectory],
            "timings": {"load_s": load_s, **result.timings},
        }
        json.dump(payload, out, ensure_ascii=False)
        out.write("\n")
    else:
        if live is None:
            out.write(result.texts[0] + "\n")
        else:
            total = result.timings.get("total_s", 0.0)
            passes = result.trajectory[-1].forward_passes if result.trajectory else 0
            out.write(
                f"\n{result.texts[0]}\n\n[{len(result.trajectory)} steps, {passes} forward passes, {total:.2f} s, "
                f"{params.gen_length / max(total, 1e-9):.1f} tokens/s, {session.description}]\n"
            )
    return 0
