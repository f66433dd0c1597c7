"""The checkpoint's tokenizer: `tokenizer.json` through `tokenizers`, the chat template through
jinja2 (sandboxed, as Hugging Face renders it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import CheckpointError

# Names of special tokens in LLaDA's vocabulary; a checkpoint may name others in its config.
MASK_TOKEN = "<|mdm_mask|>"
EOT_TOKEN = "<|eot_id|>"


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


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

    def apply_chat_template(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str:
        if self.chat_template is None:
            raise ValueError("this checkpoint has no chat_template in tokenizer_config.json; use plain prompts")
        if self._compiled_template is None:
            from jinja2.exceptions import TemplateError
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            def raise_exception(message: str) -> None:
                raise TemplateError(message)

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            env.globals["raise_exception"] = raise_exception
            self._compiled_template = env.from_string(self.chat_template)
        return str(
            self._compiled_template.render(
                messages=list(messages),
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token or "",
                eos_token=self.eos_token or "",
            )
        )

    def encode_chat(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Chat prompt ids. The template emits BOS itself, so none is added here."""
        return self.encode(self.apply_chat_template(messages, add_generation_prompt=True), add_bos=False)
