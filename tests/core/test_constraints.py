"""Word constraints (issue 15; core/constraints.py): the LLaDA demo's "pos:word, pos:word",
through GenerationParams, both engines, the command line, the run file and the server's params."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from llada_studio.core.cli import main
from llada_studio.core.constraints import ConstraintError, constraint_ids, parse_constraints
from llada_studio.core.params import GenerationParams, ParamError
from llada_studio.core.run_file import RunRecord, record_run
from llada_studio.core.session import Session

pytest.importorskip("torch")
PARAMS = GenerationParams(
    max_steps=16, gen_length=16, block_length=8, constraints="0:Once, 5:upon, 12:antidisestablishment"
)


@pytest.fixture(scope="module")
def sessions() -> dict[str, Session]:
    return {kind: Session.open(engine=kind, threads=2) for kind in ("cpp", "torch")}


def test_parse_the_demo_syntax() -> None:
    assert parse_constraints("0:Once, 5:upon") == ((0, "Once"), (5, "upon"))
    assert parse_constraints(" 3 : a b ,") == ((3, "a b"),)
    assert parse_constraints("") == () and parse_constraints(" , ") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0Once", "is not pos:word"),
        ("x:Once", "must be a whole number"),
        ("-1:Once", "must be a whole number"),
        ("3:", "has no word"),
        ("3:a, 3:b", "position 3 is given twice"),
    ],
)
def test_bad_syntax_says_what_to_change(text: str, message: str) -> None:
    with pytest.raises(ParamError, match=message) as info:
        GenerationParams(constraints=text)
    assert info.value.name == "constraints" and "--constraints" in info.value.describe("flag")


def test_words_are_tokenized_with_a_leading_space_and_fill_following_positions(sessions) -> None:  # type: ignore[no-untyped-def]
    tok = sessions["cpp"].tokenizer
    placed = constraint_ids(tok, "0:Once, 5:upon, 8:antidisestablishment", 16)
    long = tok.encode(" antidisestablishment", add_bos=False)
    assert placed[0] == tok.encode(" Once", add_bos=False)[0] and placed[5] == tok.encode(" upon", add_bos=False)[0]
    assert [placed[8 + i] for i in range(len(long))] == long and len(long) > 1
    with pytest.raises(ConstraintError, match=r"past the answer's last position \(15\)"):
        constraint_ids(tok, "12:antidisestablishment", 16)
    with pytest.raises(ConstraintError, match="overlaps"):
        constraint_ids(tok, "3:antidisestablishment, 5:upon", 16)


def _pinned(session: Session, params: GenerationParams) -> dict[int, int]:
    return constraint_ids(session.tokenizer, params.constraints, params.gen_length)


@pytest.mark.parametrize(
    "extra",
    [dict(), dict(cfg_scale=1.0), dict(decoding="threshold", threshold=0.5), dict(cache="dual", block_length=4)],
    ids=["plain", "cfg", "threshold", "dual_cache"],
)
def test_constraints_hold_at_every_step_and_engines_agree(sessions, extra) -> None:  # type: ignore[no-untyped-def]
    params = PARAMS.with_(temperature=0.0, constraints="0:Once, 5:upon, 9:antidisestablishment", **extra)
    runs = {}
    for kind, s in sessions.items():
        ids = s.encode("It was a bright cold day")
        result = s.generate_ids([ids], params)
        pinned = _pinned(s, params)
        canvas = dict(enumerate(result.answer_init[0]))
        assert {p: canvas[p] for p in pinned} == pinned and result.prompt_positions[0] == tuple(sorted(pinned))
        for e in result.trajectory:  # no step writes a pinned position; the canvas keeps them
            assert not set(e.positions[0]) & set(pinned), (kind, e.step)
            canvas.update(zip(e.positions[0], e.tokens[0]))
            assert all(canvas[p] == t for p, t in pinned.items())
        assert all(result.generated_ids[0][p] == t for p, t in pinned.items())
        assert " Once" in result.texts[0] and "upon" in result.texts[0]
        runs[kind] = result
    assert runs["cpp"].generated_ids == runs["torch"].generated_ids
    assert [e.positions for e in runs["cpp"].trajectory] == [e.positions for e in runs["torch"].trajectory]


def test_cli_run_file_round_trip_and_replay_from_step_0(tmp_path: Path) -> None:
    out = io.StringIO()
    args = ["generate", "It was", "--steps", "16", "--gen-length", "16", "--block-length", "8", "--json"]
    assert main([*args, "--constraints", "0:Once, 5:upon"], out) == 0
    path = tmp_path / "run.json"
    path.write_text(out.getvalue(), encoding="utf-8")
    raw = json.loads(out.getvalue())
    assert raw["params"]["constraints"] == "0:Once, 5:upon" and raw["prompt_positions"] == [0, 5]
    record = RunRecord.load(path)
    assert record.params.constraints == "0:Once, 5:upon"
    assert RunRecord.from_json(record.to_json()) == record
    step0 = io.StringIO()
    assert main(["replay", str(path), "--step", "0"], step0) == 0
    assert "Once" in step0.getvalue() and "upon" in step0.getvalue() and "░" in step0.getvalue()


def test_cli_refuses_a_word_past_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["generate", "It was", "--steps", "8", "--gen-length", "8", "--block-length", "8"]
    assert main([*args, "--constraints", "7:antidisestablishment"]) == 2
    err = capsys.readouterr().err
    assert "--constraints" in err and "past the answer's last position (7)" in err and "Traceback" not in err


def test_server_params_carry_constraints() -> None:
    pytest.importorskip("pydantic")
    from llada_studio.core.server.client import params_body
    from llada_studio.core.server.schemas import CompletionRequest

    body = params_body(PARAMS)
    assert body["constraints"] == PARAMS.constraints
    req = CompletionRequest(model="m", prompt="x", **body)
    assert req.to_params()[0].constraints == PARAMS.constraints


def test_record_keeps_the_starting_canvas(sessions) -> None:  # type: ignore[no-untyped-def]
    s = sessions["cpp"]
    ids = s.encode("Hello")
    params = PARAMS.with_(constraints="2:upon")
    rec = record_run(s, "Hello", ids, params, s.generate_ids([ids], params))
    assert rec.answer_init[2] == s.word_ids("upon")[0] and rec.canvas_ids_at(0)[2] == rec.answer_init[2]
    assert rec.canvas_ids_at(0).count(None) == 15


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_view_shows_pinned_words_from_step_0() -> None:
    out = _Tty()
    args = ["generate", "It was", "--steps", "8", "--gen-length", "8", "--block-length", "8"]
    assert main([*args, "--constraints", "3:upon"], out) == 0
    plain = out.getvalue().replace("\x1b[2m", "").replace("\x1b[0m", "")  # the dimmed prompt
    first = plain.split("\x1b[")[0]  # the frame drawn before the first step
    assert "step 0/8" in first and "upon" in first and "░" in first


def test_with_constraint_edits_the_list() -> None:
    from llada_studio.core.constraints import with_constraint

    assert with_constraint("", 5, "upon") == "5:upon"
    assert with_constraint("5:upon, 0:Once", 5, "a time") == "0:Once, 5:a time"
    assert with_constraint("0:Once, 5:upon", 0, None) == "5:upon"
    with pytest.raises(ConstraintError, match="comma"):
        with_constraint("", 1, "a,b")
