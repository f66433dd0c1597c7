import pytest

from core.params import REMASKING_MODES, GenerationParams


def test_defaults_are_the_seed_defaults():
    p = GenerationParams()
    assert (p.max_steps, p.gen_length, p.block_length, p.temperature, p.cfg_scale, p.remasking) == (
        128,
        128,
        128,
        0.0,
        0.0,
        "low_confidence",
    )
    assert p.num_blocks == 1 and p.steps_per_block == 128


def test_block_length_must_divide_gen_length_and_names_valid_values():
    with pytest.raises(ValueError, match=r"multiple of block_length \(48\).*\[16, 32, 64\]"):
        GenerationParams(gen_length=128, block_length=48, max_steps=128)


def test_steps_must_divide_by_blocks_and_names_nearest():
    with pytest.raises(ValueError, match=r"nearest valid step counts: \[8, 12\]"):
        GenerationParams(gen_length=128, block_length=32, max_steps=10)


@pytest.mark.parametrize("field", ["gen_length", "block_length", "max_steps"])
@pytest.mark.parametrize("value", [0, -4])
def test_non_positive_lengths(field, value):
    with pytest.raises(ValueError, match=f"{field} must be positive"):
        GenerationParams(**{field: value})


@pytest.mark.parametrize("field", ["temperature", "cfg_scale"])
def test_negative_temperature_or_cfg(field):
    with pytest.raises(ValueError, match=f"{field} must be a finite number >= 0"):
        GenerationParams(**{field: -0.5})


def test_nan_temperature():
    with pytest.raises(ValueError, match="temperature"):
        GenerationParams(temperature=float("nan"))


def test_unknown_remasking_names_valid_modes():
    with pytest.raises(ValueError, match="valid modes: " + ", ".join(REMASKING_MODES)):
        GenerationParams(remasking="highest_entropy_first")


def test_wrong_types():
    with pytest.raises(TypeError):
        GenerationParams(max_steps=12.5)
    with pytest.raises(ValueError, match="mask_id"):
        GenerationParams(mask_id=-1)


def test_params_are_immutable_and_hashable():
    p = GenerationParams()
    with pytest.raises(AttributeError):
        p.max_steps = 3  # type: ignore[misc]
    assert hash(p) == hash(GenerationParams())
    assert p.with_(temperature=0.5).temperature == 0.5
