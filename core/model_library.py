"""The models library: one folder of model folders (configurable), listed with what the window
shows: name, family, size on disk, dtype, whether it has a chat template. The bundled model is
always listed first. Listing reads only config.json, tokenizer_config.json and file sizes (never
the weights), and a folder that is not a checkpoint is listed with the reason."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .resources import bundled_model_dir

ENV_MODELS_DIR = "LLADA_STUDIO_MODELS"
WEIGHT_DTYPES = {"BF16": "bf16", "F16": "f16", "F32": "f32"}


def library_dir() -> Path:
    """$LLADA_STUDIO_MODELS, else the user's data folder: $XDG_DATA_HOME/llada-studio/models
    (~/.local/share/...), ~/Library/Application Support/... on macOS, %APPDATA%\\... on Windows."""
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "llada-studio" / "models"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    family: str  # LLaDA-8B-Instruct, LLaDA-8B-Base, LLaDA-1.5, bundled, other
    size_bytes: int
    dtype: str  # bf16, f16, f32, or "" when unknown
    has_chat_template: bool
    bundled: bool = False
    problem: str | None = None  # why it cannot be opened, when it visibly cannot


def family_of(folder: Path, config: dict[str, object]) -> str:
    """The family from the folder name or config (`_name_or_path`), else "other"."""
    text = f"{folder.name} {config.get('_name_or_path', '')}".lower().replace("_", "-")
    if "llada-1.5" in text or "llada1.5" in text:
        return "LLaDA-1.5"
    if "llada-8b-instruct" in text:
        return "LLaDA-8B-Instruct"
    if "llada-8b-base" in text:
        return "LLaDA-8B-Base"
    return "other"


def _weights_dtype(folder: Path) -> str:
    import struct

    for f in sorted(folder.glob("*.safetensors")):
        try:
            with f.open("rb") as fh:
                n = struct.unpack("<Q", fh.read(8))[0]
                if n > 100_000_000:
                    return ""
                header = json.loads(fh.read(n))
        except (OSError, ValueError, struct.error):
            return ""
        for name, entry in header.items():
            if name != "__metadata__" and isinstance(entry, dict) and entry.get("shape") and len(entry["shape"]) == 2:
                return WEIGHT_DTYPES.get(str(entry.get("dtype")), str(entry.get("dtype", "")).lower())
    return ""


def describe_folder(folder: Path, bundled: bool = False) -> ModelEntry:
    """A library entry for one folder (reads small files only)."""
    problem = None
    config: dict[str, object] = {}
    try:
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config = raw if isinstance(raw, dict) else {}
    except (OSError, ValueError):
        problem = "no readable config.json"
    chat = False
    try:
        tok = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        chat = isinstance(tok, dict) and bool(tok.get("chat_template"))
    except (OSError, ValueError):
        pass
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    if problem is None and not any(folder.glob("*.safetensors")):
        problem = "no .safetensors weights (a download not finished?)"
    return ModelEntry(
        name=folder.name,
        path=folder,
        family="bundled" if bundled else family_of(folder, config),
        size_bytes=size,
        dtype=_weights_dtype(folder),
        has_chat_template=chat,
        bundled=bundled,
        problem=problem,
    )


# GGUF general.file_type (llama.cpp's LLAMA_FTYPE) as the library shows it.
GGUF_FILE_TYPES = {0: "f32", 1: "f16", 2: "q4_0", 7: "q8_0", 14: "q4_k_s", 15: "q4_k_m", 17: "q5_k_m", 18: "q6_k",
                   32: "bf16"}


def describe_gguf(file: Path) -> ModelEntry:
    """A library entry for one GGUF file (its metadata only; the weights stay unread)."""
    name, family, dtype, chat, problem = file.stem, "other", "", False, None
    try:
        from gguf import GGUFReader

        fields = GGUFReader(file, "r").fields

        def value(key: str) -> object:
            field = fields.get(key)
            return field.contents() if field is not None else None

        arch = value("general.architecture")
        if arch != "llada":
            problem = f"a GGUF of architecture {arch!r}, not 'llada'"
        general = value("general.name")
        family = family_of(file, {"_name_or_path": general if isinstance(general, str) else ""})
        ftype = value("general.file_type")
        dtype = GGUF_FILE_TYPES.get(ftype, f"gguf type {ftype}") if isinstance(ftype, int) else ""
        chat = isinstance(value("tokenizer.chat_template"), str)
    except Exception as exc:  # noqa: BLE001 - listed with its problem, never a failed listing
        problem = f"not a readable GGUF file: {exc}"
    return ModelEntry(name=name, path=file, family=family, size_bytes=file.stat().st_size, dtype=dtype,
                      has_chat_template=chat, problem=problem)


def list_models(folder: str | Path | None = None) -> list[ModelEntry]:
    """The bundled model, then every sub-folder of the library (by name) holding a config.json
    or weights, and every GGUF file in the library or one of its sub-folders (llama.cpp's, or
    written by Quantize…)."""
    entries = [describe_folder(bundled_model_dir(), bundled=True)]
    root = Path(folder) if folder is not None else library_dir()
    if root.is_dir():
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if (sub / "config.json").exists() or any(sub.glob("*.safetensors")):
                entries.append(describe_folder(sub))
        ggufs = [*root.glob("*.gguf"), *root.glob("*/*.gguf")]
        entries += [describe_gguf(f) for f in sorted(ggufs) if f.is_file() and not f.name.startswith(".")]
    return entries
