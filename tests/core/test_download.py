"""Downloads through huggingface_hub against a hub stand-in on loopback (issue 13).

The server below answers the way the hub's HTTP API does for huggingface_hub: model info at
/api/models/{repo}/revision/{rev} (siblings with sizes), files at /{repo}/resolve/{rev}/{file}
with ETag, X-Repo-Commit and Content-Length on HEAD and GET, and Range requests (206). It serves a
tiny checkpoint written by core.checkpoint_writer, can cut a transfer midway, and can answer as a
gated repository. huggingface_hub is pointed at it with endpoint= (what HF_ENDPOINT sets).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llada_studio.core import cli
from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.checkpoint_writer import random_checkpoint
from llada_studio.core.events import CancelToken
from llada_studio.core.hub_download import KNOWN_CHECKPOINTS, DownloadCancelled, DownloadError, download_model
from llada_studio.core.model_library import ENV_MODELS_DIR, library_dir, list_models

REPO = "GSAI-ML/LLaDA-8B-Instruct"
SHA = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range)
        self.cut_first_get_of: str | None = None  # send half of this file once, then hang up
        self.gated = False
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def handle_any(self) -> None:
                path = self.path.split("?")[0]
                hub.requests.append((self.command, path, self.headers.get("Range")))
                if hub.gated:
                    msg = b'{"error": "Access to model is restricted. You must have access to it."}'
                    return self._reply(401, msg, {"X-Error-Code": "GatedRepo", "Content-Type": "application/json"})
                if path.startswith(f"/api/models/{REPO}"):
                    import json

                    siblings = [{"rfilename": n, "size": len(b)} for n, b in hub.files.items()]
                    siblings.append({"rfilename": "modeling_llada.py", "size": 10})  # remote code: skipped
                    body = json.dumps({"id": REPO, "sha": SHA, "siblings": siblings, "private": False}).encode()
                    return self._reply(200, body, {"Content-Type": "application/json"})
                prefix = f"/{REPO}/resolve/"
                if not path.startswith(prefix):
                    return self._reply(404, b"{}", {"X-Error-Code": "RepoNotFound"})
                name = path[len(prefix) :].split("/", 1)[1]
                if name not in hub.files:
                    return self._reply(404, b"{}", {"X-Error-Code": "EntryNotFound"})
                data = hub.files[name]
                headers = {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Repo-Commit": SHA}
                start = 0
                rng = self.headers.get("Range")
                if rng and self.command == "GET":
                    start = int(rng.split("=")[1].split("-")[0])
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                code = 206 if start else 200
                if self.command == "GET" and name == hub.cut_first_get_of and not start:
                    hub.cut_first_get_of = None
                    self.send_response(200)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                return self._reply(code, data[start:], headers)

            do_GET = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def ranged_gets(self, name: str) -> list[str | None]:
        return [r for m, p, r in self.requests if m == "GET" and p.endswith("/" + name) and r]


@pytest.fixture(scope="module")
def checkpoint_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = random_checkpoint(tmp_path_factory.mktemp("hub") / "LLaDA-8B-Instruct", dtype="bf16", shards=2)
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


@pytest.fixture
def hub(checkpoint_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "5")
    import huggingface_hub.constants

    # 4 KiB chunks (10 MB by default): a cut transfer of a small file keeps what it received
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 4096)
    server = FakeHub(checkpoint_files)
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_downloads_a_checkpoint_that_loads(hub: FakeHub, tmp_path: Path):
    reports = []
    folder = download_model(REPO, tmp_path / "m", endpoint=hub.url, on_progress=reports.append)
    for name, data in hub.files.items():
        assert (folder / name).read_bytes() == data
    assert not (folder / "modeling_llada.py").exists()
    ck = load_checkpoint(folder)
    assert ck.weight_dtype == "bf16"
    total = sum(len(b) for b in hub.files.values())
    assert reports[-1].done == reports[-1].total == total
    assert reports[-1].files_done == reports[-1].files_total == len(hub.files)
    assert {r.file for r in reports} == set(hub.files)
    assert all(a.done <= b.done for a, b in zip(reports, reports[1:]))


def test_interrupted_transfer_resumes(hub: FakeHub, tmp_path: Path):
    big = max(hub.files, key=lambda n: len(hub.files[n]))
    hub.cut_first_get_of = big
    folder = download_model(REPO, tmp_path / "m", endpoint=hub.url)
    assert (folder / big).read_bytes() == hub.files[big]
    ranged = hub.ranged_gets(big)
    start = int(ranged[0].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= len(hub.files[big]) // 2  # continued from the bytes kept, not restarted


def test_cancel_then_download_again(hub: FakeHub, tmp_path: Path):
    cancel = CancelToken()
    big = max(hub.files, key=lambda n: len(hub.files[n]))
    hub.cut_first_get_of = big  # leaves a partial file behind, then the cancel stops the retry

    def on_progress(p: Any) -> None:
        if p.file == big and p.file_done > 0:
            cancel.cancel()

    with pytest.raises(DownloadCancelled, match="run it again to resume"):
        download_model(REPO, tmp_path / "m", endpoint=hub.url, on_progress=on_progress, cancel=cancel)
    assert not (tmp_path / "m" / big).exists()
    folder = download_model(REPO, tmp_path / "m", endpoint=hub.url)
    assert (folder / big).read_bytes() == hub.files[big]  # the next run completes it


def test_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach the model hub"):
        download_model(REPO, tmp_path / "m", endpoint=f"http://127.0.0.1:{port}")


def test_gated_is_a_clear_error(hub: FakeHub, tmp_path: Path):
    hub.gated = True
    with pytest.raises(DownloadError, match="gated: accept its licence"):
        download_model(REPO, tmp_path / "m", endpoint=hub.url)


def test_disk_space_checked_first(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1000))
    with pytest.raises(DownloadError, match="not enough disk space"):
        download_model(REPO, tmp_path / "m", endpoint=hub.url)
    assert not [r for r in hub.requests if "/resolve/" in r[1]]  # nothing fetched


def test_cli_download(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "ENDPOINT", hub.url)
    monkeypatch.setattr(c, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    assert cli.main(["download", REPO, "--dir", str(tmp_path / "cli")]) == 0
    assert str(tmp_path / "cli") in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "cli").num_parameters > 0
    assert cli.main(["download", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(k.repo_id in listed for k in KNOWN_CHECKPOINTS)


def test_library_lists_bundled_and_downloaded(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV_MODELS_DIR, str(tmp_path / "lib"))
    assert library_dir() == tmp_path / "lib"
    download_model(REPO, endpoint=hub.url)  # default: library/<name>
    (tmp_path / "lib" / "half").mkdir()
    (tmp_path / "lib" / "half" / "config.json").write_text("{}")
    entries = list_models()
    assert entries[0].bundled and entries[0].family == "bundled" and entries[0].problem is None
    instruct = next(e for e in entries if e.name == "LLaDA-8B-Instruct")
    assert instruct.family == "LLaDA-8B-Instruct" and instruct.dtype == "bf16" and instruct.has_chat_template
    assert instruct.size_bytes == sum(len(b) for b in hub.files.values())
    half = next(e for e in entries if e.name == "half")
    assert half.problem and "no .safetensors" in half.problem
