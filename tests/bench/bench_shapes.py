"""The benchmark checkpoints bench_engine.py and bench_product_path.py share: three random models
in the real format (17M, 100M, 600M parameters, vocabulary 8192), written once per folder."""

from __future__ import annotations

from pathlib import Path

from llada_studio.core.checkpoint_writer import random_checkpoint

SHAPES = {
    "17M": dict(n_layers=8, d_model=384, n_heads=6, mlp_hidden_size=1024),
    "100M": dict(n_layers=12, d_model=768, n_heads=12, mlp_hidden_size=2048),
    "600M": dict(n_layers=16, d_model=1536, n_heads=12, mlp_hidden_size=4096),
}
VOCAB = 8192


def checkpoint(name: str, dtype: str, folder: Path) -> Path:
    """The `name` checkpoint in `dtype` under `folder`, written on first use."""
    path = folder / f"{name}-{dtype}"
    if not (path / "config.json").is_file():
        print(f"writing {path} ...", flush=True)
        random_checkpoint(path, vocab_size=VOCAB, dtype=dtype, seed=0, **SHAPES[name])  # type: ignore[arg-type]
    return path
