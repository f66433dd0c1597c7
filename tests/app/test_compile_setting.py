"""Model > Compile GPU passes: torch.compile as a window setting with its one-time cost stated,
remembered, and applied to the next GPU generation (core/torch_compile.py's switch)."""

from __future__ import annotations

import pytest

from llada_studio.core.torch_compile import ENV, compile_enabled


@pytest.fixture(autouse=True)
def _no_compile_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


def test_the_setting_states_its_cost_and_switches_compile(qtbot, make_window, settings) -> None:  # noqa: ANN001
    win = make_window()
    action = win.actions_.compile
    assert not action.isChecked() and not compile_enabled()
    assert "first run +" in action.toolTip() and "x faster" in action.toolTip() and "GPU" in action.toolTip()
    model_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Model")
    assert action in model_menu.actions()
    action.setChecked(True)
    assert compile_enabled() and settings.value("torch_compile", type=bool) is True
    assert "torch.compile on" in win.statusBar().currentMessage()
    action.setChecked(False)
    assert not compile_enabled() and settings.value("torch_compile", type=bool) is False


def test_a_saved_choice_is_restored_and_applied(qtbot, make_window, settings, monkeypatch) -> None:  # noqa: ANN001
    settings.setValue("torch_compile", True)
    win = make_window()
    assert win.actions_.compile.isChecked() and compile_enabled()


def test_without_a_saved_choice_the_environment_decides(qtbot, make_window, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv(ENV, "1")
    win = make_window()
    assert win.actions_.compile.isChecked()
