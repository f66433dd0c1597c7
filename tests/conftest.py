"""Shared fixtures: tiny random checkpoints in the real LLaDA format, written once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from llada_studio.core.checkpoint_writer import random_checkpoint


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 layers, d 64, 4 heads, GQA (2 kv heads), vocab 256, f32, with a chat template."""
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", n_kv_heads=2, seed=1)


@pytest.fixture(scope="session")
def tiny_model_bf16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-bf16", dtype="bf16", weight_tying=True, seed=2)
