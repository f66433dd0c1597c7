"""Fixtures for the window tests: offscreen Qt, tiny random checkpoints, a throwaway QSettings."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from llada_studio.core.checkpoint_writer import random_checkpoint  # noqa: E402

ENGINE = "torch"  # the reference engine is always there; "auto" is covered by the self-test


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint with a chat template (about 0.1 M parameters)."""
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-chat", max_sequence_length=1024)


@pytest.fixture(scope="session")
def plain_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint without a chat template."""
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-plain", chat_template=False, seed=1)


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "settings.ini"


@pytest.fixture
def settings(settings_path: Path) -> QSettings:
    return QSettings(str(settings_path), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, settings):  # noqa: ANN001, ANN201
    """make_window(model=None, settings=None) -> a shown MainWindow, loaded when a model is given."""
    from llada_studio.app.window import MainWindow

    def make(model: Path | None = None, settings_obj: QSettings | None = None, show: bool = True):  # noqa: ANN202
        win = MainWindow(settings=settings_obj or settings, autoload=False, engine=ENGINE, threads=1)
        qtbot.addWidget(win)
        if show:
            win.show()
        if model is not None:
            with qtbot.waitSignal(win.modelLoaded, timeout=60_000):
                win.open_model(str(model))
        return win

    return make


@pytest.fixture(scope="session")
def core_session(tiny_ckpt: Path):  # noqa: ANN201
    from llada_studio.core.session import Session

    return Session.open(tiny_ckpt, engine=ENGINE, threads=1)
