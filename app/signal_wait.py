"""Block until a Qt signal fires, running the event loop meanwhile (for scripts: screenshots,
benchmarks; the window itself never blocks)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEventLoop, QTimer


def wait_for_signal(signal: Any, timeout_ms: int = 120_000) -> list[Any]:
    """The signal's arguments; TimeoutError when it did not fire within `timeout_ms`."""
    loop = QEventLoop()
    got: list[Any] = []

    def fire(*args: Any) -> None:
        got.extend(args)
        loop.quit()

    signal.connect(fire)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(fire)
    if not got:
        raise TimeoutError(f"timed out waiting for {signal}")
    return got
