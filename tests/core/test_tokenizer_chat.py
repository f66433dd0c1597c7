"""Chat prompts exactly as LLaDA-8B-Instruct's own tokenizer renders them (issue 13).

The template and special tokens below are those of GSAI-ML/LLaDA-8B-Instruct's published
tokenizer_config.json (a copy is in the public code index: repository yinj66/support_basis,
LLaDA-8B-Instruct-B&S-light/tokenizer_config.json; the same Llama-3-style template without the
add_generation_prompt test, i.e. the assistant header is always appended). The tokenizer fixture
is a small byte-level BPE (every text encodes losslessly) with those special tokens added.

Each test renders the conversation through jinja2 directly, the way transformers'
apply_chat_template does, and compares the ids with what core produces: Session.encode (the
whole conversation rendered) and ChatConversation (chat.py's incremental ids) for 1, 2, 3 turns.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2.ext
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.checkpoint_writer import random_checkpoint
from llada_studio.core.errors import CheckpointError
from llada_studio.core.session import Session
from llada_studio.core.tokenizer import ChatConversation, Tokenizer

LLADA_INSTRUCT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
)
# The published ids (tokenizer_config.json's added_tokens_decoder) of the tokens the chat uses.
LLADA_SPECIAL = {
    "<|startoftext|>": 126080,
    "<|endoftext|>": 126081,
    "<|mdm_mask|>": 126336,
    "<|start_header_id|>": 126346,
    "<|end_header_id|>": 126347,
    "<|eot_id|>": 126348,
}
LLADA_TOKENIZER_CONFIG = {
    "add_bos_token": False,
    "add_eos_token": False,
    "bos_token": "<|startoftext|>",
    "eos_token": "<|endoftext|>",
    "pad_token": "<|endoftext|>",
    "chat_template": LLADA_INSTRUCT_TEMPLATE,
    "clean_up_tokenization_spaces": False,
    "tokenizer_class": "PreTrainedTokenizerFast",
}


def byte_level_tokenizer():  # type: ignore[no-untyped-def]
    """256 byte tokens (GPT-2's byte-to-unicode alphabet), no merges, LLaDA's special tokens."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = HFTokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(LLADA_SPECIAL))
    return tok


@pytest.fixture(scope="module")
def instruct_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint carrying LLaDA-8B-Instruct's tokenizer config and special tokens."""
    folder = random_checkpoint(tmp_path_factory.mktemp("instruct") / "m", vocab_size=300, chat_template=False)
    tok = byte_level_tokenizer()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(LLADA_TOKENIZER_CONFIG), encoding="utf-8")
    ids = {name: tok.token_to_id(name) for name in LLADA_SPECIAL}
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(
        mask_token_id=ids["<|mdm_mask|>"],
        eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        eot_token_id=ids["<|eot_id|>"],
        bos_token_id=ids["<|startoftext|>"],
    )
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return folder


def rendered_by_jinja2(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """transformers' way: a sandboxed environment with trim_blocks/lstrip_blocks."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    return env.from_string(LLADA_INSTRUCT_TEMPLATE).render(
        messages=messages,
        add_generation_prompt=add_generation_prompt,
        bos_token=LLADA_TOKENIZER_CONFIG["bos_token"],
        eos_token=LLADA_TOKENIZER_CONFIG["eos_token"],
    )


def reference_ids(folder: Path, messages: list[dict[str, str]]) -> list[int]:
    from tokenizers import Tokenizer as HFTokenizer

    tok = HFTokenizer.from_file(str(folder / "tokenizer.json"))
    return list(tok.encode(rendered_by_jinja2(messages), add_special_tokens=False).ids)


CONVERSATION = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("  And of Italy?\n", " Rome. "),  # surrounding spaces: the template trims each message
    ("Thanks! Ünïcödé and émoji 🙂 too", "You're welcome."),
]
SYSTEM = "You are a helpful assistant. Answer briefly."


def test_the_template_text_is_llada_s():
    text = rendered_by_jinja2([{"role": "user", "content": "Hi"}])
    assert text == (
        "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


@pytest.mark.parametrize("turns", [1, 2, 3])
@pytest.mark.parametrize("system", [None, SYSTEM])
def test_prompt_ids_match_jinja2(instruct_model: Path, turns: int, system: str | None):
    session = Session(load_checkpoint(instruct_model), engine=None)  # type: ignore[arg-type]
    tok = session.tokenizer
    ck = session.checkpoint
    conv = ChatConversation(tok, drop_ids={ck.eos_id, ck.mask_id}, system=system)
    history: list[dict[str, str]] = []
    for user, answer in CONVERSATION[:turns]:
        messages = ([{"role": "system", "content": system}] if system else []) + [
            *history,
            {"role": "user", "content": user},
        ]
        expected = reference_ids(instruct_model, messages)
        assert expected[0] == tok.token_to_id("<|startoftext|>")
        assert expected.count(tok.token_to_id("<|startoftext|>")) == 1  # the template's BOS, once
        # the whole conversation rendered by core's template environment
        assert session.encode(user, chat=True, history=history, system=system) == expected
        # chat.py's incremental ids
        prompt = conv.prompt_ids(user)
        assert prompt == expected
        # the model answers: text, <|eot_id|>, then EOS padding (LLaDA-8B-Instruct's habit)
        answer_ids = tok.encode(answer.strip(), add_bos=False) + [ck.eot_id] + [ck.eos_id] * 5
        conv.add_turn(user, prompt, answer_ids)
        history += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    assert [r for r, _ in conv.turns] == ["user", "assistant"] * turns
    assert conv.turns[-1][1] == CONVERSATION[turns - 1][1].strip()


def test_special_tokens_are_single_ids(instruct_model: Path):
    tok = Tokenizer(instruct_model)
    ids = tok.encode_chat([{"role": "user", "content": "Hi"}])
    for name in ("<|startoftext|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"):
        assert tok.token_to_id(name) in ids
    assert tok.supports_system
    assert tok.decode(ids) == "user\n\nHiassistant\n\n"


# -- templates refused at open -------------------------------------------------------------


def with_template(folder: Path, template: str) -> Path:
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return random_checkpoint(tmp_path / "m")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{% for m in messages %}{{ m.content }", "does not compile"),
        ("{% if %}", "does not compile"),
        ("{{ raise_exception('no chats here') }}", "fails on a one-message chat: TemplateError: no chats here"),
        ("{{ messages[5]['content'] }}", "fails on a one-message chat"),
        ("{{ messages[2]['content'].upper() }}{{ 1 / 0 }}", "fails on a one-message chat"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "outside the jinja2 sandbox"),
        ("{{ messages.__class__ }}{{ cycler.__init__.__globals__ }}", "outside the jinja2 sandbox"),
        ("{{ messages.append(1) }}", "outside the jinja2 sandbox"),  # immutable sandbox
        ("{{ 'a' * 10000000000 }}", "outside the jinja2 sandbox"),
        ("{{ 10 ** 100000000 }}", "outside the jinja2 sandbox"),
        ("{% if messages|length > 1 %}{{ raise_exception('one turn only') }}{% endif %}hi", "user/assistant/user"),
    ],
)
def test_bad_template_refused_at_open(model: Path, template: str, message: str):
    with_template(model, template)
    with pytest.raises(CheckpointError, match="tokenizer_config.json") as info:
        load_checkpoint(model)
    assert "chat_template" in str(info.value)
    assert message in str(info.value)


def test_template_without_system_loads_without_system_prompt(model: Path):
    with_template(
        model,
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}"
        "{% endif %}{{ m['content'] }}{% endfor %}",
    )
    ck = load_checkpoint(model)
    assert ck.tokenizer.has_chat_template and not ck.tokenizer.supports_system
    with pytest.raises(ValueError, match="does not accept a system prompt"):
        ck.tokenizer.encode_chat([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])


def test_hf_template_helpers_work(model: Path):
    with_template(
        model,
        "{% for m in messages %}{% if loop.index > 5 %}{% break %}{% endif %}{{ m | tojson }}{% endfor %}"
        "{{ strftime_now('%Y') | length }}",
    )
    tok = load_checkpoint(model).tokenizer
    assert tok.apply_chat_template([{"role": "user", "content": "é"}]) == '{"role": "user", "content": "é"}4'
