"""`llada-studio replay FILE`: play a saved run (core/run_file.py) in the terminal, step by step.

The run file carries every token's text, so no model is loaded. `--step K` prints the canvas at
step K; `--delay S` sets the pause between frames (the LLaDA demo's visualisation delay). Pinned
words and infilling's text show from step 0; a branch (edit and continue) shows its canvas before
and after the edit, and `--step K` at the edit's step shows it edited.
"""

from __future__ import annotations

import argparse
import shutil
import time
from typing import TextIO

from .params import plural
from .run_file import RunRecord
from .session import MASK_PLACEHOLDER, passage


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("replay", help="play a saved run (a --json output or an exported run) step by step")
    p.set_defaults(run=run)
    p.add_argument("file", help="the run file")
    p.add_argument("--delay", type=float, default=0.05, help="seconds between steps (default %(default)s)")
    p.add_argument("--step", type=int, default=None, help="print the canvas at this step and stop")
    p.add_argument(
        "--export",
        metavar="FILE",
        default=None,
        help="write the reveal as a film instead: an animated .gif (a frame per step) or an .html page",
    )


def canvas_at(record: RunRecord, step: int, with_edit: bool = True) -> str:
    """The generated region after `step` steps: the starting canvas (pinned words, infilling's
    text), revealed tokens' texts, a branch's edits (with_edit: also those made right after
    `step`), ░ where masked."""
    ids = record.canvas_ids_at(step, with_edit)
    return "".join(MASK_PLACEHOLDER if t is None else record.text_of(pos, t) for pos, t in enumerate(ids))


def edit_note(record: RunRecord, step: int) -> str:
    """' · edited after step k: ...' when the run was edited right after `step`, else ''."""
    notes = []
    for ed in record.edits:
        if ed.after_step != step:
            continue
        masked = sum(1 for t in ed.tokens if t == record.mask_id)
        parts = [plural(len(ed.tokens) - masked, "token") + " set"] if len(ed.tokens) > masked else []
        parts += [plural(masked, "position") + " re-masked"] if masked else []
        notes.append(", ".join(parts) or "nothing changed")
    return f" · edited after step {step}: {'; '.join(notes)}" if notes else ""


def run(args: argparse.Namespace, out: TextIO) -> int:
    from .cli_generate import UsageError

    record = RunRecord.load(args.file)
    total = len(record.trajectory)
    if args.export:
        from .run_film import export_film

        try:
            written = export_film(record, args.export)
        except OSError as exc:
            raise UsageError(f"--export {args.export}: cannot write it ({exc.strerror or exc})") from exc
        except ValueError as exc:
            raise UsageError(f"--export: {exc}") from exc
        out.write(f"wrote {written} ({plural(total, 'step')})\n")
        return 0
    before = "" if record.chat or record.prompt is None else record.prompt
    if args.step is not None:
        if not 0 <= args.step <= total:
            raise UsageError(f"--step {args.step} is outside the run (0..{total})")
        out.write(passage(before, canvas_at(record, args.step)) + "\n")
        return 0
    branch = f" · branched after step {record.edits[0].after_step}" if record.edits else ""
    if args.delay < 0 or args.delay > 60:
        raise UsageError(f"--delay {args.delay} must be between 0 and 60 seconds")
    name = record.model.get("name", "?")
    header = f"{name} · {plural(total, 'step')} · {record.params.gen_length} tokens{branch}"
    if not out.isatty():
        out.write(f"[{header}]\n{passage(before, canvas_at(record, total))}\n")
        return 0
    lines = 0
    width = max(20, shutil.get_terminal_size().columns)
    try:
        frames = []  # (step, with the edits after it): a branch shows its canvas before and after
        for step in range(total + 1):
            if edit_note(record, step):
                frames.append((step, False))
            frames.append((step, True))
        for step, edited in frames:
            note = edit_note(record, step) if edited else ""
            text = f"{header} · step {step}/{total}{note}\n{passage(before, canvas_at(record, step, edited))}"
            if lines:
                out.write(f"\x1b[{lines}F\x1b[J")
            out.write(text + "\n")
            out.flush()
            lines = sum(max(1, -(-len(line) // width)) for line in text.split("\n"))
            time.sleep(args.delay)
    except KeyboardInterrupt:
        out.write("\n[replay stopped]\n")
        return 130
    return 0
