"""A LLaDA-format checkpoint folder: validated config, memory-mapped weights, tokenizer and the
special token ids. Everything is checked before any pointer reaches an engine."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import ModelConfig, load_config, load_json_file
from .errors import CheckpointError, regular_file_size, shown
from .safetensors_io import SafetensorsTable, TensorView, map_tensors, read_table
from .tokenizer import EOT_TOKEN, MASK_TOKEN, Tokenizer

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_INDEX_BYTES = 64 * 1024 * 1024
MAX_TOKENIZER_CONFIG_BYTES = 64 * 1024 * 1024
MAX_FILE_NAME_BYTES = 255  # NAME_MAX on Linux and macOS: a longer shard name cannot exist

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
    eot_id: int  # the end-of-turn token; the EOS id when the tokenizer has none (see has_eot)
    pad_id: int
    bos_id: int | None
    files: list[Path] = field(default_factory=list)
    # False when neither config.json nor the tokenizer names an end-of-turn token (<|eot_id|>):
    # the model still runs (eot_id is then eos_id, which stops and decodes the same way); only
    # confidence_eos_eot_inf, which is defined on the EOT token, is refused (Session.generate_ids).
    has_eot: bool = True
    # q/k rows in the interleaved RoPE layout (GGUF files from llama.cpp's converter: core/gguf_loader.py)
    rope_interleaved: bool = False

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


def _exists(path: Path) -> bool:
    """Whether anything (file, folder, pipe, dangling link) has this name."""
    return os.path.lexists(path)


def _shard_name_problem(fname: object) -> str | None:
    """Why an index's file name cannot be a shard beside it, or None. Names stay inside the
    folder (no separators, no '..', no hidden files); a shard may itself be a link (the Hugging
    Face cache links snapshots to blobs), and the link's target must be a regular file."""
    if not isinstance(fname, str) or not fname:
        return "is not a file name"
    if "/" in fname or "\\" in fname or fname.startswith("."):
        return "must name a file in the model folder (no folders, no '..', no hidden files)"
    if "\x00" in fname:
        return "holds a NUL character"
    if len(fname.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME_BYTES:
        return f"is longer than the {MAX_FILE_NAME_BYTES} bytes a file name can have"
    return None


def _weight_files(folder: Path) -> dict[str, Path]:
    """Map each tensor name to the file holding it (single file or shards with an index)."""
    index = folder / INDEX_FILE
    single = folder / SINGLE_FILE
    if _exists(index):
        raw = load_json_file(index, INDEX_FILE, MAX_INDEX_BYTES)
        weight_map = raw.get("weight_map") if isinstance(raw, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(index, "has no 'weight_map' object mapping tensor names to files")
        result: dict[str, Path] = {}
        for name, fname in weight_map.items():
            problem = _shard_name_problem(fname)
            if problem:
                raise CheckpointError(
                    index, f"weight_map: tensor {shown(name)} maps to {shown(fname)}, which {problem}"
                )
            result[name] = folder / fname
        for shard in sorted(set(result.values())):
            regular_file_size(shard, "shard", missing=f"shard named in {INDEX_FILE} is missing")
        return result
    if _exists(single):
        regular_file_size(single, "weights file")
        return {}  # every tensor is in the single file
    raise CheckpointError(folder, f"no weights: expected {SINGLE_FILE} or {INDEX_FILE} with its shards")


def implied_parameters(cfg: ModelConfig) -> int:
    """Parameters the config implies, computed from the sizes alone (nothing allocated)."""
    d, hd, ffn, v = cfg.d_model, cfg.head_dim, cfg.mlp_hidden_size, cfg.embedding_size
    per_layer = 2 * d + 2 * cfg.n_heads * hd * d + 2 * cfg.n_kv_heads * hd * d + 3 * ffn * d
    return v * d * (1 if cfg.weight_tying else 2) + d + cfg.n_layers * per_layer


def _check_sizes_before_building(cfg: ModelConfig, tables: list[SafetensorsTable], folder: Path) -> None:
    """Refuse a config the weight files cannot hold before anything sized by the config is built
    (a config.json with n_layers 10^9 must not make the loader list 9 x 10^9 tensor names)."""
    cfg_path = folder / "config.json"
    needed = 9 * cfg.n_layers + 2 + (0 if cfg.weight_tying else 1)
    held = sum(len(t.entries) for t in tables)
    # Coarse on purpose: a tensor or two missing gets the precise "missing tensor" message later.
    if needed > 2 * held + 16:
        raise CheckpointError(
            cfg_path,
            f"n_layers {cfg.n_layers} needs {needed} tensors, but the weight files hold {held}: "
            "n_layers does not match the weights",
        )
    params = implied_parameters(cfg)
    data = sum(t.data_size for t in tables)
    if params > data:  # under one byte per parameter: no dtype holds that (bf16/f16 need 2)
        raise CheckpointError(
            cfg_path,
            f"the sizes in config.json (d_model {cfg.d_model}, n_layers {cfg.n_layers}, mlp_hidden_size "
            f"{cfg.mlp_hidden_size}, embedding_size {cfg.embedding_size}) imply {params:,} parameters, "
            f"but the weight files hold only {data:,} bytes: they do not match the weights",
        )


def _special_id(folder: Path, what: str, from_config: int | None, token_text: str | None, tok: Tokenizer) -> int | None:
    by_token = tok.token_to_id(token_text) if token_text else None
    if from_config is not None and by_token is not None and from_config != by_token:
        raise CheckpointError(
            folder / "config.json",
            f"{what} id {from_config} disagrees with the tokenizer, where {token_text!r} is {by_token}",
        )
    return from_config if from_config is not None else by_token


def _check_norms_finite(tensors: dict[str, TensorView]) -> None:
    """The 1-D tensors (the RMSNorm weights: d values each, a few KB in all) must be finite. The
    big matrices are not scanned here: that would read the whole file at load (16 GB for 8B);
    non-finite values in them show up as non-finite logits, which are a run-time error."""
    for name, view in tensors.items():
        if len(view.shape) == 1 and not np.isfinite(view.to_float32()).all():
            bad = int(np.count_nonzero(~np.isfinite(view.to_float32())))
            raise CheckpointError(
                view.file, f"tensor {name!r} holds {bad} non-finite value(s) (NaN or Inf): the weights are corrupt"
            )


def load_checkpoint(path: str | Path, progress: LoadProgress | None = None) -> Checkpoint:
    """Validate and open a checkpoint folder. Raises CheckpointError naming the file at fault."""
    folder = Path(path).expanduser()
    if folder.suffix.lower() == ".gguf" and folder.is_file():  # a llama.cpp GGUF file
        from .gguf_loader import load_gguf

        return load_gguf(folder, progress)  # type: ignore[no-any-return]
    report = progress or (lambda fraction, message: None)
    try:
        is_folder = folder.is_dir()
    except (OSError, ValueError) as exc:  # a name too long, a NUL character
        raise CheckpointError(folder, f"cannot open the model folder: {exc}") from exc
    if not is_folder:
        raise CheckpointError(folder, "is not a folder (choose the folder that holds config.json)")
    report(0.0, "reading config.json")
    cfg = load_config(folder / "config.json")
    report(0.05, "reading tokenizer")
    # What the tokenizer reads must be regular files of a sane size (a FIFO would block it,
    # /dev/zero would never end); the tokenizer then reports their content.
    regular_file_size(
        folder / "tokenizer.json",
        "tokenizer.json",
        missing="tokenizer.json is missing: the model cannot read or write text",
    )
    tok_cfg = folder / "tokenizer_config.json"
    if _exists(tok_cfg):
        load_json_file(tok_cfg, "tokenizer_config.json", MAX_TOKENIZER_CONFIG_BYTES)  # nesting, encoding
    tok = Tokenizer(folder)

    report(0.1, "checking weights")
    mapping = _weight_files(folder)
    files = sorted(set(mapping.values())) if mapping else [folder / SINGLE_FILE]
    # Every header is validated, and the config checked against the files' sizes, before anything
    # is mapped or built from the config's sizes.
    tables: list[SafetensorsTable] = []
    for i, f in enumerate(files):
        report(0.1 + 0.4 * i / len(files), f"checking {f.name}")
        tables.append(read_table(f))
    _check_sizes_before_building(cfg, tables, folder)
    entries: dict[str, tuple[SafetensorsTable, tuple[int, ...]]] = {}
    for table in tables:
        for name, entry in table.entries.items():
            if mapping and mapping.get(name) != table.path:
                continue  # a shard may carry tensors the index assigns elsewhere; trust the index
            entries[name] = (table, entry.shape)
    for name, f in mapping.items():
        if name not in entries:
            raise CheckpointError(f, f"tensor {shown(name)} is named in {INDEX_FILE} but not in this file")

    expected = expected_tensors(cfg)
    missing = [n for n in expected if n not in entries]
    if missing:
        where = files[0] if len(files) == 1 else folder
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise CheckpointError(where, f"missing tensor(s) {missing[:3]}{more} for a {cfg.n_layers}-layer model")
    extra = [n for n in entries if n not in expected]
    if extra:
        raise CheckpointError(
            entries[extra[0]][0].path,
            f"unexpected tensor(s) {shown(extra[:3], 200)}: not part of the LLaDA architecture in config.json",
        )
    for name, shape in expected.items():
        table, found = entries[name]
        if found != shape:
            raise CheckpointError(
                table.path, f"tensor {name!r} has shape {list(found)}, config.json implies {list(shape)}"
            )
    tensors: dict[str, TensorView] = {}
    for i, table in enumerate(tables):
        report(0.5 + 0.4 * i / len(tables), f"mapping {table.path.name}")
        for name, view in map_tensors(table).items():
            if name in entries and entries[name][0] is table:
                tensors[name] = view
    _check_norms_finite(tensors)

    report(0.9, "checking special tokens")
    cfg_path = folder / "config.json"
    mask_id = _special_id(folder, "mask_token", cfg.mask_token_id, MASK_TOKEN, tok)
    eos_id = _special_id(folder, "eos_token", cfg.eos_token_id, tok.eos_token, tok)
    eot_id = _special_id(folder, "eot_token", cfg.eot_token_id, EOT_TOKEN, tok)
    bos_id = _special_id(folder, "bos_token", cfg.bos_token_id, tok.bos_token, tok)
    for what, value in (("mask_token_id", mask_id), ("eos_token_id", eos_id), ("eot_token_id", eot_id)):
        if value is None and what == "eot_token_id":
            continue  # optional: only confidence_eos_eot_inf needs it
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
    assert mask_id is not None and eos_id is not None
    pad_id = cfg.pad_token_id if cfg.pad_token_id is not None else eos_id
    report(1.0, "ready")
    return Checkpoint(
        path=folder,
        config=cfg,
        tensors=tensors,
        tokenizer=tok,
        mask_id=mask_id,
        eos_id=eos_id,
        eot_id=eos_id if eot_id is None else eot_id,
        pad_id=pad_id,
        bos_id=bos_id,
        files=files,
        has_eot=eot_id is not None,
    )
