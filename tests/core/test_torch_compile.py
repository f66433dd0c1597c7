"""core/torch_compile.py: the window's torch.compile setting and its measured cost, torch-free."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llada_studio.core import torch_compile


def test_switch_is_the_env_variable_cuda_graphs_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(torch_compile.ENV, raising=False)
    assert not torch_compile.compile_enabled()
    torch_compile.set_compile(True)
    assert torch_compile.compile_enabled()
    pytest.importorskip("torch")
    from llada_studio.core.torch_backend import cuda_graphs

    assert cuda_graphs.compile_requested()
    torch_compile.set_compile(False)
    assert not torch_compile.compile_enabled() and not cuda_graphs.compile_requested()


def test_described_cost() -> None:
    text = torch_compile.describe_compile_cost("none")
    assert text.startswith("first run +20 s (compiling), then 1.35x faster")
    assert torch_compile.compile_cost("prefix") == torch_compile.compile_cost("dual")
    for cost in torch_compile.COMPILE_COST.values():
        assert cost.first_run_extra_s > 0 and cost.speedup > 1


def test_imports_no_torch() -> None:
    code = "import sys, llada_studio.core.torch_compile; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
