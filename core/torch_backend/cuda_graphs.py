"""CUDA graphs for the cached block steps.

With the block cache, a step recomputes only a few dozen rows; on a GPU such a pass is bound by
kernel launches (about a thousand for a 32-layer model), not by arithmetic. Capturing the rows
pass once per block and replaying it removes the launch cost (the CUDA programming guide,
"CUDA Graphs"; PyTorch's torch.cuda.graphs).
"""

from __future__ import annotations

from typing import Any

import torch

KV = tuple[torch.Tensor, torch.Tensor]


class GraphedRows:
    """`forward_rows` of a model, captured per (block start, rows shape, cache) and replayed."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.key: tuple[object, ...] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in: torch.Tensor | None = None
        self.static_out: torch.Tensor | None = None
        self.warmed_up = False
        self.failure: str | None = None  # why graphs were given up, if they were

    def __call__(self, rows: torch.Tensor, mask: torch.Tensor | None, start: int, cache: list[KV]) -> torch.Tensor:
        if self.failure is not None:
            return self.model.forward_rows(rows, mask, start, cache)  # type: ignore[no-any-return]
        key = (start, tuple(rows.shape), id(cache))
        if key != self.key:
            try:
                self._capture(rows, mask, start, cache)
            except RuntimeError as exc:  # an op that cannot be captured: run eagerly from now on
                self.failure = str(exc)
                self.graph = None
                return self.model.forward_rows(rows, mask, start, cache)  # type: ignore[no-any-return]
            self.key = key
        assert self.static_in is not None and self.graph is not None and self.static_out is not None
        self.static_in.copy_(rows)
        self.graph.replay()
        return self.static_out

    def _capture(self, rows: torch.Tensor, mask: torch.Tensor | None, start: int, cache: list[KV]) -> None:
        self.graph = None
        self.static_in = rows.clone()
        if not self.warmed_up:  # library handles and workspaces are made outside the capture
            stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                self.model.forward_rows(self.static_in, mask, start, cache)
            torch.cuda.current_stream().wait_stream(stream)
            self.warmed_up = True
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_out = self.model.forward_rows(self.static_in, mask, start, cache)
        self.graph = graph
