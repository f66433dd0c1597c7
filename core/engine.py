"""The engine protocol and its factory. Two implementations: `CppEngine` (default, CPU) and
`TorchEngine` (the reference; also the CUDA path). Both pass the same conformance tests."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .checkpoint import Checkpoint
from .errors import EngineUnavailableError
from .events import CancelToken, GenerationResult, StepCallback
from .params import GenerationParams

ENGINE_KINDS = ("cpp", "torch")


class Engine(Protocol):
    name: str  # "cpp" or "torch"
    device: str
    threads: int

    def forward_logits(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None) -> np.ndarray:
        """input_ids [B, L] int -> logits [B, L, V] float32."""
        ...

    def generate(
        self,
        prompt_ids: np.ndarray,
        attention_mask: np.ndarray | None,
        params: GenerationParams,
        on_step: StepCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        answer_init: np.ndarray | None = None,
        given_is_prompt: np.ndarray | None = None,
        start_step: int = 0,
    ) -> GenerationResult:
        """prompt_ids [B, P] left-padded -> generated ids (no text: the session decodes).
        answer_init / given_is_prompt (B, gen_length) and start_step: the generated region's
        starting content and the steps already done (core/answer_init.py)."""
        ...


def cpp_engine_available() -> bool:
    import importlib

    try:
        importlib.import_module("._engine", __package__)
    except ImportError:
        return False
    return True


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def engine_unavailable_reason(kind: str) -> str | None:
    """Why an engine cannot be used in this installation (None: it can), without importing torch
    (seconds): what a menu shows beside an engine it must disable."""
    import importlib.util

    if kind == "cpp" and not cpp_engine_available():
        return "not built in this installation (reinstall with pip install .)"
    if kind == "torch" and importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed (pip install torch==2.13.0)"
    return None


def create_engine(ckpt: Checkpoint, kind: str = "auto", device: str = "cpu", threads: int | None = None) -> Engine:
    if kind == "auto":
        # The C++ engine on the CPU when it is built and loads; else the torch reference.
        # Any failure of the C++ engine to start (not built, a half-built extension, a kernel
        # that refuses this CPU) falls back to the reference engine when torch is there: the one
        # fallback rule, for the CLI, the seed API and the window alike.
        if device == "cpu" and cpp_engine_available():
            try:
                return create_engine(ckpt, "cpp", device, threads)
            except Exception:
                if not torch_available():
                    raise
        kind = "torch"
    if kind == "cpp":
        if device != "cpu":
            raise EngineUnavailableError(
                f"the C++ engine runs on the CPU only; use --engine torch for device {device!r}"
            )
        if not cpp_engine_available():
            raise EngineUnavailableError(
                "the C++ engine (core._engine) is not built in this installation: reinstall with "
                "`pip install .` (it compiles csrc/ through CMake) or choose the torch engine"
            )
        from .cpp_engine import CppEngine

        return CppEngine(ckpt, threads=threads)
    if kind == "torch":
        if not torch_available():
            raise EngineUnavailableError(
                "the torch engine needs PyTorch: `pip install torch==2.13.0` (or `pip install .[torch]`)"
            )
        from .torch_backend.engine import TorchEngine

        return TorchEngine(ckpt, device=device, threads=threads)
    raise ValueError(f"unknown engine {kind!r}; valid engines: {', '.join(ENGINE_KINDS)} (or 'auto')")


def available_devices() -> list[tuple[str, str, str | None]]:
    """(device, label, why it cannot be used or None) for the CPU and every CUDA GPU. Imports
    torch when it is installed (a second or two, once): call it when a menu opens, not at start."""
    import importlib.util

    devices: list[tuple[str, str, str | None]] = [("cpu", "CPU (C++ engine)", None)]
    if importlib.util.find_spec("torch") is None:
        devices.append(("cuda", "NVIDIA GPU", "needs PyTorch with CUDA (pip install torch)"))
        return devices
    import torch

    if not torch.cuda.is_available():
        devices.append(("cuda", "NVIDIA GPU", "no CUDA GPU is visible to this PyTorch"))
        return devices
    for i in range(torch.cuda.device_count()):
        name = torch.cuda.get_device_name(i)
        free, total = torch.cuda.mem_get_info(i)
        devices.append((f"cuda:{i}", f"{name} ({total / 2**30:.0f} GiB, PyTorch)", None))
    return devices
