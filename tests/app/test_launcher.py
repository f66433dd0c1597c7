"""The entry points: the self-test (what the installers run) and delegation to the command line."""

import subprocess
import sys
from pathlib import Path

import llada_studio.app.launcher as launcher

ROOT = Path(__file__).resolve().parents[2]


def test_arguments_go_to_the_command_line(monkeypatch) -> None:  # noqa: ANN001
    import llada_studio.core.cli

    seen = []
    monkeypatch.setattr(llada_studio.core.cli, "main", lambda argv: seen.append(list(argv)) or 0)
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


def test_version_and_help(capsys) -> None:  # noqa: ANN001
    assert launcher.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("llada-studio ")
    assert launcher.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "With no arguments, llada-studio opens the window" in out
    assert "--self-test" in out and "generate" in out


def test_missing_xcb_libraries_are_named_with_the_apt_command(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    """Instead of Qt's abort (rc 134): which libraries are missing and the command that installs them."""
    from llada_studio.app import platform_check

    fake_ldd = tmp_path / "ldd"
    fake_ldd.write_text(
        "#!/bin/sh\n"
        "echo '\tlibxcb-cursor.so.0 => not found'\n"
        "echo '\tlibxcb-icccm.so.4 => not found'\n"
        "echo '\tlibQt6Gui.so.6 => /opt/qt/libQt6Gui.so.6'\n"
        "echo '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6'\n"
    )
    fake_ldd.chmod(0o755)
    plugin = platform_check.xcb_plugin()
    if plugin is None:
        import pytest

        pytest.skip("this PySide6 has no xcb plugin")
    assert platform_check.missing_libraries(plugin, str(fake_ldd)) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setattr(platform_check, "missing_libraries", lambda p: ["libxcb-cursor.so.0", "libxcb-keysyms.so.1"])
    monkeypatch.setattr(launcher, "run_window", lambda *a, **k: 0)
    assert launcher.main([]) == 1
    err = capsys.readouterr().err
    assert "libxcb-cursor.so.0" in err and "sudo apt install libxcb-cursor0 libxcb-keysyms1" in err
