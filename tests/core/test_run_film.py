"""The reveal as a film: a GIF frame per step, a self-contained HTML page."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from llada_studio.core.cli import main  # noqa: E402
from llada_studio.core.run_file import RunRecord  # noqa: E402


def test_the_gif_has_one_frame_per_step(saved_run, tmp_path):  # noqa: ANN001
    gif = tmp_path / "film.gif"
    assert main(["replay", str(saved_run), "--export", str(gif)]) == 0
    im = Image.open(gif)
    assert im.n_frames == 8 + 1  # the all-masked start, then every step
    first, last = im.convert("RGB"), None
    im.seek(8)
    last = im.convert("RGB")
    assert first.tobytes() != last.tobytes()


def test_the_html_page_holds_every_step_and_escapes_the_text(saved_run, tmp_path):  # noqa: ANN001
    raw = json.loads(saved_run.read_text(encoding="utf-8"))
    raw["token_texts"][0] = "</script><b>x"  # a token text must not end the page's script
    saved_run.write_text(json.dumps(raw), encoding="utf-8")
    page = tmp_path / "film.html"
    assert main(["replay", str(saved_run), "--export", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.count("</script>") == 1 and "<\\/script><b>x" in text
    data = json.loads(re.search(r"const run = (\{.*?\});\n", text).group(1).replace("<\\/", "</"))
    assert len(data["steps"]) == 8 and data["n"] == 16
    assert sorted(p for s in data["steps"] for p in s["p"]) == list(range(16))
    assert RunRecord.load(saved_run).gen_length == 16


def test_an_unknown_film_type_is_refused(saved_run, tmp_path, capsys):  # noqa: ANN001
    assert main(["replay", str(saved_run), "--export", str(tmp_path / "film.mp4")]) == 2
    assert "choose a .gif or .html" in capsys.readouterr().err
