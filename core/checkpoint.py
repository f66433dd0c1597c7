"""A LLaDA-format checkpoint folder: validated config, memory-mapped weights, tokenizer and the
special token ids. Everything is checked before any pointer reaches an engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import ModelConfig, load_config
from .errors import CheckpointError
from .safetensors_io import TensorView, open_safetensors
from .tokenizer import EOT_TOKEN, MASK_TOKEN, Tokenizer

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"

# Progress callback: (fraction done 0..1, what is happening).
LoadProgress = Callable[[float, str], None]


def layer_prefix(n: int) -> str:
    return f"model.transformer.blocks.{n}."


def expected_tensors(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a checkpoint of this config must hold, with its shape ([out, in] layout)."""
    d, hd, ffn, v = cfg.d_model, cfg.head_dim, cfg.mlp_hidden_size, cfg.embedding_size
    shapes: dict[str, tuple[int, ...]] = {"model.transformer.wte.weight": (v, d)}
    for n in range(cfg.n_layers):
        p = layer_prefix(n)
        shapes.update(
            {
                p + "attn_norm.weight": (d,),
                p + "q_proj.weight": (cfg.n_heads * hd, d),
                p + "k_proj.weight": (cfg.n_kv_heads * hd, d),
                p + "v_proj.weight": (cfg.n_kv_heads * hd, d),
                p + "attn_out.weight": (d, cfg.n_heads * hd),
                p + "ff_norm.weight": (d,),
                p + "ff_proj.weight": (ffn, d),
                p + "up_proj.weight": (ffn, d),
                p + "ff_out.weight": (d, ffn),
            }
        )
    shapes["model.transformer.ln_f.weight"] = (d,)
    if not cfg.weight_tying:
        shapes["model.transformer.ff_out.weight"] = (v, d)
    return shapes


@dataclass
class Checkpoint:
    path: Path
    config: ModelConfig
    tensors: dict[str, TensorView]
    tokenizer: Tokenizer
    mask_id: int
    eos_id: int
    eot_id: int
    pad_id: int
    bos_id: int | None
    files: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def file_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    @property
    def num_parameters(self) -> int:
        total = 0
        for t in self.tensors.values():
            n = 1
            for s in t.shape:
                n *= s
            total += n
        return total

    @property
    def weight_dtype(self) -> str:
        """The dtype of the big matrices (norms may be stored in another)."""
        return self.tensors["model.transformer.wte.weight"].dtype

    def lm_head(self) -> TensorView:
        key = "model.transformer.wte.weight" if self.config.weight_tying else "model.transformer.ff_out.weight"
        return self.tensors[key]

    @property
    def license(self) -> str | None:
        card = self.path / "MODEL_CARD.md"
        cfg_path = self.path / "config.json"
        try:
            raw = json.loads(cfg_path.read_text(encoding="utf-8"))
            if isinstance(raw.get("license"), str):
                return str(raw["license"])
        except (OSError, json.JSONDecodeError):
            pass
        if card.is_file():
            for line in card.read_text(encoding="utf-8").splitlines():
                if line.lower().startswith("licen"):
                    return line.split(":", 1)[-1].strip() or None
        return None


def _weight_files(folder: Path) -> dict[str, Path]:
    """Map each tensor name to the file holding it (single file or shards with an index)."""
    index = folder / INDEX_FILE
    single = folder / SINGLE_FILE
    if index.is_file():
        try:
            raw = json.loads(index.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(index, f"malformed JSON: {exc}") from exc
        weight_map = raw.get("weight_map") if isinstance(raw, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(index, "has no 'weight_map' object mapping tensor names to files")
        result: dict[str, Path] = {}
        for name, fname in weight_map.items():
            if not isinstance(fname, str) or "/" in fname or "\\" in fname or fname.startswith("."):
                raise CheckpointError(index, f"tensor {name!r} maps to an invalid file name {fname!r}")
            result[name] = folder / fname
        for shard in sorted(set(result.values())):
            if not shard.is_file():
                raise CheckpointError(shard, f"shard named in {INDEX_FILE} is missing")
        return result
    if single.is_file():
        return {}  # every tensor is in the single file
    raise CheckpointError(folder, f"no weights: expected {SINGLE_FILE} or {INDEX_FILE} with its shards")


def _special_id(folder: Path, what: str, from_config: int | None, token_text: str | None, tok: Tokenizer) -> int | None:
    by_token = tok.token_to_id(token_text) if token_text else None
    if from_config is not None and by_token is not None and from_config != by_token:
        raise CheckpointError(
            folder / "config.json",
            f"{what} id {from_config} disagrees with the tokenizer, where {token_text!r} is {by_token}",
        )
    return from_config if from_config is not None else by_token


def load_checkpoint(path: str | Path, progress: LoadProgress | None = None) -> Checkpoint:
    """Validate and open a checkpoint folder. Raises CheckpointError naming the file at fault."""
    folder = Path(path).expanduser()
    report = progress or (lambda fraction, message: None)
    if not folder.is_dir():
        raise CheckpointError(folder, "is not a folder (choose the folder that holds config.json)")
    report(0.0, "reading config.json")
    cfg = load_config(folder / "config.json")
    report(0.05, "reading tokenizer")
    tok = Tokenizer(folder)

    report(0.1, "checking weights")
    mapping = _weight_files(folder)
    files = sorted(set(mapping.values())) if mapping else [folder / SINGLE_FILE]
    tensors: dict[str, TensorView] = {}
    for i, f in enumerate(files):
        report(0.1 + 0.8 * i / len(files), f"mapping {f.name}")
        found = open_safetensors(f)
        for name, view in found.items():
            if mapping and mapping.get(name) != f:
                continue  # a shard may carry tensors the index assigns elsewhere; trust the index
            tensors[name] = view
    for name, f in mapping.items():
        if name not in tensors:
            raise CheckpointError(f, f"tensor {name!r} is named in {INDEX_FILE} but not in this file")

    expected = expected_tensors(cfg)
    missing = [n for n in expected if n not in tensors]
    if missing:
        where = files[0] if len(files) == 1 else folder
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise CheckpointError(where, f"missing tensor(s) {missing[:3]}{more} for a {cfg.n_layers}-layer model")
    extra = [n for n in tensors if n not in expected]
    if extra:
        raise CheckpointError(
            tensors[extra[0]].file,
            f"unexpected tensor(s) {extra[:3]}: not part of the LLaDA architecture in config.json",
        )
    for name, shape in expected.items():
        view = tensors[name]
        if view.shape != shape:
            raise CheckpointError(
                view.file, f"tensor {name!r} has shape {list(view.shape)}, config.json implies {list(shape)}"
            )

    report(0.9, "checking special tokens")
    cfg_path = folder / "config.json"
    mask_id = _special_id(folder, "mask_token", cfg.mask_token_id, MASK_TOKEN, tok)
    eos_id = _special_id(folder, "eos_token", cfg.eos_token_id, tok.eos_token, tok)
    eot_id = _special_id(folder, "eot_token", cfg.eot_token_id, EOT_TOKEN, tok)
    bos_id = _special_id(folder, "bos_token", cfg.bos_token_id, tok.bos_token, tok)
    for what, value in (("mask_token_id", mask_id), ("eos_token_id", eos_id), ("eot_token_id", eot_id)):
        if value is None:
            raise CheckpointError(
                cfg_path, f"{what} is unknown: set it in config.json or add the token to the tokenizer"
            )
        if value >= cfg.embedding_size:
            raise CheckpointError(
                cfg_path, f"{what} {value} is outside the embedding table ({cfg.embedding_size} rows)"
            )
    if tok.vocab_size > cfg.embedding_size:
        raise CheckpointError(
            folder / "tokenizer.json",
            f"tokenizer has {tok.vocab_size} tokens but the model's embedding has only {cfg.embedding_size} rows",
        )
    assert mask_id is not None and eos_id is not None and eot_id is not None
    pad_id = cfg.pad_token_id if cfg.pad_token_id is not None else eos_id
    report(1.0, "ready")
    return Checkpoint(
        path=folder,
        config=cfg,
        tensors=tensors,
        tokenizer=tok,
        mask_id=mask_id,
        eos_id=eos_id,
        eot_id=eot_id,
        pad_id=pad_id,
        bos_id=bos_id,
        files=files,
    )
