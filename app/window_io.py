"""The window's file, clipboard and look actions: copy, export, saved runs, theme, About.

A part of MainWindow (it uses the window's `outcome`, `model`, `settings` and panels: see
window_base), kept apart so the window file holds only composition and the run lifecycle.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from llada_studio.core.params import plural
from llada_studio.core.session import MASK_PLACEHOLDER

from . import APP_NAME
from .engine_messages import RunOutcome
from .export import outcome_of, record_of, run_passage, write_json, write_text
from .run_view import paint_outcome
from .theme import THEMES, apply_theme
from .window_base import UiState, WindowBase


class WindowIO(WindowBase):
    # -- text ------------------------------------------------------------------------------
    def result_text(self) -> str:
        """The generated answer of the last run."""
        return self.outcome.text if self.outcome is not None else ""

    def copy_text(self) -> None:
        """The prompt and its continuation (in chat: the answer)."""
        if self.outcome is not None:
            self._copy(run_passage(self.outcome))

    def copy_answer(self) -> None:
        if self.outcome is not None:
            self._copy(self.outcome.text.strip())

    def _copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        masked = text.count(MASK_PLACEHOLDER)
        if masked:
            self.status.message(f"Copied; {plural(masked, 'position')} still masked show as {MASK_PLACEHOLDER}", 6000)
        else:
            self.status.message("Copied the text", 3000)

    # -- export ----------------------------------------------------------------------------
    def export_data(self) -> dict[str, Any]:
        return record_of(self._shown_outcome()).to_json()

    def export_json(self, path: str | Path) -> Path:
        return write_json(self._shown_outcome(), path)

    def export_text(self, path: str | Path) -> Path:
        return write_text(self._shown_outcome(), path)

    def _shown_outcome(self) -> RunOutcome:
        if self.outcome is None:
            raise ValueError("nothing to export yet: generate first")
        return self.outcome

    def _export_start(self, suffix: str) -> str:
        folder = str(self.settings.value("export_dir", "", type=str) or "") or str(Path.home())
        stem = self.outcome.model.name if self.outcome is not None else "generation"
        return str(Path(folder) / f"{stem}-run{self._run_id}{suffix}")

    def _ask_save_path(self, title: str, suffix: str, filters: str) -> str:
        """The file to export to ('' when there is nothing to export or the user cancels)."""
        if self.outcome is None:
            self.status.message("Nothing to export yet: generate first", 4000)
            return ""
        path, _ = QFileDialog.getSaveFileName(self, title, self._export_start(suffix), filters)
        return str(path or "")

    def export_dialog(self) -> None:
        path = self._ask_save_path("Export text and trajectory", ".json", "Trajectory JSON (*.json);;Text (*.txt)")
        if path:
            self._export_to(path)

    def export_text_dialog(self) -> None:
        path = self._ask_save_path("Export text", ".txt", "Text (*.txt)")
        if path:
            self._export_to(path)

    def export_film_dialog(self) -> None:
        path = self._ask_save_path("Export the reveal as a film", ".gif", "Animated GIF (*.gif);;HTML page (*.html)")
        if path:
            self.export_film(path)

    def export_film(self, path: str | Path) -> Path | None:
        from llada_studio.core.run_film import export_film

        try:
            out = export_film(record_of(self._shown_outcome()), path)
        except (OSError, ValueError, ImportError) as exc:  # ImportError: a build without Pillow
            QMessageBox.warning(self, "Export failed", f"Could not write {path}:\n{exc}")
            return None
        self.status.message(f"Saved {out}", 5000)
        return out

    def _export_to(self, path: str) -> None:
        try:
            out = self.export_text(path) if path.lower().endswith(".txt") else self.export_json(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}:\n{exc}")
            return
        self.settings.setValue("export_dir", str(out.parent))
        self.status.message(f"Saved {out}", 5000)

    def open_run_dialog(self) -> None:
        folder = str(self.settings.value("export_dir", "", type=str) or "") or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a saved run", folder, "Run files (*.json)")
        if path:
            self.open_run(path)

    def open_run(self, path: str | Path) -> bool:
        """Show a saved run (exported here or printed by `llada-studio generate --json`) to scrub
        and replay; the loaded model stays as it is."""
        from llada_studio.core.run_file import RunFileError, RunRecord

        if self.state == UiState.RUNNING:
            return False
        try:
            record = RunRecord.load(path)
        except RunFileError as exc:
            self.status.message(f"Could not open the run: {exc.problem}", 8000)
            if self.dialogs:
                QMessageBox.warning(self, "Not a run file", f"{exc.path}\n\n{exc.problem}")
            return False
        self._run_id += 1
        self.show_outcome(outcome_of(record, self._run_id))
        self.status.message(f"Opened {Path(path).name}: {plural(len(record.trajectory), 'step')}", 5000)
        return True

    # -- a saved run -----------------------------------------------------------------------
    def show_outcome(self, outcome: RunOutcome) -> None:
        """Put a finished run on the canvas without running it (a saved run opened)."""
        self.replay.stop()
        self.outcome = outcome
        timeline = paint_outcome(self.canvas, outcome)
        self.replay.finish(self.canvas.last_step, timeline, len(outcome.result.trajectory))
        self.status.clear_run()
        if not outcome.request.chat:
            self.prompt.setPlainText(outcome.request.prompt)
        self._set_state(self.state)

    # -- replay ----------------------------------------------------------------------------
    def toggle_replay(self) -> None:
        self.replay.toggle()

    # -- look ------------------------------------------------------------------------------
    def set_theme(self, theme: str) -> None:
        self.theme = theme if theme in THEMES else "system"
        for a in self.actions_.theme_group.actions():
            a.setChecked(a.data() == self.theme)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, self.theme)
        self.legend.refresh()
        self.canvas.refresh_colors()
        self.settings.setValue("theme", self.theme)

    def toggle_theme(self) -> None:
        app = QApplication.instance()
        current = app.property("lladaTheme") if app is not None else "light"
        self.set_theme("light" if current == "dark" else "dark")

    def _system_scheme_changed(self, *_args: object) -> None:
        if self.theme == "system":
            self.set_theme("system")

    def about_text(self) -> str:
        m = self.model
        if m is None:
            model = "<p>No model is loaded.</p>"
        else:
            where = f" on {html.escape(m.device)}" if m.device else ""
            model = (
                f"<p><b>Model:</b> {html.escape(m.name)}<br>"
                f"<b>Licence:</b> {html.escape(m.license or 'unknown')}<br>"
                f"{m.num_parameters / 1e6:.1f} M parameters ({html.escape(m.weight_dtype)})<br>"
                f"<b>Engine:</b> {html.escape(m.engine)}{where}, {plural(m.threads, 'thread')}<br>"
                f"<small>{html.escape(m.path)}</small></p>"
            )
        return (
            f"<h3>{APP_NAME}</h3><p>Watch masked-diffusion language models (LLaDA format) write, "
            f"one denoising step at a time, on your own computer.</p>{model}"
        )

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", self.about_text())
