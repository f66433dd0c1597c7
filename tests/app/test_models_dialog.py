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
