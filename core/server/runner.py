"""Running the application under uvicorn: in the foreground (`llada-studio serve`) or on a
background thread (tests, benchmarks, and a window that serves its own engine)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from .security import check_bind


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def config(app: Any, host: str, port: int, api_key: str | None, log_level: str = "info") -> uvicorn.Config:
    """uvicorn's configuration; refuses a non-loopback `host` without an API key (BindError)."""
    check_bind(host, api_key)
    # One event loop, one process: the engine is one per process and owns all the cores.
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on")


class BackgroundServer:
    """`with BackgroundServer(app) as url:` serves `app` on a free loopback port until the block
    ends, then shuts it down (the lifespan stops the engine thread)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None, api_key: str | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(config(app, self.host, self.port, api_key, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="llada-server", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {self.url}")
            time.sleep(0.02)
        return self.url

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(20)
