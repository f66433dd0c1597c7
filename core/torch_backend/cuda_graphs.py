"""CUDA graphs for the sampler's model passes: the cached block steps (GraphedRows) and the
plain sampler's full pass (GraphedFull).

With the block cache, a step recomputes only a few dozen rows; on a GPU such a pass is bound by
kernel launches (about a thousand for a 32-layer model), not by arithmetic. Capturing the rows
pass once and replaying it removes the launch cost (the CUDA programming guide, "CUDA Graphs";
PyTorch's torch.cuda.graphs).

One graph serves a whole generation: the rows pass runs on static buffers (token ids, the rows'
canvas positions, the attention mask and a copy of the cache), through
`LLaDAModel.forward_rows_at`, which takes the positions as a tensor and writes the rows' keys and
values into the cache copy in place. A new block only refreshes the buffers (the cache copy once
per block, the positions every step); nothing is captured again.

Optionally (`LLADA_TORCH_COMPILE=1`, or `compile=True`) the rows pass is first compiled with
torch.compile, which fuses the norm, RoPE and gating element-wise kernels; the compile costs
tens of seconds once per shape, so it is off by default.
"""

from __future__ import annotations

import os
from typing import Any

import torch

KV = tuple[torch.Tensor, torch.Tensor]

# Why capture was given up, newest last (benchmarks print it; the sampler just runs eagerly then).
FAILURES: list[str] = []
# Captures and replays since import, for benchmarks to show the graphs were used.
STATS = {"captures": 0, "replays": 0}


def compile_requested() -> bool:
    return os.environ.get("LLADA_TORCH_COMPILE", "") not in ("", "0")


class GraphedRows:
    """`model.forward_rows(rows, mask, start, cache)` replayed from one CUDA graph per shape."""

    def __init__(self, model: Any, compile: bool | None = None) -> None:
        self.model = model
        self.rows_fn: Any = model.forward_rows_at
        if compile_requested() if compile is None else compile:
            # One compiled function per model, so later generations reuse its compiled shapes.
            if getattr(model, "_compiled_rows", None) is None:
                model._compiled_rows = torch.compile(model.forward_rows_at, dynamic=False)
            self.rows_fn = model._compiled_rows
        self.key: tuple[object, ...] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.source_cache: list[KV] | None = None  # the sampler's cache last copied in (kept alive)
        self.ids: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None
        self.offsets: torch.Tensor | None = None  # 0 .. R-1
        self.mask: torch.Tensor | None = None
        self.cache: list[KV] = []
        self.out: torch.Tensor | None = None
        self.failure: str | None = None  # why graphs were given up, if they were

    def __call__(self, rows: torch.Tensor, mask: torch.Tensor | None, start: int, cache: list[KV]) -> torch.Tensor:
        if self.failure is not None:
            return self.model.forward_rows(rows, mask, start, cache)  # type: ignore[no-any-return]
        key = (tuple(rows.shape), None if mask is None else tuple(mask.shape), tuple(cache[0][0].shape), len(cache))
        try:
            if key != self.key:
                self._capture(rows, mask, start, cache)
                self.key = key
            self._load(rows, mask, start, cache)
            assert self.graph is not None and self.out is not None
            self.graph.replay()
        except Exception as exc:  # noqa: BLE001 - an op that cannot be captured or compiled: run eagerly from now on
            self.failure = str(exc)
            FAILURES.append(self.failure)
            self.graph = None
            return self.model.forward_rows(rows, mask, start, cache)  # type: ignore[no-any-return]
        STATS["replays"] += 1
        return self.out

    def _load(self, rows: torch.Tensor, mask: torch.Tensor | None, start: int, cache: list[KV]) -> None:
        """Fill the static buffers for this step (the cache only when the sampler made a new one)."""
        assert self.ids is not None and self.positions is not None and self.offsets is not None
        if cache is not self.source_cache:
            for (sk, sv), (k, v) in zip(self.cache, cache, strict=True):
                sk.copy_(k)
                sv.copy_(v)
            self.source_cache = cache
        self.ids.copy_(rows)
        torch.add(self.offsets, start, out=self.positions)
        if mask is not None:
            assert self.mask is not None
            self.mask.copy_(mask)

    def _capture(self, rows: torch.Tensor, mask: torch.Tensor | None, start: int, cache: list[KV]) -> None:
        self.graph = None
        device = rows.device
        self.ids = rows.clone()
        self.offsets = torch.arange(rows.shape[1], device=device)
        self.positions = self.offsets + start
        self.mask = None if mask is None else mask.clone()
        self.cache = [(k.clone(), v.clone()) for k, v in cache]
        self.source_cache = cache
        # Run once outside the capture: library handles, workspaces and (with compile) the
        # compilation itself are made here, never inside the graph.
        stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self.rows_fn(self.ids, self.mask, self.positions, self.cache)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.out = self.rows_fn(self.ids, self.mask, self.positions, self.cache)
        self.graph = graph
        STATS["captures"] += 1


class GraphedFull:
    """The plain sampler's full pass, `model(ids, mask)[:, start:start + rows]`, replayed from one
    CUDA graph per shape (through `forward_logits_at`, which takes the block's positions as a
    tensor, so every block replays the same graph).

    Why: eagerly, a full pass of a 32-layer model is about 1,400 kernel launches, each with
    Python's and the dispatcher's cost on the host. Until the host outruns the GPU the step is
    host-bound, and then any extra host work in the process (the product path's, a busier or
    slower CPU) shows up one for one in the step time; replayed, the host launches one graph and
    the step costs what the GPU needs. The graph is kept on the model, so the next generation of
    the same shape replays it without capturing again."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.key: tuple[object, ...] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.ids: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None
        self.offsets: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None
        self.out: torch.Tensor | None = None
        self.failure: str | None = None

    @classmethod
    def for_model(cls, model: Any) -> GraphedFull:
        graphed = getattr(model, "_graphed_full", None)
        if not isinstance(graphed, GraphedFull):
            graphed = cls(model)
            model._graphed_full = graphed
        return graphed

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor | None, start: int, rows: int) -> torch.Tensor:
        if self.failure is not None:
            return self._eager(ids, mask, start, rows)
        key = (tuple(ids.shape), None if mask is None else tuple(mask.shape), rows, ids.device)
        try:
            if key != self.key:
                self._capture(ids, mask, start, rows)
                self.key = key
            assert self.ids is not None and self.positions is not None and self.offsets is not None
            self.ids.copy_(ids)
            if mask is not None:
                assert self.mask is not None
                self.mask.copy_(mask)
            torch.add(self.offsets, start, out=self.positions)
            assert self.graph is not None and self.out is not None
            self.graph.replay()
        except Exception as exc:  # noqa: BLE001 - an op that cannot be captured: run eagerly from now on
            self.failure = str(exc)
            FAILURES.append(self.failure)
            self.graph = None
            return self._eager(ids, mask, start, rows)
        STATS["replays"] += 1
        return self.out

    def _eager(self, ids: torch.Tensor, mask: torch.Tensor | None, start: int, rows: int) -> torch.Tensor:
        positions = torch.arange(start, start + rows, device=ids.device)
        return self.model.forward_logits_at(ids, mask, positions)  # type: ignore[no-any-return]

    def _capture(self, ids: torch.Tensor, mask: torch.Tensor | None, start: int, rows: int) -> None:
        self.graph = None
        self.ids = ids.clone()
        self.mask = None if mask is None else mask.clone()
        self.offsets = torch.arange(rows, device=ids.device)
        self.positions = self.offsets + start
        stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # workspaces and library handles, outside the capture
            self.model.forward_logits_at(self.ids, self.mask, self.positions)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.out = self.model.forward_logits_at(self.ids, self.mask, self.positions)
        self.graph = graph
        STATS["captures"] += 1
