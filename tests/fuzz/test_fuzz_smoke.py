"""A short run of the loader fuzzer's mutation loop in the suite (the minute-long run is in
.ci/run): 500 seeded inputs over the header, config.json and the index; none may raise
anything but a CheckpointError."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("fuzz_loader", Path(__file__).with_name("fuzz_loader.py"))
assert _spec and _spec.loader
fuzz_loader = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_loader"] = fuzz_loader
_spec.loader.exec_module(fuzz_loader)


def test_mutation_loop_finds_nothing(tmp_path: Path):
    harness = fuzz_loader.Harness(tmp_path / "work")
    report = fuzz_loader.python_loop(harness, seconds=20, seed=17, findings=tmp_path / "findings", max_inputs=500)
    assert report["total"] == 500 or report["seconds"] >= 20
    assert report["findings"] == [], "\n".join(p.read_text() for p in sorted((tmp_path / "findings").glob("*.txt")))
