"""`llada-studio score TEXT [--prompt P]`: how likely the model finds a text (its ELBO, estimated
by Monte Carlo as LLaDA's get_log_likelihood.py does; core/likelihood.py)."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from .engine import ENGINE_KINDS
from .likelihood import score_text
from .session import Session


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("score", help="estimate how likely the model finds a text (Monte-Carlo ELBO)")
    p.set_defaults(run=run)
    p.add_argument("text", help="the text to score")
    p.add_argument("--prompt", default="", help="score TEXT as the continuation of this prompt")
    p.add_argument("--model", help="checkpoint folder (default: the bundled model)")
    p.add_argument("--mc-num", type=int, default=128, help="Monte-Carlo samples (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=16, help="samples per forward pass (default %(default)s)")
    p.add_argument("--cfg-scale", type=float, default=0.0, help="classifier-free guidance (default 0 = off)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mask draws (default %(default)s)")
    p.add_argument("--engine", default="auto", choices=(*ENGINE_KINDS, "auto"))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, out: TextIO) -> int:
    from .cli_generate import UsageError

    if not args.text.strip():
        raise UsageError("the text is empty: give the text to score")
    session = Session.open(args.model, engine=args.engine, threads=args.threads)
    try:
        est = score_text(
            session,
            args.text,
            args.prompt,
            mc_num=args.mc_num,
            batch_size=args.batch_size,
            cfg_scale=args.cfg_scale,
            seed=args.seed,
        )
    except ValueError as exc:
        message = str(exc).replace("mc_num", "--mc-num").replace("batch_size", "--batch-size")
        raise UsageError(message.replace("cfg_scale", "--cfg-scale")) from exc
    if args.json:
        json.dump(
            {
                "text": args.text,
                "prompt": args.prompt,
                "log_likelihood": est.log_likelihood,
                "stderr": est.stderr,
                "tokens": est.tokens,
                "nats_per_token": est.nats_per_token,
                "mc_num": est.mc_num,
                "batch_size": est.batch_size,
                "seed": est.seed,
                "model": session.checkpoint.name,
            },
            out,
        )
        out.write("\n")
    else:
        out.write(est.describe() + "\n")
    return 0
