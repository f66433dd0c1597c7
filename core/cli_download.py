"""`llada-studio download REPO_ID [--dir DIR]`: fetch a checkpoint from the Hugging Face hub
(HF_ENDPOINT and HF_TOKEN are honoured) into the models library, with progress on stderr."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .hub_download import KNOWN_CHECKPOINTS, DownloadCancelled, DownloadError, DownloadProgress, download_model


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    known = ", ".join(k.repo_id for k in KNOWN_CHECKPOINTS)
    p = sub.add_parser("download", help="download a model from the Hugging Face hub", description=__doc__)
    p.add_argument("repo_id", nargs="?", help=f"a hub repository (known: {known})")
    p.add_argument("--dir", default=None, help="folder to download into (default: the models library/<name>)")
    p.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")
    p.add_argument("--list", action="store_true", help="list the known LLaDA-family checkpoints")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.list or not args.repo_id:
        for k in KNOWN_CHECKPOINTS:
            print(f"{k.repo_id:32s} {k.description}", file=out)
        return 0 if args.list else 2
    last = [-1.0]

    def show(p: DownloadProgress) -> None:
        if p.fraction - last[0] >= 0.01 or p.done == p.total:
            last[0] = p.fraction
            print(
                f"\r{p.fraction:6.1%}  {p.done / 2**20:9.1f} / {p.total / 2**20:.1f} MiB  "
                f"[{p.files_done}/{p.files_total}] {p.file[:40]:40s}",
                end="",
                file=sys.stderr,
                flush=True,
            )

    try:
        folder = download_model(args.repo_id, args.dir, revision=args.revision, on_progress=show)
    except KeyboardInterrupt:
        print("\ndownload stopped; run the same command again to resume", file=sys.stderr)
        return 130
    except DownloadCancelled as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 130
    except DownloadError as exc:
        print(f"\nllada-studio download: error: {exc}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    print(folder, file=out)
    return 0
