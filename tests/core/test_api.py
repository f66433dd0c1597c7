"""The seed's API: names, shapes of inputs and outputs, errors instead of placeholders."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from llada_studio.core.engine import cpp_engine_available  # noqa: E402
from llada_studio.core.errors import EngineUnavailableError  # noqa: E402
from llada_studio.core.llada import DeviceType, InferTask, LLaDABatchedTask, LLaDAForCausalLM, LLaDAForCauslLM  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402
from llada_studio.core.session import Session  # noqa: E402

SMALL = dict(max_steps=8, gen_length=8, block_length=4)


@pytest.fixture(scope="module")
def model(tiny_model):
    return LLaDAForCauslLM(tiny_model, device=DeviceType.DEVICE_TYPE_CPU, ndev=1)


def test_both_spellings():
    assert LLaDAForCausalLM is LLaDAForCauslLM


def test_string_in_string_out_list_in_list_out(model):
    out = model.generate("hello world", **SMALL)
    assert isinstance(out, str)
    outs = model.generate(["hello", "the world", "a"], **SMALL)
    assert isinstance(outs, list) and len(outs) == 3 and all(isinstance(o, str) for o in outs)


def test_mask_id_defaults_to_the_checkpoints(model):
    assert model.mask_id == 3
    assert model.generate("hello", mask_id=None, **SMALL) == model.generate("hello", mask_id=3, **SMALL)


def test_verbose_prints_each_step(model, capsys):
    model.generate("hello", verbose=True, **SMALL)
    out = capsys.readouterr().out
    assert out.count("step ") >= 8 and "step 8/8 block 2/2" in out


def test_bad_parameters_raise(model):
    with pytest.raises(ValueError, match="multiple of block_length"):
        model.generate("hello", max_steps=8, gen_length=10, block_length=4)
    with pytest.raises(ValueError, match="valid modes"):
        model.generate("hello", remasking="nope", **SMALL)
    with pytest.raises(ValueError, match="ndev"):
        LLaDAForCauslLM(model.model_dir_path, ndev=2)


def test_generate_matches_session_and_seed_controls_sampling(model):
    a = model.generate("hello", temperature_=1.0, seed=3, **SMALL)
    b = model.generate("hello", temperature_=1.0, seed=3, **SMALL)
    assert a == b
    session = Session(model.checkpoint, model._engine("torch"))
    expected = session.generate("hello", GenerationParams(**SMALL, temperature=1.0, seed=3)).texts[0]
    assert a == expected


def test_generate_with_cpp_model(model):
    if not cpp_engine_available():
        with pytest.raises(EngineUnavailableError, match="C\\+\\+ engine .* not built"):
            model.generate_with_cpp_model("hello", **SMALL)
    else:
        assert model.generate_with_cpp_model("hello", **SMALL) == model.generate("hello", **SMALL)


def test_batched_task_left_pads():
    tasks = [InferTask(id=0, tokens=[5, 6, 7]), InferTask(id=1, tokens=[8])]
    batch = LLaDABatchedTask(tasks, pad_id=1)
    assert batch.input_ids.tolist() == [[5, 6, 7], [1, 1, 8]]
    assert batch.attention_mask.tolist() == [[True] * 3, [False, False, True]]
    with pytest.raises(ValueError, match="other sampling settings"):
        LLaDABatchedTask([InferTask(id=0, tokens=[5]), InferTask(id=1, tokens=[5], temperature=0.5)], 1)


def test_batch_infer_one_round_and_forward_logits(model):
    if not cpp_engine_available():
        with pytest.raises(EngineUnavailableError):
            model.batch_infer_one_round([InferTask(id=0, tokens=[5, 6], **SMALL)])
        with pytest.raises(EngineUnavailableError):
            model.forward_logits_batch(np.array([[5, 6]]))
        return
    tasks = [
        InferTask(id=0, tokens=[5, 6, 7], **SMALL),
        InferTask(id=1, tokens=[9], **SMALL),
        InferTask(id=2, tokens=[9], temperature=0.0, max_steps=4, gen_length=4, block_length=4),
    ]
    out = model.batch_infer_one_round(tasks)
    assert [len(o) for o in out] == [8, 8, 4] and tasks[2].output == out[2]
    ids = torch.tensor([[5, 6, 7, 3], [1, 9, 3, 3]])
    mask = torch.tensor([[True] * 4, [False, True, True, True]])
    logits = model.forward_logits_batch(ids, mask)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 4, 256)
    ref = model._engine("torch").forward_logits(ids.numpy(), mask.numpy())
    np.testing.assert_allclose(logits.numpy(), ref, rtol=1e-4, atol=1e-4)


def test_module_runs_example_cases(tiny_model, capsys):
    from llada_studio.core.llada import main

    assert main(["--model", str(tiny_model)]) == 0
    out = capsys.readouterr().out
    assert "== basic generate() (generate) ==" in out and out.count("->") >= 1


def test_every_sampling_field_of_infer_task_reaches_generation_params() -> None:
    """InferTask.params() copies fields by name: a field GenerationParams lacks would be dropped."""
    from dataclasses import fields

    from llada_studio.core.llada import _PARAM_NAMES, InferTask

    task_only = {"id", "tokens", "output"}
    sampling = {f.name for f in fields(InferTask)} - task_only
    assert sampling <= _PARAM_NAMES, sampling - _PARAM_NAMES
    task = InferTask(id=0, tokens=[1], max_steps=8, gen_length=8, block_length=4, temperature=0.5, seed=3)
    p = task.params()
    assert (p.max_steps, p.gen_length, p.block_length, p.temperature, p.seed) == (8, 8, 4, 0.5, 3)
