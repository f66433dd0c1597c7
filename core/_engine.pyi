# Types of the compiled extension core._engine (csrc/bindings.cpp), checked by mypy at the
# boundary (core/cpp_engine.py). Keep in step with bindings.cpp.
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

simd: str

class NonFiniteLogits(ValueError):
    """args: (message, step): a still-masked position had a NaN/+inf logit (or none above -inf)."""

class Remasking:
    low_confidence: ClassVar[Remasking]
    random: ClassVar[Remasking]
    margin: ClassVar[Remasking]
    entropy: ClassVar[Remasking]
    __members__: ClassVar[dict[str, Remasking]]
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Decoding:
    fixed: ClassVar[Decoding]
    threshold: ClassVar[Decoding]
    factor: ClassVar[Decoding]
    __members__: ClassVar[dict[str, Decoding]]
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class CacheMode:
    none: ClassVar[CacheMode]
    prefix: ClassVar[CacheMode]
    dual: ClassVar[CacheMode]
    __members__: ClassVar[dict[str, CacheMode]]
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class GenerateParams:
    steps: int
    gen_length: int
    block_length: int
    temperature: float
    cfg_scale: float
    remasking: Remasking
    mask_id: int
    eos_id: int
    eot_id: int
    logits_eos_inf: bool
    confidence_eos_eot_inf: bool
    seed: int
    decoding: Decoding
    threshold: float
    factor: float
    cache: CacheMode
    def __init__(self) -> None: ...

# on_step(step, total_steps, block, num_blocks, positions, tokens, confidences, elapsed,
# forward_passes) -> False to request a stop
StepFn = Callable[[int, int, int, int, list[list[int]], list[list[int]], list[list[float]], float, int], bool]

class Engine:
    def __init__(self, config: dict[str, Any], tensors: dict[str, Any], threads: int, kernel: str = "auto") -> None: ...
    @property
    def threads(self) -> int: ...
    kernel: str
    def forward_logits(
        self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[Any] | None = None
    ) -> npt.NDArray[np.float32]: ...
    def forward_cached(
        self,
        first: npt.NDArray[np.int64],
        input_ids: npt.NDArray[np.int64],
        attention_mask: npt.NDArray[Any] | None,
        row_from: int,
        row_to: int,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
    def generate(
        self,
        prompt_ids: npt.NDArray[np.int64],
        attention_mask: npt.NDArray[Any] | None,
        params: GenerateParams,
        on_step: StepFn | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        answer_init: npt.NDArray[np.int64] | None = None,
        given_is_prompt: npt.NDArray[np.bool_] | None = None,
        start_step: int = 0,
    ) -> tuple[npt.NDArray[np.int64], bool, int]: ...

def load_blas(path: str) -> str: ...
def blas_available() -> bool: ...
def dequantize(w: npt.NDArray[Any], dtype: str) -> npt.NDArray[np.float32]: ...
def quant_isa() -> str: ...
def set_quant_isa(name: str) -> bool: ...
def bf16_isa() -> str: ...
def set_bf16_isa(name: str) -> bool: ...
def amx_gemm_rows(dtype: str) -> int: ...
def set_amx_gemm_rows(bf16_rows: int, quant_rows: int) -> None: ...
def amx_gemm_available() -> bool: ...
def phase_times() -> dict[str, float]: ...
def reset_phase_times() -> None: ...
def matmul(
    x: npt.NDArray[np.float32], w: npt.NDArray[Any], dtype: str, kernel: str = "auto", threads: int = 1
) -> npt.NDArray[np.float32]: ...
