"""Short runs of the fuzzers in the suite (the bounded runs are in .ci/run, the bindings fuzzer
also under ASan in tests/engine/run_sanitizer.sh): 500 seeded loader inputs over the header,
config.json and the index; 1,000 inputs to the C++ engine's bindings; 60 tokenizer_config.json
inputs; none may be a finding. And the bindings fuzzer's findings, each pinned as a case."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llada_studio.core.engine import cpp_engine_available


def _load(name: str) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fuzz_loader = _load("fuzz_loader")
needs_cpp = pytest.mark.skipif(not cpp_engine_available(), reason="the C++ engine is not built")


def _findings(folder: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(folder.glob("*.txt"))) if folder.is_dir() else ""


def test_mutation_loop_finds_nothing(tmp_path: Path):
    harness = fuzz_loader.Harness(tmp_path / "work")
    report = fuzz_loader.python_loop(harness, seconds=20, seed=17, findings=tmp_path / "findings", max_inputs=500)
    assert report["total"] == 500 or report["seconds"] >= 20
    assert report["findings"] == [], _findings(tmp_path / "findings")


@needs_cpp
def test_engine_fuzzer_finds_nothing(tmp_path: Path):
    fuzz_engine = _load("fuzz_engine")
    harness = fuzz_engine.Harness(tmp_path / "work")
    report = fuzz_engine.python_loop(harness, seconds=20, seed=17, findings=tmp_path / "findings", max_inputs=1000)
    assert report["total"] == 1000 or report["seconds"] >= 20
    assert report["findings"] == [], _findings(tmp_path / "findings")
    assert report["outcomes"].get("generate:ok", 0) > 0  # the generator reaches a run, not only refusals


def test_tokenizer_fuzzer_finds_nothing(tmp_path: Path):
    fuzz_tokenizer = _load("fuzz_tokenizer")
    harness = fuzz_tokenizer.Harness(tmp_path / "work")
    report = fuzz_tokenizer.python_loop(harness, seconds=20, seed=17, findings=tmp_path / "findings", max_inputs=60)
    assert report["findings"] == [], _findings(tmp_path / "findings")


@pytest.fixture(scope="module")
def raw_engine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from llada_studio.core.checkpoint import load_checkpoint
    from llada_studio.core.checkpoint_writer import random_checkpoint
    from llada_studio.core.cpp_engine import CppEngine

    folder = random_checkpoint(tmp_path_factory.mktemp("fz") / "m", n_layers=1, d_model=32, n_heads=2,
                               mlp_hidden_size=48, vocab_size=64)
    ckpt = load_checkpoint(folder)
    return CppEngine(ckpt, threads=1), ckpt


def _params(ckpt: Any, **fields: Any) -> Any:
    from llada_studio.core import _engine

    p = _engine.GenerateParams()
    p.steps, p.gen_length, p.block_length = 4, 4, 4
    p.mask_id, p.eos_id, p.eot_id = ckpt.mask_id, ckpt.eos_id, ckpt.eot_id
    for k, v in fields.items():
        setattr(p, k, v)
    return p


@needs_cpp
@pytest.mark.parametrize(
    ("fields", "start_step", "match"),
    [
        (dict(gen_length=2**31 - 1, block_length=2**31 - 1, steps=1), 0, "gen_length 2147483647"),  # P + G overflowed
        (dict(gen_length=2**28, block_length=2**28, steps=1), 0, "gen_length 268435456"),  # gigabytes, then bad_alloc
        (dict(steps=2**31 - 1), 0, "steps 2147483647"),  # 2^31 forward passes
        ({}, 2**31 - 1, "start_step 2147483647"),  # start_step + masked overflowed (UBSan, generate.cpp)
    ],
)
def test_bindings_refuse_sizes_past_the_caps(raw_engine: tuple[Any, Any], fields: dict[str, Any], start_step: int,
                                             match: str):
    eng, ckpt = raw_engine
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=match):
        eng._engine.generate(np.array([[5, 6]]), None, _params(ckpt, **fields), None, None, None, None, start_step)
    assert time.monotonic() - t0 < 1.0


@needs_cpp
def test_engine_constructor_refuses_a_negative_head_dim(raw_engine: tuple[Any, Any]):
    """head_dim -2^31 overflowed head_dim * n_heads in check_weights (UBSan, weights.cpp)."""
    from llada_studio.core import _engine
    from llada_studio.core.cpp_engine import _entry

    _, ckpt = raw_engine
    cfg = ckpt.config
    config = {"d_model": cfg.d_model, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "n_kv_heads": cfg.n_kv_heads,
              "head_dim": -(2**31), "mlp_hidden_size": cfg.mlp_hidden_size, "vocab": cfg.embedding_size,
              "rope_theta": 10000.0, "rms_norm_eps": 1e-5}
    parts = ("attn_norm", "q_proj", "k_proj", "v_proj", "attn_out", "ff_norm", "ff_proj", "up_proj", "ff_out")
    lm = ckpt.lm_head()
    tensors = {"wte": _entry(ckpt, "model.transformer.wte.weight"),
               "ln_f": _entry(ckpt, "model.transformer.ln_f.weight"), "lm_head": (lm.data, lm.dtype),
               "layers": [{q: _entry(ckpt, f"model.transformer.blocks.0.{q}.weight") for q in parts}]}
    with pytest.raises(ValueError, match="inconsistent model config"):
        _engine.Engine(config, tensors, 1, "auto")
    config["head_dim"] = cfg.head_dim
    assert _engine.Engine(config, tensors, 1, "auto").forward_logits(np.array([[1, 2]])).shape == (1, 2, 64)


def test_a_float_parameter_past_float_range_is_a_param_error():
    """Found by fuzz_engine.py (the cpp_engine target): math.isfinite(10**400) raised OverflowError."""
    from llada_studio.core.params import GenerationParams, ParamError

    with pytest.raises(ParamError, match="temperature"):
        GenerationParams(temperature=10**400)
