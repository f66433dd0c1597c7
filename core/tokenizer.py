"""The checkpoint's tokenizer: `tokenizer.json` through `tokenizers`, the chat template through
jinja2 (sandboxed, as Hugging Face's transformers renders it: trim_blocks, lstrip_blocks, the
loopcontrols extension, `raise_exception`, `tojson`, `strftime_now`).

A chat template is code from the model folder: it is compiled and tried on sample conversations
when the tokenizer is opened, so a template that does not compile, raises, or reaches outside the
sandbox is refused at open with a CheckpointError naming tokenizer_config.json, never at the
first chat turn.

What a template may cost is bounded (issue 17, tests/fuzz/fuzz_tokenizer.py): its output
(streamed, at most MAX_RENDERED_CHARS), its running time (RENDER_SECONDS, in the template's code
and the filters it calls: a loop of 10^10 empty iterations is refused, not run), and every
operation that could build a huge value from small ones - repetition, concatenation, padding and
format widths, replace, join, indent, wordwrap - is refused before it allocates."""

from __future__ import annotations

import datetime
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CheckpointError

# Names of special tokens in LLaDA's vocabulary; a checkpoint may name others in its config.
MASK_TOKEN = "<|mdm_mask|>"
EOT_TOKEN = "<|eot_id|>"

# A rendered prompt longer than this (characters) is refused: no chat prompt is near it (a 1M-
# character prompt is some 250k tokens, past every LLaDA context; tokenizing it takes a second),
# and a template such as {{ 'a' * 10**10 }} must not exhaust memory.
MAX_RENDERED_CHARS = 1_000_000
# A render (the trial renders at open, then each chat turn) may run this long; a chat template
# takes milliseconds.
RENDER_SECONDS = 1.0

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


def _shown(value: Any) -> str:
    """A short description of a JSON value for a message."""
    text = json.dumps(value, allow_nan=True, default=str) if not isinstance(value, str) else repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _size(value: Any) -> int:
    """Characters or items a value holds (0 for anything else)."""
    return len(value) if isinstance(value, (str, list, tuple, dict)) else 0


def _deep_size(seq: Any) -> int:
    """Items of a list/tuple and the characters or items of each (what repeating it copies)."""
    return len(seq) + sum(_size(x) for x in seq) if isinstance(seq, (list, tuple)) else _size(seq)


_WIDTH = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format string


def _chat_environment() -> Any:
    """The sandboxed jinja2 environment chat templates run in (transformers' settings), with
    every operation that could build a value past MAX_RENDERED_CHARS refused up front (jinja2's
    sandbox bounds range() only)."""
    from jinja2.exceptions import SecurityError, TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    limit = MAX_RENDERED_CHARS

    def refuse(what: str) -> None:
        raise SecurityError(f"{what} would be longer than {limit} characters")

    def check_format(fmt: Any, args: Any) -> None:
        if isinstance(fmt, str) and _WIDTH.search(fmt):
            raise SecurityError("a format width or precision of a million or more is refused")
        if isinstance(fmt, str) and ("*" in fmt or re.search(r"\{[^{}]*\{", fmt)):
            values = args if isinstance(args, (list, tuple)) else [args]
            if any(isinstance(v, int) and abs(v) > limit for v in values):
                refuse("a format width taken from an argument")

    def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        target = getattr(obj, "__wrapped__", obj)  # jinja2 wraps str.format in a function
        owner, name = getattr(target, "__self__", None), getattr(target, "__name__", "")
        if not isinstance(owner, str):
            return
        values = list(args) + list(kwargs.values())
        if name in ("center", "ljust", "rjust", "zfill") and any(isinstance(v, int) and v > limit for v in values):
            refuse(f"str.{name}")
        elif name == "expandtabs" and values and isinstance(values[0], int) and values[0] * owner.count("\t") > limit:
            refuse("str.expandtabs")
        elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            count = owner.count(args[0]) if args[0] else len(owner) + 1
            if len(owner) + count * (len(args[1]) - len(args[0])) > limit:
                refuse("str.replace")
        elif name == "join" and args:
            check_join(owner, args[0])
        elif name in ("format", "format_map"):
            check_format(owner, values)

    def check_join(sep: Any, items: Any) -> None:
        if isinstance(items, (list, tuple)):
            total = len(sep) * max(0, len(items) - 1) if isinstance(sep, str) else 0
            for x in items:
                total += len(x) if isinstance(x, str) else 1
                if total > limit:
                    refuse("a join")

    class ChatTemplateEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and _deep_size(seq) * n > limit:
                        raise SecurityError(f"a repetition of {len(seq)} x {n} items is too long")
            if operator == "**" and isinstance(right, int) and abs(right) > 1024:
                raise SecurityError(f"the power {right} is too large")
            if operator == "+" and _size(left) + _size(right) > limit:
                refuse("a concatenation")
            if operator == "%" and isinstance(left, str):
                check_format(left, right)
            return super().call_binop(context, operator, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            check_call(__obj, args, kwargs)
            result = super().call(__context, __obj, *args, **kwargs)
            if _size(result) > limit:
                refuse("a call's result")
            return result

        def getattr(self, obj: Any, attribute: str) -> Any:
            result = super().getattr(obj, attribute)
            if _size(result) > 2 * limit:  # a namespace value doubled in a loop
                refuse("a value")
            return result

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, sort_keys: bool = False) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, sort_keys=sort_keys)

    def strftime_now(fmt: str) -> str:
        return datetime.datetime.now().strftime(fmt)

    env = ChatTemplateEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    filters = env.filters
    plain = {name: filters[name] for name in ("center", "indent", "replace", "join", "format", "wordwrap")}

    def center(value: Any, width: Any = 80) -> Any:
        if isinstance(width, int) and width > limit:
            refuse("center")
        return plain["center"](value, width)

    def indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> Any:
        pad = width if isinstance(width, int) else _size(width)
        if _size(value) + pad * (str(value).count("\n") + 1) > limit:
            refuse("indent")
        return plain["indent"](value, width, *args, **kwargs)

    def replace(eval_ctx: Any, value: Any, old: Any, new: Any, count: Any = None) -> Any:
        if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
            n = value.count(old) if old else len(value) + 1
            if isinstance(count, int) and count >= 0:
                n = min(n, count)
            if len(value) + n * (len(new) - len(old)) > limit:
                refuse("replace")
        return plain["replace"](eval_ctx, value, old, new, count)

    def join(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
        items = value if isinstance(value, (list, tuple)) else list(value) if isinstance(value, str) else value
        check_join(d, items)
        return plain["join"](eval_ctx, items, d, attribute)

    def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
        check_format(value, list(args) + list(kwargs.values()))
        return plain["format"](value, *args, **kwargs)

    def wordwrap(environment: Any, s: Any, width: Any = 79, break_long_words: bool = True,
                 wrapstring: Any = None, break_on_hyphens: bool = True) -> Any:
        if isinstance(s, str) and isinstance(wrapstring, str) and isinstance(width, int):
            if len(s) + len(wrapstring) * (len(s) // max(1, width) + s.count("\n") + 1) > limit:
                refuse("wordwrap")
        return plain["wordwrap"](environment, s, width, break_long_words, wrapstring, break_on_hyphens)

    from jinja2 import pass_environment, pass_eval_context

    filters.update(center=center, indent=indent, replace=pass_eval_context(replace), join=pass_eval_context(join),
                   format=format_, wordwrap=pass_environment(wordwrap), tojson=tojson)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def _render_bounded(template: Any, context: dict[str, Any]) -> str:
    """template.render(**context), streamed and timed: past MAX_RENDERED_CHARS of output a
    ValueError, past RENDER_SECONDS of running a SecurityError (the clock is read every 1024 lines
    of Python run by the template and the filters it calls, traced only while it renders; what
    runs in C is bounded by the size checks of _chat_environment)."""
    from jinja2.exceptions import SecurityError

    deadline = time.monotonic() + RENDER_SECONDS
    lines = 0

    def in_template(frame: Any, event: str, arg: Any) -> Any:
        nonlocal lines
        lines += 1
        if not lines & 1023 and time.monotonic() > deadline:
            raise SecurityError(f"the chat template runs longer than {RENDER_SECONDS:g} s (a loop that never ends?)")
        return in_template

    previous = sys.gettrace()
    sys.settrace(in_template)
    try:
        parts: list[str] = []
        total = 0
        for chunk in template.generate(**context):
            total += len(chunk)
            if total > MAX_RENDERED_CHARS:
                raise ValueError(f"the chat template's output is longer than {MAX_RENDERED_CHARS} characters")
            parts.append(chunk)
        return "".join(parts)
    finally:
        sys.settrace(previous)


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
        self.bos_token = self._special(cfg_path, "bos_token")
        self.eos_token = self._special(cfg_path, "eos_token")
        add_bos = self.config.get("add_bos_token", False)
        if not isinstance(add_bos, bool) and add_bos is not None:
            raise CheckpointError(cfg_path, f"add_bos_token must be true or false, not {_shown(add_bos)}")
        self.add_bos_token = bool(add_bos)
        self.chat_template: str | None = self._template(cfg_path)
        self._compiled_template: Any = None
        self.supports_system = False  # whether the template accepts a system message
        if self.chat_template is not None:
            self._check_chat_template(cfg_path)

    def _special(self, cfg_path: Path, key: str) -> str | None:
        """A special-token field: a string, {"content": string, ...} (an AddedToken) or null."""
        value = self.config.get(key)
        if value is None or isinstance(value, str) or isinstance(value, dict) and isinstance(value.get("content"), str):
            return _token_text(value)
        raise CheckpointError(cfg_path, f'{key} must be a token string or {{"content": "..."}}, not {_shown(value)}')

    def _template(self, cfg_path: Path) -> str | None:
        """chat_template: a string, or the named form [{"name": ..., "template": ...}] ("default")."""
        template = self.config.get("chat_template")
        if template is None or isinstance(template, str):
            return template
        if isinstance(template, list):
            named: dict[str, Any] = {}
            for t in template:
                if not (isinstance(t, dict) and isinstance(t.get("name"), str)):
                    raise CheckpointError(cfg_path, 'chat_template as a list must hold {"name": ..., "template": ...} '
                                          f"objects, not {_shown(t)}")
                named[t["name"]] = t.get("template")
            default = named.get("default")
            if default is None or isinstance(default, str):
                return default
            raise CheckpointError(cfg_path, f"chat_template 'default' must be a string, not {_shown(default)}")
        raise CheckpointError(cfg_path, f"chat_template must be a string or a list of named templates, "
                              f"not {_shown(template)}")

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
                    cfg_path, f"chat_template reaches outside the jinja2 sandbox or past its limits, refused: {exc}"
                ) from exc
            except Exception as exc:  # noqa: BLE001 - a template may raise anything
                raise CheckpointError(cfg_path, f"chat_template fails on {what}: {type(exc).__name__}: {exc}") from exc
        try:
            self._render(_TRIAL_SYSTEM, True)
            self.supports_system = True
        except SecurityError as exc:
            raise CheckpointError(
                cfg_path, f"chat_template reaches outside the jinja2 sandbox or past its limits, refused: {exc}"
            ) from exc
        except Exception:  # noqa: BLE001 - a template that refuses system messages: no system prompt
            self.supports_system = False

    def _render(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> str:
        return _render_bounded(self._compiled_template, dict(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token or "",
            eos_token=self.eos_token or "",
        ))

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
