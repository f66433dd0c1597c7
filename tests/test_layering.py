"""The design's layering. The Python rules (core never imports Qt or the app; the app reaches the
engine only through core's public modules) are import-linter contracts in pyproject.toml, run
here and in CI; the C++ rule (only bindings.cpp knows Python) is checked below."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_only_bindings_knows_python():
    for path in (ROOT / "csrc").rglob("*"):
        if path.suffix in {".cpp", ".h", ".hpp", ".cc"} and path.name != "bindings.cpp":
            text = path.read_text(encoding="utf-8")
            assert "pybind11" not in text and "Python.h" not in text, f"{path.relative_to(ROOT)} knows Python"
