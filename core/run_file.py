"""One run, saved and read back: the file the CLI's `--json` prints, the window exports and opens,
and `llada-studio replay FILE` plays in a terminal.

A run file is one JSON object tagged `"format": "llada-studio.run/1"`: the model (name, path,
engine), the prompt (text and ids, chat history), the parameters, the generated ids with each
token's text, the answer and the passage (prompt + answer), the whole trajectory (row 0), the
timings and whether the run was stopped. Token texts travel with it, so a replay needs no model.
Files the window exported before this format ("llada-studio.trajectory/1") read as well.

A run that did not start from an all-masked answer, or that was edited and continued (issue 15),
has optional keys (readers of the first run/1 files ignore them): `answer_init`, the answer
canvas at step 0 (the mask id where the model wrote: pinned words and infilling's written text
show from step 0); `prompt_positions`, the answer positions counted as prompt under CFG;
`edits`, a branch's edits [{after_step: k, positions, tokens}] (a token equal to the mask id
re-masks its position), with `trajectory` the parent's steps 1..k then the continued steps k+1..;
and `token_table` {id: text}, the texts of tokens an edit replaced (token_texts has the final ones).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .events import EditEvent, StepEvent
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
    answer_init: tuple[int, ...] = ()  # the answer canvas at step 0; () = all masks
    prompt_positions: tuple[int, ...] = ()  # answer positions counted as prompt under CFG
    edits: tuple[EditEvent, ...] = ()  # a branch's edits, in step order
    token_table: dict[int, str] = field(default_factory=dict)  # texts of tokens edits replaced

    @property
    def gen_length(self) -> int:
        return len(self.generated_ids)

    def canvas_ids_at(self, step: int, with_edit: bool = True) -> list[int | None]:
        """The answer's token ids after `step` steps (None where masked): the starting canvas,
        the steps' reveals and the edits between them. with_edit: include the edits made right
        after `step` (the canvas the next step starts from); False: the canvas before them."""
        shown: list[int | None] = list(self.answer_init) if self.answer_init else [self.mask_id] * self.gen_length
        edits = sorted(self.edits, key=lambda e: e.after_step)

        def edit_after(k: int) -> None:
            for ed in edits:
                if ed.after_step == k:
                    for pos, tok in zip(ed.positions, ed.tokens):
                        shown[pos] = tok

        if step > 0 or with_edit:
            edit_after(0)
        for k, e in enumerate(self.trajectory[:step], start=1):
            for pos, tok in zip(e.positions[0], e.tokens[0]):
                shown[pos] = tok
            if k < step or with_edit:
                edit_after(k)
        return [None if t == self.mask_id else t for t in shown]

    def text_of(self, pos: int, token: int) -> str:
        """The text of `token` at answer position `pos` (EOS/EOT padding: nothing)."""
        if token in self.special_ids:
            return ""
        if pos < len(self.token_texts) and self.generated_ids[pos] == token:
            return self.token_texts[pos]
        return self.token_table.get(token, f"<{token}>")

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
            **({"answer_init": list(self.answer_init)} if self.answer_init else {}),
            **({"prompt_positions": list(self.prompt_positions)} if self.prompt_positions else {}),
            **({"edits": [e.to_json() for e in self.edits]} if self.edits else {}),
            **({"token_table": {str(k): v for k, v in self.token_table.items()}} if self.token_table else {}),
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
        answer_init = tuple(r.ints("answer_init")) if "answer_init" in raw else ()
        if answer_init and len(answer_init) != len(generated):
            raise RunFileError(path, f"answer_init has {len(answer_init)} ids for {len(generated)} generated ids")
        prompt_positions = tuple(r.ints("prompt_positions")) if "prompt_positions" in raw else ()
        if any(p >= len(generated) for p in prompt_positions):
            raise RunFileError(path, f"prompt_positions: a position is outside the answer (0..{len(generated) - 1})")
        edits = tuple(_edit(e, i, len(steps), len(generated), path) for i, e in enumerate(raw.get("edits") or []))
        if any(a.after_step > b.after_step for a, b in zip(edits, edits[1:])):
            raise RunFileError(path, "edits must be in step order (after_step never decreasing)")
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
            answer_init=answer_init,
            prompt_positions=prompt_positions,
            edits=edits,
            token_table=_token_table(raw.get("token_table"), path),
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
        # A continued run's steps can outnumber its parameters' (a re-masked block runs again).
        total_steps=e["total_steps"]
        if isinstance(e.get("total_steps"), int) and e["total_steps"] >= step
        else params.step_budget,
        block=block,
        num_blocks=params.num_blocks,
        positions=(tuple(pos),),
        tokens=(tuple(tok),),
        confidences=(tuple(float(c) for c in conf),),
        elapsed=float(e["elapsed"]) if _finite(e.get("elapsed")) else 0.0,
        forward_passes=int(e["forward_passes"]) if isinstance(e.get("forward_passes"), int) else step,
    )


def _edit(e: Any, i: int, steps: int, gen_length: int, path: str | Path) -> EditEvent:
    where = f"edits[{i}]"
    if not isinstance(e, dict):
        raise RunFileError(path, f"{where} must be an object")
    after, pos, tok = e.get("after_step"), e.get("positions"), e.get("tokens")
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= steps:
        raise RunFileError(path, f"{where}: after_step must be a step of the trajectory (0..{steps})")
    if not (isinstance(pos, list) and isinstance(tok, list) and len(pos) == len(tok)):
        raise RunFileError(path, f"{where}: positions and tokens must be lists of one length")
    if not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p < gen_length for p in pos):
        raise RunFileError(path, f"{where}: a position is outside the generated region (0..{gen_length - 1})")
    if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tok):
        raise RunFileError(path, f"{where}: tokens must be token ids (non-negative integers)")
    return EditEvent(after_step=after, positions=tuple(pos), tokens=tuple(tok))


def _token_table(raw: Any, path: str | Path) -> dict[int, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in raw.items()
    ):
        raise RunFileError(path, "token_table must map token ids (as text) to their texts")
    return {int(k): v for k, v in raw.items()}


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
    edits = tuple(getattr(result, "edits", ()))
    table: dict[int, str] = {}
    if edits:  # the texts of every token the branch showed, replaced ones included
        seen = {t for ev in result.trajectory for t in ev.tokens[row]} | {t for ed in edits for t in ed.tokens}
        seen.discard(int(params.mask_id if params.mask_id is not None else ck.mask_id))
        ordered = sorted(seen)
        table = dict(zip(ordered, session.tokenizer.token_texts(ordered)))
    answer_init = getattr(result, "answer_init", ())
    prompt_positions = getattr(result, "prompt_positions", ())
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
        answer_init=tuple(int(t) for t in answer_init[row]) if answer_init else (),
        prompt_positions=tuple(int(p) for p in prompt_positions[row]) if prompt_positions else (),
        edits=edits,
        token_table=table,
    )
