"""Pure text-cleaning functions (no I/O), tested in tests/core/test_training_clean.py."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"[ \t]+")


def normalize(text: str) -> str:
    """NFC, no BOM, Unix newlines, no trailing spaces, ASCII-friendly punctuation."""
    text = unicodedata.normalize("NFC", text).replace("\ufeff", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for a, b in (
        ("\u2018", "'"),
        ("\u2019", "'"),
        ("\u201c", '"'),
        ("\u201d", '"'),
        ("\u2014", "--"),
        ("\u2013", "-"),
        ("\u00a0", " "),
    ):
        text = text.replace(a, b)
    return text


def unwrap_paragraphs(lines: list[str]) -> list[str]:
    """Hard-wrapped lines -> paragraphs (blank lines separate paragraphs)."""
    paras: list[str] = []
    cur: list[str] = []
    for line in lines:
        s = line.strip()
        if not s:
            if cur:
                paras.append(_WS.sub(" ", " ".join(cur)))
                cur = []
            continue
        cur.append(s)
    if cur:
        paras.append(_WS.sub(" ", " ".join(cur)))
    return paras


def strip_italics(text: str) -> str:
    """Gutenberg `_italic_` marks -> plain words."""
    return re.sub(r"(?<![A-Za-z0-9])_([^_]+?)_(?![A-Za-z0-9])", r"\1", text).replace("_", "")


def strip_gutenberg(text: str) -> str:
    """Cut the Project Gutenberg header (up to the START line) and footer (from the END line)."""
    start = re.search(r"\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG[^\n]*\n", text)
    if start:
        text = text[start.end() :]
    end = re.search(r"(\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg)", text)
    if end:
        text = text[: end.start()]
    return text


_HEADING = re.compile(
    r"^(CHAPTER|Chapter|VOLUME|Volume|BOOK|PART)\b[\s\dIVXLCivxlc.:]*\S{0,40}$|^[IVXLC]+\.?$|^\d+\.?$"
)


def is_heading(para: str) -> bool:
    """Chapter/volume headings, roman numerals, short all-capital lines ("THE END")."""
    p = para.strip()
    if p.lower() in ("finis", "the end"):
        return True
    if p.startswith(('"', "'")):
        return False  # a quoted line in capitals: the salutation or signature of a letter
    if _HEADING.match(p):
        return True
    letters = [c for c in p if c.isalpha()]
    return bool(letters) and len(p) < 60 and all(c.isupper() for c in letters) and len(letters) >= 2


def split_chapters(lines: list[str], pattern: str) -> list[list[str]]:
    """Split a book (list of lines) at lines matching `pattern`; text before the first is dropped."""
    rx = re.compile(pattern)
    chapters: list[list[str]] = []
    cur: list[str] | None = None
    for line in lines:
        if rx.match(line.strip()):
            if cur is not None:
                chapters.append(cur)
            cur = []
            continue
        if cur is not None:
            cur.append(line)
    if cur is not None:
        chapters.append(cur)
    return chapters


def clean_paragraphs(lines: list[str]) -> list[str]:
    paras = []
    for p in unwrap_paragraphs(lines):
        p = strip_italics(p).strip()
        if not p or is_heading(p):
            continue
        paras.append(p)
    return paras


# ---- Brown corpus: word/TAG tokens -> ordinary text ------------------------------------------

_NO_SPACE_BEFORE = {".", ",", ";", ":", "!", "?", ")", "]", "}", "%", "'s", "n't", "'", "''", "..."}
_NO_SPACE_AFTER = {"(", "[", "{", "$", "``"}
_PUNCT = {".", ",", ";", ":", "!", "?"}


def brown_words(line: str) -> list[str]:
    """`The/at dog/nn ./.` -> ['The', 'dog', '.'] (the tag is after the last slash)."""
    words = []
    for tok in line.split():
        word = tok.rsplit("/", 1)[0] if "/" in tok[1:] else tok
        if word:
            words.append(word)
    return words


def detokenize(words: list[str]) -> str:
    """Join Penn/Brown-style tokens into normal text: `` '' -> straight double quotes,
    no space before punctuation, sentence punctuation moved inside a closing quote, doubled
    punctuation tokens (a quirk of this corpus: `! !`) collapsed."""
    # collapse doubled punctuation
    toks: list[str] = []
    for w in words:
        if toks and w in _PUNCT and toks[-1] == w:
            continue
        if toks and w == "." and len(toks[-1]) > 1 and toks[-1].endswith("."):
            continue  # "Jr." followed by the sentence's period
        toks.append(w)
    # move . , ! ? before a closing quote:  word '' .  ->  word . ''
    i = 0
    while i < len(toks) - 1:
        if toks[i] == "''" and toks[i + 1] in {".", ",", "!", "?"}:
            toks[i], toks[i + 1] = toks[i + 1], toks[i]
            i += 2
            continue
        i += 1
    out: list[str] = []
    no_space_next = True
    open_single = False
    for w in toks:
        if w == "``":
            text, space = '"', not no_space_next
            no_space_next = True
        elif w == "''":
            text, space = '"', False
            no_space_next = False
        elif w == "--":
            text, space = "--", False
            no_space_next = True
        elif w == "'":
            # a lone single quote: opening if the previous one was closed
            if open_single:
                text, space = "'", False
                no_space_next = False
            else:
                text, space = "'", not no_space_next
                no_space_next = True
            open_single = not open_single
        else:
            text = w
            space = not no_space_next and w not in _NO_SPACE_BEFORE
            no_space_next = w in _NO_SPACE_AFTER
        if space and out:
            out.append(" ")
        out.append(text)
    return "".join(out).strip()


def brown_paragraphs(raw: str) -> list[str]:
    """A Brown file: paragraphs separated by blank lines, one tagged sentence per line."""
    paras = []
    for block in re.split(r"\n\s*\n", raw):
        sentences = [detokenize(brown_words(line)) for line in block.split("\n") if line.strip()]
        text = " ".join(s for s in sentences if s)
        if text:
            paras.append(text)
    return paras
