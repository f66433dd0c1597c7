"""The design's layering, as a test: core never imports Qt or app; app reaches the engine only
through core's public modules; only bindings.cpp in csrc knows Python."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_core_never_imports_qt_or_app():
    for path in (ROOT / "core").rglob("*.py"):
        bad = {n for n in _imports(path) if n.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "qasync", "app"}}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_app_uses_only_public_core():
    for path in (ROOT / "app").rglob("*.py"):
        for name in _imports(path):
            parts = name.split(".")
            assert parts[0] != "torch", f"{path.relative_to(ROOT)} imports torch directly"
            if parts[0] == "core" and len(parts) > 1:
                assert not parts[1].startswith("_"), f"{path.relative_to(ROOT)} imports private {name}"
                assert parts[1] not in {"torch_backend", "cpp_engine"}, f"{path.relative_to(ROOT)} imports {name}"


def test_only_bindings_knows_python():
    for path in (ROOT / "csrc").rglob("*"):
        if path.suffix in {".cpp", ".h", ".hpp", ".cc"} and path.name != "bindings.cpp":
            text = path.read_text(encoding="utf-8")
            assert "pybind11" not in text and "Python.h" not in text, f"{path.relative_to(ROOT)} knows Python"
