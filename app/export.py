"""What a finished run is saved as: its JSON trajectory file and its plain text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.session import passage

from .worker import RunOutcome

EXPORT_FORMAT = "llada-studio.trajectory/1"


def run_passage(outcome: RunOutcome) -> str:
    """What "Copy" gives: the prompt and its continuation (a chat answer stands alone)."""
    if outcome.request.chat:
        return outcome.text.strip()
    return passage(outcome.request.prompt, outcome.text)


def export_data(o: RunOutcome) -> dict[str, Any]:
    res = o.result
    return {
        "format": EXPORT_FORMAT,
        "model": {"name": o.model.name, "path": o.model.path, "license": o.model.license,
                  "engine": o.model.engine, "threads": o.model.threads, "device": o.model.device},
        "prompt": o.request.prompt,
        "chat": o.request.chat,
        "history": [{"role": r, "content": c} for r, c in o.request.history],
        "prompt_ids": list(o.prompt_ids),
        "params": o.request.params.to_dict(),
        "text": o.text,
        "passage": run_passage(o),
        "generated_ids": list(res.generated_ids[0]) if res.generated_ids else [],
        "token_texts": list(o.token_texts),
        "cancelled": res.cancelled,
        "timings": {k: float(v) for k, v in res.timings.items()},
        "trajectory": [e.to_json(0) for e in res.trajectory],
    }


def write_json(o: RunOutcome, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(json.dumps(export_data(o), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return p


def write_text(o: RunOutcome, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(run_passage(o) + "\n", encoding="utf-8")
    return p
