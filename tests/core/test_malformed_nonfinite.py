"""Non-finite logits at run time (issue 17). NaN/Inf in the big matrices is not scanned at load
(it would read the whole file); it surfaces as non-finite logits, which must be a clear error,
and parallel decoding must always make progress, never spin.

The rule (both engines, checked after each forward pass on the current block's still-masked
positions, once the mask column and with logits_eos_inf the EOS column are set to -inf): any NaN or
+inf logit, or no logit above -inf, ends the run with NonFiniteLogitsError naming the step.
Before the fix (probed on a 1-layer checkpoint with NaN in the LM head): C++ ran to the end
committing garbage; torch fixed decoding committed the mask token, and threshold/factor never
finished (parallel_count counted isfinite(conf) as "available": 0 with NaN, so 0 commits a step).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llada_studio.core.checkpoint import Checkpoint, load_checkpoint
from llada_studio.core.checkpoint_writer import random_checkpoint
from llada_studio.core.engine import cpp_engine_available, create_engine, torch_available
from llada_studio.core.errors import NonFiniteLogitsError
from llada_studio.core.params import GenerationParams

HEAD = "model.transformer.ff_out.weight"


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no answer in {seconds} s: the decoding loop does not make progress")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    small: dict[str, Any] = dict(n_layers=1, d_model=32, n_heads=2, mlp_hidden_size=48, vocab_size=64)
    return random_checkpoint(tmp_path_factory.mktemp("nonfinite") / "m", **small)


def poisoned(folder: Path, rows: slice | int) -> Checkpoint:
    """The checkpoint with NaN in some LM-head rows (a private writable copy; the file is intact)."""
    ck = load_checkpoint(folder)
    head = ck.tensors[HEAD].data.copy()
    head[rows] = np.nan
    ck.tensors[HEAD] = dataclasses.replace(ck.tensors[HEAD], data=head)
    return ck


def test_nonfinite_weights_in_a_matrix_load(folder: Path):
    """The decision: matrices are not scanned at load (norms are: see corpus 'values/nan-in-norm')."""
    assert np.isnan(poisoned(folder, 10).tensors[HEAD].data).any()


@pytest.mark.skipif(not cpp_engine_available(), reason="the C++ engine is not built")
def test_seed_api_forward_logits_batch_says_nonfinite(folder: Path):
    from llada_studio.core.llada import LLaDAForCauslLM

    model = LLaDAForCauslLM(folder, threads=1)
    model.checkpoint = poisoned(folder, 10)
    with pytest.raises(NonFiniteLogitsError, match="non-finite logit"):
        model.forward_logits_batch(np.array([[5, 6, 3]]))


ENGINES = [
    pytest.param("cpp", marks=pytest.mark.skipif(not cpp_engine_available(), reason="C++ engine not built")),
    pytest.param("torch", marks=pytest.mark.skipif(not torch_available(), reason="torch not installed")),
]
DECODINGS = {
    "fixed": {},
    "threshold": {"decoding": "threshold", "threshold": 0.9},
    "factor": {"decoding": "factor", "factor": 1.0},
}


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.parametrize("decoding", list(DECODINGS))
def test_generate_with_nonfinite_logits_is_a_clear_error(folder: Path, kind: str, decoding: str):
    engine = create_engine(poisoned(folder, slice(None)), kind, threads=1)
    params = GenerationParams(max_steps=8, gen_length=8, block_length=8, **DECODINGS[decoding])
    with watchdog(10), pytest.raises(NonFiniteLogitsError, match="^step 1: .*non-finite logit") as info:
        engine.generate(np.array([[5, 6]]), None, params)
    assert info.value.step == 1


@pytest.mark.parametrize("threads", [1, 16])
@pytest.mark.parametrize("kind", ENGINES)
def test_one_nan_column_is_refused_and_no_step_is_delivered(folder: Path, kind: str, threads: int):
    """NaN in one LM-head row = one NaN logit per position: refused at the first step, before
    its event (the same message from both engines). 16 threads: the C++ engine's greedy step
    splits each position's vocabulary over threads (fewer positions than threads)."""
    engine = create_engine(poisoned(folder, 10), kind, threads=threads)
    seen: list[Any] = []
    params = GenerationParams(max_steps=4, gen_length=8, block_length=8)
    with watchdog(10), pytest.raises(NonFiniteLogitsError) as info:
        engine.generate(np.array([[5, 6]]), None, params, on_step=seen.append)
    assert seen == [] and str(info.value) == str(NonFiniteLogitsError.at_step(1))


@pytest.mark.parametrize("decoding", ["threshold", "factor"])
@pytest.mark.parametrize("rows", ["all", "one"])
def test_torch_parallel_decoding_finishes_with_nan_logits(folder: Path, decoding: str, rows: str):
    """Whatever the logits, each step commits at least one masked position and never the mask token."""
    engine = create_engine(poisoned(folder, slice(None) if rows == "all" else 10), "torch", threads=1)
    params = GenerationParams(max_steps=8, gen_length=8, block_length=8, **DECODINGS[decoding])
    ck = engine.ckpt  # type: ignore[attr-defined]
    with watchdog(10):
        try:
            result = engine.generate(np.array([[5, 6]]), None, params)
        except NonFiniteLogitsError:
            return  # refusing is also fine
    assert len(result.trajectory) <= 8
    assert ck.mask_id not in result.generated_ids[0]


@pytest.mark.skipif(not cpp_engine_available(), reason="the C++ engine is not built")
@pytest.mark.parametrize("decoding", ["threshold", "factor"])
def test_cpp_parallel_decoding_finishes_with_nan_logits(folder: Path, decoding: str):
    """The C++ loop already commits one position per step with NaN logits (it must stay so)."""
    engine = create_engine(poisoned(folder, slice(None)), "cpp", threads=1)
    params = GenerationParams(max_steps=8, gen_length=8, block_length=8, **DECODINGS[decoding])
    with watchdog(10):
        try:
            result = engine.generate(np.array([[5, 6]]), None, params)
        except NonFiniteLogitsError:
            return
    assert len(result.trajectory) <= 8


@pytest.mark.skipif(not torch_available(), reason="torch not installed")
@pytest.mark.parametrize("decoding", ["threshold", "factor"])
def test_torch_parallel_count_counts_nan_confidences_as_available(decoding: str):
    """A NaN confidence ranks lowest: every row with a still-masked position commits at least one."""
    import torch

    from llada_studio.core.torch_backend.sampler import parallel_count

    inf = float("inf")
    conf = torch.tensor([[float("nan"), float("nan"), -inf], [float("nan"), 0.95, -inf], [-inf, -inf, -inf]])
    counts = parallel_count(conf.double(), decoding, 0.9, 1.0).tolist()
    assert counts[0] == 1 and counts[1] >= 1 and counts[2] == 0
