"""`llada-studio serve [--model DIR] [--host 127.0.0.1] [--port 8000] [--api-key KEY]`: the local
OpenAI-compatible server (core/server/), in the foreground until Ctrl+C.

Loopback only unless an API key is given (a non-loopback --host without one is refused); the key
can also come from the LLADA_API_KEY environment variable, which keeps it out of `ps`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

from .cli_generate import UsageError
from .engine import ENGINE_KINDS

DEFAULT_PORT = 8000


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    srv = sub.add_parser("serve", help="serve the model on a local OpenAI-compatible API")
    srv.set_defaults(run=run)
    srv.add_argument("--model", help="checkpoint folder (default: the bundled model)")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s, loopback)")
    srv.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default %(default)s)")
    srv.add_argument(
        "--api-key", default=None, help="clients must send 'Authorization: Bearer KEY' (default: $LLADA_API_KEY)"
    )
    srv.add_argument(
        "--engine", default="auto", choices=(*ENGINE_KINDS, "auto"), help="cpp (default when built) or torch"
    )
    srv.add_argument("--device", default="cpu", help="cpu, or cuda / cuda:N with the torch engine")
    srv.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    srv.add_argument("--max-batch", type=int, default=8, help="requests run together as one batch (default 8)")
    srv.add_argument("--max-queue", type=int, default=32, help="requests that may wait (default 32; then 503)")
    srv.add_argument("--max-tokens", type=int, default=None, help="cap on max_tokens (default: the model's context)")
    srv.add_argument("--max-steps", type=int, default=4096, help="cap on steps per request (default 4096)")
    srv.add_argument("--max-body", type=int, default=1 << 20, help="request body limit in bytes (default 1 MiB)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    try:
        import uvicorn
    except ImportError as exc:
        raise UsageError(f"the server needs its extra: pip install 'llada-studio[server]' ({exc})") from exc
    from .server import BindError, Limits, check_bind, create_app
    from .server.runner import config
    from .session import Session

    api_key = args.api_key or os.environ.get("LLADA_API_KEY") or None
    for name in ("port", "max_batch", "max_queue", "max_steps", "max_body"):
        value = getattr(args, name)
        if value < (0 if name == "port" else 1) or (name == "port" and value > 65535):
            raise UsageError(f"--{name.replace('_', '-')} is out of range: {value}")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError(f"--max-tokens must be positive, got {args.max_tokens}")
    try:
        check_bind(args.host, api_key)  # before the model loads: fail fast
    except BindError as exc:
        raise UsageError(str(exc)) from exc
    session = Session.open(args.model, engine=args.engine, device=args.device, threads=args.threads)
    limits = Limits(
        max_body_bytes=args.max_body,
        max_tokens=args.max_tokens,
        max_steps=args.max_steps,
        max_queue=args.max_queue,
        max_batch=args.max_batch,
    )
    app = create_app(session, api_key=api_key, limits=limits)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"llada-studio: serving {session.checkpoint.name} ({session.description}) on http://{host}:{args.port}/v1"
        + (" (API key required)" if api_key else ""),
        file=out,
        flush=True,
    )
    server = uvicorn.Server(config(app, args.host, args.port, api_key))
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    from .installed import installed

    sys.exit(installed("cli")(["serve", *sys.argv[1:]]))
