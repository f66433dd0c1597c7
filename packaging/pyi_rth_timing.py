"""PyInstaller runtime hook: measurement aid, inert unless LLADA_STUDIO_TIMING=1.

With LLADA_STUDIO_TIMING=1 the bundle prints `LLADA_STUDIO_WINDOW_SHOWN <unix time>` on stderr
when the first top-level window is exposed (drawn on screen, or in the offscreen platform's
buffer), and with LLADA_STUDIO_QUIT_ON_SHOWN=1 it then closes the app. `packaging/measure.py`
uses it to time launch -> window shown. It only wraps QApplication so that an event filter is
installed; the app itself is not changed. (When app/launcher.py grows its own hook, this file
can go.)
"""

import os

if os.environ.get("LLADA_STUDIO_TIMING") == "1":
    import sys
    import time

    from PySide6 import QtWidgets
    from PySide6.QtCore import QEvent, QObject, QTimer

    _Base = QtWidgets.QApplication

    class _ShownFilter(QObject):
        def __init__(self, app):  # noqa: ANN001
            super().__init__(app)
            self.app = app
            self.done = False

        def eventFilter(self, obj, event):  # noqa: N802, ANN001
            if not self.done and event.type() == QEvent.Type.Expose:
                if getattr(obj, "isExposed", lambda: False)():
                    self.done = True
                    print(f"LLADA_STUDIO_WINDOW_SHOWN {time.time():.6f}", file=sys.stderr, flush=True)
                    if os.environ.get("LLADA_STUDIO_QUIT_ON_SHOWN") == "1":
                        QTimer.singleShot(0, self.app.quit)
            return False

    class QApplication(_Base):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            self._llada_shown_filter = _ShownFilter(self)
            self.installEventFilter(self._llada_shown_filter)

    QtWidgets.QApplication = QApplication
