"""Beyond the reference (ALGORITHM.md section 4): parallel decoding and the block KV cache in
the torch backend."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from llada_studio.core.checkpoint import load_checkpoint  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402
from llada_studio.core.torch_backend import sampler  # noqa: E402
from llada_studio.core.torch_backend.model import LLaDAModel  # noqa: E402

MASK, EOS, EOT = 3, 1, 2


@pytest.fixture(scope="module")
def model(tiny_model):
    return LLaDAModel.from_checkpoint(load_checkpoint(tiny_model))


def test_parallel_count_threshold_and_factor():
    inf = float("-inf")
    conf = torch.tensor(
        [[0.95, 0.5, 0.92, inf, 0.1], [0.3, inf, inf, 0.2, 0.1], [inf, inf, inf, inf, inf]], dtype=torch.float64
    )
    assert sampler.parallel_count(conf, "threshold", 0.9, 1.0).tolist() == [2, 1, 0]
    # factor 1: n-th (from 1) needs conf >= 1 - 1/(n+1): 0.5, 0.667, 0.75, ...
    conf = torch.tensor([[0.99, 0.7, 0.6, 0.1]], dtype=torch.float64)
    assert sampler.parallel_count(conf, "factor", 0.9, 1.0).tolist() == [2]
    assert sampler.parallel_count(conf, "factor", 0.9, 2.0).tolist() == [3]  # 2/(n+1): 0, 0.33, 0.5, 0.6


def test_threshold_decoding_takes_fewer_steps_and_fills_every_block():
    def fn(x):
        out = torch.zeros(x.shape[0], x.shape[1], 16)
        out[..., 7] = 12.0  # every position: token 7 with probability ~1
        return out

    params = GenerationParams(max_steps=16, gen_length=16, block_length=8, decoding="threshold", threshold=0.9)
    canvas, traj, cancelled = sampler.generate(lambda x, m: fn(x), torch.tensor([[5, 6]]), None, params, MASK, EOS, EOT)
    assert not cancelled and not (canvas == MASK).any()
    assert len(traj) == 2 and traj[-1].forward_passes == 2  # one step per block: all above threshold
    assert traj[0].total_steps == 16


def test_threshold_one_commits_one_per_step():
    def fn(x):
        return torch.zeros(x.shape[0], x.shape[1], 16)

    params = GenerationParams(gen_length=8, block_length=4, max_steps=8, decoding="threshold", threshold=1.0)
    _, traj, _ = sampler.generate(lambda x, m: fn(x), torch.tensor([[5]]), None, params, MASK, EOS, EOT)
    assert [len(e.positions[0]) for e in traj] == [1] * 8


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_rows_from_a_fresh_cache_equal_the_full_pass(model, mode):
    x = torch.randint(8, 256, (2, 20))
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, :3] = False
    full, cache = model.forward_and_cache(x, mask)
    s, e = 8, (12 if mode == "dual" else 20)
    rows = model.forward_rows(x[:, s:e], mask, s, cache)
    torch.testing.assert_close(rows, full[:, s:e], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(model(x, mask), full)


def test_rows_at_positions_write_the_cache_and_equal_forward_rows(model):
    """The CUDA-graph path (forward_rows_at: positions as a tensor, keys and values written into
    the cache in place) gives forward_rows' logits, on a changed block of a stale cache."""
    x = torch.randint(8, 256, (2, 20))
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, :3] = False
    _, cache = model.forward_and_cache(x, mask)
    changed = x.clone()
    changed[:, 8:12] = torch.randint(8, 256, (2, 4))
    expected = model.forward_rows(changed[:, 8:12], mask, 8, cache)
    own = [(k.clone(), v.clone()) for k, v in cache]
    got = model.forward_rows_at(changed[:, 8:12], mask, torch.arange(8, 12), own)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # the block's rows of the copy now hold the new keys; the rest is untouched
    assert not torch.equal(own[0][0][:, :, 8:12], cache[0][0][:, :, 8:12])
    torch.testing.assert_close(own[0][0][:, :, :8], cache[0][0][:, :, :8], rtol=0, atol=0)
    torch.testing.assert_close(own[-1][1][:, :, 12:], cache[-1][1][:, :, 12:], rtol=0, atol=0)


@pytest.mark.parametrize("cache", ["prefix", "dual"])
@pytest.mark.parametrize("cfg", [0.0, 1.0])
def test_cached_generation_runs_and_first_block_step_is_exact(model, cache, cfg):
    params = GenerationParams(max_steps=8, gen_length=16, block_length=4, cfg_scale=cfg)
    prompt = torch.tensor([[10, 11, 12]])
    plain, traj_plain, _ = sampler.generate(model, prompt, None, params, MASK, EOS, EOT)
    cached, traj, _ = sampler.generate(model, prompt, None, params.with_(cache=cache), MASK, EOS, EOT)
    assert not (cached == MASK).any() and len(traj) == 8 and traj[-1].forward_passes == 8
    # the first step sees the same canvas and a full pass in both: the same reveal
    assert traj[0].positions == traj_plain[0].positions and traj[0].tokens == traj_plain[0].tokens


def test_cache_with_parallel_decoding(model):
    params = GenerationParams(max_steps=16, gen_length=16, block_length=8, decoding="factor", factor=1.0, cache="dual")
    canvas, traj, _ = sampler.generate(model, torch.tensor([[10, 11]]), None, params, MASK, EOS, EOT)
    assert not (canvas == MASK).any() and 2 <= len(traj) <= 16


def test_params_validate_new_options():
    with pytest.raises(ValueError, match="valid modes: fixed, threshold, factor"):
        GenerationParams(decoding="fast")
    with pytest.raises(ValueError, match="valid modes: none, prefix, dual"):
        GenerationParams(cache="full")
    with pytest.raises(ValueError, match="threshold must be at most 1"):
        GenerationParams(threshold=1.5)
    with pytest.raises(ValueError, match="factor must be"):
        GenerationParams(factor=0)


def test_torch_engine_offers_the_cache(tiny_model):
    """Regression: TorchEngine once handed the sampler a wrapper without forward_and_cache."""
    import numpy as np

    from llada_studio.core.torch_backend.engine import TorchEngine

    engine = TorchEngine(load_checkpoint(tiny_model))
    params = GenerationParams(max_steps=8, gen_length=16, block_length=4, cache="dual")
    result = engine.generate(np.array([[10, 11, 12]]), None, params)
    assert len(result.trajectory) == 8 and MASK not in result.generated_ids[0]


def test_fused_qkv_gives_the_same_logits_and_checkpoint_names(model):
    import copy

    x = torch.randint(8, 256, (2, 12))
    expected = model(x)
    fused = copy.deepcopy(model).fuse_qkv()
    torch.testing.assert_close(fused(x), expected, rtol=1e-5, atol=1e-5)
    names = fused.state_dict_for_checkpoint()
    for part in ("q_proj", "k_proj", "v_proj"):
        w = names[f"model.transformer.blocks.0.{part}.weight"]
        torch.testing.assert_close(w, model.state_dict_for_checkpoint()[f"model.transformer.blocks.0.{part}.weight"])
        assert w.untyped_storage().data_ptr() == fused.blocks[0].qkv_weight.untyped_storage().data_ptr()
