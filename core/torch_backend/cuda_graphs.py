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

The captured graphs live on the model, one per kind of pass (the plain full pass, the cached
rows pass), and are kept for the next generation: a generation of the shape captured last replays
without capturing again; another shape captures anew and frees the old graph.

Optionally (`LLADA_TORCH_COMPILE=1`, or `compile=True`) each pass is first compiled with
torch.compile, which fuses the norm, RoPE and gating element-wise kernels; the compile costs
tens of seconds once per shape (core/torch_compile.py has the measured figures), so it is off
by default.

`warm_up(model, ...)` runs a small generation at load (TorchEngine does on CUDA), so that the
first real generation does not pay the process's one-time costs: the cuBLAS handles and
workspaces, the kernels' lazy module loads, the allocator's first growth, the first capture.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ..torch_compile import compile_enabled

KV = tuple[torch.Tensor, torch.Tensor]

# Why capture was given up, newest last (benchmarks print it; the sampler just runs eagerly then).
FAILURES: list[str] = []
# Captures and replays since import, for benchmarks to show the graphs were used; capture_s:
# the seconds of each capture (the eager pass before it, the capture, the first replay), newest last.
STATS: dict[str, Any] = {"captures": 0, "replays": 0, "capture_s": [], "warm_up_s": []}
_NO_COMPILE = [0]  # > 0 inside no_compile(): the warm-up must not compile for its own shape


def compile_requested() -> bool:
    """torch.compile the passes before capturing them: LLADA_TORCH_COMPILE=1 (read when a
    generation starts, so setting it between generations takes effect at the next one)."""
    if _NO_COMPILE[0]:
        return False
    return compile_enabled()


def warm_up_requested() -> bool:
    """The warm-up at load; LLADA_CUDA_WARMUP=0 turns it off (benchmarks compare)."""
    return os.environ.get("LLADA_CUDA_WARMUP", "1") not in ("", "0")


@contextmanager
def no_compile() -> Iterator[None]:
    _NO_COMPILE[0] += 1
    try:
        yield
    finally:
        _NO_COMPILE[0] -= 1


def _timed_capture(t0: float) -> None:
    torch.cuda.synchronize()
    STATS["captures"] += 1
    STATS["capture_s"].append(round(time.perf_counter() - t0, 4))


def _compiled(model: Any, attr: str, fn: Any) -> Any:
    """One compiled function per model and pass, so later generations reuse its compiled shapes."""
    if getattr(model, attr, None) is None:
        setattr(model, attr, torch.compile(fn, dynamic=False))
    return getattr(model, attr)


class _RowsGraph:
    """The captured rows pass of one model, kept on it (`model._graphed_rows`) across generations."""

    def __init__(self, model: Any, compiled: bool) -> None:
        self.model = model
        self.compiled = compiled
        self.rows_fn: Any = model.forward_rows_at
        if compiled:
            self.rows_fn = _compiled(model, "_compiled_rows", model.forward_rows_at)
        self.key: tuple[object, ...] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.ids: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None
        self.offsets: torch.Tensor | None = None  # 0 .. R-1
        self.mask: torch.Tensor | None = None
        self.cache: list[KV] = []
        self.out: torch.Tensor | None = None
        self.failure: str | None = None  # why graphs were given up, if they were

    def capture(self, rows: torch.Tensor, mask: torch.Tensor | None, start: int, cache: list[KV]) -> None:
        t0 = time.perf_counter()
        self.graph = self.out = None
        self.cache = []
        device = rows.device
        self.ids = rows.clone()
        self.offsets = torch.arange(rows.shape[1], device=device)
        self.positions = self.offsets + start
        self.mask = None if mask is None else mask.clone()
        self.cache = [(k.clone(), v.clone()) for k, v in cache]
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
        _timed_capture(t0)


class GraphedRows:
    """`model.forward_rows(rows, mask, start, cache)` replayed from one CUDA graph per shape.

    One of these serves one generation (the sampler makes it); the graph and its static buffers
    are the model's (`_RowsGraph`), so the next generation of the same shape replays at once."""

    def __init__(self, model: Any, compile: bool | None = None) -> None:
        self.model = model
        compiled = compile_requested() if compile is None else compile
        shared = getattr(model, "_graphed_rows", None)
        if not isinstance(shared, _RowsGraph) or shared.compiled != compiled:
            shared = _RowsGraph(model, compiled)
            model._graphed_rows = shared
        self.shared = shared
        self.source_cache: list[KV] | None = None  # this generation's cache last copied in

    @property
    def failure(self) -> str | None:
        return self.shared.failure

    def __call__(self, rows: torch.Tensor, mask: torch.Tensor | None, start: int, cache: list[KV]) -> torch.Tensor:
        g = self.shared
        if g.failure is not None:
            return self.model.forward_rows(rows, mask, start, cache)  # type: ignore[no-any-return]
        key = (tuple(rows.shape), None if mask is None else tuple(mask.shape), tuple(cache[0][0].shape), len(cache),
               rows.dtype, cache[0][0].dtype, rows.device)  # fmt: skip
        try:
            if key != g.key:
                g.key = None
                g.capture(rows, mask, start, cache)
                g.key = key
                self.source_cache = cache
            self._load(rows, mask, start, cache)
            assert g.graph is not None and g.out is not None
            g.graph.replay()
        except Exception as exc:  # noqa: BLE001 - an op that cannot be captured or compiled: run eagerly from now on
            g.failure = str(exc)
            FAILURES.append(g.failure)
            g.graph = g.out = None
            g.cache = []
            return self.model.forward_rows(rows, mask, start, cache)  # type: ignore[no-any-return]
        STATS["replays"] += 1
        return g.out

    def _load(self, rows: torch.Tensor, mask: torch.Tensor | None, start: int, cache: list[KV]) -> None:
        """Fill the static buffers for this step (the cache only when the sampler made a new one)."""
        g = self.shared
        assert g.ids is not None and g.positions is not None and g.offsets is not None
        if cache is not self.source_cache:
            for (sk, sv), (k, v) in zip(g.cache, cache, strict=True):
                sk.copy_(k)
                sv.copy_(v)
            self.source_cache = cache
        g.ids.copy_(rows)
        torch.add(g.offsets, start, out=g.positions)
        if mask is not None:
            assert g.mask is not None
            g.mask.copy_(mask)


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

    def __init__(self, model: Any, compile: bool | None = None) -> None:
        self.model = model
        self.compiled = compile_requested() if compile is None else compile
        self.fn: Any = model.forward_logits_at
        if self.compiled:
            self.fn = _compiled(model, "_compiled_full", model.forward_logits_at)
        self.key: tuple[object, ...] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.ids: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None
        self.offsets: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None
        self.out: torch.Tensor | None = None
        self.failure: str | None = None

    @classmethod
    def for_model(cls, model: Any, compile: bool | None = None) -> GraphedFull:
        compiled = compile_requested() if compile is None else compile
        graphed = getattr(model, "_graphed_full", None)
        if not isinstance(graphed, GraphedFull) or graphed.compiled != compiled:
            graphed = cls(model, compiled)
            model._graphed_full = graphed
        return graphed

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor | None, start: int, rows: int) -> torch.Tensor:
        if self.failure is not None:
            return self._eager(ids, mask, start, rows)
        key = (tuple(ids.shape), None if mask is None else tuple(mask.shape), rows, ids.device)
        try:
            if key != self.key:
                self.key = None
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
            self.graph = self.out = None
            return self._eager(ids, mask, start, rows)
        STATS["replays"] += 1
        return self.out

    def _eager(self, ids: torch.Tensor, mask: torch.Tensor | None, start: int, rows: int) -> torch.Tensor:
        positions = torch.arange(start, start + rows, device=ids.device)
        return self.model.forward_logits_at(ids, mask, positions)  # type: ignore[no-any-return]

    def _capture(self, ids: torch.Tensor, mask: torch.Tensor | None, start: int, rows: int) -> None:
        t0 = time.perf_counter()
        self.graph = self.out = None  # the old graph's memory goes back before the new capture
        self.ids = ids.clone()
        self.mask = None if mask is None else mask.clone()
        self.offsets = torch.arange(rows, device=ids.device)
        self.positions = self.offsets + start
        stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # workspaces, library handles (and the compile), outside the capture
            self.fn(self.ids, self.mask, self.positions)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.out = self.fn(self.ids, self.mask, self.positions)
        self.graph = graph
        _timed_capture(t0)


def warm_up(model: Any, mask_id: int, eos_id: int, eot_id: int, prompt_tokens: int = 256, rows: int = 32) -> float:
    """Run one small generation of each kind (plain, dual cache; two steps each) on a CUDA model
    (never compiled: its shape is not the user's), so the process's one-time costs are paid at load rather than in the
    user's first generation: cuBLAS handles and workspaces, the lazy loading of each kernel's
    module, the caching allocator's growth, the first graph captures. Its graphs are of its own
    shape (prompt_tokens + rows) and are dropped afterwards; the first real generation captures
    its own. Returns the seconds it took. A failure is recorded in FAILURES, never raised: the
    model still loads, and its first generation pays these costs itself."""
    from ..params import GenerationParams
    from .sampler import generate

    t0 = time.perf_counter()
    try:
        device = next(model.parameters()).device
        limit = int(model.config.max_sequence_length)
        rows = max(1, min(rows, limit // 2))
        prompt_tokens = max(1, min(prompt_tokens, limit - rows))
        vocab = int(model.config.embedding_size)
        gen = torch.Generator().manual_seed(0)
        prompt = torch.randint(0, vocab, (1, prompt_tokens), generator=gen).to(device)
        prompt[prompt == mask_id] = (mask_id + 1) % vocab
        with no_compile():
            for cache, temperature in (("none", 1.0), ("dual", 0.0)):
                params = GenerationParams(
                    max_steps=2, gen_length=rows, block_length=rows, temperature=temperature, cache=cache
                )
                generate(model, prompt, None, params, mask_id, eos_id, eot_id)
        for attr in ("_graphed_full", "_graphed_rows"):  # its shapes' graphs and their memory
            if hasattr(model, attr):
                delattr(model, attr)
        if device.type == "cuda":
            torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 - a warm-up must never stop a load
        FAILURES.append(f"warm-up: {exc}")
    seconds = time.perf_counter() - t0
    STATS["warm_up_s"].append(round(seconds, 4))
    return seconds
