"""The C++ generation loop against the PyTorch sampler (ALGORITHM.md section 2): identical
tokens and events at temperature 0, the right distributions at T > 0, cancellation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from llada_studio.core.checkpoint import Checkpoint
from llada_studio.core.cpp_engine import CppEngine
from llada_studio.core.events import CancelToken, StepEvent
from llada_studio.core.params import GenerationParams

torch = pytest.importorskip("torch")
from llada_studio.core.torch_backend.engine import TorchEngine  # noqa: E402


def prompt(ck: Checkpoint, B: int = 2, P: int = 9, pad: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Left-padded batch: row 1 starts with `pad` pad tokens."""
    ids = np.random.default_rng(seed).integers(32, ck.config.embedding_size, size=(B, P))
    mask = np.ones((B, P), dtype=bool)
    if B > 1 and pad:
        ids[1, :pad] = ck.pad_id
        mask[1, :pad] = False
    return ids, mask


def assert_same_run(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.generated_ids == b.generated_ids
    assert len(a.trajectory) == len(b.trajectory)
    for ea, eb in zip(a.trajectory, b.trajectory):
        assert (ea.step, ea.total_steps, ea.block, ea.num_blocks, ea.forward_passes) == (
            eb.step,
            eb.total_steps,
            eb.block,
            eb.num_blocks,
            eb.forward_passes,
        )
        assert ea.positions == eb.positions and ea.tokens == eb.tokens
        for ra, rb in zip(ea.confidences, eb.confidences):
            np.testing.assert_allclose(ra, rb, rtol=1e-4, atol=1e-6)


CASES = {
    "several_blocks": dict(max_steps=8, gen_length=16, block_length=4),
    "uneven_schedule": dict(max_steps=6, gen_length=10, block_length=5),
    "cfg": dict(max_steps=8, gen_length=16, block_length=8, cfg_scale=1.5),
    "margin": dict(max_steps=8, gen_length=16, block_length=4, remasking="margin"),
    "entropy": dict(max_steps=8, gen_length=16, block_length=4, remasking="entropy"),
    "parallel_threshold": dict(max_steps=2, gen_length=16, block_length=8, decoding="threshold", threshold=0.15),
    "parallel_factor": dict(max_steps=2, gen_length=16, block_length=8, decoding="factor", factor=1.7, cfg_scale=1.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_temperature_zero_matches_reference(ckpt_f32: Checkpoint, case: str) -> None:
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(**CASES[case])  # type: ignore[arg-type]
    cpp = CppEngine(ckpt_f32, threads=2).generate(ids, mask, params)
    assert_same_run(cpp, TorchEngine(ckpt_f32, threads=2).generate(ids, mask, params))


@pytest.mark.parametrize(
    "eos",
    [
        dict(),
        dict(logits_eos_inf=True),
        dict(confidence_eos_eot_inf=True),
        dict(logits_eos_inf=True, confidence_eos_eot_inf=True),
    ],
    ids=["none", "logits", "confidence", "both"],
)
def test_eos_options_match_reference(ckpt_eos: Checkpoint, eos: dict) -> None:  # type: ignore[type-arg]
    ids, mask = prompt(ckpt_eos)
    params = GenerationParams(max_steps=8, gen_length=16, block_length=8, cfg_scale=0.5, **eos)
    cpp = CppEngine(ckpt_eos, threads=2).generate(ids, mask, params)
    ref = TorchEngine(ckpt_eos, threads=2).generate(ids, mask, params)
    assert_same_run(cpp, ref)
    flat = [t for row in cpp.generated_ids for t in row]
    if eos.get("logits_eos_inf"):
        assert ckpt_eos.eos_id not in flat
    elif not eos:
        assert ckpt_eos.eos_id in flat or ckpt_eos.eot_id in flat  # the fixture makes them likely


def torch_cached_run(ck: Checkpoint, ids: np.ndarray, mask: np.ndarray | None, params: GenerationParams):  # type: ignore[no-untyped-def]
    """The torch sampler on the LLaDAModel itself (it has forward_and_cache / forward_rows;
    TorchEngine.generate hands the sampler a plain function, which has no cache)."""
    from types import SimpleNamespace

    from llada_studio.core.torch_backend import sampler

    model = TorchEngine(ck, threads=2).model
    x = torch.as_tensor(ids)
    m = None if mask is None else torch.as_tensor(mask)
    canvas, trajectory, _ = sampler.generate(model, x, m, params, ck.mask_id, ck.eos_id, ck.eot_id)
    P = ids.shape[1]
    return SimpleNamespace(generated_ids=tuple(tuple(r) for r in canvas[:, P:].tolist()), trajectory=trajectory)


CACHE_CASES = {
    "several_blocks": dict(max_steps=8, gen_length=16, block_length=4),
    "cfg": dict(max_steps=8, gen_length=16, block_length=8, cfg_scale=1.5),
    "threshold": dict(max_steps=3, gen_length=24, block_length=8, decoding="threshold", threshold=0.15),
    "factor_cfg": dict(max_steps=2, gen_length=16, block_length=8, decoding="factor", factor=1.7, cfg_scale=1.0),
    "margin_uneven": dict(max_steps=6, gen_length=10, block_length=5, remasking="margin"),
}


@pytest.mark.parametrize("cache", ["prefix", "dual"])
@pytest.mark.parametrize("case", list(CACHE_CASES))
def test_kv_cache_matches_reference(ckpt_f32: Checkpoint, case: str, cache: str) -> None:
    """The block KV cache (ALGORITHM.md section 4) with the torch backend's semantics: identical
    tokens, events and forward-pass counts at T = 0, left-padded batch with attention mask."""
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(cache=cache, **CACHE_CASES[case])  # type: ignore[arg-type]
    cpp = CppEngine(ckpt_f32, threads=2).generate(ids, mask, params)
    assert_same_run(cpp, torch_cached_run(ckpt_f32, ids, mask, params))


def test_kv_cache_is_approximate_and_saves_work(ckpt_f32: Checkpoint) -> None:
    """The cached runs differ from the plain one somewhere (the cache is stale by design) on a
    long enough run, yet count the same forward passes at a fixed schedule."""
    ids, mask = prompt(ckpt_f32)
    base = GenerationParams(max_steps=16, gen_length=32, block_length=8)
    engine = CppEngine(ckpt_f32, threads=2)
    plain = engine.generate(ids, mask, base)
    runs = {c: engine.generate(ids, mask, base.with_(cache=c)) for c in ("prefix", "dual")}
    for run in runs.values():
        assert run.timings["forward_passes"] == plain.timings["forward_passes"] == 16
        assert all(len(r) == 32 for r in run.generated_ids)
    assert any(run.generated_ids != plain.generated_ids for run in runs.values())


def test_kv_cache_bf16_matches_upcast_reference(ckpt_bf16: Checkpoint) -> None:
    ids, mask = prompt(ckpt_bf16)
    params = GenerationParams(max_steps=8, gen_length=16, block_length=4, cache="dual", cfg_scale=0.5)
    cpp = CppEngine(ckpt_bf16, threads=2).generate(ids, mask, params)
    assert_same_run(cpp, torch_cached_run(ckpt_bf16, ids, mask, params))


def test_unknown_cache_mode_is_refused(ckpt_f32: Checkpoint) -> None:
    from llada_studio.core.cpp_engine import generate_params

    params = GenerationParams(max_steps=4, gen_length=4, block_length=4)
    object.__setattr__(params, "cache", "triple")  # past GenerationParams' own check
    with pytest.raises(ValueError, match="cache mode 'triple'; valid: none, prefix, dual"):
        generate_params(params, ckpt_f32.mask_id, 1, 2)


def test_generate_params_is_the_cpp_struct(ckpt_f32: Checkpoint) -> None:
    """GenerationParams -> the bound C++ GenerateParams (csrc/generate.h), field by field; the
    modes are the C++ enums, and the binding refuses anything else for the struct."""
    from llada_studio.core import _engine
    from llada_studio.core.cpp_engine import generate_params

    params = GenerationParams(
        max_steps=6, gen_length=12, block_length=4, temperature=0.5, cfg_scale=1.5, remasking="margin",
        logits_eos_inf=True, confidence_eos_eot_inf=True, seed=2**63, decoding="factor", threshold=0.8,
        factor=1.3, cache="dual",
    )  # fmt: skip
    p = generate_params(params, 7, 8, 9)
    assert (p.steps, p.gen_length, p.block_length, p.temperature, p.cfg_scale) == (6, 12, 4, 0.5, 1.5)
    assert (p.mask_id, p.eos_id, p.eot_id, p.seed, p.threshold, p.factor) == (7, 8, 9, 2**63, 0.8, 1.3)
    assert p.logits_eos_inf and p.confidence_eos_eot_inf
    assert (p.remasking, p.decoding, p.cache) == (
        _engine.Remasking.margin,
        _engine.Decoding.factor,
        _engine.CacheMode.dual,
    )
    ids, mask = prompt(ckpt_f32)
    with pytest.raises(TypeError):
        CppEngine(ckpt_f32)._engine.generate(ids, mask, {"steps": 4})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        p.seed = 2**64  # beyond uint64


def test_cfg_without_attention_mask(ckpt_f32: Checkpoint) -> None:
    ids, _ = prompt(ckpt_f32, pad=0)
    params = GenerationParams(max_steps=4, gen_length=8, block_length=4, cfg_scale=2.0)
    cpp = CppEngine(ckpt_f32, threads=2).generate(ids, None, params)
    assert_same_run(cpp, TorchEngine(ckpt_f32, threads=2).generate(ids, None, params))


def test_bf16_temperature_zero_matches_upcast_reference(ckpt_bf16: Checkpoint) -> None:
    ids, mask = prompt(ckpt_bf16)
    params = GenerationParams(max_steps=4, gen_length=8, block_length=4)
    cpp = CppEngine(ckpt_bf16, threads=2).generate(ids, mask, params)
    assert_same_run(cpp, TorchEngine(ckpt_bf16, threads=2).generate(ids, mask, params))


def test_random_remasking_commits_argmax_tokens(ckpt_f32: Checkpoint) -> None:
    """At T = 0 random remasking still proposes the argmax: every revealed token equals the
    reference's argmax on the canvas it was revealed from."""
    ids, mask = prompt(ckpt_f32, B=1)
    params = GenerationParams(max_steps=8, gen_length=8, block_length=8, remasking="random", seed=3)
    run = CppEngine(ckpt_f32, threads=2).generate(ids, mask, params)
    ref = TorchEngine(ckpt_f32, threads=1)
    canvas = np.concatenate([ids, np.full((1, 8), ckpt_f32.mask_id)], axis=1)
    P = ids.shape[1]
    full_mask = np.concatenate([mask, np.ones((1, 8), bool)], axis=1)
    for ev in run.trajectory:
        argmax = ref.forward_logits(canvas, full_mask)[0].argmax(-1)
        for pos, tok in zip(ev.positions[0], ev.tokens[0]):
            assert tok == argmax[P + pos]
            canvas[0, P + pos] = tok
    assert tuple(canvas[0, P:]) == run.generated_ids[0]


def _first_step(ck: Checkpoint, ids: np.ndarray, params: GenerationParams) -> StepEvent:
    events: list[StepEvent] = []
    CppEngine(ck, threads=2).generate(ids, None, params, on_step=lambda e: events.append(e) or False)
    return events[0]


def test_random_remasking_is_uniform(ckpt_f32: Checkpoint) -> None:
    """One reveal among 8 masked positions, over 4000 independent rows (each row has its own
    random stream): the chosen position is uniform (chi-square)."""
    stats = pytest.importorskip("scipy.stats")
    B = 4000
    ids = np.tile(prompt(ckpt_f32, B=1)[0], (B, 1))
    params = GenerationParams(max_steps=8, gen_length=8, block_length=8, remasking="random", seed=11)
    ev = _first_step(ckpt_f32, ids, params)
    counts = np.bincount([p[0] for p in ev.positions], minlength=8)
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("temperature", [0.7, 1.5])
def test_proposals_follow_softmax(ckpt_f32: Checkpoint, temperature: float) -> None:
    """gen_length 1: the one proposal per row is a sample of softmax(logits / T) of the
    reference's logits; 10000 rows, chi-square over bins with expected count >= 5."""
    stats = pytest.importorskip("scipy.stats")
    B = 10000
    one = prompt(ckpt_f32, B=1)[0]
    params = GenerationParams(max_steps=1, gen_length=1, block_length=1, temperature=temperature, seed=5)
    run = CppEngine(ckpt_f32, threads=2).generate(np.tile(one, (B, 1)), None, params)
    canvas = np.concatenate([one, [[ckpt_f32.mask_id]]], axis=1)
    logits = TorchEngine(ckpt_f32, threads=1).forward_logits(canvas)[0, -1].astype(np.float64) / temperature
    p = np.exp(logits - logits.max())
    p /= p.sum()
    counts = np.bincount([r[0] for r in run.generated_ids], minlength=p.size)
    expected = p * B
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    if exp[-1] < 5:  # fold a tiny remainder into the last big bin
        obs, exp = np.append(obs[:-2], obs[-2:].sum()), np.append(exp[:-2], exp[-2:].sum())
    assert big.sum() >= 5
    assert stats.chisquare(obs, exp).pvalue > 1e-3


@pytest.mark.parametrize("case", ["several_blocks", "margin", "cfg", "parallel_threshold"])
def test_greedy_step_split_over_threads_matches_reference(ckpt_f32: Checkpoint, case: str) -> None:
    """16 threads for at most 16 open positions: each position's vocabulary is split over threads
    (csrc/generate.cpp), its largest logits and softmax sum merged; the run is the reference's."""
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(**CASES[case])  # type: ignore[arg-type]
    split = CppEngine(ckpt_f32, threads=16).generate(ids, mask, params)
    assert_same_run(split, TorchEngine(ckpt_f32, threads=2).generate(ids, mask, params))
    whole = CppEngine(ckpt_f32, threads=1).generate(ids, mask, params)
    assert split.generated_ids == whole.generated_ids
    for a, b in zip(split.trajectory, whole.trajectory):
        assert a.tokens == b.tokens
        for ra, rb in zip(a.confidences, b.confidences):
            # not bit for bit: the forward's f32 sums are split differently on 1 and 16 threads
            np.testing.assert_allclose(ra, rb, rtol=1e-4, atol=1e-6)


def test_same_seed_same_tokens_any_thread_count(ckpt_f32: Checkpoint) -> None:
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(max_steps=8, gen_length=16, block_length=8, temperature=1.0, seed=7)
    a = CppEngine(ckpt_f32, threads=1).generate(ids, mask, params)
    b = CppEngine(ckpt_f32, threads=2).generate(ids, mask, params)
    c = CppEngine(ckpt_f32, threads=2).generate(ids, mask, params.with_(seed=8))
    assert a.generated_ids == b.generated_ids
    assert a.generated_ids != c.generated_ids


@pytest.mark.parametrize("how", ["on_step", "token"])
def test_cancel_stops_before_next_forward(ckpt_f32: Checkpoint, how: str) -> None:
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(max_steps=8, gen_length=16, block_length=8)
    cancel = CancelToken()
    seen: list[StepEvent] = []

    def on_step(e: StepEvent) -> bool | None:
        seen.append(e)
        if e.step == 3:
            if how == "token":
                cancel.cancel()
                return None
            return False
        return None

    run = CppEngine(ckpt_f32, threads=2).generate(ids, mask, params, on_step=on_step, cancel=cancel)
    assert run.cancelled and len(seen) == 3 and len(run.trajectory) == 3
    assert run.trajectory[-1].forward_passes == 3 == run.timings["forward_passes"]
    revealed = sum(len(p) for e in run.trajectory for p in e.positions)
    masked = sum(t == ckpt_f32.mask_id for row in run.generated_ids for t in row)
    assert masked == 2 * 16 - revealed


def test_cancelled_before_start_runs_no_forward(ckpt_f32: Checkpoint) -> None:
    cancel = CancelToken()
    cancel.cancel()
    ids, mask = prompt(ckpt_f32)
    run = CppEngine(ckpt_f32).generate(
        ids, mask, GenerationParams(max_steps=4, gen_length=4, block_length=4), cancel=cancel
    )
    assert run.cancelled and run.trajectory == () and run.timings["forward_passes"] == 0


def test_false_on_last_step_is_not_a_cancel(ckpt_f32: Checkpoint) -> None:
    ids, mask = prompt(ckpt_f32)
    run = CppEngine(ckpt_f32).generate(
        ids,
        mask,
        GenerationParams(max_steps=2, gen_length=4, block_length=4),
        on_step=lambda e: False if e.step == 2 else None,
    )
    assert not run.cancelled and len(run.trajectory) == 2


STOP_CASES = {
    "fixed": dict(max_steps=8, gen_length=16, block_length=8),
    "threshold": dict(max_steps=2, gen_length=16, block_length=8, decoding="threshold", threshold=0.15),
}


@pytest.mark.parametrize("case", list(STOP_CASES))
@pytest.mark.parametrize("how", ["on_step", "token"])
@pytest.mark.parametrize("at", ["first", "block_end", "last"])
def test_one_stop_rule_in_both_engines(ckpt_f32: Checkpoint, case: str, how: str, at: str) -> None:
    """The stop rule (csrc/generate.h, sampler.py): a stop requested at step k by on_step returning
    False or by the CancelToken ends the run before step k + 1's forward (cancelled, k events, the
    canvas of step k); requested at the last step, the run is complete. Same in both engines."""
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(**STOP_CASES[case])  # type: ignore[arg-type]
    full = TorchEngine(ckpt_f32, threads=2).generate(ids, mask, params)
    blocks_end = [e.step for e, n in zip(full.trajectory, full.trajectory[1:]) if n.block != e.block]
    k = {"first": 1, "block_end": blocks_end[0], "last": len(full.trajectory)}[at]
    runs = []
    for engine in (CppEngine(ckpt_f32, threads=2), TorchEngine(ckpt_f32, threads=2)):
        cancel = CancelToken()

        def on_step(e: StepEvent, cancel: CancelToken = cancel) -> bool | None:
            if e.step == k:
                if how == "token":
                    cancel.cancel()
                    return None
                return False
            return None

        runs.append(engine.generate(ids, mask, params, on_step=on_step, cancel=cancel))
    cpp, ref = runs
    assert_same_run(cpp, ref)
    assert cpp.cancelled == ref.cancelled == (at != "last")
    assert len(cpp.trajectory) == k and cpp.timings["forward_passes"] == k == ref.timings["forward_passes"]
    if at == "last":
        assert cpp.generated_ids == full.generated_ids


def test_callback_exception_propagates(ckpt_f32: Checkpoint) -> None:
    ids, mask = prompt(ckpt_f32)

    def boom(e: StepEvent) -> None:
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        CppEngine(ckpt_f32).generate(
            ids, mask, GenerationParams(max_steps=4, gen_length=4, block_length=4), on_step=boom
        )


def test_gil_released_during_generation(ckpt_f32: Checkpoint) -> None:
    """Another Python thread keeps running while the C++ loop computes: between the first and
    the last step event it counts far more than it could in the callbacks alone."""
    import threading

    ids, mask = prompt(ckpt_f32, P=200)
    engine = CppEngine(ckpt_f32, threads=1)
    ticks = 0
    done = threading.Event()
    at_step: list[int] = []

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        engine.generate(
            ids,
            mask,
            GenerationParams(max_steps=16, gen_length=64, block_length=64),
            on_step=lambda e: at_step.append(ticks),
        )
    finally:
        done.set()
        t.join()
    assert at_step[-1] - at_step[0] > 1000


def test_mask_token_is_never_proposed_by_either_engine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The LM head's mask row is made to dominate; neither engine may commit the mask token."""
    from llada_studio.core.checkpoint import load_checkpoint
    from llada_studio.core.checkpoint_writer import random_checkpoint

    ck = load_checkpoint(random_checkpoint(tmp_path / "mask-heavy", seed=5))
    # The map is read-only: give this checkpoint a private writable copy of the head.
    name = "model.transformer.ff_out.weight"
    ck.tensors[name] = dataclasses.replace(ck.tensors[name], data=ck.tensors[name].data.copy())
    head = ck.tensors[name].data
    head[ck.mask_id] = head[40] * 4.0
    ids, mask = prompt(ck)
    for temperature in (0.0, 1.0):
        params = GenerationParams(max_steps=8, gen_length=16, block_length=8, temperature=temperature)
        cpp = CppEngine(ck, threads=2).generate(ids, mask, params)
        if temperature == 0.0:
            assert_same_run(cpp, TorchEngine(ck, threads=2).generate(ids, mask, params))
        assert all(ck.mask_id not in row for row in cpp.generated_ids)
