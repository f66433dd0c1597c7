"""Every kind of malformed checkpoint in corpus.py through every path a user has: the core
loader, Session.open with the C++ and the torch engine, the seed API, and the CLI with each
engine. Each outcome must be a CheckpointError naming the file and the field (the CLI: one line,
status 2); never a traceback, never a hang (a 5 s watchdog per case), and the process's peak
memory may not grow by more than a small margin over the whole corpus (nothing is sized by the
input before validation ends).

Decisions (documented in core/safetensors_io.py and core/checkpoint.py):
- gaps, overlaps and trailing bytes in a safetensors file are refused (the format requires the
  data to be fully indexed); misaligned tensors are accepted and copied aligned;
- non-finite weights: 1-D tensors (the norms, a few KB) are checked at load; the big matrices
  are not read at load (that would page in the whole file), non-finite logits are a run-time
  matter: NonFiniteLogitsError naming the step (see test_malformed_nonfinite.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.engine import cpp_engine_available, torch_available
from llada_studio.core.errors import CheckpointError, NonFiniteLogitsError
from llada_studio.core.params import GenerationParams

_spec = importlib.util.spec_from_file_location("malformed_corpus", Path(__file__).with_name("corpus.py"))
assert _spec and _spec.loader
corpus = importlib.util.module_from_spec(_spec)
sys.modules["malformed_corpus"] = corpus
_spec.loader.exec_module(corpus)

WATCHDOG_S = 5.0
SMALL = GenerationParams(max_steps=4, gen_length=4, block_length=4)
PEAK_GROWTH_LIMIT_MB = 150


class Hang(BaseException):
    """Raised by the watchdog (a BaseException, so no `except Exception` in the code under test
    can swallow it)."""


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """SIGALRM after `seconds`, restoring pytest-timeout's own alarm afterwards."""

    def fire(signum: int, frame: Any) -> None:
        raise Hang()

    old_handler = signal.signal(signal.SIGALRM, fire)
    old_left, _ = signal.getitimer(signal.ITIMER_REAL)
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds if not old_left else min(seconds, old_left))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_left:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, old_left - (time.monotonic() - start)))


# -- the paths -----------------------------------------------------------------------------------


def path_loader(folder: Path) -> None:
    load_checkpoint(folder)


def _session(engine: str) -> Callable[[Path], None]:
    def run(folder: Path) -> None:
        from llada_studio.core.session import Session

        session = Session.open(folder, engine=engine, threads=1)
        session.generate_ids([[5, 6]], SMALL)

    return run


def path_seed(folder: Path) -> None:
    from llada_studio.core.llada import LLaDAForCauslLM

    model = LLaDAForCauslLM(folder, threads=1)
    model.generate_with_cpp_model("hello", max_steps=4, gen_length=4, block_length=4)


def _cli(engine: str) -> Callable[[Path], None]:
    def run(folder: Path) -> None:
        from llada_studio.core.cli import main

        args = ["generate", "--prompt-ids", "5,6", "--model", str(folder), "--steps", "4", "--gen-length", "4"]
        args += ["--block-length", "4", "--engine", engine, "--threads", "1", "--no-live"]
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = main(args, out=io.StringIO())
        if rc != 0:
            lines = err.getvalue().strip().splitlines()
            if rc != 2 or len(lines) != 1 or not lines[0].startswith("llada-studio: error: "):
                raise AssertionError(f"CLI status {rc} with stderr {err.getvalue()!r}")
            raise CliError(lines[0])

    return run


class CliError(Exception):
    """The CLI's one-line error, re-raised so the runner can check what it names."""


PATHS: dict[str, tuple[Callable[[Path], None], Callable[[], bool]]] = {
    "loader": (path_loader, lambda: True),
    "session-cpp": (_session("cpp"), cpp_engine_available),
    "session-torch": (_session("torch"), torch_available),
    "seed-api": (path_seed, cpp_engine_available),
    "cli-cpp": (_cli("cpp"), cpp_engine_available),
    "cli-torch": (_cli("torch"), torch_available),
}


def classify(kind: Any, run: Callable[[Path], None], folder: Path) -> tuple[str, str]:
    """(outcome, detail): 'error' (the clear error expected), 'ok', 'wrong-error' (clear but not
    naming the file/field), 'unexpected-error', 'unexpected-ok', 'traceback', 'hang'."""
    import re

    expect = kind.expect
    if expect.outcome == "nonfinite":  # loads; a run says so (NonFiniteLogitsError, issue 17)
        expect = corpus.Expect.ok() if run is path_loader else corpus.Expect.error("", expect.field)
    try:
        with watchdog(WATCHDOG_S):
            run(folder)
    except Hang:
        return "hang", f"no answer in {WATCHDOG_S} s"
    except (CheckpointError, CliError, NonFiniteLogitsError) as exc:
        message = str(exc)
        if expect.outcome != "error":
            return "unexpected-error", message[:300]
        names_file = expect.file in (exc.path if isinstance(exc, CheckpointError) else message)
        if not names_file or not re.search(expect.field, message):
            return "wrong-error", f"want file {expect.file!r} and /{expect.field}/, got: {message[:300]}"
        return "error", ""
    except Exception:
        return "traceback", traceback.format_exc(limit=-3)[-800:]
    return ("ok", "") if expect.outcome == "ok" else ("unexpected-ok", "")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, Path]]:
    root = tmp_path_factory.mktemp("malformed")
    bases = corpus.make_bases(root / "_bases")
    return [(kind, corpus.build_kind(kind, bases, root)) for kind in corpus.KINDS]


def test_corpus_is_large_and_names_are_unique():
    names = [k.name for k in corpus.KINDS]
    assert len(names) == len(set(names))
    assert len(names) >= 200


@pytest.mark.parametrize("path_name", list(PATHS))
def test_every_kind_through_path(built: list[tuple[Any, Path]], path_name: str):
    run, available = PATHS[path_name]
    if not available():
        pytest.skip(f"{path_name}: engine not available here")
    if "torch" in path_name:
        # torch's first engine costs ~135 MB once (thread pools, allocator): not the corpus's growth.
        run(next(folder for kind, folder in built if kind.expect.outcome == "ok"))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bad: list[str] = []
    counts: dict[str, int] = {}
    for kind, folder in built:
        outcome, detail = classify(kind, run, folder)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome not in ("error", "ok"):
            bad.append(f"{kind.name}: {outcome}: {detail}")
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - peak_before
    print(f"{path_name}: {len(built)} kinds: {counts}; peak memory growth {growth:.0f} MB")
    assert not bad, f"{len(bad)} of {len(built)} kinds misbehave on {path_name}:\n" + "\n".join(bad)
    assert growth < PEAK_GROWTH_LIMIT_MB, f"peak memory grew by {growth:.0f} MB over the corpus"
