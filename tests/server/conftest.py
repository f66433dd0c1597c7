"""Servers for the tests: a tiny random checkpoint (context 256) served on a free loopback port
by a real uvicorn on a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from llada_studio.core.checkpoint_writer import random_checkpoint  # noqa: E402
from llada_studio.core.events import CancelToken, GenerationResult, StepCallback, StepEvent  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402
from llada_studio.core.server import Limits, create_app  # noqa: E402
from llada_studio.core.server.app import ServerState  # noqa: E402
from llada_studio.core.server.runner import BackgroundServer  # noqa: E402
from llada_studio.core.session import Session  # noqa: E402

CONTEXT = 256
# Quick settings for the tiny model: 16 tokens in 2 blocks of 8, 16 steps, greedy.
QUICK: dict[str, Any] = {"max_tokens": 16, "steps": 16, "block_length": 8, "temperature": 0.0}


class RecordingSession(Session):
    """A session that keeps every batch's result and can slow each step down (`delay` seconds),
    so a test can be sure a request is still running when it acts."""

    delay = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.results: list[tuple[int, GenerationResult]] = []  # (batch size, result)
        self.gate = threading.Event()  # cleared: the running batch waits after its first step
        self.gate.set()

    def generate_ids(
        self,
        prompts: Sequence[Sequence[int]],
        params: GenerationParams,
        on_step: StepCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> GenerationResult:
        def slow(event: StepEvent) -> bool | None:
            if self.delay:
                time.sleep(self.delay)
            assert self.gate.wait(30), "the test never opened the gate"
            return on_step(event) if on_step else None

        result = super().generate_ids(prompts, params, slow, cancel)
        self.results.append((len(prompts), result))
        return result


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@dataclass
class Served:
    url: str
    state: ServerState
    session: RecordingSession

    @property
    def base(self) -> str:
        return self.url + "/v1"


@pytest.fixture(scope="session")
def server_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "tiny-server", n_kv_heads=2, seed=1, max_sequence_length=CONTEXT
    )


@contextmanager
def serving(model: Path, delay: float = 0.0, api_key: str | None = None, **limits: Any) -> Iterator[Served]:
    session = RecordingSession.open(model)
    assert isinstance(session, RecordingSession)
    session.delay = delay
    app = create_app(session, api_key=api_key, limits=Limits(**limits), gather_s=0.05)
    with BackgroundServer(app, api_key=api_key) as url:
        yield Served(url, app.state.llada, session)


@pytest.fixture(scope="module")
def server(server_model: Path) -> Iterator[Served]:
    with serving(server_model) as served:
        yield served


@pytest.fixture
def client(server: Served) -> Any:
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server.base, api_key="unused", max_retries=0, timeout=30)
