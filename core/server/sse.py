"""Server-sent events: the `data: ...` framing, a response that stops its producer when the
client leaves, and the text a diffusion stream can already send.

A diffusion model does not write left to right: a step reveals tokens anywhere in the current
block. OpenAI's stream is a sequence of text deltas a client appends, so the text stream sends
the *settled prefix*: the decoded text of the revealed tokens from the start of the answer up to
the first still-masked position (or the first EOS/EOT, where the answer ends). Each chunk's delta
is what that prefix gained; appended, the deltas give the final text. The whole reveal, step by
step, is the `diffusion_step` extension (see core/server/__init__.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

DONE = "data: [DONE]\n\n"


def event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


class EventStreamResponse(StreamingResponse):
    """A text/event-stream response that always watches for the client's disconnect and cancels
    the producing generator at once (its `finally` then cancels the job), whatever ASGI version
    the server speaks; Starlette's own only does so before ASGI 2.4."""

    def __init__(self, content: Any, headers: dict[str, str] | None = None) -> None:
        base = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=base | (headers or {}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def run(func: Callable[[], Any]) -> None:
                await func()
                group.cancel_scope.cancel()

            group.start_soon(run, partial(self.stream_response, send))
            await run(partial(self.listen_for_disconnect, receive))


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to the first of the stop strings, and whether one was found (OpenAI's `stop`:
    the stop string itself is not returned)."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters could be the start of a stop string (not sent yet)."""
    longest = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:n]):
                longest = n
                break
    return longest


class SettledText:
    """The answer's settled prefix as the steps reveal it (see the module's docstring)."""

    def __init__(
        self,
        gen_length: int,
        mask_id: int,
        stop_ids: set[int],
        decode: Callable[[Sequence[int]], str],
        stops: Sequence[str] = (),
    ) -> None:
        self.ids: list[int] = [mask_id] * gen_length
        self.mask_id = mask_id
        self.stop_ids = stop_ids
        self.decode = decode
        self.stops = tuple(stops)
        self.stopped = False  # a stop string was found: nothing more is sent
        self.settled = 0  # positions of the prefix
        self.ended = False  # an EOS/EOT closed the answer
        self.sent = ""  # text already handed out

    def reveal(self, positions: Sequence[int], tokens: Sequence[int]) -> None:
        for p, t in zip(positions, tokens):
            self.ids[p] = t

    def delta(self) -> str:
        """Text the prefix gained since the last call ('' when nothing new is certain)."""
        while not self.ended and self.settled < len(self.ids) and self.ids[self.settled] != self.mask_id:
            if self.ids[self.settled] in self.stop_ids:
                self.ended = True
                break
            self.settled += 1
        if self.stopped:
            return ""
        text, self.stopped = cut_at_stop(self.decode(self.ids[: self.settled]), self.stops)
        if not self.stopped:
            text = text[: len(text) - _held_back(text, self.stops)]
        # A byte-level token can end inside a character: wait for the rest of it.
        if not text.startswith(self.sent) or text.endswith("\ufffd"):
            return ""
        new, self.sent = text[len(self.sent) :], text
        return new

    def finish(self, final: str) -> str:
        """The rest of the final text (the deltas sent plus this are `final`)."""
        if final.startswith(self.sent):
            rest, self.sent = final[len(self.sent) :], final
            return rest
        return ""  # cannot happen for a prefix of the same decode; never send a contradiction
