from llada_studio.core.model_defaults import PUBLISHED, defaults_for
from llada_studio.core.params import recommended_params
from llada_studio.core.resources import bundled_model_dir


def test_first_settings_per_kind_of_model(tmp_path):
    assert defaults_for(bundled_model_dir(), "llada-studio-tiny", False, True) == recommended_params()
    instruct = defaults_for(tmp_path / "LLaDA-8B-Instruct", "LLaDA-8B-Instruct", True, True)
    assert instruct == PUBLISHED.with_(confidence_eos_eot_inf=True)
    assert (instruct.gen_length, instruct.block_length, instruct.max_steps, instruct.temperature) == (128, 32, 128, 0)
    assert defaults_for(tmp_path / "LLaDA-8B-Base", "LLaDA-8B-Base", False, True) == PUBLISHED
    # no end-of-turn token: the option that needs it stays off
    assert not defaults_for(tmp_path / "x", "my-instruct", True, False).confidence_eos_eot_inf
