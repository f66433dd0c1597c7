"""Entry point of the `llada-studio` console script and `python -m app`.

No arguments: the window (after checking that Qt's platform plugin can load). `--version`,
`--help`. `--self-test [--model DIR] [--engine E] [--threads N]`: load a model and
run a short generation through the window's own worker path, offscreen, then exit (0: it works).
`--gui [--model DIR]`: the window with a given model. Any other arguments: the command line
(`core.cli`), imported only then so the window never pays for it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import APP_NAME, ORG_NAME

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from .engine_messages import LoadFailure, ModelInfo, RunFailure, RunOutcome, StepUpdate


def _app(argv0: str = "llada-studio") -> QApplication:
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    if existing is None:
        app = QApplication([argv0])
    elif isinstance(existing, QApplication):
        app = existing
    else:  # a QCoreApplication made elsewhere in this process: no window can be shown
        raise RuntimeError(f"a {type(existing).__name__} already exists; the window needs a QApplication")
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName("llada-studio")
    return app


def run_window(model_dir: str | None = None, engine: str | None = None, threads: int | None = None) -> int:
    """Show the window under a qasync event loop until it is closed."""
    import qasync

    from .window import MainWindow
    from .window_settings import app_icon

    app = _app()
    app.setWindowIcon(app_icon())
    closed = asyncio.Event()

    async def until_closed() -> None:
        win = MainWindow(model_dir=model_dir, engine=engine, threads=threads)
        app.aboutToQuit.connect(closed.set)
        win.show()
        await closed.wait()

    try:
        qasync.run(until_closed())
    except asyncio.CancelledError:
        pass
    return 0


def _gui_args(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="llada-studio", description=f"{APP_NAME}: the window or its self-test")
    ap.add_argument("--gui", action="store_true", help="open the window")
    ap.add_argument("--self-test", action="store_true", help="load a model, run a short generation offscreen, exit")
    ap.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--engine", default=None, choices=["auto", "cpp", "torch"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--gen-length", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--prompt", default="Once upon a time")
    ap.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    return ap.parse_args(list(argv))


def self_test(argv: Sequence[str]) -> int:
    """Load the model and generate a few steps through the window's worker; print a summary."""
    args = _gui_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtCore import QSettings

    from .window import MainWindow
    from .worker import model_exists

    if not model_exists(args.model):
        from llada_studio.core.resources import bundled_model_dir

        where = args.model or bundled_model_dir()
        print(f"self-test FAILED: no model folder with a config.json at {where}", file=sys.stderr)
        return 2

    app = _app()  # noqa: F841 - keeps the QApplication alive
    report: dict[str, float] = {}
    shown_steps: list[int] = []  # each step the window showed (its stepShown signal)
    shown_on: set[int] = set()  # the threads it showed them on: the GUI thread only

    async def run() -> int:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            settings = QSettings(os.path.join(tmp, "self-test.ini"), QSettings.Format.IniFormat)
            win = MainWindow(settings=settings, autoload=False, engine=args.engine or "auto", threads=args.threads)
            win.dialogs = False

            def fail(message: str) -> None:
                if not done.done():
                    print(f"self-test FAILED: {message}", file=sys.stderr)
                    done.set_result(1)

            def loaded(_info: ModelInfo) -> None:
                report["load_s"] = time.perf_counter() - t0
                gen = max(1, args.gen_length)
                win.controls.set_params(dict(gen_length=gen, block_length=gen, max_steps=min(args.steps, gen),
                                             temperature=0.0, cfg_scale=0.0, remasking="low_confidence", seed=0))
                win.controls.seed_lock.setChecked(True)
                win.chat_mode.setChecked(False)
                win.prompt.setPlainText(args.prompt)
                if not win.generate():
                    fail("the window refused to start a generation")

            def step_shown(update: StepUpdate) -> None:
                shown_steps.append(update.event.step)
                shown_on.add(threading.get_ident())

            def finished(outcome: RunOutcome) -> None:
                res = outcome.result
                steps = len(res.trajectory)
                expected = outcome.request.params.max_steps
                if res.cancelled or steps != expected:
                    fail(f"generation ended after {steps} of {expected} steps (cancelled={res.cancelled})")
                    return
                if len(shown_steps) != steps:
                    fail(f"the window showed {len(shown_steps)} step events for {steps} steps")
                    return
                if shown_on != {threading.main_thread().ident}:
                    fail("the window showed steps off the GUI thread")
                    return
                m = outcome.model
                total = float(res.timings.get("total_s", 0.0))
                print(f"{APP_NAME} self-test: OK")
                print(f"  model:   {m.name} ({m.num_parameters / 1e6:.1f} M parameters, {m.weight_dtype}) at {m.path}")
                print(f"  licence: {m.license or 'unknown'}")
                plural = "s" if m.threads != 1 else ""
                load_s = report["load_s"]
                print(f"  engine:  {m.engine} on {m.device}, {m.threads} thread{plural}; loaded in {load_s:.2f} s")
                p = outcome.request.params
                print(f"  run:     {steps} steps, {p.gen_length} tokens, {total:.2f} s "
                      f"({p.gen_length / total if total > 0 else 0:.1f} tok/s), "
                      f"{len(shown_steps)} step events")
                print(f"  prompt:  {outcome.request.prompt!r}")
                print(f"  text:    {outcome.text[:200]!r}")
                if not done.done():
                    done.set_result(0)

            def load_failed(f: LoadFailure) -> None:
                fail(f"could not load {f.path}: {f.problem}")

            def run_failed(f: RunFailure) -> None:
                fail(f"generation failed: {f.message}")

            win.modelLoaded.connect(loaded)
            win.stepShown.connect(step_shown)
            win.runFinished.connect(finished)
            win.loadFailed.connect(load_failed)
            win.runFailed.connect(run_failed)
            win.open_model(args.model)
            try:
                code = await asyncio.wait_for(done, timeout=args.timeout)
            except asyncio.TimeoutError:
                print(f"self-test FAILED: no result within {args.timeout:.0f} s", file=sys.stderr)
                code = 1
            win.close()
            if win.host.running:
                print("self-test FAILED: the engine thread did not end", file=sys.stderr)
                code = 1
            return code

    try:
        return int(qasync.run(run()))
    except Exception as exc:  # pragma: no cover - reported, never a traceback for the installer
        print(f"self-test FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("llada-studio")
    except PackageNotFoundError:  # a clone that was never installed
        return "unknown (not installed)"


def usage() -> str:
    """`llada-studio --help`: the window, its self-test and the commands, in one page."""
    from llada_studio.core.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    lines = [
        "usage: llada-studio [--gui] [--model DIR] | --self-test [--model DIR] | COMMAND [options]",
        "",
        f"{APP_NAME}: run masked-diffusion language models (LLaDA format) and watch the text emerge.",
        "",
        "With no arguments, llada-studio opens the window on the last model used (the bundled one at first).",
        "",
        "  --gui [--model DIR] [--engine auto|cpp|torch] [--threads N]",
        "                      open the window, optionally on a given model folder",
        "  --self-test [--model DIR] [--engine E] [--threads N]",
        "                      load a model and run a short generation offscreen, print a summary, exit 0 if it works",
        "  --version           print the version and exit",
        "  -h, --help          show this help and exit",
        "",
        "commands (llada-studio COMMAND --help for each one's options):",
    ]
    for choice in sub._choices_actions:  # each command's name and its one-line help
        lines.append(f"  {choice.dest:<19} {choice.help or ''}".rstrip())
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        print(f"llada-studio {version()}")
        return 0
    if args in (["--help"], ["-h"]):
        print(usage())
        return 0
    if not args or args[0] == "--gui":
        from .platform_check import check_window_platform

        problem = check_window_platform()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        if not args:
            return run_window()
        ns = _gui_args(args)
        return run_window(ns.model, ns.engine, ns.threads)
    if "--self-test" in args:
        return self_test(args)
    from llada_studio.core.cli import main as cli_main  # lazily: the window never imports the command line

    return int(cli_main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
