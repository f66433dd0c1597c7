from __future__ import annotations

import io
import json

import pytest

pytest.importorskip("torch")

from llada_studio.core.cli import main  # noqa: E402

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


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ctrl_c_prints_the_partial_text_and_exits_130(tiny_model, monkeypatch, capsys):
    """Ctrl+C during the live view: no traceback, the partial text, "stopped after k of n", 130."""
    import os
    import signal

    from llada_studio.core.session import Session

    original = Session.generate_ids

    def interrupted(self, prompts, params, on_step=None, cancel=None):
        def step(event):
            if on_step is not None:
                on_step(event)
            if event.step == 2:
                os.kill(os.getpid(), signal.SIGINT)  # what the terminal sends on Ctrl+C

        return original(self, prompts, params, step, cancel)

    monkeypatch.setattr(Session, "generate_ids", interrupted)
    out = _Tty()
    assert main(["generate", "hello", "--model", str(tiny_model), *ARGS], out) == 130
    text = out.getvalue()
    assert "stopped after 2 of 8 steps" in text and "still masked, shown as ░" in text
    assert "Traceback" not in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_live_view_prints_the_text_once_with_the_prompt(tiny_model):
    out = _Tty()
    assert main(["generate", "Once upon", "--model", str(tiny_model), *ARGS, "--temperature", "0"], out) == 0
    frames = out.getvalue().split("\x1b[J")
    last = frames[-1]
    # the final frame holds the prompt and the text once, then only the summary line
    assert last.count("Once upon") == 1 and last.rstrip("\n").splitlines()[-1].startswith("[8 steps, 8 forward passes")
    piped = io.StringIO()
    assert main(["generate", "Once upon", "--model", str(tiny_model), *ARGS, "--temperature", "0"], piped) == 0
    body = piped.getvalue().rstrip("\n")
    answer = io.StringIO()
    assert main(["generate", "Once upon", "--model", str(tiny_model), *ARGS, "--temperature", "0", "--answer-only"],
                answer) == 0
    assert body.startswith("Once upon") and not answer.getvalue().startswith((" ", "Once upon"))


def test_usage_errors_exit_2_and_name_the_option(tiny_model, capsys):
    assert main(["generate", "--model", str(tiny_model)]) == 2  # no prompt at all
    assert "give a PROMPT" in capsys.readouterr().err
    assert main(["generate", "", "--model", str(tiny_model)]) == 2  # empty prompt, as the window refuses it
    assert "the prompt is empty" in capsys.readouterr().err
    assert main(["generate", "hi", "--model", str(tiny_model), "--steps", "7", "--gen-length", "16",
                 "--block-length", "8"]) == 2
    err = capsys.readouterr().err
    assert "--steps (7)" in err and "max_steps" not in err and "gen_length" not in err
    assert main(["generate", "hi", "--seed", str(2**64)]) == 2
    assert "--seed must be at most" in capsys.readouterr().err


def test_more_steps_than_tokens_warns(tiny_model, capsys):
    out = io.StringIO()
    args = ["generate", "hi", "--model", str(tiny_model), "--engine", "torch", "--steps", "32", "--gen-length", "8",
            "--block-length", "8"]
    assert main(args, out) == 0
    assert "32 steps for 8 tokens: 24 steps will reveal nothing; use --steps 8 or fewer" in capsys.readouterr().err


def test_best_of_keeps_the_likeliest_answer(tiny_model, capsys):
    out = io.StringIO()
    assert main(["generate", "hello", "--model", str(tiny_model), *ARGS, "--temperature", "1.0", "--seed", "5",
                 "--best-of", "3", "--json"], out) == 0
    err = capsys.readouterr().err
    scores = {int(line.split()[2].rstrip(":")): float(line.split()[3])
              for line in err.splitlines() if line.startswith("best-of: seed")}
    assert sorted(scores) == [5, 6, 7]
    kept = json.loads(out.getvalue())["params"]["seed"]
    assert scores[kept] == max(scores.values()) and f"kept seed {kept}" in err
    assert main(["generate", "hello", "--model", str(tiny_model), "--best-of", "0"]) == 2


def test_prompt_as_an_option_and_no_abbreviations(tiny_model, capsys):
    """`--prompt TEXT` (as other LLM tools spell it) is the PROMPT argument; it was taken as an
    abbreviation of --prompt-ids before, and the text parsed as token ids. Options are matched
    whole, so an abbreviation is refused rather than guessed."""
    base = ["--model", str(tiny_model), *ARGS, "--temperature", "0", "--json"]
    by_arg, by_option = io.StringIO(), io.StringIO()
    assert main(["generate", "Once upon", *base], by_arg) == 0
    assert main(["generate", "--prompt", "Once upon", *base], by_option) == 0
    got, want = json.loads(by_option.getvalue()), json.loads(by_arg.getvalue())
    assert (got["prompt_ids"], got["generated_ids"]) == (want["prompt_ids"], want["generated_ids"])
    capsys.readouterr()
    assert main(["generate", "a", "--prompt", "b", *base]) == 2
    assert "--prompt, not both" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["generate", "hi", "--model", str(tiny_model), "--gen", "16"])
    assert exc.value.code == 2 and "--gen" in capsys.readouterr().err
