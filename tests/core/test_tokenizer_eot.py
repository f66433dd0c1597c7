"""Checkpoints whose tokenizer has no <|eot_id|> (issue 13): they load and run; only
confidence_eos_eot_inf, which is defined on the EOT token, is refused, naming the option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llada_studio.core import cli
from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.checkpoint_writer import SPECIAL_TOKENS, random_checkpoint
from llada_studio.core.params import GenerationParams, ParamError
from llada_studio.core.session import Session


@pytest.fixture
def no_eot(tmp_path: Path) -> Path:
    """A tiny checkpoint whose tokenizer and config name no end-of-turn token."""
    folder = random_checkpoint(tmp_path / "no-eot", chat_template=False)
    tok = json.loads((folder / "tokenizer.json").read_text())
    eot = SPECIAL_TOKENS.index("<|eot_id|>")
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["content"] != "<|eot_id|>"]
    vocab = tok["model"]["vocab"]
    del vocab["<|eot_id|>"]
    vocab["<|reserved_token_0|>"] = eot  # the id stays taken, by another name
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    cfg = json.loads((folder / "config.json").read_text())
    cfg.pop("eot_token_id", None)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def test_loads_and_generates(no_eot: Path):
    ck = load_checkpoint(no_eot)
    assert not ck.has_eot and ck.eot_id == ck.eos_id
    session = Session.open(no_eot, engine="torch")
    params = GenerationParams(max_steps=4, gen_length=4, block_length=4)
    result = session.generate("hello world", params)
    assert len(result.generated_ids[0]) == 4
    assert session.generate("hello", params.with_(logits_eos_inf=True)).generated_ids


def test_only_confidence_eos_eot_inf_is_refused(no_eot: Path):
    session = Session.open(no_eot, engine="torch")
    params = GenerationParams(max_steps=4, gen_length=4, block_length=4, confidence_eos_eot_inf=True)
    with pytest.raises(ParamError, match="confidence_eos_eot_inf needs an end-of-turn token") as info:
        session.generate("hello", params)
    assert "--confidence-eos-eot-inf needs" in info.value.describe("flag")


def test_cli_names_the_option(no_eot: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["generate", "hello", "--model", str(no_eot), "--engine", "torch", "--gen-length", "4"]
    assert cli.main([*argv, "--block-length", "4", "--steps", "4", "--no-live"]) == 0
    status = cli.main([*argv, "--block-length", "4", "--steps", "4", "--confidence-eos-eot-inf"])
    assert status == 2
    assert "--confidence-eos-eot-inf needs an end-of-turn token" in capsys.readouterr().err


def test_a_model_with_eot_keeps_it(tiny_model: Path):
    ck = load_checkpoint(tiny_model)
    assert ck.has_eot and ck.eot_id == SPECIAL_TOKENS.index("<|eot_id|>") != ck.eos_id
