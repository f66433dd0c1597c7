"""Infilling (issue 15; core/infill.py): [MASK*N] blanks, the model fills only them."""

from __future__ import annotations

import io
import json

import pytest

from llada_studio.core.cli import main
from llada_studio.core.infill import parse_infill, plan_infill
from llada_studio.core.params import recommended_params
from llada_studio.core.session import Session

pytest.importorskip("torch")
TEXT = "It was a [MASK*6] morning, and [MASK*5]. The [MASK] came back."


@pytest.fixture(scope="module")
def sessions() -> dict[str, Session]:
    return {kind: Session.open(engine=kind, threads=2) for kind in ("cpp", "torch")}


def test_parse_and_plan(sessions) -> None:  # type: ignore[no-untyped-def]
    t = parse_infill(TEXT)
    assert t.prompt == "It was a" and t.pieces == (6, " morning, and", 5, ". The", 1, " came back.")
    assert t.blank_tokens == 12
    tok = sessions["cpp"].tokenizer
    plan = plan_infill(tok, t, 3)
    assert plan.prompt_ids == tuple(tok.encode("It was a"))
    assert plan.blanks[0] == (0, 6) and plan.answer_init[:6] == (3,) * 6
    a, b = plan.blanks[0][1], plan.blanks[1][0]
    assert plan.answer_init[a:b] == tuple(tok.encode(" morning, and", add_bos=False))


@pytest.mark.parametrize(
    ("text", "message"),
    [("no blanks here", "has no blank"), ("a [MASK*0] b", "holds 1 to"), ("a [MASK*x] b", "is not a blank")],
)
def test_bad_templates(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_infill(text)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_fills_only_the_blanks_in_both_engines(sessions, temperature: float) -> None:  # type: ignore[no-untyped-def]
    params = recommended_params().with_(temperature=temperature, logits_eos_inf=True, seed=4)
    out = {}
    for kind, s in sessions.items():
        r = s.infill(TEXT, params)
        plan = plan_infill(s.tokenizer, parse_infill(TEXT), s.checkpoint.mask_id)
        ids = r.result.generated_ids[0]
        blank = {p for a, b in r.blanks for p in range(a, b)}
        written = [p for p in range(len(ids)) if p not in blank]
        assert [ids[p] for p in written] == [plan.answer_init[p] for p in written]  # never changed
        for e in r.result.trajectory:
            assert set(e.positions[0]) <= blank
        assert s.checkpoint.mask_id not in ids
        assert r.params.max_steps == 12 and r.params.block_length == r.params.gen_length == len(ids)
        assert r.text.startswith("It was a") and r.text.endswith(" came back.") and " morning, and" in r.text
        assert [r.text[a:b] for a, b in r.spans] == list(r.blank_texts)
        assert r.result.answer_init[0] == plan.answer_init
        out[kind] = ids
    if temperature == 0:
        assert out["cpp"] == out["torch"]


def test_a_text_that_opens_with_a_blank(sessions) -> None:  # type: ignore[no-untyped-def]
    r = sessions["cpp"].infill("[MASK*3] was the best of times.", steps=3)
    assert r.prompt_ids == (sessions["cpp"].tokenizer.bos_id,) and r.text.endswith(" was the best of times.")
    assert r.spans[0][0] == 0 and not r.text[0].isspace()


def test_cli_infill_prints_the_filled_text_and_json() -> None:
    out = io.StringIO()
    assert main(["infill", "It was a [MASK*4] morning.", "--seed", "1"], out) == 0
    assert out.getvalue().startswith("It was a") and out.getvalue().rstrip().endswith("morning.")
    js = io.StringIO()
    assert main(["infill", "It was a [MASK*4] morning.", "--json", "--temperature", "0"], js) == 0
    raw = json.loads(js.getvalue())
    assert raw["blanks"][0]["positions"] == [0, 4] and raw["format"] == "llada-studio.run/1"
    a, b = raw["blanks"][0]["span"]
    assert raw["filled_text"][a:b] == raw["blanks"][0]["text"] and len(raw["answer_init"]) == 6


def test_cli_infill_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infill", "nothing to fill"]) == 2
    assert "[MASK*N]" in capsys.readouterr().err
    assert main(["infill", "x [MASK*4] y", "--block-length", "3"]) == 2
    assert "--block-length" in capsys.readouterr().err
