"""The ASGI application (Starlette): /v1/models, /v1/completions, /v1/chat/completions in
OpenAI's wire format, plus /health. Routes parse and check a request, hand a `Job` to the
scheduler, and turn its messages into one JSON response or a server-sent event stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..events import StepEvent
from ..params import GenerationParams
from ..session import Session
from .errors import APIError, bad_request, busy, model_not_found, too_large
from .scheduler import Done, Failed, Job, Message, QueueFull, Scheduler, SchedulerClosed, Step
from .schemas import ChatRequest, CompletionRequest, DiffusionFields, validation_error
from .security import Limits, check_browser_safety, check_key, read_body
from .sse import DONE, EventStreamResponse, SettledText, cut_at_stop, event


@dataclass
class ServerState:
    session: Session
    scheduler: Scheduler
    api_key: str | None
    limits: Limits
    model_id: str
    created: int


def step_json(ev: StepEvent, row: int, texts: list[str]) -> dict[str, Any]:
    """The `diffusion_step` object: one sampler step of this request's row."""
    return {
        "step": ev.step,
        "total_steps": ev.total_steps,
        "block": ev.block,
        "num_blocks": ev.num_blocks,
        "positions": list(ev.positions[row]),
        "tokens": list(ev.tokens[row]),
        "texts": texts,
        "confidences": [float(c) for c in ev.confidences[row]],
        "elapsed": ev.elapsed,
        "forward_passes": ev.forward_passes,
    }


class _Call:
    """One checked request on its way through the engine: prompt ids, parameters, the job and
    the queue its messages arrive on, and the builders of its response objects."""

    def __init__(self, state: ServerState, req: DiffusionFields, chat: bool, prompt_ids: list[int]) -> None:
        self.state = state
        self.req = req
        self.chat = chat
        self.prompt_ids = prompt_ids
        self.params, seeded = req.to_params(state.limits.max_steps)
        self.stops = req.stop_strings()
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        streaming = req.stream

        def sink(message: Message) -> None:  # runs on the engine thread
            if isinstance(message, Step) and not streaming:
                return
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                loop.call_soon_threadsafe(self.queue.put_nowait, message)

        self.job = Job(prompt_ids, self.params, seeded, sink)

    # -- response objects ----------------------------------------------------------------------
    def _envelope(self, chunk: bool) -> dict[str, Any]:
        if self.chat:
            obj = "chat.completion.chunk" if chunk else "chat.completion"
        else:
            obj = "text_completion"
        return {"id": self.id, "object": obj, "created": self.created, "model": self.state.model_id}

    def chunk(self, text: str | None, finish: str | None = None, role: bool = False) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if self.chat:
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            if text:
                delta["content"] = text
            choice["delta"] = delta
        else:
            choice |= {"text": text or "", "logprobs": None}
        return self._envelope(True) | {"choices": [choice]}

    def finish_reason(self, done: Done, stopped: bool) -> str:
        ckpt = self.state.session.checkpoint
        ended = any(t in (ckpt.eos_id, ckpt.eot_id) for t in done.generated_ids)
        return "stop" if stopped or ended else "length"

    def usage(self, done: Done) -> dict[str, int]:
        ckpt = self.state.session.checkpoint
        answer = 0
        for t in done.generated_ids:
            if t in (ckpt.eos_id, ckpt.eot_id):
                break
            answer += 1
        n = len(self.prompt_ids)
        return {"prompt_tokens": n, "completion_tokens": answer, "total_tokens": n + answer}

    def diffusion(self, done: Done) -> dict[str, Any]:
        """The `diffusion` extension of a final response: how the answer was made."""
        params: GenerationParams = self.params.with_(seed=done.seed)
        return {
            "steps": done.steps,
            "forward_passes": done.forward_passes,
            "seed": done.seed,
            "batch_size": done.batch_size,
            "prompt_ids": list(self.prompt_ids),
            "generated_ids": list(done.generated_ids),
            "params": params.to_dict() | {"mask_id": self.state.session.checkpoint.mask_id},
            "timings": done.timings,
        }

    def full(self, done: Done) -> dict[str, Any]:
        text, stopped = cut_at_stop(done.text, self.stops)
        finish = self.finish_reason(done, stopped)
        if self.chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
                "logprobs": None,
            }
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        return self._envelope(False) | {
            "choices": [choice],
            "usage": self.usage(done),
            "diffusion": self.diffusion(done),
        }

    # -- running ---------------------------------------------------------------------------------
    def submit(self) -> None:
        try:
            self.state.scheduler.submit(self.job)
        except QueueFull as exc:
            raise busy(exc.waiting) from None
        except SchedulerClosed:
            raise APIError(503, "the server is shutting down", kind="server_error", code="shutting_down") from None

    async def wait(self, request: Request) -> Response:
        """The whole answer as one JSON response; a client that leaves cancels the job."""
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            while True:
                get = asyncio.ensure_future(self.queue.get())
                await asyncio.wait({get, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    self.job.cancel()
                    return Response(status_code=499)  # nobody reads it: the client has left
                message = get.result()
                if isinstance(message, Failed):
                    raise _engine_error(message.error)
                if isinstance(message, Done):
                    if message.cancelled:
                        raise APIError(503, "the server stopped this generation", kind="server_error")
                    return JSONResponse(self.full(message))
        finally:
            gone.cancel()
            self.job.cancel()  # no-op once done; stops the compute if this task was cancelled

    async def events(self) -> AsyncIterator[str]:
        """The answer as server-sent events (see core/server/__init__.py for the protocol)."""
        ckpt = self.state.session.checkpoint
        settled = SettledText(
            self.params.gen_length,
            ckpt.mask_id,
            {ckpt.eos_id, ckpt.eot_id},
            self.state.session.tokenizer.decode,
            self.stops,
        )
        tokenizer = self.state.session.tokenizer
        try:
            if self.chat:
                yield event(self.chunk(None, role=True))
            while True:
                message = await self.queue.get()
                if isinstance(message, Step):
                    ev, row = message.event, message.row
                    settled.reveal(ev.positions[row], ev.tokens[row])
                    delta = settled.delta()
                    if self.req.stream_steps:
                        texts = tokenizer.token_texts(ev.tokens[row])
                        yield event(self.chunk(delta) | {"diffusion_step": step_json(ev, row, texts)})
                    elif delta:
                        yield event(self.chunk(delta))
                elif isinstance(message, Done) and message.cancelled:  # the server is shutting down
                    yield event(APIError(503, "the server stopped this generation", kind="server_error").body())
                    yield DONE
                    return
                elif isinstance(message, Done):
                    text, stopped = cut_at_stop(message.text, self.stops)
                    last = self.chunk(settled.finish(text), self.finish_reason(message, stopped))
                    yield event(last | {"diffusion": self.diffusion(message)})
                    options = self.req.stream_options
                    if options is not None and options.include_usage:
                        yield event(self._envelope(True) | {"choices": [], "usage": self.usage(message)})
                    yield DONE
                    return
                else:
                    yield event(_engine_error(message.error).body())
                    yield DONE
                    return
        finally:
            self.job.cancel()


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _engine_error(exc: BaseException) -> APIError:
    if isinstance(exc, SchedulerClosed):
        return APIError(503, str(exc), kind="server_error", code="shutting_down")
    if isinstance(exc, ValueError):
        return bad_request(str(exc))
    return APIError(500, f"the engine failed: {exc}", kind="server_error")


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.llada
    return state


async def _parse(request: Request, model: type[DiffusionFields]) -> tuple[ServerState, Any]:
    state = _state(request)
    check_key(request, state.api_key)
    check_browser_safety(request, state.api_key)
    body = await read_body(request, state.limits.max_body_bytes)
    try:
        req = model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None
    if req.model != state.model_id:
        raise model_not_found(req.model, state.model_id)
    req.check_neutral()
    cap = state.limits.max_tokens
    length = req.generation_length()
    if cap is not None and length is not None and length > cap:
        raise too_large(f"max_tokens ({length}) is over this server's limit of {cap}", "max_tokens")
    return state, req


def _check_context(state: ServerState, prompt_ids: list[int], call: _Call) -> None:
    limit = state.session.checkpoint.config.max_sequence_length
    total = len(prompt_ids) + call.params.gen_length
    if total > limit:
        raise too_large(
            f"the prompt ({len(prompt_ids)} tokens) + max_tokens ({call.params.gen_length}) = {total} is over "
            f"the model's context of {limit} tokens; shorten the prompt or ask for fewer tokens",
            "messages" if call.chat else "prompt",
            "context_length_exceeded",
        )


async def _run(request: Request, state: ServerState, req: DiffusionFields, chat: bool, ids: list[int]) -> Response:
    if not ids:
        raise bad_request("the prompt is empty: give some text to continue from", "messages" if chat else "prompt")
    call = _Call(state, req, chat, ids)
    _check_context(state, ids, call)
    call.submit()
    if req.stream:
        return EventStreamResponse(call.events())
    return await call.wait(request)


async def completions(request: Request) -> Response:
    state, req = await _parse(request, CompletionRequest)
    prompt = req.prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        if len(prompt) != 1:
            raise bad_request("one prompt per request (send several requests: they are batched)", "prompt")
        prompt = prompt[0]
    if isinstance(prompt, str):
        ids = state.session.encode(prompt) if prompt.strip() else []
    else:
        vocab = state.session.checkpoint.config.embedding_size
        bad = [t for t in prompt if not 0 <= t < vocab]
        if bad:
            raise bad_request(f"token id {bad[0]} is outside the vocabulary (0..{vocab - 1})", "prompt")
        ids = list(prompt)
    return await _run(request, state, req, False, ids)


async def chat_completions(request: Request) -> Response:
    state, req = await _parse(request, ChatRequest)
    tokenizer = state.session.tokenizer
    if not tokenizer.has_chat_template:
        raise bad_request(
            f"the model {state.model_id!r} has no chat template (a base model continues text): "
            "use /v1/completions with a prompt",
            "messages",
            "no_chat_template",
        )
    try:
        ids = tokenizer.encode_chat(req.chat_messages())
    except Exception as exc:  # the template's own raise_exception (e.g. roles out of order)
        raise bad_request(f"the chat template refused these messages: {exc}", "messages") from None
    return await _run(request, state, req, True, ids)


def _model_card(state: ServerState) -> dict[str, Any]:
    session = state.session
    return {
        "id": state.model_id,
        "object": "model",
        "created": state.created,
        "owned_by": "llada-studio",
        "llada": {
            "description": session.description,
            "engine": session.engine.name,
            "device": session.engine.device,
            "threads": session.engine.threads,
            "max_sequence_length": session.checkpoint.config.max_sequence_length,
            "chat": session.tokenizer.has_chat_template,
            "mask_id": session.checkpoint.mask_id,
            "eos_id": session.checkpoint.eos_id,
            "eot_id": session.checkpoint.eot_id,
            "max_batch": state.limits.max_batch,
        },
    }


async def list_models(request: Request) -> Response:
    state = _state(request)
    check_key(request, state.api_key)
    check_browser_safety(request, state.api_key)
    return JSONResponse({"object": "list", "data": [_model_card(state)]})


async def get_model(request: Request) -> Response:
    state = _state(request)
    check_key(request, state.api_key)
    check_browser_safety(request, state.api_key)
    name = request.path_params["model"]
    if name != state.model_id:
        raise model_not_found(name, state.model_id)
    return JSONResponse(_model_card(state))


async def health(request: Request) -> Response:
    sched = _state(request).scheduler
    return JSONResponse({"status": "ok", "busy": sched.busy, "waiting": sched.waiting})


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return exc.response()


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return APIError(exc.status_code, str(exc.detail), code=code).response()


async def _server_error(_request: Request, exc: Exception) -> Response:
    return APIError(500, f"internal error: {type(exc).__name__}: {exc}", kind="server_error").response()


def create_app(
    session: Session,
    api_key: str | None = None,
    limits: Limits | None = None,
    model_id: str | None = None,
    gather_s: float = 0.025,
) -> Starlette:
    """The server for one loaded session. The engine's worker thread starts now and stops when
    the application shuts down (uvicorn's lifespan) or `app.state.llada.scheduler.close()`."""
    limits = limits or Limits()
    scheduler = Scheduler(session, max_batch=limits.max_batch, max_queue=limits.max_queue, gather_s=gather_s)
    state = ServerState(
        session=session,
        scheduler=scheduler,
        api_key=api_key or None,
        limits=limits,
        model_id=model_id or session.checkpoint.name,
        created=int(time.time()),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.to_thread(scheduler.close)

    app = Starlette(
        routes=[
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={APIError: _api_error, HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.llada = state
    return app
