"""`llada-studio generate PROMPT [options]`: one generation, drawn live in a terminal.

In a terminal the reveal is shown live (masks visible, step k/n) and ends with a summary line;
piped, the passage (prompt + answer) is printed once; `--json` prints one JSON object with the
prompt and generated ids, the text, the parameters, the whole trajectory and the timings.
The sampler options come from the parameter declarations in core/params.py. Ctrl+C stops at the
next step: the partial text, "stopped after k of n steps", exit status 130.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from .engine import ENGINE_KINDS
from .events import CancelToken, GenerationResult, StepEvent
from .params import SPECS, GenerationParams, ParamError, plural, recommended_params
from .run_file import record_run
from .session import MASK_PLACEHOLDER, Session, count_masked, passage

EXIT_INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl+C (128 + SIGINT)


class UsageError(Exception):
    """A mistake in the command line (exit status 2, like argparse's own)."""


def _prompt_ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--prompt-ids takes comma-separated integers, e.g. 1,2,3 ({exc})") from exc
    if not ids or any(i < 0 for i in ids):
        raise argparse.ArgumentTypeError("--prompt-ids needs at least one non-negative integer")
    return ids


def _add_param_options(parser: argparse.ArgumentParser) -> None:
    """One option per declared generation parameter, defaulting to the recommended settings."""
    defaults = recommended_params()
    for s in SPECS:
        default = getattr(defaults, s.name)
        if isinstance(default, bool):
            parser.add_argument(s.flag, dest=s.name, action="store_true", default=default, help=s.help)
        elif isinstance(default, str) and not s.choices:
            parser.add_argument(s.flag, dest=s.name, default=default, metavar="TEXT", help=s.help)
        elif s.choices:
            parser.add_argument(
                s.flag, dest=s.name, default=default, choices=s.choices, help=f"{s.help} (default %(default)s)"
            )
        else:
            kind = int if isinstance(default, int) else float
            parser.add_argument(s.flag, dest=s.name, type=kind, default=default, help=f"{s.help} (default %(default)s)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    gen = sub.add_parser("generate", help="generate text from a prompt")
    gen.set_defaults(run=run)
    gen.add_argument("prompt", nargs="?", default=None, help="prompt text (omit with --prompt-ids)")
    gen.add_argument("-p", "--prompt", dest="prompt_option", metavar="TEXT", default=None,
                     help="the prompt text as an option (as other LLM tools spell it), instead of PROMPT")
    gen.add_argument("--model", help="checkpoint folder (default: the bundled model)")
    _add_param_options(gen)
    gen.add_argument(
        "--engine", default="auto", choices=(*ENGINE_KINDS, "auto"), help="cpp (default when built) or torch"
    )
    gen.add_argument("--device", default="cpu", help="cpu, or cuda / cuda:N with the torch engine")
    gen.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    gen.add_argument("--prompt-ids", type=_prompt_ids, default=None, help="raw token ids instead of text, e.g. 1,2,3")
    gen.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of the live view")
    gen.add_argument("--no-live", action="store_true", help="print only the final text")
    gen.add_argument(
        "--answer-only", action="store_true", help="print only the generated answer, not the prompt before it"
    )
    gen.add_argument(
        "--best-of",
        type=int,
        default=1,
        metavar="N",
        help="generate N answers (seeds SEED..SEED+N-1) and keep the one the model finds likeliest (ELBO)",
    )


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
        body = "".join(MASK_PLACEHOLDER if t is None else next(it) for t in self.ids)
        return f"{header}\n{passage(self.prompt, body)}"

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
        passes = plural(event.forward_passes, "forward pass", "forward passes")
        self.draw(f"step {event.step}/{total} · {passes} · {where}")


@contextmanager
def _ctrl_c_cancels(cancel: CancelToken) -> Iterator[None]:
    """While generating, Ctrl+C sets the cancel token (the engine stops before its next forward)
    instead of raising KeyboardInterrupt through the C++ callback; a second Ctrl+C quits."""
    try:
        previous = signal.getsignal(signal.SIGINT)
    except ValueError:  # not the main thread: no signal handling there
        yield
        return

    def handler(_signum: int, _frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _best_of(
    session: Session, prompt_ids: list[int], params: GenerationParams, n: int, cancel: CancelToken, log: TextIO
) -> tuple[GenerationResult, GenerationParams]:
    """N answers from consecutive seeds, ranked by their ELBO under the model (64 samples, seed 0
    of the mask draws, the same for every answer so the ranking compares like with like)."""
    from .likelihood import score_ids

    ranked = []
    for k in range(n):
        p = params.with_(seed=(params.seed + k) % (1 << 64))
        result = session.generate_ids([prompt_ids], p, None, cancel)
        if result.cancelled:
            return result, p
        est = score_ids(session, prompt_ids, list(result.generated_ids[0]), mc_num=64, batch_size=16, seed=0)
        log.write(f"best-of: seed {p.seed}: {est.log_likelihood:.1f} nats ({est.nats_per_token:.2f} per token)\n")
        ranked.append((est.log_likelihood, k, result, p))
    best = max(ranked, key=lambda r: (r[0], -r[1]))
    log.write(f"best-of: kept seed {best[3].seed} ({best[0]:.1f} nats), the likeliest of {n}\n")
    return best[2], best[3]


def _params(args: argparse.Namespace) -> GenerationParams:
    try:
        return GenerationParams(**{s.name: getattr(args, s.name) for s in SPECS})
    except ParamError as exc:
        raise UsageError(exc.describe("flag")) from exc


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.prompt_option is not None:
        if args.prompt is not None:
            raise UsageError("give the prompt once: as the PROMPT argument or with --prompt, not both")
        args.prompt = args.prompt_option
    if args.prompt is None and args.prompt_ids is None:
        raise UsageError("give a PROMPT or --prompt-ids 1,2,3")
    if args.prompt is not None and args.prompt_ids is None and not args.prompt.strip():
        # The window refuses an empty prompt too: there is nothing for the model to continue.
        raise UsageError("the prompt is empty: give some text to continue from, or raw ids with --prompt-ids")
    params = _params(args)
    if params.idle_steps:
        useful = params.gen_length
        print(
            f"llada-studio: warning: {params.max_steps} steps for {plural(params.gen_length, 'token')}: "
            f"{plural(params.idle_steps, 'step')} will reveal nothing; use --steps {useful} or fewer",
            file=sys.stderr,
        )
    t0 = time.perf_counter()
    # The memory check counts the canvas this run asks for (a prompt's length is an estimate before
    # the tokenizer has read it: its characters bound its tokens from above).
    prompt_guess = len(args.prompt_ids) if args.prompt_ids is not None else len(args.prompt or "") + 8
    session = Session.open(
        args.model,
        engine=args.engine,
        device=args.device,
        threads=args.threads,
        memory_for=params,
        prompt_tokens=min(prompt_guess, 1 << 20),
    )
    load_s = time.perf_counter() - t0
    if args.prompt_ids is not None:
        prompt_ids = list(args.prompt_ids)
        vocab = session.checkpoint.config.embedding_size
        if max(prompt_ids) >= vocab:
            raise UsageError(f"--prompt-ids: id {max(prompt_ids)} is outside the vocabulary (0..{vocab - 1})")
    else:
        prompt_ids = session.encode(args.prompt, chat=args.chat)
    # What stands before the answer in the printed passage (a chat answer stands alone).
    prompt_text = "" if args.chat or args.prompt is None else args.prompt
    live = None
    if not args.json and not args.no_live and out.isatty():
        live = LiveView(session, params.gen_length, out, "" if args.answer_only else prompt_text)
        live.dynamic = params.dynamic_steps
        try:  # pinned words show from step 0
            live.ids = [None if t == session.mask_id(params) else t for t in session.pinned_canvas(params)]
        except ParamError as exc:
            raise UsageError(exc.describe("flag")) from exc
        live.draw(f"{session.description} · step 0/{params.step_budget}")
    if not 1 <= args.best_of <= 64:
        raise UsageError(f"--best-of {args.best_of} must be from 1 to 64")
    cancel = CancelToken()
    with _ctrl_c_cancels(cancel):
        if args.best_of > 1:
            result, params = _best_of(session, prompt_ids, params, args.best_of, cancel, sys.stderr)
        else:
            result = session.generate_ids([prompt_ids], params, live.on_step if live else None, cancel)
    answer = result.texts[0]
    steps = len(result.trajectory)
    stopped = (
        f"stopped after {steps} of {plural(params.step_budget, 'step')}"
        f" ({plural(count_masked(result.generated_ids[0], session.checkpoint.mask_id), 'position')}"
        f" still masked, shown as {MASK_PLACEHOLDER})"
        if result.cancelled
        else ""
    )
    if args.json:
        record = record_run(
            session, args.prompt if prompt_text or args.chat else None, prompt_ids, params, result, chat=args.chat
        )
        payload = record.to_json()
        payload["timings"] = {"load_s": load_s, **payload["timings"]}
        json.dump(payload, out, ensure_ascii=False)
        out.write("\n")
    elif live is None:
        out.write((answer.lstrip() if args.answer_only else passage(prompt_text, answer)) + "\n")
    else:
        # The live frame already shows the whole text: add only the summary under it.
        total = result.timings.get("total_s", 0.0)
        passes = result.trajectory[-1].forward_passes if result.trajectory else 0
        summary = (
            f"{plural(steps, 'step')}, {plural(passes, 'forward pass', 'forward passes')}, {total:.2f} s, "
            f"{params.gen_length / max(total, 1e-9):.1f} tokens/s, {session.description}"
        )
        out.write(f"\n[{stopped or summary}]\n")
    if result.cancelled:
        if live is None:
            print(f"llada-studio: {stopped}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
