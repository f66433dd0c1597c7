"""The engine's default thread count: the affinity mask, capped by a cgroup CPU quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llada_studio.core.cpp_engine import cgroup_cpu_limit, default_threads


@pytest.mark.parametrize(
    ("text", "expected"),
    [("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000", 2), ("50000 100000", 1), ("junk", None)],
)
def test_cgroup_quota_is_read(tmp_path: Path, text: str, expected: int | None) -> None:
    f = tmp_path / "cpu.max"
    f.write_text(text)
    assert cgroup_cpu_limit(f) == expected


def test_default_threads_capped_by_quota(tmp_path: Path) -> None:
    f = tmp_path / "cpu.max"
    f.write_text("100000 100000\n")
    assert default_threads(f) == 1
    assert default_threads(tmp_path / "absent") == len(os.sched_getaffinity(0))
