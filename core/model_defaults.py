"""The settings a model starts with the first time it is opened (the window then remembers the
user's own per model): the bundled model's tested settings, or the published LLaDA defaults.

LLaDA's generate.py and chat.py run 128 tokens in 128 steps, blocks of 32, temperature 0 and
low-confidence remasking; its EVAL notes keep EOS/EOT proposals last for the Instruct models
(confidence_eos_eot_inf), which needs the end-of-turn token.
"""

from __future__ import annotations

from pathlib import Path

from .params import GenerationParams, recommended_params
from .resources import bundled_model_dir

PUBLISHED = GenerationParams(max_steps=128, gen_length=128, block_length=32, temperature=0.0)


def is_bundled(path: str | Path) -> bool:
    try:
        return Path(path).resolve() == bundled_model_dir().resolve()
    except OSError:
        return False


def defaults_for(path: str | Path, name: str, has_chat_template: bool, has_eot: bool) -> GenerationParams:
    """First settings for a model: tested ones for the bundled model, else the published defaults
    (with EOS/EOT kept last for an instruction-tuned model that has the end-of-turn token)."""
    if is_bundled(path):
        return recommended_params()
    instruct = has_chat_template or "instruct" in name.lower()
    return PUBLISHED.with_(confidence_eos_eot_inf=instruct and has_eot)
