"""The malformed-checkpoint corpus (tests/core/malformed/corpus.py) through the window's
File > Open model folder… (issue 17): one kind of every defect family (the first kind of each
name prefix, ~65 kinds), each opened while a good model is loaded and a run is on screen.

For each: no exception escapes (pytest-qt fails a test on an exception in a slot), the failure is
a checkpoint failure (not the worker's catch-all for a bug), the one dialog (captured, never
shown) names the file and the field, and nothing is lost: the previous model stays loaded, the
prompt, the settings, the run on screen and the remembered model folder are as they were, and
generating still works afterwards. A kind that loads but has non-finite weights fails its run
with a message, and the window goes on."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

_spec = importlib.util.spec_from_file_location(
    "malformed_corpus", Path(__file__).resolve().parents[1] / "core" / "malformed" / "corpus.py"
)
assert _spec and _spec.loader
corpus = sys.modules.get("malformed_corpus") or importlib.util.module_from_spec(_spec)
if "malformed_corpus" not in sys.modules:
    sys.modules["malformed_corpus"] = corpus
    _spec.loader.exec_module(corpus)

SMALL = dict(gen_length=16, block_length=16, max_steps=8, temperature=0.0, cfg_scale=0.0,
             remasking="low_confidence", seed=0, confidence_eos_eot_inf=False)


def family(name: str) -> str:
    return name.split("-")[0]  # "cfg/d_model-nan" -> "cfg/d_model"


def sample() -> list[Any]:
    """The first error kind of each family, in corpus order."""
    seen: dict[str, Any] = {}
    for kind in corpus.KINDS:
        if kind.expect.outcome == "error":
            seen.setdefault(family(kind.name), kind)
    return list(seen.values())


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """QMessageBox.warning captured: a test never reaches a real modal dialog."""
    seen: list[tuple[str, str]] = []

    def fake(parent: Any, title: str, text: str, *a: Any, **k: Any) -> QMessageBox.StandardButton:
        seen.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(fake))
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(fake))
    return seen


def _run(qtbot: Any, win: Any) -> Any:
    win.controls.set_params(SMALL)
    win.controls.seed_lock.setChecked(True)
    with qtbot.waitSignal(win.runFinished, timeout=60_000) as blocker:
        assert win.generate()
    return blocker.args[0]


def _open_through_menu(qtbot: Any, win: Any, monkeypatch: pytest.MonkeyPatch, folder: Path, signal: Any) -> Any:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    with qtbot.waitSignal(signal, timeout=30_000) as blocker:
        win.act_open.trigger()  # File > Open model folder… (Ctrl+O)
    return blocker.args[0]


def test_sample_covers_every_family():
    kinds = sample()
    families = {family(k.name) for k in corpus.KINDS if k.expect.outcome == "error"}
    assert {family(k.name) for k in kinds} == families
    assert len(kinds) >= 40


def test_malformed_folders_through_the_open_dialog(qtbot, make_window, tiny_ckpt, tmp_path, dialogs,  # noqa: ANN001
                                                   monkeypatch):
    built_root = tmp_path / "corpus"
    bases = corpus.make_bases(built_root / "_bases")
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    win.prompt.setPlainText("hello world the")
    before = _run(qtbot, win)
    answer = win.result_text()
    params = win.controls.params()
    saved_dir = win.settings.value("model_dir")
    bad: list[str] = []
    for kind in sample():
        folder = corpus.build_kind(kind, bases, built_root)
        dialogs.clear()
        failure = _open_through_menu(qtbot, win, monkeypatch, folder, win.loadFailed)
        expect = kind.expect
        text = dialogs[0][1] if len(dialogs) == 1 else ""
        problems = []
        if failure.kind != "checkpoint":
            problems.append(f"failure kind {failure.kind!r}: {failure.problem[:200]}")
        if len(dialogs) != 1:
            problems.append(f"{len(dialogs)} dialogs")
        if expect.file not in failure.path or expect.file not in text:
            problems.append(f"file {expect.file!r} not named (path {failure.path[-80:]!r})")
        if not re.search(expect.field, failure.problem) or failure.problem not in text:
            problems.append(f"field /{expect.field}/ not in {failure.problem[:200]!r}")
        if win.state != "ready" or win.model is None or win.model.name != tiny_ckpt.name:
            problems.append(f"state {win.state}, model {win.model and win.model.name}")
        if win.prompt.toPlainText() != "hello world the" or win.controls.params() != params:
            problems.append("prompt or settings changed")
        if win.outcome is not before or win.result_text() != answer:
            problems.append("the run on screen was lost")
        if win.settings.value("model_dir") != saved_dir:
            problems.append(f"model_dir setting now {win.settings.value('model_dir')!r}")
        if problems:
            bad.append(f"{kind.name}: " + "; ".join(problems))
    assert not bad, f"{len(bad)} of {len(sample())} kinds misbehave in the window:\n" + "\n".join(bad)
    again = _run(qtbot, win)  # the previous model still generates, the same answer for the same seed
    assert again.result.generated_ids == before.result.generated_ids and not again.result.cancelled


def test_non_finite_weights_fail_the_run_not_the_window(qtbot, make_window, tiny_ckpt, tmp_path, dialogs,  # noqa: ANN001
                                                        monkeypatch):
    kind = next(k for k in corpus.KINDS if k.expect.outcome == "nonfinite")
    bases = corpus.make_bases(tmp_path / "_bases")
    folder = corpus.build_kind(kind, bases, tmp_path)
    win = make_window(tiny_ckpt)
    win.chat_mode.setChecked(False)
    win.prompt.setPlainText("hello")
    _open_through_menu(qtbot, win, monkeypatch, folder, win.modelLoaded)  # loads: big matrices are not scanned
    win.controls.set_params(SMALL)
    with qtbot.waitSignal(win.runFailed, timeout=60_000) as blocker:
        assert win.generate()
    assert "non-finite" in blocker.args[0].message and dialogs and "non-finite" in dialogs[-1][1]
    assert win.state == "ready"
    _open_through_menu(qtbot, win, monkeypatch, tiny_ckpt, win.modelLoaded)
    assert not _run(qtbot, win).result.cancelled
