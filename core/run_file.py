"""One run, saved and read back: the file the CLI's `--json` prints, the window exports and opens,
and `llada-studio replay FILE` plays in a terminal.

A run file is one JSON object tagged `"format": "llada-studio.run/1"`: the model (name, path,
engine), the prompt (text and ids, chat history), the parameters, the generated ids with each
token's text, the answer and the passage (prompt + answer), the whole trajectory (row 0), the
timings and whether the run was stopped. Token texts travel with it, so a replay needs no model.
Files the window exported before this format ("llada-studio.trajectory/1") read as well.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .events import StepEvent
from .params import GenerationParams

RUN_FORMAT = "llada-studio.run/1"
READABLE_FORMATS = (RUN_FORMAT, "llada-studio.trajectory/1")
MAX_RUN_FILE_BYTES = 256 << 20  # a run of 1M tokens with its trajectory is far below this


class RunFileError(ValueError):
    """A run file that cannot be read: names the file and what is wrong."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class RunRecord:
    prompt: str | None
    prompt_ids: tuple[int, ...]
    params: GenerationParams
    generated_ids: tuple[int, ...]
    token_texts: tuple[str, ...]  # the text of each generated token (masks: the mask token's text)
    text: str  # the answer
    passage: str  # the prompt followed by the answer (a chat answer alone)
    trajectory: tuple[StepEvent, ...]
    mask_id: int
    special_ids: tuple[int, ...] = ()  # EOS/EOT: drawn as padding
    chat: bool = False
    history: tuple[tuple[str, str], ...] = ()
    cancelled: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)  # name, path, engine, device, threads, license

    @property
    def gen_length(self) -> int:
        return len(self.generated_ids)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RUN_FORMAT,
            "model": dict(self.model),
            "prompt": self.prompt,
            "prompt_ids": list(self.prompt_ids),
            "chat": self.chat,
            "history": [{"role": r, "content": c} for r, c in self.history],
            "params": self.params.to_dict() | {"mask_id": self.mask_id},
            "special_ids": list(self.special_ids),
            "generated_ids": list(self.generated_ids),
            "token_texts": list(self.token_texts),
            "text": self.text,
            "passage": self.passage,
            "cancelled": self.cancelled,
            "timings": {k: float(v) for k, v in self.timings.items()},
            "trajectory": [e.to_json(0) for e in self.trajectory],
        }

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        p = Path(path)
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise RunFileError(p, f"cannot be read ({exc.strerror or exc})") from exc
        if not p.is_file():
            raise RunFileError(p, "is not a file")
        if size > MAX_RUN_FILE_BYTES:
            raise RunFileError(p, f"is {size} bytes, larger than any run file ({MAX_RUN_FILE_BYTES} at most)")
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise RunFileError(p, f"is not a run file (not JSON: {exc})") from exc
        except OSError as exc:
            raise RunFileError(p, f"cannot be read ({exc.strerror or exc})") from exc
        return cls.from_json(raw, p)

    @classmethod
    def from_json(cls, raw: Any, path: str | Path = "<run>") -> RunRecord:
        if not isinstance(raw, dict) or raw.get("format") not in READABLE_FORMATS:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise RunFileError(path, f"is not a run file: format {found!r}, expected {RUN_FORMAT!r}")
        r = _Reader(raw, path)
        params_raw = r.get("params", dict)
        mask_id = params_raw.get("mask_id")
        if isinstance(mask_id, bool) or not isinstance(mask_id, int) or mask_id < 0:
            raise RunFileError(path, "params.mask_id must be the mask token's id (a non-negative integer)")
        try:
            params = GenerationParams(**{k: v for k, v in params_raw.items() if k != "mask_id"})
        except (TypeError, ValueError) as exc:
            raise RunFileError(path, f"params: {exc}") from exc
        generated = r.ints("generated_ids")
        if len(generated) != params.gen_length:
            raise RunFileError(
                path, f"generated_ids has {len(generated)} ids, params.gen_length is {params.gen_length}"
            )
        texts = tuple(r.strings("token_texts")) if "token_texts" in raw else ()
        if len(texts) != len(generated):
            raise RunFileError(path, f"token_texts has {len(texts)} entries for {len(generated)} generated ids")
        steps = tuple(_step(e, i, params, path) for i, e in enumerate(r.get("trajectory", list)))
        history = tuple(_turn(t, path) for t in raw.get("history") or [])
        prompt = raw.get("prompt")
        text = r.get("text", str)
        model_raw = raw.get("model")
        model: dict[str, Any] = dict(model_raw) if isinstance(model_raw, dict) else {}
        timings = {k: float(v) for k, v in (raw.get("timings") or {}).items() if _finite(v)}
        return cls(
            prompt=prompt if isinstance(prompt, str) else None,
            prompt_ids=tuple(r.ints("prompt_ids")),
            params=params.with_(mask_id=None),
            generated_ids=tuple(generated),
            token_texts=texts,
            text=text,
            passage=raw["passage"] if isinstance(raw.get("passage"), str) else text,
            trajectory=steps,
            mask_id=mask_id,
            special_ids=tuple(r.ints("special_ids")) if "special_ids" in raw else (),
            chat=bool(raw.get("chat", False)),
            history=history,
            cancelled=bool(raw.get("cancelled", False)),
            timings=timings,
            model=model,
        )


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class _Reader:
    def __init__(self, raw: dict[str, Any], path: str | Path) -> None:
        self.raw, self.path = raw, path

    def get(self, key: str, kind: type) -> Any:
        value = self.raw.get(key)
        if not isinstance(value, kind):
            raise RunFileError(self.path, f"'{key}' must be a {kind.__name__}, got {type(value).__name__}")
        return value

    def ints(self, key: str) -> list[int]:
        values = self.get(key, list)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            raise RunFileError(self.path, f"'{key}' must be a list of token ids (non-negative integers)")
        return list(values)

    def strings(self, key: str) -> list[str]:
        values = self.get(key, list)
        if not all(isinstance(v, str) for v in values):
            raise RunFileError(self.path, f"'{key}' must be a list of strings")
        return list(values)


def _step(e: Any, i: int, params: GenerationParams, path: str | Path) -> StepEvent:
    where = f"trajectory[{i}]"
    if not isinstance(e, dict):
        raise RunFileError(path, f"{where} must be an object")
    pos, tok, conf = e.get("positions"), e.get("tokens"), e.get("confidences")
    if not (isinstance(pos, list) and isinstance(tok, list) and isinstance(conf, list)) or not (
        len(pos) == len(tok) == len(conf)
    ):
        raise RunFileError(path, f"{where}: positions, tokens and confidences must be lists of one length")
    if not all(isinstance(p, int) and 0 <= p < params.gen_length for p in pos):
        raise RunFileError(path, f"{where}: a position is outside the generated region (0..{params.gen_length - 1})")
    if not all(isinstance(t, int) and t >= 0 for t in tok) or not all(_finite(c) for c in conf):
        raise RunFileError(path, f"{where}: tokens must be ids and confidences finite numbers")
    step, block = e.get("step"), e.get("block", 0)
    if not isinstance(step, int) or step != i + 1 or not isinstance(block, int):
        raise RunFileError(path, f"{where}: 'step' must be {i + 1} (steps count from 1, in order)")
    return StepEvent(
        step=step,
        total_steps=params.step_budget,
        block=block,
        num_blocks=params.num_blocks,
        positions=(tuple(pos),),
        tokens=(tuple(tok),),
        confidences=(tuple(float(c) for c in conf),),
        elapsed=float(e["elapsed"]) if _finite(e.get("elapsed")) else 0.0,
        forward_passes=int(e["forward_passes"]) if isinstance(e.get("forward_passes"), int) else step,
    )


def _turn(t: Any, path: str | Path) -> tuple[str, str]:
    if not (isinstance(t, dict) and isinstance(t.get("role"), str) and isinstance(t.get("content"), str)):
        raise RunFileError(path, "history entries must be {role, content} objects")
    return (t["role"], t["content"])


def record_run(
    session: Any,
    prompt: str | None,
    prompt_ids: list[int] | tuple[int, ...],
    params: GenerationParams,
    result: Any,
    chat: bool = False,
    history: tuple[tuple[str, str], ...] = (),
    row: int = 0,
) -> RunRecord:
    """The record of one row of a finished (or stopped) generation of a `core.session.Session`."""
    from .session import passage

    ck = session.checkpoint
    ids = tuple(int(t) for t in result.generated_ids[row])
    answer = result.texts[row] if result.texts else session.decode(ids)
    e = session.engine
    return RunRecord(
        prompt=prompt,
        prompt_ids=tuple(int(t) for t in prompt_ids),
        params=params,
        generated_ids=ids,
        token_texts=tuple(session.tokenizer.token_texts(ids)),
        text=answer,
        passage=answer.strip() if chat or prompt is None else passage(prompt, answer),
        trajectory=tuple(result.trajectory),
        mask_id=int(params.mask_id if params.mask_id is not None else ck.mask_id),
        special_ids=(int(ck.eos_id), int(ck.eot_id)),
        chat=chat,
        history=tuple(history),
        cancelled=bool(result.cancelled),
        timings={k: float(v) for k, v in result.timings.items()},
        model={
            "name": ck.name,
            "path": str(ck.path),
            "engine": e.name,
            "device": e.device,
            "threads": int(e.threads),
            "license": ck.license,
        },
    )
