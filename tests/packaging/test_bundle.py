"""Builds the bundle, the .tar.gz and the .deb, and runs the bundled executable's --self-test
(through packaging/ci_bundle_check.sh on Linux, packaging/build.py elsewhere).

Slow (3-4 minutes on 2 cores), so opt-in: `LLADA_BUILD_BUNDLE=1 python -m pytest tests/packaging`.
Extra build.py arguments can be given in LLADA_BUNDLE_ARGS (e.g. "--desktop-file X --icon-dir Y").
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(
        os.environ.get("LLADA_BUILD_BUNDLE") != "1", reason="slow: set LLADA_BUILD_BUNDLE=1 to build the bundle"
    ),
    pytest.mark.timeout(1800),
]


def test_bundle_builds_and_passes_its_self_test() -> None:
    extra = shlex.split(os.environ.get("LLADA_BUNDLE_ARGS", ""))
    if sys.platform.startswith("linux") and shutil.which("bash"):
        cmd = ["bash", str(ROOT / "packaging" / "ci_bundle_check.sh"), *extra]
    else:  # Windows/macOS: the bundle, its archive and its self-test (no .deb)
        cmd = [sys.executable, str(ROOT / "packaging" / "build.py"), "--no-deb", *extra]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHON=sys.executable)
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    if cmd[0] == "bash":
        assert "packaging:" in out and ", 0 failed" in out, out[-3000:]
