"""The models library lists GGUF files beside checkpoint folders (issue 14: the library knows the
quantized formats): the format, chat support and size from the file's metadata; a broken file is
listed with its problem, never a failed listing."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("gguf")

from llada_studio.core.checkpoint import load_checkpoint  # noqa: E402
from llada_studio.core.checkpoint_writer import random_checkpoint  # noqa: E402
from llada_studio.core.cli_quantize import quantize_checkpoint  # noqa: E402
from llada_studio.core.model_library import list_models  # noqa: E402


def test_gguf_files_are_listed_with_their_format(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    src = random_checkpoint(lib / "tiny-chat")
    quantize_checkpoint(src, lib / "tiny-chat-Q8_0.gguf", "q8_0")
    (lib / "sub").mkdir()
    quantize_checkpoint(src, lib / "sub" / "tiny-Q4_0.gguf", "q4_0")
    (lib / "junk.gguf").write_bytes(b"GGUF but not really")
    entries = {e.name: e for e in list_models(lib)}
    q8, q4, junk = entries["tiny-chat-Q8_0"], entries["tiny-Q4_0"], entries["junk"]
    assert (q8.dtype, q4.dtype) == ("q8_0", "q4_0") and q8.problem is None and q4.problem is None
    assert q8.has_chat_template and q8.size_bytes == (lib / "tiny-chat-Q8_0.gguf").stat().st_size
    assert junk.problem and "not a readable GGUF" in junk.problem
    assert entries["tiny-chat"].dtype  # the folder itself is still listed
    assert load_checkpoint(q8.path).config.n_layers == load_checkpoint(src).config.n_layers  # and it opens
