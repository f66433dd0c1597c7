"""The engines' starting-content inputs (issue 15; core/answer_init.py, csrc/generate.h
AnswerInit): given answer positions, which of them count as prompt under CFG, and continuing a
run from a step. The C++ loop against the torch sampler at T = 0, and continuations against the
uninterrupted run (the C++ engine at T > 0 too: its random streams are keyed by the global step)."""

from __future__ import annotations

import numpy as np
import pytest

from llada_studio.core.answer_init import block_steps
from llada_studio.core.checkpoint import Checkpoint
from llada_studio.core.cpp_engine import CppEngine
from llada_studio.core.params import GenerationParams

torch = pytest.importorskip("torch")
from llada_studio.core.torch_backend import sampler  # noqa: E402
from llada_studio.core.torch_backend.engine import TorchEngine  # noqa: E402

from .test_sampler import assert_same_run, prompt  # noqa: E402


def answer_with_givens(ck: Checkpoint, B: int, G: int, given: dict[int, int]) -> np.ndarray:
    a = np.full((B, G), ck.mask_id, dtype=np.int64)
    for pos, tok in given.items():
        a[:, pos] = tok
    return a


def canvas_after(trajectory, k: int, init: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The answer canvas after the first k events of a run that started from `init`."""
    x = init.copy()
    for e in trajectory[:k]:
        for r in range(x.shape[0]):
            for pos, tok in zip(e.positions[r], e.tokens[r]):
                x[r, pos] = tok
    return x


def assert_givens_hold(ck: Checkpoint, trajectory, init: np.ndarray, final) -> None:  # type: ignore[no-untyped-def]
    """No step writes a given position, and the canvas keeps every given at every step."""
    given = init != ck.mask_id
    x = init.copy()
    for e in trajectory:
        for r in range(x.shape[0]):
            for pos in e.positions[r]:
                assert not given[r, pos], f"step {e.step} wrote given position {pos}"
                assert x[r, pos] == ck.mask_id, f"step {e.step} rewrote revealed position {pos}"
            for pos, tok in zip(e.positions[r], e.tokens[r]):
                x[r, pos] = tok
        assert (x[given] == init[given]).all()
    assert (np.asarray(final)[given] == init[given]).all()


def test_block_plan_rule() -> None:
    # 4 blocks of 4 steps; paused after 6 steps: block 0 spent, block 1 has 2 left.
    assert block_steps(4, 4, 0, [4] * 4) == [4, 4, 4, 4]
    assert block_steps(4, 4, 6, [0, 1, 4, 4]) == [0, 2, 4, 4]
    assert block_steps(4, 4, 6, [2, 1, 4, 4]) == [2, 2, 4, 4]  # 2 re-masked in block 0: 2 steps
    assert block_steps(4, 4, 6, [4, 1, 4, 4]) == [4, 2, 4, 4]  # all re-masked: all 4 steps
    assert block_steps(4, 4, 0, [0] * 4) == [4, 4, 4, 4]  # a fresh run runs every step


GIVEN_CASES = {
    "several_blocks": dict(max_steps=8, gen_length=16, block_length=4),
    "uneven": dict(max_steps=8, gen_length=10, block_length=5),
    "cfg": dict(max_steps=8, gen_length=16, block_length=8, cfg_scale=1.5),
    "threshold": dict(max_steps=2, gen_length=16, block_length=8, decoding="threshold", threshold=0.15),
    "factor_cfg": dict(max_steps=2, gen_length=16, block_length=8, decoding="factor", factor=1.7, cfg_scale=1.0),
}


@pytest.mark.parametrize("case", list(GIVEN_CASES))
def test_givens_match_reference_and_hold(ckpt_f32: Checkpoint, case: str) -> None:
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(**GIVEN_CASES[case])  # type: ignore[arg-type]
    init = answer_with_givens(ckpt_f32, 2, params.gen_length, {0: 40, 1: 41, 5: 77, params.gen_length - 1: 90})
    cpp = CppEngine(ckpt_f32, threads=2).generate(ids, mask, params, answer_init=init)
    ref = TorchEngine(ckpt_f32, threads=2).generate(ids, mask, params, answer_init=init)
    assert_same_run(cpp, ref)
    assert_givens_hold(ckpt_f32, cpp.trajectory, init, cpp.generated_ids)
    if not params.dynamic_steps:  # a fresh run keeps every step, also those revealing nothing
        assert len(cpp.trajectory) == params.max_steps == cpp.trajectory[-1].total_steps
        assert sum(len(e.positions[0]) for e in cpp.trajectory) == params.gen_length - 4


def test_a_fully_given_block_still_runs_its_steps(ckpt_f32: Checkpoint) -> None:
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(max_steps=8, gen_length=16, block_length=4)
    init = answer_with_givens(ckpt_f32, 2, 16, {4: 50, 5: 51, 6: 52, 7: 53})
    cpp = CppEngine(ckpt_f32, threads=2).generate(ids, mask, params, answer_init=init)
    assert_same_run(cpp, TorchEngine(ckpt_f32, threads=2).generate(ids, mask, params, answer_init=init))
    assert [e.block for e in cpp.trajectory] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert cpp.trajectory[-1].forward_passes == 8
    assert cpp.trajectory[2].positions == ((), ())


def test_given_is_prompt_decides_what_cfg_masks(ckpt_f32: Checkpoint) -> None:
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(max_steps=8, gen_length=16, block_length=8, cfg_scale=2.0)
    init = answer_with_givens(ckpt_f32, 2, 16, {p: 40 + p for p in range(0, 16, 3)})
    not_prompt = np.zeros((2, 16), dtype=bool)
    cpp_e, ref_e = CppEngine(ckpt_f32, threads=2), TorchEngine(ckpt_f32, threads=2)
    runs = {}
    for name, gip in (("prompt", None), ("not_prompt", not_prompt)):
        cpp = cpp_e.generate(ids, mask, params, answer_init=init, given_is_prompt=gip)
        assert_same_run(cpp, ref_e.generate(ids, mask, params, answer_init=init, given_is_prompt=gip))
        runs[name] = cpp.generated_ids
    assert runs["prompt"] != runs["not_prompt"]  # the unconditional rows saw different canvases


CONTINUE_CASES = {
    "mid_block": (dict(max_steps=8, gen_length=16, block_length=4), 3),
    "block_boundary": (dict(max_steps=8, gen_length=16, block_length=4), 4),
    "uneven": (dict(max_steps=8, gen_length=10, block_length=5), 1),
    "cfg": (dict(max_steps=8, gen_length=16, block_length=8, cfg_scale=1.5), 5),
    "threshold": (dict(max_steps=2, gen_length=16, block_length=8, decoding="threshold", threshold=0.15), 2),
    "last_step": (dict(max_steps=8, gen_length=16, block_length=4), 8),
}


def _continue(engine, ids, mask, params, full, k: int):  # type: ignore[no-untyped-def]
    start = np.full((ids.shape[0], params.gen_length), engine.ckpt.mask_id, dtype=np.int64)
    canvas = canvas_after(full.trajectory, k, start)
    # What the model revealed is not prompt: the continued CFG rows see what the run's saw.
    return engine.generate(
        ids, mask, params, answer_init=canvas, given_is_prompt=np.zeros_like(canvas, dtype=bool), start_step=k
    )


@pytest.mark.parametrize("temperature", [0.0, 1.0])
@pytest.mark.parametrize("case", list(CONTINUE_CASES))
def test_unedited_continuation_is_the_uninterrupted_run_cpp(
    ckpt_f32: Checkpoint, case: str, temperature: float
) -> None:
    kwargs, k = CONTINUE_CASES[case]
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(temperature=temperature, **kwargs)  # type: ignore[arg-type]
    engine = CppEngine(ckpt_f32, threads=2)
    full = engine.generate(ids, mask, params)
    cont = _continue(engine, ids, mask, params, full, k)
    assert cont.generated_ids == full.generated_ids
    tail = full.trajectory[k:]
    assert [e.step for e in cont.trajectory] == [e.step for e in tail]
    assert [(e.block, e.total_steps, e.positions, e.tokens) for e in cont.trajectory] == [
        (e.block, e.total_steps, e.positions, e.tokens) for e in tail
    ]
    for a, b in zip(cont.trajectory, tail):
        for ra, rb in zip(a.confidences, b.confidences):
            np.testing.assert_allclose(ra, rb, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case", list(CONTINUE_CASES))
def test_unedited_continuation_is_the_uninterrupted_run_torch(ckpt_f32: Checkpoint, case: str) -> None:
    kwargs, k = CONTINUE_CASES[case]
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(**kwargs)  # type: ignore[arg-type]
    engine = TorchEngine(ckpt_f32, threads=2)
    full = engine.generate(ids, mask, params)
    cont = _continue(engine, ids, mask, params, full, k)
    assert cont.generated_ids == full.generated_ids
    assert [(e.step, e.positions, e.tokens) for e in cont.trajectory] == [
        (e.step, e.positions, e.tokens) for e in full.trajectory[k:]
    ]
    assert_same_run(cont, _continue(CppEngine(ckpt_f32, threads=2), ids, mask, params, full, k))


def test_remasked_spent_block_runs_again_in_both_engines(ckpt_f32: Checkpoint) -> None:
    """Paused after 6 of 8 steps (blocks of 4 tokens, 2 steps each); positions 1..2 (block 0)
    re-masked and position 9 changed: block 0 runs its 2 steps again, block 3 its 2 left."""
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(max_steps=8, gen_length=16, block_length=4, cfg_scale=1.0)
    cpp_e, ref_e = CppEngine(ckpt_f32, threads=2), TorchEngine(ckpt_f32, threads=2)
    full = cpp_e.generate(ids, mask, params)
    canvas = canvas_after(full.trajectory, 6, np.full((2, 16), ckpt_f32.mask_id, dtype=np.int64))
    canvas[:, 1:3] = ckpt_f32.mask_id
    canvas[:, 9] = 123
    gip = np.zeros((2, 16), dtype=bool)
    gip[:, 9] = True  # the edited token counts as the user's (prompt), the model's do not
    kw = dict(answer_init=canvas, given_is_prompt=gip, start_step=6)
    cpp = cpp_e.generate(ids, mask, params, **kw)  # type: ignore[arg-type]
    assert_same_run(cpp, ref_e.generate(ids, mask, params, **kw))  # type: ignore[arg-type]
    assert [(e.step, e.block) for e in cpp.trajectory] == [(7, 0), (8, 0), (9, 3), (10, 3)]
    assert all(e.total_steps == 10 for e in cpp.trajectory)
    assert_givens_hold(ckpt_f32, cpp.trajectory, canvas, cpp.generated_ids)
    assert [row[9] for row in cpp.generated_ids] == [123, 123]


def _torch_cached(ck: Checkpoint, ids, mask, params, **kw):  # type: ignore[no-untyped-def]
    model = TorchEngine(ck, threads=2).model
    t = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    canvas, trajectory, _ = sampler.generate(
        model, torch.as_tensor(ids), torch.as_tensor(mask), params, ck.mask_id, ck.eos_id, ck.eot_id, **t
    )
    return canvas[:, ids.shape[1] :].tolist(), trajectory


@pytest.mark.parametrize("cache", ["prefix", "dual"])
def test_kv_cache_with_givens_and_continuation_matches_reference(ckpt_f32: Checkpoint, cache: str) -> None:
    """With the cache the store pass is each block's first executed step (a continuation stores
    at start_step: approximate, like the cache itself, but the same in both engines)."""
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(max_steps=8, gen_length=16, block_length=4, cache=cache)
    init = answer_with_givens(ckpt_f32, 2, 16, {0: 40, 6: 41})
    kw = dict(answer_init=init, given_is_prompt=np.zeros((2, 16), dtype=bool), start_step=3)
    cpp = CppEngine(ckpt_f32, threads=2).generate(ids, mask, params, **kw)  # type: ignore[arg-type]
    ref_ids, ref_traj = _torch_cached(ckpt_f32, ids, mask, params, **kw)
    assert [list(r) for r in cpp.generated_ids] == ref_ids
    assert [(e.step, e.positions, e.tokens, e.forward_passes) for e in cpp.trajectory] == [
        (e.step, e.positions, e.tokens, e.forward_passes) for e in ref_traj
    ]


BAD = [
    (dict(answer_init=np.zeros((2, 15), dtype=np.int64)), "answer_init must have shape"),
    (dict(answer_init=np.zeros((16,), dtype=np.int64)), "answer_init must have shape"),
    (dict(answer_init=np.full((2, 16), 256, dtype=np.int64)), "answer_init: token id 256"),
    (dict(answer_init=np.full((2, 16), -1, dtype=np.int64)), "answer_init: token id -1"),
    (dict(answer_init=np.zeros((2, 16), dtype=np.float32)), "answer_init must hold integer"),
    (dict(given_is_prompt=np.zeros((1, 16), dtype=bool)), "given_is_prompt must have shape"),
    (dict(given_is_prompt=np.full((2, 16), 0.5)), "given_is_prompt must be booleans"),
    (dict(start_step=-1), "start_step must be"),
    (dict(start_step=1.5), "start_step must be"),
]


@pytest.mark.parametrize("kind", ["cpp", "torch"])
@pytest.mark.parametrize(("kw", "message"), BAD)
def test_bad_inputs_name_the_argument(ckpt_f32: Checkpoint, kind: str, kw: dict, message: str) -> None:  # type: ignore[type-arg]
    ids, mask = prompt(ckpt_f32)
    params = GenerationParams(max_steps=4, gen_length=16, block_length=4)
    engine = CppEngine(ckpt_f32, threads=1) if kind == "cpp" else TorchEngine(ckpt_f32, threads=1)
    with pytest.raises(ValueError, match=message):
        engine.generate(ids, mask, params, **kw)


def test_the_binding_checks_its_inputs_too(ckpt_f32: Checkpoint) -> None:
    """The raw extension (no Python checks before it) refuses with ValueError naming the input."""
    from llada_studio.core.cpp_engine import generate_params

    engine = CppEngine(ckpt_f32, threads=1)
    ids, mask = prompt(ckpt_f32)
    p = generate_params(GenerationParams(max_steps=4, gen_length=16, block_length=4), ckpt_f32.mask_id, 1, 2)
    raw = engine._engine
    with pytest.raises(ValueError, match="answer_init must be an integer array of shape"):
        raw.generate(ids, mask, p, None, None, np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="answer_init: token id 999"):
        raw.generate(ids, mask, p, None, None, np.full((2, 16), 999, dtype=np.int64))
    with pytest.raises(ValueError, match="given_is_prompt must be a bool array"):
        raw.generate(ids, mask, p, None, None, None, np.zeros((2, 3), dtype=bool))
    with pytest.raises(ValueError, match="start_step must be >= 0"):
        raw.generate(ids, mask, p, None, None, None, None, -2)
