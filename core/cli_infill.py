"""`llada-studio infill TEXT`: the model fills the blanks of a text, the rest is kept as written.

A blank is `[MASK*N]` (N tokens) or `[MASK]` (one): `llada-studio infill "It was a [MASK*6]
morning, and [MASK*12]."`. The text before the first blank is the prompt; the written text after
it is given (never changed). Defaults: one block over the region and one step per blank token,
the recommended temperature (1.0), EOS never proposed in a blank. Prints the filled text;
`--json` prints the run file (core/run_file.py; its answer_init holds the written text) with
`blanks`: each blank's answer positions, its character span in `filled_text` and its text.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from .engine import ENGINE_KINDS
from .infill import SYNTAX
from .params import REMASKING_MODES, ParamError, recommended_params
from .run_file import record_run
from .session import Session


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("infill", help=f"fill the blanks of a text ({SYNTAX})")
    p.set_defaults(run=run)
    p.add_argument("text", help=f"the text with blanks: {SYNTAX}, e.g. 'It was a [MASK*6] morning.'")
    p.add_argument("--model", help="checkpoint folder (default: the bundled model)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: one per blank token)")
    p.add_argument("--block-length", type=int, default=None, help="block length (default: the whole region, one block)")
    base = recommended_params()
    p.add_argument("--temperature", type=float, default=base.temperature, help="default %(default)s")
    p.add_argument("--cfg-scale", type=float, default=0.0, help="classifier-free guidance (default 0 = off)")
    p.add_argument("--remasking", default=base.remasking, choices=REMASKING_MODES, help="default %(default)s")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--allow-eos", action="store_true", help="let the model end a blank early with EOS")
    p.add_argument("--engine", default="auto", choices=(*ENGINE_KINDS, "auto"))
    p.add_argument("--device", default="cpu", help="cpu, or cuda / cuda:N with the torch engine")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the run file with the blanks")


def run(args: argparse.Namespace, out: TextIO) -> int:
    from .cli_generate import UsageError
    from .infill import parse_infill

    try:
        parse_infill(args.text)  # before the model loads: a text without a blank is a usage error
        params = recommended_params().with_(
            temperature=args.temperature,
            cfg_scale=args.cfg_scale,
            remasking=args.remasking,
            seed=args.seed,
            logits_eos_inf=not args.allow_eos,
        )
    except ParamError as exc:
        raise UsageError(exc.describe("flag")) from exc
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    session = Session.open(args.model, engine=args.engine, device=args.device, threads=args.threads)
    try:
        filled = session.infill(args.text, params, steps=args.steps, block_length=args.block_length)
    except ParamError as exc:
        raise UsageError(exc.describe("flag")) from exc
    if args.json:
        record = record_run(session, filled.prompt, filled.prompt_ids, filled.params, filled.result)
        payload = record.to_json()
        payload["filled_text"] = filled.text
        payload["blanks"] = [
            {"positions": list(b), "span": list(s), "text": t}
            for b, s, t in zip(filled.blanks, filled.spans, filled.blank_texts)
        ]
        json.dump(payload, out, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(filled.text + "\n")
    return 130 if filled.result.cancelled else 0
