"""`CppEngine`: the C++ engine (core._engine) behind the Engine protocol.

The weights stay where they lie: each tensor's memory-mapped numpy view is handed to C++ in
its stored dtype (f32, f16, or bf16 as uint16 bits), and the C++ side keeps a reference to every
array it points into. The whole generation loop runs in C++ with the GIL released; step events
come back through a callback and are turned into `StepEvent`s here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import _engine  # the compiled extension (csrc/); its types are in core/_engine.pyi
from .answer_init import check_answer_init
from .checkpoint import Checkpoint, layer_prefix
from .errors import NonFiniteLogitsError
from .events import CancelToken, GenerationResult, StepCallback, StepEvent
from .params import GenerationParams

KERNELS = ("auto", "blas", "own")
_EnumT = TypeVar("_EnumT")
_blas_status: str | None = None


def load_blas() -> str:
    """Load OpenBLAS from the scipy-openblas32 wheel into the engine once. Returns '' when it is
    in use, else why not (the engine then runs on its own kernels)."""
    global _blas_status
    if _blas_status is None:
        if os.environ.get("LLADA_NO_BLAS"):
            _blas_status = "disabled by LLADA_NO_BLAS"
            return _blas_status
        try:
            import scipy_openblas32

            lib = Path(scipy_openblas32.get_lib_dir()) / f"lib{scipy_openblas32.get_library()}.so"
            _blas_status = _engine.load_blas(str(lib))
        except ImportError:
            _blas_status = "scipy-openblas32 is not installed"
        except Exception as exc:  # a broken wheel must not break the engine
            _blas_status = f"could not load OpenBLAS: {exc}"
    return _blas_status


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpu_limit(cpu_max: Path = CGROUP_CPU_MAX) -> int | None:
    """The CPUs a cgroup v2 quota grants (`cpu.max` "QUOTA PERIOD", rounded up), None without one.
    A container started with --cpus=2 on a 64-core host sees 64 CPUs in its affinity mask but
    runs 2 at a time: a pool of 64 threads there waits at every join for threads the quota has
    parked (the same oversubscription as two pools on one machine)."""
    try:
        quota, period = cpu_max.read_text(encoding="ascii").split()[:2]
        if quota == "max":
            return None
        return max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        return None


def default_threads(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """One thread per CPU this process may run on at once: the affinity mask, capped by a cgroup
    CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cpu_max)
    return min(n, limit) if limit else n


def _enum(members: Mapping[str, _EnumT], name: str, what: str) -> _EnumT:
    if name not in members:
        raise ValueError(f"unknown {what} {name!r}; valid: {', '.join(members)}")
    return members[name]


# The C++ name of a GenerationParams field where the two differ (the seed API's max_steps).
CPP_NAMES = {"max_steps": "steps"}
# Struct members the engine fills from the checkpoint, not from the parameters.
FROM_CHECKPOINT = ("mask_id", "eos_id", "eot_id")


def generate_params(params: GenerationParams, mask_id: int, eos_id: int, eot_id: int) -> _engine.GenerateParams:
    """GenerationParams as the C++ struct (csrc/generate.h GenerateParams, bound as is): every
    field the struct binds under the same name (or its CPP_NAMES name), converted to the bound
    member's type, enums by member name. Fields the struct lacks stay in Python (constraints
    reach C++ resolved, as answer_init). A new parameter needs no line here."""
    p = _engine.GenerateParams()
    for f in fields(params):
        name = CPP_NAMES.get(f.name, f.name)
        if name in FROM_CHECKPOINT or not hasattr(p, name):
            continue
        value = getattr(params, f.name)
        current = getattr(p, name)
        members = getattr(type(current), "__members__", None)
        if members is not None:  # a pybind11 enum (Remasking, Decoding, CacheMode)
            value = _enum(members, value, f"{f.name} mode")
        elif isinstance(current, bool):
            value = bool(value)
        elif isinstance(current, float):
            value = float(value)
        setattr(p, name, value)
    p.mask_id = mask_id
    p.eos_id = eos_id
    p.eot_id = eot_id
    return p


def _entry(ckpt: Checkpoint, name: str) -> tuple[np.ndarray, str]:
    view = ckpt.tensors[name]
    return view.data, view.dtype


class CppEngine:
    name = "cpp"
    device = "cpu"

    def __init__(self, ckpt: Checkpoint, threads: int | None = None, kernel: str = "auto") -> None:
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; valid: {', '.join(KERNELS)}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.blas_status = load_blas()
        self.ckpt = ckpt  # keeps the memory maps alive as long as the engine
        cfg = ckpt.config
        config = {
            "d_model": cfg.d_model,
            "n_layers": cfg.n_layers,
            "n_heads": cfg.n_heads,
            "n_kv_heads": cfg.n_kv_heads,
            "head_dim": cfg.head_dim,
            "mlp_hidden_size": cfg.mlp_hidden_size,
            "vocab": cfg.embedding_size,
            "rope_theta": float(cfg.rope_theta),
            "rms_norm_eps": float(cfg.rms_norm_eps),
            "rope_interleaved": bool(getattr(ckpt, "rope_interleaved", False)),
        }
        layers = []
        for n in range(cfg.n_layers):
            p = layer_prefix(n)
            layers.append(
                {
                    part: _entry(ckpt, p + part + ".weight")
                    for part in (
                        "attn_norm",
                        "q_proj",
                        "k_proj",
                        "v_proj",
                        "attn_out",
                        "ff_norm",
                        "ff_proj",
                        "up_proj",
                        "ff_out",
                    )
                }
            )
        lm = ckpt.lm_head()
        tensors: dict[str, Any] = {
            "wte": _entry(ckpt, "model.transformer.wte.weight"),
            "ln_f": _entry(ckpt, "model.transformer.ln_f.weight"),
            "lm_head": (lm.data, lm.dtype),
            "layers": layers,
        }
        self._engine = _engine.Engine(config, tensors, threads or default_threads(), kernel)
        self.threads: int = self._engine.threads

    @property
    def kernel(self) -> str:
        """The matrix-product back end in use: 'blas' (OpenBLAS sgemm) or 'own'."""
        return str(self._engine.kernel)

    def forward_logits(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None) -> np.ndarray:
        """input_ids [B, L] int -> logits [B, L, V] float32."""
        ids = np.ascontiguousarray(input_ids, dtype=np.int64)
        mask = None if attention_mask is None else np.ascontiguousarray(attention_mask, dtype=bool)
        logits: np.ndarray = self._engine.forward_logits(ids, mask)
        return logits

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
        """answer_init, given_is_prompt, start_step: the generated region's starting content
        (core/answer_init.py); the defaults are a fresh run."""
        params.validate()
        start = time.perf_counter()
        ids = np.ascontiguousarray(prompt_ids, dtype=np.int64)
        if ids.ndim != 2:
            raise ValueError(f"prompt_ids must be [B, P], got shape {ids.shape}")
        init = check_answer_init(
            answer_init, given_is_prompt, start_step, ids.shape[0], params.gen_length, self.ckpt.config.embedding_size
        )
        mask = None if attention_mask is None else np.ascontiguousarray(attention_mask, dtype=bool)
        mask_id = self.ckpt.mask_id if params.mask_id is None else params.mask_id
        trajectory: list[StepEvent] = []

        def deliver(
            step: int,
            total: int,
            block: int,
            num_blocks: int,
            positions: list[list[int]],
            tokens: list[list[int]],
            confidences: list[list[float]],
            elapsed: float,
            forward_passes: int,
        ) -> bool:
            event = StepEvent(
                step=step,
                total_steps=total,
                block=block,
                num_blocks=num_blocks,
                positions=tuple(tuple(r) for r in positions),
                tokens=tuple(tuple(r) for r in tokens),
                confidences=tuple(tuple(r) for r in confidences),
                elapsed=elapsed,
                forward_passes=forward_passes,
            )
            trajectory.append(event)
            # As the reference: only an explicit False stops (None continues).
            return on_step is None or on_step(event) is not False

        cpp_params = generate_params(params, mask_id, self.ckpt.eos_id, self.ckpt.eot_id)
        is_cancelled = None if cancel is None else (lambda: cancel.cancelled)
        try:
            canvas, cancelled, passes = self._engine.generate(
                ids, mask, cpp_params, deliver, is_cancelled, init.answer, init.given_is_prompt, init.start_step
            )
        except _engine.NonFiniteLogits as exc:  # (message, step) from csrc/bindings.cpp
            raise NonFiniteLogitsError.at_step(int(exc.args[1])) from None
        total = time.perf_counter() - start
        P = ids.shape[1]
        generated = tuple(tuple(int(t) for t in row) for row in canvas[:, P:].tolist())
        return GenerationResult(
            generated_ids=generated,
            trajectory=tuple(trajectory),
            timings={"total_s": total, "forward_passes": float(passes), "per_step_s": total / max(1, len(trajectory))},
            cancelled=bool(cancelled),
        )
