"""Download a LLaDA-family checkpoint from the Hugging Face hub with `huggingface_hub`.

huggingface_hub does the transfer: resumable (a partial file is kept as `.incomplete` and
continued with a Range request), ETag- and commit-checked, honouring HF_ENDPOINT, HF_TOKEN and
HF_HUB_OFFLINE. This module adds what the window and `llada-studio download` need: the known
checkpoints, a disk-space check before anything is fetched, progress per file and in total, a
cancel token, and errors that say what to do (offline, gated, not found).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .events import CancelToken


@dataclass(frozen=True)
class KnownCheckpoint:
    repo_id: str
    family: str
    description: str


KNOWN_CHECKPOINTS: tuple[KnownCheckpoint, ...] = (
    KnownCheckpoint("GSAI-ML/LLaDA-8B-Instruct", "LLaDA-8B-Instruct", "8B, chat (instruction-tuned), bf16, ~16 GB"),
    KnownCheckpoint("GSAI-ML/LLaDA-8B-Base", "LLaDA-8B-Base", "8B, base model (continues text), bf16, ~16 GB"),
    KnownCheckpoint("GSAI-ML/LLaDA-1.5", "LLaDA-1.5", "8B, chat (preference-aligned Instruct), bf16, ~16 GB"),
)

# What a model folder needs; the hub repositories also hold remote code and READMEs' images.
WANTED_SUFFIXES = (".safetensors", ".json", ".md", ".txt")
DISK_MARGIN = 256 * 1024 * 1024  # left free after the download


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report: the file being fetched and the totals, in bytes."""

    file: str
    file_done: int
    file_total: int
    done: int
    total: int
    files_done: int
    files_total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


OnProgress = Callable[[DownloadProgress], None]


class DownloadError(RuntimeError):
    """A download that cannot go on; the message says why and what to do."""


class DownloadCancelled(DownloadError):
    """Cancelled through the cancel token; what was fetched stays and the next try resumes."""


def default_models_dir() -> Path:
    from .model_library import library_dir

    return library_dir()


def _wanted(name: str) -> bool:
    return "/" not in name and name.endswith(WANTED_SUFFIXES) and not name.startswith(".")


def _explain(exc: BaseException, repo_id: str) -> DownloadError:
    from huggingface_hub import errors

    if isinstance(exc, errors.GatedRepoError):
        return DownloadError(
            f"{repo_id} is gated: accept its licence on the model's page, then log in "
            "(`hf auth login`, or set HF_TOKEN) and try again"
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return DownloadError(f"{repo_id}: no such model repository on the hub (or it is private: set HF_TOKEN)")
    if isinstance(exc, errors.RevisionNotFoundError):
        return DownloadError(f"{repo_id}: that revision does not exist")
    if isinstance(exc, (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError, OSError)) or (
        type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3"))
    ):
        return DownloadError(
            f"cannot reach the model hub to download {repo_id} ({type(exc).__name__}: {exc}); check the "
            "network (or HF_ENDPOINT / HF_HUB_OFFLINE) and try again: what was fetched is kept and resumed"
        )
    return DownloadError(f"downloading {repo_id} failed: {type(exc).__name__}: {exc}")


def _progress_class(report: Callable[[str, int, int], None], cancel: CancelToken | None, name: str) -> Any:
    """A tqdm stand-in for hf_hub_download: forwards byte counts, raises when cancelled."""
    from tqdm.auto import tqdm

    class Progress(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.n_bytes = int(kwargs.get("initial") or 0)
            self.size = int(kwargs.get("total") or 0)
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            report(name, self.n_bytes, self.size)

        def update(self, n: float | None = 1) -> bool | None:
            self.n_bytes += int(n or 0)
            report(name, self.n_bytes, self.size)
            if cancel is not None and cancel.cancelled:
                raise DownloadCancelled("download cancelled; run it again to resume")
            return None

    return Progress


def download_model(
    repo_id: str,
    dest_dir: str | Path | None = None,
    *,
    revision: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    on_progress: OnProgress | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Fetch `repo_id` into `dest_dir` (default: the models library/<name>) and return the folder.

    Raises DownloadError (offline, gated, not found, not enough disk space) or DownloadCancelled."""
    from huggingface_hub import HfApi, hf_hub_download

    folder = Path(dest_dir) if dest_dir is not None else default_models_dir() / repo_id.split("/")[-1]
    try:
        info = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, files_metadata=True, token=token)
    except Exception as exc:  # noqa: BLE001 - translated into what to do
        raise _explain(exc, repo_id) from exc
    siblings = [s for s in (info.siblings or []) if _wanted(s.rfilename)]
    if not any(s.rfilename.endswith(".safetensors") for s in siblings):
        raise DownloadError(f"{repo_id} holds no .safetensors weights: not a checkpoint this app can run")
    sizes = {s.rfilename: int(s.size or 0) for s in siblings}
    total = sum(sizes.values())
    present = sum(min(sizes[n], (folder / n).stat().st_size) for n in sizes if (folder / n).is_file())
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if total - present + DISK_MARGIN > free:
        raise DownloadError(
            f"not enough disk space for {repo_id}: it needs {(total - present) / 2**30:.1f} GiB more in "
            f"{folder}, which has {free / 2**30:.1f} GiB free; free some space or choose another folder (--dir)"
        )
    done_files: dict[str, int] = {}
    state = {"files_done": 0}

    def report(name: str, file_done: int, file_total: int) -> None:
        done_files[name] = file_done
        if on_progress is not None:
            on_progress(
                DownloadProgress(
                    file=name,
                    file_done=file_done,
                    file_total=file_total or sizes.get(name, 0),
                    done=sum(done_files.values()),
                    total=total,
                    files_done=state["files_done"],
                    files_total=len(sizes),
                )
            )

    for name, size in sizes.items():
        if cancel is not None and cancel.cancelled:
            raise DownloadCancelled("download cancelled; run it again to resume")
        try:
            hf_hub_download(
                repo_id,
                name,
                revision=info.sha,
                local_dir=folder,
                token=token,
                endpoint=endpoint,
                tqdm_class=_progress_class(report, cancel, name),
            )
        except DownloadCancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - translated into what to do
            raise _explain(exc, repo_id) from exc
        state["files_done"] += 1
        report(name, size, size)
    return folder
