"""Errors a user can act on. Each names the file and what is wrong with it."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any


class CheckpointError(ValueError):
    """A model folder that is not a usable LLaDA-format checkpoint."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class EngineUnavailableError(RuntimeError):
    """The requested engine cannot run here (extension not built, torch missing, no CUDA)."""


class NonFiniteLogitsError(ValueError):
    """The model produced NaN or infinite logits: its weights (or config values) are corrupt.
    A ValueError so the command line reports it in one line like other bad input.

    `step` (1-based) is the generation step whose forward pass gave them, when raised by an
    engine's generate; None from a bare forward pass."""

    def __init__(self, message: str, step: int | None = None) -> None:
        self.step = step
        super().__init__(message)

    @classmethod
    def at_step(cls, step: int) -> NonFiniteLogitsError:
        """The one message both engines give: after step `step`'s forward pass, a still-masked
        position of the current block had a NaN or +inf logit, or none above -inf."""
        return cls(
            f"step {step}: the model produced a non-finite logit (NaN or +inf, or every logit -inf) at a "
            "masked position; the checkpoint's weights or config values are corrupt (NaN/Inf)",
            step=step,
        )


def shown(value: Any, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters, for error messages about values read from files
    (a 10 MB string or a list nested 900 deep must not become a 10 MB message)."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # ValueError: an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def regular_file_size(path: Path, what: str, missing: str | None = None) -> int:
    """The size of `path`, which must be (or link to) a regular file: a folder, a named pipe
    (reading one blocks for ever), a device (/dev/zero never ends) or a name the system refuses
    each get their own message instead of "missing" or a hang."""
    try:
        st = os.stat(path)  # follows links: a linked file (the Hugging Face cache) is fine
    except FileNotFoundError as exc:
        if os.path.islink(path):
            raise CheckpointError(path, f"{what} is a link to {os.readlink(path)!r}, which does not exist") from exc
        raise CheckpointError(path, missing or f"{what} is missing") from exc
    except ValueError as exc:  # an embedded NUL character
        raise CheckpointError(path, f"{what}: the file name is not valid ({exc})") from exc
    except OSError as exc:  # ENAMETOOLONG, ELOOP, EACCES, ENOTDIR...
        raise CheckpointError(path, f"cannot read {what}: {exc.strerror or exc}") from exc
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    kind = (
        "a folder"
        if stat.S_ISDIR(st.st_mode)
        else "a named pipe (FIFO)"
        if stat.S_ISFIFO(st.st_mode)
        else "a device"
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
        else "a socket"
        if stat.S_ISSOCK(st.st_mode)
        else "not a regular file"
    )
    target = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
    raise CheckpointError(path, f"{what} is {kind}{target}, not a regular file")
