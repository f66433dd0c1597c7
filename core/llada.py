"""The seed document's API, with its names, for users of the original LLaDA Python code.

    from llada_studio.core.llada import LLaDAForCauslLM, DeviceType
    model = LLaDAForCauslLM("/path/to/llada", device=DeviceType.DEVICE_TYPE_CPU, ndev=1)
    model.generate("The future of AI is", max_steps=64, gen_length=64)
    model.generate_with_cpp_model(["a", "b"], block_length=32, temperature_=0.7, cfg_scale=1.0)

Where the seed was vague, this module decides:
- `generate()` runs the PyTorch reference sampler (the seed's Python path; it needs torch),
  `generate_with_cpp_model()` the C++ engine. Same parameters, same semantics, same result
  at temperature 0.
- A failure of the C++ engine raises (the seed fell back to placeholder logits: never).
- A string prompt returns a string; a list returns a list of the same length.
- `seed=` (an addition) makes sampling at temperature > 0 reproducible.
- `InferTask`s in one `batch_infer_one_round` call that share their sampling settings run as
  one left-padded batch; tasks with different settings run as separate batches.

`python -m core.llada [--model DIR]` runs the seed's example cases (the seed's
`python scripts/llada.py`).
"""

from __future__ import annotations

import argparse
import enum
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .batching import left_pad
from .checkpoint import load_checkpoint
from .engine import Engine, create_engine
from .errors import NonFiniteLogitsError
from .events import StepEvent
from .params import GenerationParams
from .resources import bundled_model_dir
from .session import Session


class DeviceType(enum.IntEnum):
    """Devices by the seed's (InfiniCore-style) names."""

    DEVICE_TYPE_CPU = 0
    DEVICE_TYPE_NVIDIA = 1
    DEVICE_TYPE_CUDA = 1  # alias of NVIDIA


def _device_string(device: DeviceType | str) -> str:
    if isinstance(device, str):
        return device
    return "cpu" if device == DeviceType.DEVICE_TYPE_CPU else "cuda"


@dataclass
class InferTask:
    """One inference request: prompt token ids and its sampling settings; `output` holds the
    generated ids once a round has run."""

    id: int
    tokens: list[int]
    max_steps: int = 128
    gen_length: int = 128
    block_length: int = 128
    temperature: float = 0.0
    cfg_scale: float = 0.0
    remasking: str = "low_confidence"
    mask_id: int | None = None
    logits_eos_inf: bool = False
    confidence_eos_eot_inf: bool = False
    seed: int = 0
    output: list[int] = field(default_factory=list)

    def params(self) -> GenerationParams:
        """The task's sampling settings: each of its fields that GenerationParams declares under
        the same name (the seed's fields are a subset; a new parameter needs nothing here)."""
        shared = {f.name: getattr(self, f.name) for f in fields(self) if f.name in _PARAM_NAMES}
        return GenerationParams(**shared)


_PARAM_NAMES = frozenset(f.name for f in fields(GenerationParams))


class LLaDABatchedTask:
    """InferTasks sharing one set of sampling settings, as the engine's batch input: left-padded
    ids [B, P] and attention mask [B, P]."""

    def __init__(self, tasks: Sequence[InferTask], pad_id: int) -> None:
        if not tasks:
            raise ValueError("LLaDABatchedTask needs at least one InferTask")
        self.tasks = list(tasks)
        self.params = self.tasks[0].params()
        for t in self.tasks[1:]:
            if t.params() != self.params:
                raise ValueError(
                    f"task {t.id} has other sampling settings than task {self.tasks[0].id}; "
                    "batch_infer_one_round groups them for you"
                )
        self.input_ids, self.attention_mask = left_pad([t.tokens for t in self.tasks], pad_id)
        self.req_lens = [len(t.tokens) for t in self.tasks]

    @property
    def batch_size(self) -> int:
        return len(self.tasks)


def _print_step(event: StepEvent, decode: Any) -> None:
    toks = event.tokens[0]
    shown = ", ".join(f"{p}:{decode([t])!r}" for p, t in zip(event.positions[0], toks))
    print(f"step {event.step}/{event.total_steps} block {event.block + 1}/{event.num_blocks}: {shown}")


class LLaDAForCauslLM:
    """A LLaDA-format checkpoint ready to generate (the seed's class name, typo included)."""

    def __init__(
        self,
        model_dir_path: str | Path | None = None,
        device: DeviceType | str = DeviceType.DEVICE_TYPE_CPU,
        ndev: int = 1,
        threads: int | None = None,
    ) -> None:
        if ndev != 1:
            raise ValueError(f"ndev={ndev}: this implementation runs on one device; use ndev=1")
        self.model_dir_path = Path(model_dir_path) if model_dir_path else bundled_model_dir()
        self.device = _device_string(device)
        self.threads = threads
        self.checkpoint = load_checkpoint(self.model_dir_path)
        self.tokenizer = self.checkpoint.tokenizer
        self.mask_id = self.checkpoint.mask_id
        self.eos_token_id = self.checkpoint.eos_id
        self.eot_token_id = self.checkpoint.eot_id
        self._engines: dict[str, Engine] = {}

    # -- engines, made on first use --------------------------------------------------------
    def _engine(self, kind: str) -> Engine:
        if kind not in self._engines:
            device = self.device if kind == "torch" else "cpu"
            self._engines[kind] = create_engine(self.checkpoint, kind, device, self.threads)
        return self._engines[kind]

    def _cpp_engine(self) -> Engine:
        if self.device != "cpu":
            # The C++ engine is CPU-only; on a GPU device the "C++ path" is the CUDA torch path.
            return self._engine("torch")
        return self._engine("cpp")

    def _session(self, engine: Engine) -> Session:
        """Every seed method runs through Session: one set of length checks (prompt + gen_length
        within max_sequence_length), one padding and attention-mask rule, one set of errors."""
        return Session(self.checkpoint, engine)

    def _run(self, kind: str, prompts: str | Sequence[str], params: GenerationParams, verbose: bool) -> str | list[str]:
        single = isinstance(prompts, str)
        texts: list[str] = [prompts] if isinstance(prompts, str) else list(prompts)
        if not texts:
            raise ValueError("prompts is empty: give a string or a non-empty list of strings")
        engine = self._cpp_engine() if kind == "cpp" else self._engine("torch")
        session = self._session(engine)
        on_step = (lambda e: _print_step(e, self.tokenizer.decode)) if verbose else None
        result = session.generate_ids([session.encode(t) for t in texts], params, on_step)
        if verbose:
            timings = result.timings
            print(f"{len(result.trajectory)} steps in {timings.get('total_s', 0):.2f} s on the {engine.name} engine")
        return result.texts[0] if single else list(result.texts)

    @staticmethod
    def _params(
        max_steps: int,
        gen_length: int,
        block_length: int,
        temperature_: float,
        cfg_scale: float,
        remasking: str,
        mask_id: int | None,
        logits_eos_inf: bool,
        confidence_eos_eot_inf: bool,
        seed: int,
    ) -> GenerationParams:
        return GenerationParams(
            max_steps=max_steps,
            gen_length=gen_length,
            block_length=block_length,
            temperature=temperature_,
            cfg_scale=cfg_scale,
            remasking=remasking,
            mask_id=mask_id,
            logits_eos_inf=logits_eos_inf,
            confidence_eos_eot_inf=confidence_eos_eot_inf,
            seed=seed,
        )

    def generate(
        self,
        prompts: str | Sequence[str],
        max_steps: int = 128,
        gen_length: int = 128,
        block_length: int = 128,
        temperature_: float = 0.0,
        cfg_scale: float = 0.0,
        remasking: str = "low_confidence",
        mask_id: int | None = None,
        logits_eos_inf: bool = False,
        confidence_eos_eot_inf: bool = False,
        verbose: bool = False,
        seed: int = 0,
    ) -> str | list[str]:
        """Generate with the PyTorch reference sampler. A string in, a string out; a list in, a
        list out."""
        params = self._params(
            max_steps,
            gen_length,
            block_length,
            temperature_,
            cfg_scale,
            remasking,
            mask_id,
            logits_eos_inf,
            confidence_eos_eot_inf,
            seed,
        )
        return self._run("torch", prompts, params, verbose)

    def generate_with_cpp_model(
        self,
        prompts: str | Sequence[str],
        max_steps: int = 128,
        gen_length: int = 128,
        block_length: int = 128,
        temperature_: float = 0.0,
        cfg_scale: float = 0.0,
        remasking: str = "low_confidence",
        mask_id: int | None = None,
        logits_eos_inf: bool = False,
        confidence_eos_eot_inf: bool = False,
        verbose: bool = False,
        seed: int = 0,
    ) -> str | list[str]:
        """The same as `generate`, on the C++ engine (the whole loop runs in C++)."""
        params = self._params(
            max_steps,
            gen_length,
            block_length,
            temperature_,
            cfg_scale,
            remasking,
            mask_id,
            logits_eos_inf,
            confidence_eos_eot_inf,
            seed,
        )
        return self._run("cpp", prompts, params, verbose)

    # -- the seed's C++ interface methods --------------------------------------------------
    def batch_infer_one_round(self, tasks: Sequence[InferTask]) -> list[list[int]]:
        """Run every task to completion; returns (and stores in task.output) the generated ids,
        in task order."""
        if not tasks:
            return []
        groups: dict[GenerationParams, list[InferTask]] = {}
        for t in tasks:
            groups.setdefault(t.params(), []).append(t)
        for t in tasks:
            t.params().validate()  # every task's settings, before any runs
        session = self._session(self._cpp_engine())
        for params, group in groups.items():
            # Session left-pads exactly as LLaDABatchedTask does and checks the lengths.
            result = session.generate_ids([t.tokens for t in group], params)
            for t, ids in zip(group, result.generated_ids):
                t.output = list(ids)
        return [t.output for t in tasks]

    def forward_logits_batch(self, input_ids: Any, attention_mask: Any = None) -> Any:
        """Logits [B, L, V] for token ids [B, L] (numpy arrays or torch tensors; the result has
        the input's type)."""
        is_torch = type(input_ids).__module__.startswith("torch")
        ids = input_ids.detach().cpu().numpy() if is_torch else np.asarray(input_ids)
        if ids.ndim != 2:
            raise ValueError(f"input_ids must be [batch, length], got shape {ids.shape}")
        mask = None
        if attention_mask is not None:
            mask = (
                attention_mask.detach().cpu().numpy()
                if hasattr(attention_mask, "detach")
                else np.asarray(attention_mask)
            )
            mask = mask.astype(bool)
        logits = self._session(self._cpp_engine()).forward_logits(ids, mask)
        if not np.isfinite(logits).all():
            bad = int(np.count_nonzero(~np.isfinite(logits)))
            raise NonFiniteLogitsError(
                f"the model produced {bad} non-finite logit(s) (NaN or Inf) for these ids: the weights in "
                f"{self.model_dir_path} hold NaN/Inf values or the config's sizes are wrong for them"
            )
        if is_torch:
            import torch

            return torch.from_numpy(logits).to(input_ids.device)
        return logits


LLaDAForCausalLM = LLaDAForCauslLM  # the correct spelling


def _examples(model: LLaDAForCauslLM) -> None:
    """The seed's test cases: basic generation, the C++ path with blocks and CFG, then more
    settings."""
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "basic generate()",
            "generate",
            dict(prompts="The future of AI is", max_steps=32, gen_length=32, block_length=32),
        ),
        (
            "C++ engine, blocks, T=0.7, CFG 1.0",
            "generate_with_cpp_model",
            dict(
                prompts="Explain quantum computing:",
                max_steps=32,
                gen_length=32,
                block_length=8,
                temperature_=0.7,
                cfg_scale=1.0,
            ),
        ),
        (
            "batch of prompts, random remasking",
            "generate_with_cpp_model",
            dict(
                prompts=["It was a dark and stormy night", "She said"],
                max_steps=16,
                gen_length=32,
                block_length=16,
                remasking="random",
                seed=1,
            ),
        ),
        (
            "EOS options",
            "generate_with_cpp_model",
            dict(
                prompts="Once upon a time",
                max_steps=32,
                gen_length=32,
                block_length=32,
                logits_eos_inf=True,
                confidence_eos_eot_inf=True,
            ),
        ),
    ]
    for title, method, kwargs in cases:
        print(f"== {title} ({method}) ==")
        try:
            out = getattr(model, method)(**kwargs)
        except Exception as exc:  # report and go on: the examples are a demonstration
            print(f"   failed: {exc}")
            continue
        for text in [out] if isinstance(out, str) else out:
            print(f"   -> {text!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.llada", description="Run the seed API's example cases.")
    parser.add_argument("--model", help="checkpoint folder (default: the bundled model)")
    args = parser.parse_args(argv)
    model = LLaDAForCauslLM(args.model)
    _examples(model)
    return 0


if __name__ == "__main__":
    from .installed import installed

    sys.exit(installed("llada")())
