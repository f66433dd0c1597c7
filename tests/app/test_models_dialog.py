"""Model > Models…: the library listed, a model opened from it, a download with progress and Cancel."""

import shutil
import time

from llada_studio.core.hub_download import DownloadCancelled, DownloadProgress


def _library(monkeypatch, tmp_path, tiny_ckpt):  # noqa: ANN001, ANN202
    lib = tmp_path / "models"
    lib.mkdir()
    shutil.copytree(tiny_ckpt, lib / "my-model")
    monkeypatch.setenv("LLADA_STUDIO_MODELS", str(lib))
    return lib


def test_the_library_lists_models_and_opens_one(qtbot, monkeypatch, tmp_path, tiny_ckpt) -> None:  # noqa: ANN001
    from llada_studio.app.models_dialog import ModelsDialog

    lib = _library(monkeypatch, tmp_path, tiny_ckpt)
    d = ModelsDialog()
    qtbot.addWidget(d)
    names = [d.table.item(r, 0).text() for r in range(d.table.rowCount())]
    assert "my-model" in names and str(lib) in d.folder_label.text()
    row = names.index("my-model")
    assert d.table.item(row, 4).text() == "yes" and d.table.item(row, 5).text() == "ready"
    with qtbot.waitSignal(d.modelChosen, timeout=2000) as blocker:
        d._open_row(row)
    assert blocker.args[0] == str(lib / "my-model")


def test_a_download_reports_progress_and_lands_in_the_library(qtbot, monkeypatch, tmp_path, tiny_ckpt) -> None:  # noqa: ANN001
    import llada_studio.app.models_dialog as md

    lib = _library(monkeypatch, tmp_path, tiny_ckpt)

    def fake_download(repo_id, on_progress=None, cancel=None, **_):  # noqa: ANN001, ANN202
        for done in (10, 20):
            on_progress(DownloadProgress("model.safetensors", done, 20, done, 20, 0, 1))
        folder = lib / repo_id.split("/")[-1]
        shutil.copytree(tiny_ckpt, folder)
        return folder

    monkeypatch.setattr(md, "download_model", fake_download)
    d = md.ModelsDialog()
    qtbot.addWidget(d)
    seen = []
    d.downloadProgress.connect(seen.append)
    with qtbot.waitSignal(d.downloadEnded, timeout=10_000) as blocker:
        d.start_download()
    assert blocker.args[1] == "" and len(seen) == 2
    assert "LLaDA-8B-Instruct" in [d.table.item(r, 0).text() for r in range(d.table.rowCount())]
    assert "Downloaded into" in d.status.text() and d.download_button.isEnabled()


def test_cancel_stops_a_download_and_says_it_resumes(qtbot, monkeypatch) -> None:  # noqa: ANN001
    import llada_studio.app.models_dialog as md

    def slow_download(repo_id, on_progress=None, cancel=None, **_):  # noqa: ANN001, ANN202
        while not cancel.cancelled:
            time.sleep(0.01)
        raise DownloadCancelled("cancelled")

    monkeypatch.setattr(md, "download_model", slow_download)
    d = md.ModelsDialog()
    qtbot.addWidget(d)
    d.start_download()
    assert d.downloading and d.cancel_button.isEnabled()
    with qtbot.waitSignal(d.downloadEnded, timeout=10_000):
        d.cancel_download()
    assert "resumes" in d.status.text() and not d.downloading


def test_the_window_opens_a_model_chosen_in_the_library(qtbot, make_window, monkeypatch, tmp_path,
                                                         tiny_ckpt) -> None:  # noqa: ANN001
    lib = _library(monkeypatch, tmp_path, tiny_ckpt)
    win = make_window()
    win.actions_.models.trigger()
    d = win.models_window
    row = [d.table.item(r, 0).text() for r in range(d.table.rowCount())].index("my-model")
    with qtbot.waitSignal(win.modelLoaded, timeout=60_000) as blocker:
        d._open_row(row)
    assert blocker.args[0].path == str(lib / "my-model")


def test_quantize_writes_a_gguf_copy_into_the_library(qtbot, monkeypatch, tmp_path, tiny_ckpt) -> None:  # noqa: ANN001
    import pytest

    pytest.importorskip("gguf")
    import llada_studio.app.models_dialog as md

    lib = _library(monkeypatch, tmp_path, tiny_ckpt)
    d = md.ModelsDialog()
    qtbot.addWidget(d)
    names = [d.table.item(r, 0).text() for r in range(d.table.rowCount())]
    d.table.selectRow(names.index("my-model"))
    assert d.quantize_button.isEnabled()
    asked = []

    def choose(parent, title, label, items, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        asked.append(items)
        return next(i for i in items if i.startswith("Q8_0")), True

    monkeypatch.setattr(md.QInputDialog, "getItem", staticmethod(choose))
    steps = []
    d.quantizeProgress.connect(lambda done, total: steps.append((done, total)))
    with qtbot.waitSignal(d.quantizeEnded, timeout=60_000) as blocker:
        d.start_quantize()
    assert blocker.args[1] == "", blocker.args[1]
    assert (lib / "my-model-Q8_0.gguf").is_file() and steps[-1][0] == steps[-1][1]
    assert any(i.startswith("Q4_K_M") for i in asked[0])
    row = [d.table.item(r, 0).text() for r in range(d.table.rowCount())].index("my-model-Q8_0")
    assert d.table.item(row, 3).text() == "q8_0" and "Wrote" in d.status.text()
    d.table.selectRow(row)  # a GGUF is not quantized again
    assert not d.quantize_button.isEnabled() and "already quantized" in d.quantize_button.toolTip()
    d.table.selectRow(names.index("my-model"))  # the same format again: refused, nothing lost
    d.start_quantize()
    assert "exists already" in d.status.text()
