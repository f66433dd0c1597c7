"""A guard against a reference-counting bug in the PySide6 6.12.0 wheels on Python < 3.12.

There, every wrapped C++ method that returns void hands back `None` without taking a reference
to it, and `SignalInstance.emit()` does the same with `True` (both singletons are immortal on
Python 3.12+, where this is harmless, which is presumably how it shipped). A window calls void
methods (`setText`, `update`, `setValue`, ...) and emits signals thousands of times a minute, so
after a while CPython aborts with "Fatal Python error: none_dealloc: deallocating None" or
"bool_dealloc: deallocating True or False" (seen here: in the tests within seconds).

The guard measures the bug with one call of each kind and, only if a count dropped, gives the
singletons a large reserve of references so they can never reach zero: over-counting an
immortal-in-spirit singleton is harmless; under-counting kills the process. Remove this module
once the pinned PySide6 no longer needs it (`measure()` then reports no drops).
"""

from __future__ import annotations

import ctypes
import sys

_RESERVE = 1 << 40
applied = False


def _refcount_field(obj: object) -> ctypes.c_ssize_t:
    # CPython: ob_refcnt is the first field of every object (a Py_ssize_t).
    return ctypes.c_ssize_t.from_address(id(obj))


def measure() -> dict[str, int]:
    """References to None/True/False lost by one void call and one emit (0: no bug)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    singles = {"None": None, "True": True, "False": False}
    before = {k: sys.getrefcount(v) for k, v in singles.items()}
    probe.setObjectName("probe")  # returns void
    probe.ping.emit()  # returns bool
    after = {k: sys.getrefcount(v) for k, v in singles.items()}
    lost = {k: max(0, before[k] - after[k]) for k in singles}
    for k, v in singles.items():  # give back what the probe took
        _refcount_field(v).value += lost[k]
    del probe
    return lost


def protect_singletons() -> bool:
    """Apply the guard if this PySide6 has the bug. Returns True when applied."""
    global applied
    if applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return applied
    if any(measure().values()):
        for v in (None, True, False):
            _refcount_field(v).value += _RESERVE
        applied = True
    return applied
