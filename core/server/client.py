"""A Python client of this server's own protocol (core/server/__init__.py): what a window or a
script uses to drive a remote engine with the same step events as a local one.

    client = RemoteClient("http://gpu-box:8000", api_key="...")
    info = client.model()                      # where it runs: info.description
    run = client.generate("It was a", params, on_step=draw, cancel=token)
    run.result                                 # a GenerationResult, as Session.generate_ids gives

`on_step` gets the same `StepEvent`s (one row) as a local generation; returning False, or setting
`cancel`, closes the connection, which stops the server's compute within a step. The texts of the
tokens seen are in `run.token_texts` and, live from inside `on_step`, `client.token_texts(ids)`
(the client has no tokenizer of its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..events import CancelToken, GenerationResult, StepCallback, StepEvent
from ..params import SPECS, GenerationParams
from ..session import MASK_PLACEHOLDER


class RemoteError(Exception):
    """An error the server answered (its OpenAI-shaped body), or no answer at all (status 0)."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


@dataclass(frozen=True)
class RemoteModel:
    id: str
    description: str
    engine: str
    device: str
    max_sequence_length: int
    chat: bool
    mask_id: int
    eos_id: int
    eot_id: int


@dataclass(frozen=True)
class RemoteGeneration:
    result: GenerationResult
    prompt_ids: tuple[int, ...]
    token_texts: dict[int, str] = field(default_factory=dict)
    seed: int | None = None
    batch_size: int = 1


def params_body(params: GenerationParams) -> dict[str, Any]:
    """Every declared sampler parameter as the request's fields (the server's names)."""
    names = {"max_steps": "steps", "gen_length": "max_tokens"}
    return {names.get(s.name, s.name): getattr(params, s.name) for s in SPECS}


def _raise_for(response: httpx.Response) -> None:
    if response.status_code == 200:
        return
    response.read()
    try:
        error = response.json()["error"]
        raise RemoteError(response.status_code, str(error["message"]), error.get("code"), error.get("param"))
    except (ValueError, KeyError, TypeError):
        raise RemoteError(response.status_code, response.text[:500] or response.reason_phrase) from None


def _events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            return
        payload: dict[str, Any] = json.loads(data)
        if "error" in payload:
            e = payload["error"]
            raise RemoteError(500, str(e.get("message")), e.get("code"), e.get("param"))
        yield payload


class RemoteClient:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        base = url.rstrip("/")
        self.base = base if base.endswith("/v1") else base + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # No read timeout while streaming: a step of a large model on a slow machine can be long.
        self._http = httpx.Client(base_url=self.base, headers=headers, timeout=httpx.Timeout(timeout, read=None))
        self._model: RemoteModel | None = None
        self._texts: dict[int, str] = {}  # token id -> its text, as the steps brought them

    def token_texts(self, ids: Sequence[int]) -> list[str]:
        """The text of each token id seen so far (what a canvas asks a Tokenizer for); filled
        before `on_step` is called with the step that brought it. Unseen ids read as ''."""
        return [self._texts.get(int(t), "") for t in ids]

    def close(self) -> None:
        self._http.close()

    def model(self) -> RemoteModel:
        try:
            response = self._http.get("/models")
        except httpx.HTTPError as exc:
            raise RemoteError(0, f"cannot reach {self.base}: {exc}") from exc
        _raise_for(response)
        card = response.json()["data"][0]
        info = card.get("llada", {})
        self._model = RemoteModel(
            id=card["id"],
            description=str(info.get("description", card["id"])),
            engine=str(info.get("engine", "?")),
            device=str(info.get("device", "?")),
            max_sequence_length=int(info.get("max_sequence_length", 0)),
            chat=bool(info.get("chat", False)),
            mask_id=int(info.get("mask_id", -1)),
            eos_id=int(info.get("eos_id", -1)),
            eot_id=int(info.get("eot_id", -1)),
        )
        return self._model

    def generate(
        self,
        prompt: str | Sequence[int],
        params: GenerationParams,
        on_step: StepCallback | None = None,
        cancel: CancelToken | None = None,
        chat: bool = False,
        history: Sequence[tuple[str, str]] = (),
    ) -> RemoteGeneration:
        model = self._model or self.model()
        body: dict[str, Any] = {"model": model.id, "stream": True, "stream_steps": True, **params_body(params)}
        if chat:
            if not isinstance(prompt, str):
                raise ValueError("a chat prompt is text")
            turns = [{"role": r, "content": c} for r, c in history]  # earlier turns of a multi-turn chat
            route, body["messages"] = "/chat/completions", [*turns, {"role": "user", "content": prompt}]
        else:
            route, body["prompt"] = "/completions", prompt if isinstance(prompt, str) else list(prompt)
        canvas = [model.mask_id] * params.gen_length
        trajectory: list[StepEvent] = []
        texts: dict[int, str] = {}
        final: dict[str, Any] | None = None
        text = ""
        try:
            with self._http.stream("POST", route, json=body) as response:
                _raise_for(response)
                for chunk in _events(response):
                    choice = chunk["choices"][0] if chunk.get("choices") else {}
                    text += choice.get("text") or (choice.get("delta") or {}).get("content") or ""
                    if "diffusion" in chunk:
                        final = chunk["diffusion"]
                    step = chunk.get("diffusion_step")
                    if step is None:
                        continue
                    event = _step_event(step)
                    for p, t, s in zip(event.positions[0], event.tokens[0], step["texts"]):
                        canvas[p] = t
                        texts[t] = self._texts[t] = s
                    trajectory.append(event)
                    go_on = on_step is None or on_step(event) is not False
                    if not go_on or (cancel is not None and cancel.cancelled):
                        break  # leaving the `with` closes the connection: the server stops
        except httpx.HTTPError as exc:
            raise RemoteError(0, f"the connection to {self.base} failed: {exc}") from exc
        if final is None:  # stopped before the end: the partial canvas, masks shown as ░
            cut = [model.eos_id, model.eot_id]
            shown = []
            for t in canvas:
                if t in cut:
                    break
                shown.append(MASK_PLACEHOLDER if t == model.mask_id else texts.get(t, ""))
            result = GenerationResult(
                generated_ids=(tuple(canvas),),
                trajectory=tuple(trajectory),
                timings={"total_s": trajectory[-1].elapsed if trajectory else 0.0},
                cancelled=True,
                texts=("".join(shown),),
            )
            return RemoteGeneration(result, (), texts)
        timings = {k: float(v) for k, v in final.get("timings", {}).items()}
        result = GenerationResult(
            generated_ids=(tuple(final["generated_ids"]),),
            trajectory=tuple(trajectory),
            timings=timings,
            cancelled=False,
            texts=(text,),
        )
        return RemoteGeneration(
            result, tuple(final["prompt_ids"]), texts, final.get("seed"), final.get("batch_size", 1)
        )


def _step_event(step: dict[str, Any]) -> StepEvent:
    return StepEvent(
        step=int(step["step"]),
        total_steps=int(step["total_steps"]),
        block=int(step["block"]),
        num_blocks=int(step["num_blocks"]),
        positions=(tuple(step["positions"]),),
        tokens=(tuple(step["tokens"]),),
        confidences=(tuple(float(c) for c in step["confidences"]),),
        elapsed=float(step["elapsed"]),
        forward_passes=int(step["forward_passes"]),
    )
