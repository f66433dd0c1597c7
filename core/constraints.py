"""Word constraints, as the LLaDA demo (its app.py) defines them: "pos:word, pos:word".

`pos` counts from the start of the answer (0 = its first token). Each word is tokenized with a
leading space (" " + word, no special tokens); a word of several tokens fills pos, pos+1, ...
The tokens are written into the answer canvas before the run and count as prompt under
classifier-free guidance; the sampler never changes them (core/answer_init.py). The demo drops
what it cannot read; here a malformed list, a word past the answer's end or two words on one
position is an error saying what to change. A word cannot hold a comma (the list's separator).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

EXAMPLE = "0:Once, 5:upon"


class ConstraintError(ValueError):
    """A constraint list that cannot be used. `template` names the parameter as `{0}` (the
    ParamError convention: --constraints on the command line, constraints in the API)."""

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(template.format("constraints"))


def _quote(text: str) -> str:
    """User text inside a format template (braces escaped)."""
    return repr(text).replace("{", "{{").replace("}", "}}")


def parse_constraints(text: str) -> tuple[tuple[int, str], ...]:
    """'0:Once, 5:upon' -> ((0, 'Once'), (5, 'upon')), in the order written; an empty list (or
    only spaces and commas) -> ()."""
    out: list[tuple[int, str]] = []
    seen: dict[int, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        pos_text, sep, word = part.partition(":")
        if not sep:
            raise ConstraintError(f"{{0}}: {_quote(part)} is not pos:word; write them as {EXAMPLE!r}")
        pos_text, word = pos_text.strip(), word.strip()
        if not pos_text.isdigit():
            raise ConstraintError(
                f"{{0}}: the position in {_quote(part)} must be a whole number >= 0 (counted from the "
                f"answer's first token), as in {EXAMPLE!r}"
            )
        if not word:
            raise ConstraintError(f"{{0}}: {_quote(part)} has no word after the colon; write pos:word")
        pos = int(pos_text)
        if pos in seen:
            raise ConstraintError(
                f"{{0}}: position {pos} is given twice ({_quote(seen[pos])} and {_quote(word)}); keep one"
            )
        seen[pos] = word
        out.append((pos, word))
    return tuple(out)


def format_constraints(pairs: Sequence[tuple[int, str]]) -> str:
    """((0, 'Once'), (5, 'upon')) -> '0:Once, 5:upon' (by position)."""
    return ", ".join(f"{pos}:{word}" for pos, word in sorted(pairs))


def with_constraint(text: str, pos: int, word: str | None) -> str:
    """The list `text` with `word` pinned at answer position `pos` (replacing what was pinned
    there; None or '' unpins it): what a click on a canvas cell makes of params.constraints."""
    kept = [(p, w) for p, w in parse_constraints(text) if p != pos]
    if word and word.strip():
        if "," in word:
            raise ConstraintError(f"{{0}}: {_quote(word)}: a pinned word cannot hold a comma")
        kept.append((pos, word.strip()))
    return format_constraints(kept)


class _Encoder(Protocol):
    def encode(self, text: str, add_bos: bool | None = None) -> list[int]: ...


def word_ids(tokenizer: _Encoder, word: str) -> list[int]:
    """A word's tokens as the demo writes them: " " + word, no special tokens."""
    return list(tokenizer.encode(" " + word, add_bos=False))


def constraint_ids(tokenizer: _Encoder, text: str, gen_length: int) -> dict[int, int]:
    """Answer position -> token id of every pinned token; errors for a word that runs past the
    answer's last position (gen_length - 1) or that overlaps another word's tokens."""
    placed: dict[int, int] = {}
    owner: dict[int, str] = {}
    for pos, word in parse_constraints(text):
        ids = word_ids(tokenizer, word)
        if not ids:
            raise ConstraintError(f"{{0}}: {_quote(word)} has no tokens; give a word")
        last = pos + len(ids) - 1
        if last >= gen_length:
            where = f"position {pos}" if len(ids) == 1 else f"positions {pos}..{last} ({len(ids)} tokens)"
            raise ConstraintError(
                f"{{0}}: {_quote(word)} at {where} lies past the answer's last position ({gen_length - 1}); "
                f"move it to {max(0, gen_length - len(ids))} or before, or generate more tokens"
            )
        for i, t in enumerate(ids):
            if pos + i in placed:
                raise ConstraintError(
                    f"{{0}}: {_quote(word)} at {pos} ({len(ids)} tokens) overlaps {_quote(owner[pos + i])} at "
                    f"position {pos + i}; move one of them"
                )
            placed[pos + i] = t
            owner[pos + i] = word
    return placed


def pin(canvas: Sequence[int], placed: dict[int, int], mask_id: int) -> list[int]:
    """The answer canvas with the pinned tokens written in; a pinned position the canvas already
    gives another token is an error (constraints over an infill text, for example)."""
    out = list(canvas)
    for pos, tok in placed.items():
        if out[pos] != mask_id and out[pos] != tok:
            raise ConstraintError(f"{{0}}: position {pos} is already given (token {out[pos]}); move the word")
        out[pos] = tok
    return out
