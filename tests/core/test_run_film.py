"""The reveal as a film: a GIF frame per step, a self-contained HTML page."""

from __future__ import annotations

import io
import json
import re

import pytest

pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from core.cli import main  # noqa: E402
from core.run_file import RunRecord  # noqa: E402

ARGS = ["--engine", "torch", "--steps", "8", "--gen-length", "16", "--block-length", "8", "--temperature", "0"]


@pytest.fixture
def record_path(tiny_model, tmp_path):  # noqa: ANN001, ANN201
    out = io.StringIO()
    assert main(["generate", "hello world", "--model", str(tiny_model), *ARGS, "--json"], out) == 0
    path = tmp_path / "run.json"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_the_gif_has_one_frame_per_step(record_path, tmp_path):  # noqa: ANN001
    gif = tmp_path / "film.gif"
    assert main(["replay", str(record_path), "--export", str(gif)]) == 0
    im = Image.open(gif)
    assert im.n_frames == 8 + 1  # the all-masked start, then every step
    first, last = im.convert("RGB"), None
    im.seek(8)
    last = im.convert("RGB")
    assert first.tobytes() != last.tobytes()


def test_the_html_page_holds_every_step_and_escapes_the_text(record_path, tmp_path):  # noqa: ANN001
    raw = json.loads(record_path.read_text(encoding="utf-8"))
    raw["token_texts"][0] = "</script><b>x"  # a token text must not end the page's script
    record_path.write_text(json.dumps(raw), encoding="utf-8")
    page = tmp_path / "film.html"
    assert main(["replay", str(record_path), "--export", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.count("</script>") == 1 and "<\\/script><b>x" in text
    data = json.loads(re.search(r"const run = (\{.*?\});\n", text).group(1).replace("<\\/", "</"))
    assert len(data["steps"]) == 8 and data["n"] == 16
    assert sorted(p for s in data["steps"] for p in s["p"]) == list(range(16))
    assert RunRecord.load(record_path).gen_length == 16


def test_an_unknown_film_type_is_refused(record_path, tmp_path, capsys):  # noqa: ANN001
    assert main(["replay", str(record_path), "--export", str(tmp_path / "film.mp4")]) == 2
    assert "choose a .gif or .html" in capsys.readouterr().err
