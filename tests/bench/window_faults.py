"""Faults in the window: Generate/Stop at random moments, and windows closed in the middle of a
run, offscreen. Counts crashes (any exception), Qt warnings about threads, runs that never end,
and the resident memory from the first third of the cycles to the end.

    PYTHONPATH=. QT_QPA_PLATFORM=offscreen python3 tests/bench/window_faults.py --cycles 300 --closes 100

tests/app/test_faults.py runs it in reduced form (30 cycles, 10 closes) on every CI run.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FaultReport:
    cycles: int = 0
    closes: int = 0
    errors: list[str] = field(default_factory=list)
    qt_warnings: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)  # after each cycle

    def rss_growth(self) -> float:
        """Resident memory at the end over that a third of the way in (1.0 = flat)."""
        if len(self.rss_mb) < 3:
            return 1.0
        return self.rss_mb[-1] / self.rss_mb[len(self.rss_mb) // 3]


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_faults(model: str | None, cycles: int, closes: int, settings_dir: Path, seed: int = 0) -> FaultReport:
    from PySide6.QtCore import QSettings, QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from llada_studio.app.window import MainWindow

    app = QApplication.instance() or QApplication([])
    rng = random.Random(seed)
    report = FaultReport()

    def on_message(kind: QtMsgType, _context: object, message: str) -> None:
        if "thread" in message.lower() or kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            report.qt_warnings.append(message)

    previous = qInstallMessageHandler(on_message)

    def wait(predicate, timeout_s: float) -> bool:  # noqa: ANN001
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            app.processEvents()
            if predicate():
                return True
            time.sleep(0.002)
        return False

    def new_window(i: int) -> MainWindow:
        s = QSettings(str(settings_dir / f"faults-{i}.ini"), QSettings.Format.IniFormat)
        win = MainWindow(settings=s, autoload=False, threads=1)
        win.dialogs = False
        loaded: list[object] = []
        win.modelLoaded.connect(loaded.append)
        win.open_model(model, explicit=False)
        if not wait(lambda: bool(loaded), 120):
            raise RuntimeError("the model did not load within 120 s")
        win.chat_mode.setChecked(False)
        win.controls.set_params(dict(gen_length=64, block_length=8, max_steps=64, temperature=1.0))
        win.prompt.setPlainText("It was a bright cold day in April, and")
        return win

    try:
        win = new_window(0)
        for i in range(cycles):
            try:
                if not wait(lambda: win.state == "ready", 60):
                    report.errors.append(f"cycle {i}: the window stayed {win.state}")
                    break
                win.generate()
                wait(lambda: False, rng.uniform(0.0, 0.25))  # stop at a random moment (or not at all)
                win.stop()
                if not wait(lambda: win.state == "ready", 60):
                    report.errors.append(f"cycle {i}: Stop did not end the run within 60 s")
                    break
            except Exception as exc:  # noqa: BLE001 - counted, never hidden
                report.errors.append(f"cycle {i}: {type(exc).__name__}: {exc}")
            report.cycles += 1
            report.rss_mb.append(_rss_mb())
        win.close()
        for j in range(closes):
            w = new_window(j + 1)
            w.generate()
            wait(lambda: False, rng.uniform(0.0, 0.2))
            t0 = time.monotonic()
            w.close()  # in the middle of a run: stop, quit, wait
            if w.host.running:
                report.errors.append(f"close {j}: the engine thread still runs after close")
            if time.monotonic() - t0 > 10:
                report.errors.append(f"close {j}: close took {time.monotonic() - t0:.1f} s")
            w.deleteLater()
            app.processEvents()
            report.closes += 1
    finally:
        qInstallMessageHandler(previous)
    return report


def main(argv: list[str] | None = None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--closes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        r = run_faults(args.model, args.cycles, args.closes, Path(tmp), args.seed)
    third = r.rss_mb[len(r.rss_mb) // 3] if r.rss_mb else 0.0
    print(f"cycles {r.cycles}, closes mid-run {r.closes}, errors {len(r.errors)}, "
          f"Qt thread warnings {len(r.qt_warnings)}, {time.perf_counter() - t0:.0f} s")
    print(f"resident memory: {third:.0f} MB at cycle {len(r.rss_mb) // 3}, "
          f"{r.rss_mb[-1] if r.rss_mb else 0:.0f} MB at the end ({r.rss_growth():.3f}x)")
    for line in (r.errors + r.qt_warnings)[:20]:
        print("  " + line)
    return 0 if not r.errors and not r.qt_warnings and r.rss_growth() <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
