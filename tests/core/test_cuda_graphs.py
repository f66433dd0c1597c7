"""CUDA graphs of the torch sampler (core/torch_backend/cuda_graphs.py): the graphs live on the
model, so a second generation of the same shape captures nothing and gives the same tokens; a new
shape captures again; the warm-up at load leaves no graph behind. Needs a CUDA device (skipped
elsewhere; run on the device machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.checkpoint_writer import random_checkpoint
from llada_studio.core.params import GenerationParams
from llada_studio.core.torch_backend import cuda_graphs, sampler
from llada_studio.core.torch_backend.model import LLaDAModel

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[LLaDAModel, object]:
    folder = random_checkpoint(tmp_path_factory.mktemp("cg") / "m", vocab_size=512, d_model=64, n_heads=4, shards=1)
    ck = load_checkpoint(Path(folder))
    model = LLaDAModel.from_checkpoint(ck, device="cuda", dtype=torch.float32).fuse_qkv()
    return model, ck


def run(model: LLaDAModel, ck: object, cache: str, prompt_len: int = 40, graphs: bool = True) -> list[int]:
    ids = torch.arange(5, 5 + prompt_len, device="cuda")[None]
    params = GenerationParams(max_steps=8, gen_length=32, block_length=16, temperature=0.0, cache=cache)
    old = sampler.USE_CUDA_GRAPHS
    sampler.USE_CUDA_GRAPHS = graphs
    try:
        canvas, _, _ = sampler.generate(model, ids, None, params, ck.mask_id, ck.eos_id, ck.eot_id)  # type: ignore[attr-defined]
    finally:
        sampler.USE_CUDA_GRAPHS = old
    return [int(t) for t in canvas[0, prompt_len:].tolist()]


@pytest.mark.parametrize("cache", ["none", "dual", "prefix"])
def test_second_generation_replays_without_capture(tiny: tuple[LLaDAModel, object], cache: str) -> None:
    model, ck = tiny
    first = run(model, ck, cache)
    captures = cuda_graphs.STATS["captures"]
    second = run(model, ck, cache)
    if cache != "prefix":
        # The prefix cache's rows run from the block to the end: another shape each block, so
        # it captures once per block in every generation (as before graphs were kept).
        assert cuda_graphs.STATS["captures"] == captures, "same shape: the model's graph is replayed"
    assert second == first
    assert run(model, ck, cache, graphs=False) == first  # the eager pass gives the same tokens
    before = cuda_graphs.STATS["captures"]
    run(model, ck, cache, prompt_len=48)  # another canvas length captures anew
    assert cuda_graphs.STATS["captures"] > before
    assert run(model, ck, cache) == first
    assert not cuda_graphs.FAILURES


def test_warm_up_leaves_no_graph(tiny: tuple[LLaDAModel, object]) -> None:
    model, ck = tiny
    seconds = cuda_graphs.warm_up(model, ck.mask_id, ck.eos_id, ck.eot_id)  # type: ignore[attr-defined]
    assert seconds > 0 and not cuda_graphs.FAILURES
    assert not hasattr(model, "_graphed_full") and not hasattr(model, "_graphed_rows")
    assert run(model, ck, "dual") == run(model, ck, "dual", graphs=False)
