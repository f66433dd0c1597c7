"""Model > Models…: the models library (one folder of models, listed with family, size on disk,
dtype and chat support) and downloads of the known LLaDA checkpoints into it, with progress and
Cancel. The download runs on its own thread; what was fetched stays, and a later try resumes."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from llada_studio.core.events import CancelToken
from llada_studio.core.hub_download import (
    KNOWN_CHECKPOINTS,
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    download_model,
)
from llada_studio.core.model_library import ModelEntry, library_dir, list_models

from .choice_slider import describe
from .quantize_job import FORMATS, can_quantize, plan_quantize

COLUMNS = ("Name", "Family", "Size", "Dtype", "Chat", "Status")


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


class ModelsDialog(QDialog):
    modelChosen = Signal(str)  # a model folder to open
    downloadProgress = Signal(object)  # DownloadProgress, from the download thread
    downloadEnded = Signal(str, str)  # (folder or "", problem or "")
    quantizeProgress = Signal(int, int)  # (tensors done, tensors in all), from the quantize thread
    quantizeEnded = Signal(str, str)  # (GGUF file or "", problem or "")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setAccessibleName("Models library")
        self.resize(760, 420)
        self.entries: list[ModelEntry] = []
        self._cancel: CancelToken | None = None
        self._thread: threading.Thread | None = None
        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = describe(QTableWidget(0, len(COLUMNS)), "Models", "The models in the library; double-click opens")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(lambda row, _col: self._open_row(row))
        self.open_button = describe(QPushButton("Open"), "Open model", "Load the selected model")
        self.open_button.clicked.connect(lambda: self._open_row(self.table.currentRow()))
        self.quantize_button = describe(QPushButton("Quantize…"), "Quantize model",
                                        "Write a smaller GGUF copy of the selected model (Q8_0, Q4_K_M, ...)")
        self.quantize_button.clicked.connect(self.start_quantize)
        self.table.currentCellChanged.connect(lambda *_: self._update_quantize_button())
        self.quantizeProgress.connect(self._on_quantize_progress)
        self.quantizeEnded.connect(self._on_quantize_ended)
        self.repo = describe(QComboBox(), "Checkpoint to download", "LLaDA-family checkpoints on the model hub")
        for k in KNOWN_CHECKPOINTS:
            self.repo.addItem(f"{k.repo_id} — {k.description}", k.repo_id)
        self.download_button = describe(QPushButton("Download"), "Download", "Fetch the chosen checkpoint")
        self.cancel_button = describe(QPushButton("Cancel"), "Cancel download", "Stop the download (it resumes later)")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.downloadProgress.connect(self._on_progress)
        self.downloadEnded.connect(self._on_ended)
        row = QHBoxLayout()
        row.addWidget(self.repo, 1)
        row.addWidget(self.download_button)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.folder_label)
        lay.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.quantize_button)
        buttons.addWidget(self.open_button)
        lay.addLayout(buttons)
        lay.addWidget(QLabel("Download a model:"))
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.refresh()

    def refresh(self) -> None:
        self.folder_label.setText(f"Library folder: {library_dir()} (set LLADA_STUDIO_MODELS to use another)")
        self.entries = list_models()
        self.table.setRowCount(len(self.entries))
        for r, e in enumerate(self.entries):
            cells = (e.name, "bundled" if e.bundled else e.family, human_size(e.size_bytes), e.dtype or "?",
                     "yes" if e.has_chat_template else "no", e.problem or "ready")
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self._update_quantize_button()

    def _update_quantize_button(self) -> None:
        row = self.table.currentRow()
        why = can_quantize(self.entries[row]) if 0 <= row < len(self.entries) else "Select a model first"
        self.quantize_button.setEnabled(why is None and not self.downloading)
        self.quantize_button.setToolTip(why or "Write a smaller GGUF copy of the selected model")

    def _open_row(self, row: int) -> None:
        if 0 <= row < len(self.entries) and not self.entries[row].problem:
            self.modelChosen.emit(str(self.entries[row].path))
            self.accept()

    # -- download ----------------------------------------------------------------------------
    @property
    def downloading(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_download(self) -> None:
        if self.downloading:
            return
        repo_id = str(self.repo.currentData())
        self._cancel = CancelToken()
        cancel = self._cancel
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText(f"Checking {repo_id}…")
        self.download_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

        def work() -> None:
            try:
                folder = download_model(repo_id, on_progress=self.downloadProgress.emit, cancel=cancel)
            except DownloadCancelled:
                self.downloadEnded.emit("", "Cancelled; what was fetched stays, and Download resumes from there.")
            except DownloadError as exc:
                self.downloadEnded.emit("", str(exc))
            except Exception as exc:  # noqa: BLE001 - a message in the dialog, never a dead thread
                self.downloadEnded.emit("", f"{type(exc).__name__}: {exc}")
            else:
                self.downloadEnded.emit(str(folder), "")

        self._thread = threading.Thread(target=work, name="llada-download", daemon=True)
        self._thread.start()

    # -- quantize ----------------------------------------------------------------------------
    def start_quantize(self) -> None:
        """Ask for a format, check the disk, then quantize on a thread (Cancel stops it)."""
        row = self.table.currentRow()
        if self.downloading or not 0 <= row < len(self.entries) or can_quantize(self.entries[row]):
            return
        entry = self.entries[row]
        labels = [f"{f.upper()} — {text}" for f, _, text in FORMATS]
        label, ok = QInputDialog.getItem(self, "Quantize", f"Format of the copy of {entry.name}:", labels, 0, False)
        if not ok:
            return
        try:
            plan = plan_quantize(entry, FORMATS[labels.index(label)][0])
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        from llada_studio.core.cli_quantize import QuantizeCancelled, quantize_checkpoint

        self._cancel = CancelToken()
        cancel = self._cancel
        self.progress.setValue(0)
        self.progress.show()
        size = human_size(plan.estimated_bytes)
        self.status.setText(f"Quantizing {entry.name} to {plan.qtype.upper()} (about {size})…")
        self.download_button.setEnabled(False)
        self.quantize_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

        def work() -> None:
            try:
                out = quantize_checkpoint(plan.source, plan.target, plan.qtype,
                                          on_progress=self.quantizeProgress.emit, cancel=cancel)
            except QuantizeCancelled:
                self.quantizeEnded.emit("", "Cancelled; no file was kept.")
            except Exception as exc:  # noqa: BLE001 - a message in the dialog, never a dead thread
                plan.target.unlink(missing_ok=True)
                self.quantizeEnded.emit("", f"Quantizing failed: {type(exc).__name__}: {exc}")
            else:
                self.quantizeEnded.emit(str(out), "")

        self._thread = threading.Thread(target=work, name="llada-quantize", daemon=True)
        self._thread.start()

    @Slot(int, int)
    def _on_quantize_progress(self, done: int, total: int) -> None:
        self.progress.setValue(int(1000 * done / max(1, total)))
        self.status.setText(f"Quantizing: tensor {done} of {total}")

    @Slot(str, str)
    def _on_quantize_ended(self, file: str, problem: str) -> None:
        self.progress.hide()
        self.download_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self._thread = None
        if problem:
            self.status.setText(problem)
            self._update_quantize_button()
            return
        self.refresh()
        size = human_size(Path(file).stat().st_size)
        self.status.setText(f"Wrote {file} ({size}). Double-click it above to open it.")

    def cancel_download(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()
            self.status.setText("Cancelling…")

    @Slot(object)
    def _on_progress(self, p: DownloadProgress) -> None:
        self.progress.setValue(int(p.fraction * 1000))
        self.status.setText(f"{p.file}: {human_size(p.file_done)} of {human_size(p.file_total)} · "
                            f"{human_size(p.done)} of {human_size(p.total)} in all "
                            f"({p.files_done} of {p.files_total} files)")

    @Slot(str, str)
    def _on_ended(self, folder: str, problem: str) -> None:
        self.progress.hide()
        self.download_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if problem:
            self.status.setText(problem)
            return
        self.status.setText(f"Downloaded into {folder}. Double-click it above to open it.")
        self.refresh()
        for r, e in enumerate(self.entries):
            if Path(e.path) == Path(folder):
                self.table.selectRow(r)

    def done(self, result: int) -> None:  # closing the dialog stops a download in progress
        self.cancel_download()
        super().done(result)
