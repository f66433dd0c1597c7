"""The seed API refuses what Session refuses, before any compute (issue 17: gen_length beyond
max_sequence_length and 10,000-token forward passes used to run for minutes)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from llada_studio.core.checkpoint_writer import random_checkpoint
from llada_studio.core.engine import cpp_engine_available
from llada_studio.core.llada import InferTask, LLaDAForCauslLM

pytestmark = pytest.mark.skipif(not cpp_engine_available(), reason="the C++ engine is not built")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LLaDAForCauslLM:
    folder = random_checkpoint(
        tmp_path_factory.mktemp("seed") / "m",
        n_layers=1,
        d_model=32,
        n_heads=2,
        mlp_hidden_size=48,
        vocab_size=64,
        max_sequence_length=64,
    )
    return LLaDAForCauslLM(folder, threads=1)


def _quickly(call, match: str) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        call()
    assert time.perf_counter() - start < 2.0


def test_batch_infer_one_round_refuses_gen_length_beyond_max_sequence_length(model: LLaDAForCauslLM):
    task = InferTask(id=0, tokens=[5, 6], max_steps=128, gen_length=128, block_length=128)
    _quickly(lambda: model.batch_infer_one_round([task]), "max_sequence_length")
    assert task.output == []


def test_batch_infer_one_round_checks_every_task_before_running_any(model: LLaDAForCauslLM):
    good = InferTask(id=0, tokens=[5], max_steps=4, gen_length=4, block_length=4)
    bad = InferTask(id=1, tokens=[5], max_steps=4, gen_length=4, block_length=3)
    _quickly(lambda: model.batch_infer_one_round([good, bad]), "block_length")
    assert good.output == []


def test_batch_infer_one_round_still_runs(model: LLaDAForCauslLM):
    tasks = [InferTask(id=0, tokens=[5, 6, 7], max_steps=4, gen_length=4, block_length=4), InferTask(id=1, tokens=[9])]
    tasks[1].max_steps = tasks[1].gen_length = tasks[1].block_length = 4
    out = model.batch_infer_one_round(tasks)
    assert [len(o) for o in out] == [4, 4]


@pytest.mark.parametrize("length", [65, 10_000])
def test_forward_logits_batch_refuses_more_than_max_sequence_length(model: LLaDAForCauslLM, length: int):
    _quickly(lambda: model.forward_logits_batch(np.full((1, length), 5)), "max_sequence_length")


@pytest.mark.parametrize(
    "ids, match",
    [
        (np.array([[5, 64]]), "outside the vocabulary"),
        (np.array([[-1, 5]]), "outside the vocabulary"),
        (np.array([[0.5, 1.0]]), "integer token ids"),
        (np.array([5, 6]), "batch, length"),
    ],
)
def test_forward_logits_batch_refuses_bad_ids(model: LLaDAForCauslLM, ids: np.ndarray, match: str):
    _quickly(lambda: model.forward_logits_batch(ids), match)


def test_forward_logits_batch_refuses_a_mask_of_another_shape(model: LLaDAForCauslLM):
    _quickly(lambda: model.forward_logits_batch(np.array([[5, 6]]), np.array([[1, 1, 1]])), "attention_mask shape")


def test_generate_refuses_gen_length_beyond_max_sequence_length(model: LLaDAForCauslLM):
    _quickly(lambda: model.generate_with_cpp_model("hello", max_steps=64, gen_length=64, block_length=64), "max_seq")


def test_session_and_seed_api_give_the_same_message(model: LLaDAForCauslLM, tmp_path: Path):
    from llada_studio.core.session import Session

    session = Session(model.checkpoint, model._cpp_engine())
    with pytest.raises(ValueError) as a:
        session.forward_logits(np.full((1, 100), 5))
    with pytest.raises(ValueError) as b:
        model.forward_logits_batch(np.full((1, 100), 5))
    assert str(a.value) == str(b.value)
