"""Fixtures of the core tests: a saved run (what `generate --json` prints) for the run-file tests."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

RUN_ARGS = ["--engine", "torch", "--steps", "8", "--gen-length", "16", "--block-length", "8", "--temperature", "0"]


@pytest.fixture
def saved_run(tiny_model: Path, tmp_path: Path) -> Path:
    """A run file of 16 tokens in 8 steps on the tiny model, written by the CLI."""
    pytest.importorskip("torch")
    from llada_studio.core.cli import main

    out = io.StringIO()
    assert main(["generate", "hello world", "--model", str(tiny_model), *RUN_ARGS, "--json"], out) == 0
    path = tmp_path / "run.json"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path
