"""`llada-studio serve` as a user runs it: a real process on a free loopback port, answering the
official client, stopped by Ctrl+C (SIGINT): a clean shutdown (the engine thread stopped), then
the process ends by the signal as uvicorn's own command does (the shell's status 130)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from llada_studio.core.server.runner import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_serve_command_answers_and_stops_on_ctrl_c(server_model):
    port = free_port()
    cmd = [sys.executable, "-m", "llada_studio.core.cli", "serve", "--model", str(server_model), "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                models = httpx.get(base + "/models", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        assert models.json()["data"][0]["id"] == "tiny-server"
        body = {"model": "tiny-server", "prompt": "hi", "max_tokens": 8, "steps": 8}
        assert httpx.post(base + "/completions", json=body, timeout=30).json()["choices"][0]["finish_reason"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) in (0, -signal.SIGINT)
        out = proc.stdout.read() if proc.stdout else ""
        assert "Application shutdown complete" in out
        assert "serving tiny-server" in out and f"http://127.0.0.1:{port}/v1" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
