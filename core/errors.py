"""Errors a user can act on. Each names the file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path


class CheckpointError(ValueError):
    """A model folder that is not a usable LLaDA-format checkpoint."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class EngineUnavailableError(RuntimeError):
    """The requested engine cannot run here (extension not built, torch missing, no CUDA)."""
