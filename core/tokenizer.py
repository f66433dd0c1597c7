"""The checkpoint's tokenizer: `tokenizer.json` through `tokenizers`, the chat template through
jinja2 (sandboxed, as Hugging Face's transformers renders it: trim_blocks, lstrip_blocks, the
loopcontrols extension, `raise_exception`, `tojson`, `strftime_now`).

A chat template is code from the model folder: it is compiled and tried on sample conversations
when the tokenizer is opened, so a template that does not compile, raises, or reaches outside the
sandbox is refused at open with a CheckpointError naming tokenizer_config.json, never at the
first chat turn."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CheckpointError

# Names of special tokens in LLaDA's vocabulary; a checkpoint may name others in its config.
MASK_TOKEN = "<|mdm_mask|>"
EOT_TOKEN = "<|eot_id|>"

# A rendered prompt longer than this (characters) is refused: no chat prompt is near it, and a
# template such as {{ 'a' * 10**10 }} must not exhaust memory.
MAX_RENDERED_CHARS = 4_000_000

# The conversations a template is tried on at open: one user turn, and user/assistant/user.
# A template may refuse a system message (some do, with raise_exception): that only turns the
# system prompt off (Tokenizer.supports_system), it does not refuse the model.
_TRIAL_ONE = [{"role": "user", "content": "Hello"}]
_TRIAL_MULTI = [
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi."},
    {"role": "user", "content": "How are you?"},
]
_TRIAL_SYSTEM = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _chat_environment() -> Any:
    """The sandboxed jinja2 environment chat templates run in (transformers' settings), with
    the repetition and power operators bounded (jinja2's sandbox bounds range() only)."""
    from jinja2.exceptions import SecurityError, TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class ChatTemplateEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_RENDERED_CHARS:
                        raise SecurityError(f"a repetition of {len(seq)} x {n} items is too long")
            if operator == "**" and isinstance(right, int) and abs(right) > 1024:
                raise SecurityError(f"the power {right} is too large")
            return super().call_binop(context, operator, left, right)

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, sort_keys: bool = False) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, sort_keys=sort_keys)

    def strftime_now(fmt: str) -> str:
        return datetime.datetime.now().strftime(fmt)

    env = ChatTemplateEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


class Tokenizer:
    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        tok_path = folder / "tokenizer.json"
        if not tok_path.is_file():
            raise CheckpointError(tok_path, "tokenizer.json is missing: the model cannot read or write text")
        try:
            self._tok = HFTokenizer.from_file(str(tok_path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad files
            raise CheckpointError(tok_path, f"not a valid tokenizers file: {exc}") from exc
        cfg_path = folder / "tokenizer_config.json"
        self.config: dict[str, Any] = {}
        if cfg_path.is_file():
            try:
                self.config = json.loads(cfg_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise CheckpointError(cfg_path, f"malformed JSON: {exc}") from exc
            if not isinstance(self.config, dict):
                raise CheckpointError(cfg_path, "must hold a JSON object")
        self.bos_token = _token_text(self.config.get("bos_token"))
        self.eos_token = _token_text(self.config.get("eos_token"))
        self.add_bos_token = bool(self.config.get("add_bos_token", False))
        template = self.config.get("chat_template")
        if isinstance(template, list):  # the named-templates form: take "default"
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default")
        self.chat_template: str | None = template if isinstance(template, str) else None
        self._compiled_template: Any = None
        self.supports_system = False  # whether the template accepts a system message
        if self.chat_template is not None:
            self._check_chat_template(cfg_path)

    @property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    def token_to_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self._tok.id_to_token(token_id)

    def encode(self, text: str, add_bos: bool | None = None) -> list[int]:
        """Plain text to ids; BOS is prepended when the tokenizer config asks for it."""
        ids = list(self._tok.encode(text, add_special_tokens=False).ids)
        if add_bos is None:
            add_bos = self.add_bos_token
        if add_bos and self.bos_token is not None:
            bos = self.token_to_id(self.bos_token)
            if bos is not None and (not ids or ids[0] != bos):
                ids.insert(0, bos)
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return str(self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens))

    def token_texts(self, ids: Sequence[int]) -> list[str]:
        """The text each token contributes on its own (for drawing token cells)."""
        return [self._tok.decode([i], skip_special_tokens=False) for i in ids]

    # -- chat ------------------------------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return self.chat_template is not None

    @property
    def bos_id(self) -> int | None:
        return self.token_to_id(self.bos_token) if self.bos_token else None

    def _check_chat_template(self, cfg_path: Path) -> None:
        """Compile the template and try it on sample conversations; refuse it with a
        CheckpointError naming tokenizer_config.json when it cannot serve a chat."""
        from jinja2.exceptions import SecurityError, TemplateSyntaxError

        assert self.chat_template is not None
        try:
            self._compiled_template = _chat_environment().from_string(self.chat_template)
        except TemplateSyntaxError as exc:
            raise CheckpointError(
                cfg_path, f"chat_template does not compile (template line {exc.lineno}): {exc.message}"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - jinja2 raises assorted errors on odd input
            raise CheckpointError(cfg_path, f"chat_template does not compile: {exc}") from exc
        for what, messages in (("a one-message chat", _TRIAL_ONE), ("a user/assistant/user chat", _TRIAL_MULTI)):
            try:
                self._render(messages, True)
            except SecurityError as exc:
                raise CheckpointError(
                    cfg_path, f"chat_template tries to reach outside the jinja2 sandbox, refused: {exc}"
                ) from exc
            except Exception as exc:  # noqa: BLE001 - a template may raise anything
                raise CheckpointError(cfg_path, f"chat_template fails on {what}: {type(exc).__name__}: {exc}") from exc
        try:
            self._render(_TRIAL_SYSTEM, True)
            self.supports_system = True
        except SecurityError as exc:
            raise CheckpointError(
                cfg_path, f"chat_template tries to reach outside the jinja2 sandbox, refused: {exc}"
            ) from exc
        except Exception:  # noqa: BLE001 - a template that refuses system messages: no system prompt
            self.supports_system = False

    def _render(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> str:
        text = self._compiled_template.render(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token or "",
            eos_token=self.eos_token or "",
        )
        if not isinstance(text, str) or len(text) > MAX_RENDERED_CHARS:
            raise ValueError(f"the chat template's output is longer than {MAX_RENDERED_CHARS} characters")
        return text

    def apply_chat_template(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The prompt text for `messages` ({"role", "content"}; roles system, user, assistant)."""
        if self.chat_template is None:
            raise ValueError("this checkpoint has no chat_template in tokenizer_config.json; use plain prompts")
        if any(m.get("role") == "system" for m in messages) and not self.supports_system:
            raise ValueError("this checkpoint's chat template does not accept a system prompt")
        try:
            return self._render(messages, add_generation_prompt)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - a template's raise_exception, or a bad message
            raise ValueError(f"the chat template refused this conversation: {exc}") from exc

    def encode_chat(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Chat prompt ids. The template emits BOS itself, so none is added here."""
        return self.encode(self.apply_chat_template(messages, add_generation_prompt=True), add_bos=False)


@dataclass
class ChatConversation:
    """A multi-turn chat kept as token ids, the way LLaDA's own chat.py keeps it (ALGORITHM.md
    section 3): the first turn is the template's rendering (BOS, the system prompt if any, the
    user turn, the assistant header); each later turn is appended rendered alone without its BOS,
    after the previous answer's ids with their EOS tokens dropped. For an answer that ends in
    <|eot_id|> this is token for token the template's rendering of the whole conversation.

        conv = ChatConversation(tokenizer, drop_ids={eos_id, mask_id}, system="Be brief.")
        ids = conv.prompt_ids("Hello")          # generate from these
        conv.add_turn("Hello", ids, answer_ids)  # then the next prompt_ids(...)
    """

    tokenizer: Tokenizer
    drop_ids: frozenset[int] | set[int] = frozenset()  # EOS (and the mask id: a stopped answer's gaps)
    system: str | None = None
    ids: list[int] = field(default_factory=list)  # the conversation so far, up to the last answer
    turns: list[tuple[str, str]] = field(default_factory=list)  # (role, text), for display

    def prompt_ids(self, user_text: str) -> list[int]:
        """The ids to generate the next answer from: the conversation and this user turn."""
        turn = [{"role": "user", "content": user_text}]
        if not self.ids:
            if self.system:
                turn.insert(0, {"role": "system", "content": self.system})
            return self.tokenizer.encode_chat(turn)
        new = self.tokenizer.encode_chat(turn)
        bos = self.tokenizer.bos_id
        if new and bos is not None and new[0] == bos:
            new = new[1:]
        return self.ids + new

    def add_turn(self, user_text: str, prompt_ids: Sequence[int], answer_ids: Sequence[int]) -> None:
        """Record a finished turn: the prompt it was generated from and the answer's ids."""
        self.ids = list(prompt_ids) + [int(t) for t in answer_ids if int(t) not in self.drop_ids]
        answer = [t for t in answer_ids if t not in self.drop_ids]
        self.turns += [("user", user_text), ("assistant", self.tokenizer.decode(answer))]

    def clear(self) -> None:
        self.ids, self.turns = [], []
