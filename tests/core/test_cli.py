from __future__ import annotations

import io
import json

import pytest

pytest.importorskip("torch")

from core.cli import main  # noqa: E402

ARGS = ["--engine", "torch", "--steps", "8", "--gen-length", "16", "--block-length", "8"]


def test_json_output(tiny_model):
    out = io.StringIO()
    assert (
        main(
            [
                "generate",
                "hello world",
                "--model",
                str(tiny_model),
                *ARGS,
                "--json",
                "--seed",
                "4",
                "--temperature",
                "0.5",
            ],
            out,
        )
        == 0
    )
    data = json.loads(out.getvalue())
    for key in ("prompt_ids", "generated_ids", "text", "params", "trajectory", "timings"):
        assert key in data
    assert len(data["generated_ids"]) == 16 and len(data["trajectory"]) == 8
    step = data["trajectory"][0]
    assert set(step) >= {"block", "step", "positions", "tokens", "confidences"}
    assert data["params"]["temperature"] == 0.5 and data["params"]["seed"] == 4 and data["params"]["mask_id"] == 3
    # the trajectory rebuilds the generated ids
    rebuilt = [None] * 16
    for s in data["trajectory"]:
        for p, t in zip(s["positions"], s["tokens"]):
            rebuilt[p] = t
    assert rebuilt == data["generated_ids"]


def test_prompt_ids_and_chat(tiny_model):
    out = io.StringIO()
    assert main(["generate", "--prompt-ids", "5,6,7", "--model", str(tiny_model), *ARGS, "--json"], out) == 0
    assert json.loads(out.getvalue())["prompt_ids"] == [5, 6, 7]
    out = io.StringIO()
    assert main(["generate", "hello", "--chat", "--model", str(tiny_model), *ARGS, "--json"], out) == 0
    assert json.loads(out.getvalue())["prompt_ids"][0] == 0  # the template's BOS


def test_plain_output_when_not_a_terminal(tiny_model):
    out = io.StringIO()
    assert main(["generate", "hello", "--model", str(tiny_model), *ARGS], out) == 0
    assert out.getvalue().strip() != "" and "░" not in out.getvalue()


def test_errors_are_clear(tiny_model, tmp_path, capsys):
    assert (
        main(
            [
                "generate",
                "hello",
                "--model",
                str(tiny_model),
                "--steps",
                "7",
                "--gen-length",
                "16",
                "--block-length",
                "8",
            ]
        )
        == 2
    )
    assert "nearest valid step counts: [6, 8]" in capsys.readouterr().err
    assert main(["generate", "hello", "--model", str(tmp_path)]) == 2
    assert "config.json is missing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "hello", "--remasking", "nope"])
    with pytest.raises(SystemExit):
        main(["generate", "--prompt-ids", "a,b"])
