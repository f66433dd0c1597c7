"""The LLaDA forward pass in PyTorch (ALGORITHM.md section 1): the reference the C++ engine is
pinned to, and the module the bundled model is trained with.

Shapes: B batch, L sequence, d model width, H heads, K kv heads, hd head dim, V vocab.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint

KV = tuple[torch.Tensor, torch.Tensor]  # keys, values [B, K, L, hd] after RoPE

TORCH_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 whatever the activation dtype (LLaDA's RMSLayerNorm does too).
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


def rope_tables(length: int, head_dim: int, theta: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [L, hd] for the half-split (NeoX) layout, in float32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, L, hd]; rotate_half([a, b]) = [-b, a]; computed in float32."""
    xf = x.float()
    a, b = xf.chunk(2, dim=-1)
    rotated = torch.cat([-b, a], dim=-1)
    return (xf * cos + rotated * sin).to(x.dtype)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, hd = cfg.d_model, cfg.head_dim
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, hd
        self.attn_norm = RMSNorm(d, cfg.rms_norm_eps)
        self.q_proj = nn.Linear(d, cfg.n_heads * hd, bias=False)
        self.k_proj = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.attn_out = nn.Linear(cfg.n_heads * hd, d, bias=False)
        self.ff_norm = RMSNorm(d, cfg.rms_norm_eps)
        self.ff_proj = nn.Linear(d, cfg.mlp_hidden_size, bias=False)
        self.up_proj = nn.Linear(d, cfg.mlp_hidden_size, bias=False)
        self.ff_out = nn.Linear(cfg.mlp_hidden_size, d, bias=False)
        self.qkv_weight: torch.Tensor | None = None
        self.qkv_sizes = [cfg.n_heads * hd, cfg.n_kv_heads * hd, cfg.n_kv_heads * hd]

    def fuse_qkv(self) -> None:
        """Store q, k and v as one matrix (the three projections become views into it, so no
        memory is added and the checkpoint names still work). On a GPU the row passes of the
        block cache are bound by reading weights, and one [3d, d] product reads them faster
        than three [d, d] ones (measured on the H200: tests/bench/RESULTS_gpu.md)."""
        if self.qkv_weight is not None:
            return
        with torch.no_grad():
            fused = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight], dim=0)
            q, k, v = torch.split(fused, self.qkv_sizes, dim=0)
            self.q_proj.weight, self.k_proj.weight, self.v_proj.weight = (
                nn.Parameter(t, requires_grad=False) for t in (q, k, v)
            )
        self.qkv_weight = fused

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        key_mask: torch.Tensor | None,
        cached: KV | None = None,
        start: int = 0,
        store: list[KV] | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x [B, R, d]: rows `start .. start+R-1` of the canvas (all of it when R = L).

        With `cached` (keys and values of the whole canvas from an earlier full pass) the other
        rows' keys and values come from the cache (Fast-dLLM block cache); `store` collects this
        pass's keys and values for later steps. With `positions` ([R] canvas positions of the
        rows) the rows' keys and values are written into `cached` in place instead."""
        B, R, _ = x.shape
        n = self.attn_norm(x)
        if self.qkv_weight is not None:  # one matrix product instead of three (fuse_qkv)
            q, k, v = torch.split(F.linear(n, self.qkv_weight), self.qkv_sizes, dim=-1)
        else:
            q, k, v = self.q_proj(n), self.k_proj(n), self.v_proj(n)
        q = q.view(B, R, self.n_heads, self.head_dim).transpose(1, 2)
        k = k.view(B, R, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(B, R, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if store is not None:
            store.append((k, v))
        if cached is not None and positions is not None:
            # Write this pass's rows into the cache in place: the same keys and values as the
            # concatenation below, with no shape or offset that depends on where the rows are.
            ck, cv = cached
            k, v = ck.index_copy_(2, positions, k), cv.index_copy_(2, positions, v)
        elif cached is not None:
            ck, cv = cached
            k = torch.cat([ck[:, :, :start], k, ck[:, :, start + R :]], dim=2)
            v = torch.cat([cv[:, :, :start], v, cv[:, :, start + R :]], dim=2)
        if self.n_kv_heads != self.n_heads:
            rep = self.n_heads // self.n_kv_heads
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        # Bidirectional: no causal mask. Padded positions are masked as keys only.
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, scale=1.0 / math.sqrt(self.head_dim))
        h = x + self.attn_out(attn.transpose(1, 2).reshape(B, R, -1))
        m = self.ff_norm(h)
        out: torch.Tensor = h + self.ff_out(F.silu(self.ff_proj(m)) * self.up_proj(m))
        return out


class LLaDAModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.embedding_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = RMSNorm(cfg.d_model, cfg.rms_norm_eps)
        self.lm_head = None if cfg.weight_tying else nn.Linear(cfg.d_model, cfg.embedding_size, bias=False)

    def fuse_qkv(self) -> LLaDAModel:
        """Every block's q, k and v in one matrix (Block.fuse_qkv); for inference on a GPU."""
        for block in self.blocks:
            block.fuse_qkv()  # type: ignore[operator]
        return self

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids [B, L] -> logits [B, L, V] in float32."""
        return self._run(input_ids, attention_mask)

    def forward_and_cache(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[KV]]:
        """A full pass that also returns every layer's keys and values [B, K, L, hd]."""
        store: list[KV] = []
        logits = self._run(input_ids, attention_mask, store=store)
        return logits, store

    def forward_rows(
        self, row_ids: torch.Tensor, attention_mask: torch.Tensor | None, start: int, cache: list[KV]
    ) -> torch.Tensor:
        """Logits [B, R, V] of canvas rows start .. start+R-1, the other rows' keys and values
        taken from `cache` (approximate by design: they are from the block's first step)."""
        return self._run(row_ids, attention_mask, start=start, cache=cache)

    def forward_rows_at(
        self, row_ids: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor, cache: list[KV]
    ) -> torch.Tensor:
        """`forward_rows` for the rows at canvas `positions` ([R] long, on the model's device),
        writing their new keys and values into `cache` in place (pass a copy you own). Nothing
        in it depends on the rows' offset as a Python number, so one CUDA graph serves every
        block (cuda_graphs.py)."""
        return self._run(row_ids, attention_mask, cache=cache, positions=positions)

    def forward_logits_at(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, rows: torch.Tensor
    ) -> torch.Tensor:
        """A full pass over the canvas returning the logits [B, R, V] of the rows at canvas
        positions `rows` ([R] long, on the model's device) only: the plain sampler needs the
        current block's, and the LM head over the whole canvas (126464 columns for LLaDA-8B) and
        its float32 copy were the largest single cost after the layers. No Python number depends
        on where the block is, so one CUDA graph serves every block (cuda_graphs.GraphedFull)."""
        return self._run(input_ids, attention_mask, head_rows=rows)

    def _run(
        self,
        ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        start: int = 0,
        cache: list[KV] | None = None,
        store: list[KV] | None = None,
        positions: torch.Tensor | None = None,
        head_rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        B, R = ids.shape
        total = cache[0][0].shape[2] if cache is not None else R
        x = self.wte(ids)
        cos, sin = rope_tables(total, self.config.head_dim, self.config.rope_theta, ids.device)
        if positions is not None:
            cos, sin = cos.index_select(0, positions), sin.index_select(0, positions)
        else:
            cos, sin = cos[start : start + R], sin[start : start + R]
        key_mask = None
        capturing = ids.is_cuda and torch.cuda.is_current_stream_capturing()  # no host syncs then
        if attention_mask is not None and (capturing or not bool(attention_mask.all())):
            key_mask = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, L] True = attend
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, key_mask, None if cache is None else cache[i], start, store, positions)
        if head_rows is not None:
            x = x.index_select(1, head_rows)
        x = self.ln_f(x)
        head = self.wte.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(x, head).float()

    # -- checkpoint names ------------------------------------------------------------------
    def state_dict_for_checkpoint(self) -> dict[str, torch.Tensor]:
        """Parameters under their LLaDA checkpoint names."""
        out = {"model.transformer.wte.weight": self.wte.weight}
        for n, b in enumerate(self.blocks):
            p = f"model.transformer.blocks.{n}."
            for part in ("attn_norm", "ff_norm"):
                out[p + part + ".weight"] = getattr(b, part).weight
            for part in ("q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out"):
                out[p + part + ".weight"] = getattr(b, part).weight
        out["model.transformer.ln_f.weight"] = self.ln_f.weight
        if self.lm_head is not None:
            out["model.transformer.ff_out.weight"] = self.lm_head.weight
        return out

    @classmethod
    def from_checkpoint(
        cls, ckpt: Checkpoint, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
    ) -> LLaDAModel:
        """Build the module from a loaded checkpoint. `dtype=None` keeps the stored dtype of the
        big matrices (norm weights too); pass torch.float32 to upcast."""
        with torch.device("meta"):
            model = cls(ckpt.config)
        target = dtype or TORCH_DTYPES.get(ckpt.weight_dtype, torch.float32)  # GGUF Q types: f32
        params = model.state_dict_for_checkpoint()
        tensors: dict[str, torch.Tensor] = {}
        for name in params:
            view = ckpt.tensors[name]
            if view.dtype not in TORCH_DTYPES or ckpt.rope_interleaved:  # GGUF: dequantized f32 copy
                from ..gguf_loader import dequantized, unpermute_rows

                arr = dequantized(view)
                if ckpt.rope_interleaved and name.endswith(("q_proj.weight", "k_proj.weight")):
                    heads = ckpt.config.n_heads if name.endswith("q_proj.weight") else ckpt.config.n_kv_heads
                    arr = unpermute_rows(arr, heads)
                tensors[name] = torch.from_numpy(np.array(arr, copy=True)).to(device=device, dtype=target)
                continue
            with warnings.catch_warnings():
                # The map is read-only on purpose (core/safetensors_io.py); inference never writes
                # into weights, so torch's "not writable" warning is noise here.
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                t = torch.from_numpy(view.data)  # shares the memory map
            if view.dtype == "bf16":
                t = t.view(torch.int16).view(torch.bfloat16)
            tensors[name] = t.to(device=device, dtype=target)
        # Assign in place of the meta parameters, keeping the module structure.
        name_of = {id(p): n for n, p in params.items()}
        for module in model.modules():
            for pname, p in list(module.named_parameters(recurse=False)):
                module._parameters[pname] = nn.Parameter(tensors[name_of[id(p)]], requires_grad=False)
        return model.eval()
