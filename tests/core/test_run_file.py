"""One run format: what `generate --json` prints is a run file that reads back, replays in the
terminal, and refuses clearly when it is not one."""

from __future__ import annotations

import io
import json

import pytest

pytest.importorskip("torch")

from llada_studio.core.cli import main  # noqa: E402
from llada_studio.core.run_file import RUN_FORMAT, RunFileError, RunRecord  # noqa: E402


def test_the_cli_json_is_a_run_file_that_reads_back(saved_run):  # noqa: ANN001
    raw = json.loads(saved_run.read_text(encoding="utf-8"))
    assert raw["format"] == RUN_FORMAT
    rec = RunRecord.load(saved_run)
    assert list(rec.generated_ids) == raw["generated_ids"] and len(rec.trajectory) == 8
    assert rec.prompt == "hello world" and rec.params.gen_length == 16 and len(rec.token_texts) == 16
    assert rec.to_json()["generated_ids"] == raw["generated_ids"]
    assert rec.to_json()["trajectory"] == raw["trajectory"]


def test_replay_prints_any_step_without_a_model(saved_run, capsys):  # noqa: ANN001
    out = io.StringIO()
    assert main(["replay", str(saved_run), "--step", "0"], out) == 0
    assert out.getvalue().count("░") == 16
    full = io.StringIO()
    assert main(["replay", str(saved_run), "--step", "8"], full) == 0
    assert "░" not in full.getvalue() and full.getvalue().startswith("hello world")
    played = io.StringIO()
    assert main(["replay", str(saved_run)], played) == 0  # not a terminal: the last frame once
    assert played.getvalue().splitlines()[1] == full.getvalue().rstrip("\n")
    assert main(["replay", str(saved_run), "--step", "99"]) == 2
    assert "--step 99 is outside the run (0..8)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("not json", "not JSON"),
        ('{"format": "something/2"}', "is not a run file"),
        ("[1, 2]", "is not a run file"),
    ],
)
def test_files_that_are_not_runs_are_refused_clearly(tmp_path, capsys, content, words):  # noqa: ANN001
    p = tmp_path / "x.json"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(RunFileError, match=words):
        RunRecord.load(p)
    assert main(["replay", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "Traceback" not in err


def test_a_damaged_run_names_the_field(saved_run):  # noqa: ANN001
    raw = json.loads(saved_run.read_text(encoding="utf-8"))
    raw["trajectory"][3]["positions"][0] = 99
    saved_run.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(RunFileError, match=r"trajectory\[3\]: a position is outside"):
        RunRecord.load(saved_run)
    raw["generated_ids"] = raw["generated_ids"][:5]
    saved_run.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(RunFileError, match="generated_ids has 5 ids"):
        RunRecord.load(saved_run)
