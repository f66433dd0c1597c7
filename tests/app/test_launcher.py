"""The entry points: the self-test (what the installers run) and delegation to the command line."""

import subprocess
import sys
from pathlib import Path

import app.launcher as launcher

ROOT = Path(__file__).resolve().parents[2]


def test_arguments_go_to_the_command_line(monkeypatch) -> None:  # noqa: ANN001
    import core.cli

    seen = []
    monkeypatch.setattr(core.cli, "main", lambda argv: seen.append(list(argv)) or 0)
    monkeypatch.setattr(launcher, "run_window", lambda *a, **k: seen.append("window") or 0)
    assert launcher.main(["generate", "hello", "--steps", "4"]) == 0
    assert seen == [["generate", "hello", "--steps", "4"]]
    assert launcher.main([]) == 0
    assert seen[-1] == "window"


def test_self_test_runs_a_generation_offscreen(tiny_ckpt) -> None:  # noqa: ANN001
    r = subprocess.run(
        [sys.executable, "-m", "app", "--self-test", "--model", str(tiny_ckpt), "--engine", "torch", "--threads", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert r.returncode == 0, r.stderr
    assert "self-test: OK" in r.stdout and "8 step events" in r.stdout
    assert "QThread" not in r.stderr


def test_self_test_fails_clearly_without_a_model(tmp_path) -> None:  # noqa: ANN001
    code = launcher.self_test(["--self-test", "--model", str(tmp_path / "nothing-here")])
    assert code != 0
