"""Generate/Stop at random moments and closes mid-run (reduced form of tests/bench/window_faults.py):
no exception, no Qt thread warning, every run ends, memory flat."""

import importlib.util
import sys
from pathlib import Path

from llada_studio.core.resources import bundled_model_dir

HERE = Path(__file__).resolve().parents[1] / "bench" / "window_faults.py"


def test_random_stops_and_closes_mid_run(qtbot, tmp_path, tiny_ckpt) -> None:  # noqa: ANN001
    spec = importlib.util.spec_from_file_location("window_faults", HERE)
    faults = importlib.util.module_from_spec(spec)
    sys.modules["window_faults"] = faults  # dataclasses look their module up there
    spec.loader.exec_module(faults)
    model = None if (bundled_model_dir() / "config.json").is_file() else str(tiny_ckpt)
    report = faults.run_faults(model, cycles=30, closes=10, settings_dir=tmp_path)
    assert report.errors == [] and report.qt_warnings == []
    assert report.cycles == 30 and report.closes == 10
    assert report.rss_growth() <= 1.10, report.rss_mb
