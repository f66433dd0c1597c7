import pytest

from llada_studio.core.params import REMASKING_MODES, GenerationParams


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
    with pytest.raises(ValueError, match=f"{field} must be at least 0"):
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


def test_every_parameter_is_declared_once_with_label_flag_and_help():
    from llada_studio.core.params import SPECS, spec

    names = [s.name for s in SPECS]
    assert "max_steps" in names and "cache" in names and "mask_id" not in names
    assert len(set(s.flag for s in SPECS)) == len(SPECS) and all(s.label and s.help for s in SPECS)
    assert spec("max_steps").flag == "--steps" and spec("max_steps").label == "Steps"


def test_errors_name_the_parameter_as_the_reader_knows_it():
    from llada_studio.core.params import ParamError

    with pytest.raises(ParamError) as info:
        GenerationParams(gen_length=128, block_length=32, max_steps=10)
    err = info.value
    assert err.name == "max_steps" and str(err).startswith("max_steps (10)")
    assert err.describe("flag").startswith("--steps (10)") and "--gen-length 128" in err.describe("flag")
    assert err.describe("label").startswith("“Steps” (10)") and "max_steps" not in err.describe("label")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("max_steps", 10**9, "at most 1048576"),
        ("seed", 2**64, "at most 18446744073709551615"),
        ("seed", -1, "at least 0"),
        ("temperature", float("inf"), "finite"),
        ("factor", float("nan"), "finite"),
        ("threshold", 0.0, "greater than 0"),
        ("logits_eos_inf", 1, "true or false"),
    ],
)
def test_out_of_range_values_are_refused_before_anything_is_allocated(field, value, words):
    with pytest.raises(ValueError, match=words):
        GenerationParams(**{field: value})


def test_idle_steps_counts_steps_that_reveal_nothing():
    assert GenerationParams(max_steps=64, gen_length=16, block_length=16).idle_steps == 48
    assert GenerationParams(max_steps=16, gen_length=16, block_length=16).idle_steps == 0


def test_plural():
    from llada_studio.core.params import plural

    assert plural(1, "step") == "1 step" and plural(2, "step") == "2 steps" and plural(0.5, "token") == "0.5 tokens"
