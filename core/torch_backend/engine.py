"""`TorchEngine`: the reference backend behind the Engine protocol (CPU, or CUDA)."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..answer_init import check_answer_init
from ..checkpoint import Checkpoint
from ..errors import EngineUnavailableError
from ..events import CancelToken, GenerationResult, StepCallback
from ..params import GenerationParams
from .model import LLaDAModel
from .sampler import generate


class TorchEngine:
    name = "torch"

    def __init__(
        self, ckpt: Checkpoint, device: str = "cpu", threads: int | None = None, dtype: torch.dtype | None = None
    ) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EngineUnavailableError(f"device {device!r} asked for, but this PyTorch build has no CUDA device")
        if threads is not None:
            torch.set_num_threads(threads)
        self.device = device
        self.threads = torch.get_num_threads()
        self.ckpt = ckpt
        # On the CPU bf16/f16 matmuls are slow or missing in eager PyTorch: compute in f32 there.
        if dtype is None and device == "cpu":
            dtype = torch.float32
        self.model = LLaDAModel.from_checkpoint(ckpt, device=device, dtype=dtype)
        if device.startswith("cuda"):
            # Weight-read-bound row passes of the block cache: one q/k/v product (not on the
            # CPU, where the weights are views of the memory-mapped file and would be copied).
            self.model.fuse_qkv()
            # The process's one-time CUDA costs (cuBLAS, kernel loads, allocator, first capture)
            # at load, not in the user's first generation (cuda_graphs.warm_up; LLADA_CUDA_WARMUP=0: off).
            from .cuda_graphs import warm_up, warm_up_requested

            if warm_up_requested():
                warm_up(self.model, ckpt.mask_id, ckpt.eos_id, ckpt.eot_id)

    def _run(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        logits: torch.Tensor = self.model(x, mask)
        return logits

    @torch.no_grad()
    def forward_logits(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None) -> np.ndarray:
        x = torch.as_tensor(np.asarray(input_ids, dtype=np.int64), device=self.device)
        mask = (
            None
            if attention_mask is None
            else torch.as_tensor(np.asarray(attention_mask, dtype=bool), device=self.device)
        )
        logits: np.ndarray = self._run(x, mask).float().cpu().numpy()
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
        start = time.perf_counter()
        x = torch.as_tensor(np.asarray(prompt_ids, dtype=np.int64), device=self.device)
        if x.ndim != 2:
            raise ValueError(f"prompt_ids must be [B, P], got shape {tuple(x.shape)}")
        params.validate()
        init = check_answer_init(
            answer_init, given_is_prompt, start_step, x.shape[0], params.gen_length, self.ckpt.config.embedding_size
        )
        answer = None if init.answer is None else torch.as_tensor(init.answer, device=self.device)
        given = None if init.given_is_prompt is None else torch.as_tensor(init.given_is_prompt, device=self.device)
        mask = (
            None
            if attention_mask is None
            else torch.as_tensor(np.asarray(attention_mask, dtype=bool), device=self.device)
        )
        mask_id = self.ckpt.mask_id if params.mask_id is None else params.mask_id
        vocab = self.ckpt.config.embedding_size
        if not 0 <= mask_id < vocab:
            raise ValueError(f"mask_id {mask_id} is outside the vocabulary [0, {vocab})")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab):
            raise ValueError(f"a prompt token id is outside the vocabulary [0, {vocab})")
        canvas, trajectory, cancelled = generate(
            # The module itself, not a wrapper: the block cache needs forward_and_cache / forward_rows.
            self.model,
            x,
            mask,
            params,
            mask_id,
            self.ckpt.eos_id,
            self.ckpt.eot_id,
            on_step,
            cancel,
            answer,
            given,
            init.start_step,
        )
        total = time.perf_counter() - start
        P = x.shape[1]
        generated = tuple(tuple(int(t) for t in row) for row in canvas[:, P:].cpu().tolist())
        passes = trajectory[-1].forward_passes if trajectory else 0
        return GenerationResult(
            generated_ids=generated,
            trajectory=tuple(trajectory),
            timings={"total_s": total, "forward_passes": float(passes), "per_step_s": total / max(1, len(trajectory))},
            cancelled=cancelled,
        )
