"""GenerationParams reaches the C++ struct field by field without a hand-written list
(core/cpp_engine.py generate_params): every bound member is fed, values and enums arrive."""

from __future__ import annotations

import pytest

_engine = pytest.importorskip("llada_studio.core._engine", reason="the C++ engine is not built")

from llada_studio.core.cpp_engine import CPP_NAMES, FROM_CHECKPOINT, generate_params  # noqa: E402
from llada_studio.core.params import GenerationParams  # noqa: E402


def _members() -> set[str]:
    return {n for n in dir(_engine.GenerateParams()) if not n.startswith("_")}


def test_every_member_of_the_struct_comes_from_a_parameter_or_the_checkpoint() -> None:
    from dataclasses import fields

    fed = {CPP_NAMES.get(f.name, f.name) for f in fields(GenerationParams)} | set(FROM_CHECKPOINT)
    assert _members() <= fed, f"C++ members no GenerationParams field feeds: {_members() - fed}"


def test_values_and_enums_arrive() -> None:
    params = GenerationParams(max_steps=12, gen_length=24, block_length=8, temperature=0.7, cfg_scale=1.5,
                              remasking="random", seed=2**63 + 5, decoding="threshold", threshold=0.8,
                              factor=2.5, cache="dual", logits_eos_inf=True, confidence_eos_eot_inf=True)
    p = generate_params(params, mask_id=7, eos_id=8, eot_id=9)
    assert (p.steps, p.gen_length, p.block_length, p.seed) == (12, 24, 8, 2**63 + 5)
    assert (p.temperature, p.cfg_scale, p.threshold, p.factor) == (0.7, 1.5, 0.8, 2.5)
    assert p.remasking == _engine.Remasking.random and p.decoding == _engine.Decoding.threshold
    assert p.cache == _engine.CacheMode.dual and p.logits_eos_inf and p.confidence_eos_eot_inf
    assert (p.mask_id, p.eos_id, p.eot_id) == (7, 8, 9)
