"""The command line: `llada-studio COMMAND [options]`.

Each command lives in its own module (`core/cli_<command>.py`) with `register(subparsers)`, which
adds its parser and sets `run(args, out) -> exit status` as its default; this file only builds
the parser from that list and turns the errors a user can cause into one line and status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, TextIO

from . import cli_download, cli_generate, cli_infill, cli_quantize, cli_replay, cli_score, cli_serve
from .cli_generate import UsageError
from .errors import CheckpointError, EngineUnavailableError
from .params import ParamError
from .run_file import RunFileError

# The commands, in the order `--help` lists them.
COMMANDS: tuple[ModuleType, ...] = (
    cli_generate,
    cli_infill,
    cli_replay,
    cli_score,
    cli_serve,
    cli_quantize,
    cli_download,
)


class _WholeOptions(argparse.ArgumentParser):
    """No prefix matching of options: `--prompt` would otherwise be taken as `--prompt-ids` and the
    text parsed as token ids, and a new option could change what an old command line means."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _WholeOptions(prog="llada-studio", description="Masked-diffusion text generation (LLaDA format).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_WholeOptions)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = out or sys.stdout
    try:
        return int(args.run(args, stream))
    except UsageError as exc:
        print(f"llada-studio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ParamError as exc:  # named as the option the user typed (--steps, not max_steps)
        print(f"llada-studio: error: {exc.describe('flag')}", file=sys.stderr)
        return 2
    except (CheckpointError, EngineUnavailableError, RunFileError, ValueError) as exc:
        print(f"llada-studio: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from .installed import installed

    sys.exit(installed("cli")())
