"""Save screenshots of the window: idle, mid-generation, finished, finished in the dark theme,
chat mode, the no-model state and the bad-folder dialog's text; issue 15's pinned words, filled
blanks and a regenerated span.

    QT_QPA_PLATFORM=offscreen python -m app.screenshots --out screenshots [--model DIR]

Without --model it writes a small random checkpoint (real format, nonsense words) to a temp folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine_messages import StepUpdate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="screenshots")
    ap.add_argument("--model", default=None)
    ap.add_argument("--prompt", default=None, help="default: a real sentence with --model, random-model words without")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from .launcher import _app
    from .window import MainWindow

    app: QApplication = _app()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory()
    model = args.model
    if model is None:
        from llada_studio.core.checkpoint_writer import random_checkpoint

        # Big enough that a step takes a few milliseconds, so a mid-run frame can be caught.
        model = str(random_checkpoint(Path(tmp.name) / "random-demo-model", n_layers=4, d_model=256, n_heads=4,
                                      mlp_hidden_size=512, vocab_size=2048))

    from .signal_wait import wait_for_signal as wait_for

    def settle(ms: int = 120) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shot(win: MainWindow, name: str) -> None:
        win.canvas.flush()
        win._flush_status()
        app.processEvents()
        path = out / f"{name}.png"
        win.grab().save(str(path))
        print(path)

    settings = QSettings(str(Path(tmp.name) / "shots.ini"), QSettings.Format.IniFormat)
    settings.setValue("theme", "light")

    # The state before any model: what a user sees when the bundled model is missing.
    empty = MainWindow(settings=settings, autoload=False)
    empty.resize(1100, 700)
    empty.show()
    empty._show_no_model(
        "No model loaded.\n\nThe bundled model is not installed here.\n"
        "Use File → Open model folder… (Ctrl+O) to choose a LLaDA-format checkpoint."
    )
    settle()
    shot(empty, "0-no-model")
    empty.close()

    win = MainWindow(settings=settings, autoload=False, engine="auto")
    win.resize(1100, 700)
    win.show()
    win.open_model(model)
    wait_for(win.modelLoaded)
    win.chat_mode.setChecked(False)
    win.controls.apply_preset("Balanced")  # what a new user sees: the bundled model's tested default
    if args.prompt is None:  # the random checkpoint's vocabulary is w0, w1, ...: a prompt in its words
        real, random_words = "The sheriff rode into town just before noon, and", "the world is a w12 of w7 and the"
        args.prompt = real if args.model else random_words
    win.prompt.setPlainText(args.prompt)
    settle()
    shot(win, "1-idle")

    # Mid-generation: grab the live window when half the steps are in.
    run_with_shots(win, shot, settle, wait_for, win.controls.params().max_steps // 2, "2-mid-generation", "3-finished")

    win.scrubber.setValue(win.scrubber.maximum() // 3)
    settle()
    shot(win, "4-scrubbed")

    win.set_theme("dark")
    win.scrubber.setValue(win.scrubber.maximum())
    settle()
    shot(win, "5-finished-dark")

    win.scrubber.setValue(win.scrubber.maximum() // 2)
    settle()
    shot(win, "6-scrubbed-dark")

    if win.model is not None and win.model.has_chat_template:
        win.chat_mode.setChecked(True)
        win.controls.set_params(dict(gen_length=32, block_length=32, max_steps=32))
        win.prompt.setPlainText("hello")
        win.generate()
        wait_for(win.runFinished)
        win.prompt.setPlainText("and the world")
        win.generate()
        wait_for(win.runFinished)
        settle()
        shot(win, "7-chat-dark")
    win.set_theme("light")
    issue15_shots(win, shot, settle, wait_for)
    win.close()
    tmp.cleanup()
    return 0


def run_with_shots(win: Any, shot: Callable[[Any, str], None], settle: Callable[..., None],
                   wait_for: Callable[..., Any], at_step: int, mid_name: str, end_name: str) -> None:
    """Generate; grab the live window once `at_step` steps are in, and again when it finishes."""
    taken: list[int] = []

    def on_step(update: StepUpdate) -> None:
        if not taken and update.event.step >= at_step:
            taken.append(update.event.step)
            shot(win, mid_name)

    win.stepShown.connect(on_step)
    win.generate()
    wait_for(win.runFinished)
    win.stepShown.disconnect(on_step)
    settle()
    shot(win, end_name)


def issue15_shots(win: Any, shot: Callable[[Any, str], None], settle: Callable[..., None],
                  wait_for: Callable[..., Any]) -> None:
    """Pinned words before and during a run, a filled-blanks run, a regenerated span (and the
    scrubber on its edit frame)."""
    win.chat_mode.setChecked(False)
    win.controls.apply_preset("Balanced")
    win.controls.set_params(dict(gen_length=64, block_length=8, max_steps=64))
    win.prompt.setPlainText("It was a dark and stormy night, and")
    win.outcome = None
    win._forget_run()
    win.controls.pins.set_text("0:the, 9:sea, 30:morning")
    settle(400)
    shot(win, "8-pinned-idle")
    run_with_shots(win, shot, settle, wait_for, 24, "9-pinned-mid-run", "10-pinned-finished")

    win.controls.pins.set_text("")
    win.prompt.setPlainText("It was a [MASK*6] morning, and the [MASK*12] by the sea.")
    run_with_shots(win, shot, settle, wait_for, 8, "11-infill-mid-run", "12-infill-finished")

    win.prompt.setPlainText("The sheriff rode into town just before noon, and")
    win.generate()
    wait_for(win.runFinished)
    win.canvas.select_range(10, 22)
    settle()
    shot(win, "13-span-selected")
    win.regenerate_selection()
    wait_for(win.runFinished)
    settle()
    shot(win, "14-span-regenerated")
    edit_frame = win.replay.timeline.frame_of_edit(0)
    win.scrubber.setValue(edit_frame)
    settle()
    shot(win, "15-branch-edit-frame")


if __name__ == "__main__":
    sys.exit(main())
