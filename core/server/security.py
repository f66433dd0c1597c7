"""Who may call the server and how much one request may ask: the API key, the loopback rule for
binding, and the size and length limits."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from starlette.requests import Request

from .errors import APIError, too_large, unauthorized

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


@dataclass(frozen=True)
class Limits:
    """What one request may ask. `max_tokens` None: the model's context decides alone."""

    max_body_bytes: int = 1 << 20  # a request body over this is refused (413) before it is parsed
    max_tokens: int | None = None  # generated tokens per request
    max_steps: int = 4096  # sampler steps per request (a step costs a forward pass)
    max_queue: int = 32  # requests waiting for the engine; one more is answered 503
    max_batch: int = 8  # requests run together as one padded batch


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of the loopback interface. A name we cannot
    classify without resolving it counts as not loopback (the safe side)."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class BindError(ValueError):
    """A bind the server refuses (a non-loopback address without an API key)."""


def check_bind(host: str, api_key: str | None) -> None:
    if not is_loopback(host) and not api_key:
        raise BindError(
            f"refusing to listen on {host} without an API key: anyone who can reach this machine could "
            "use it; give --api-key KEY (clients send 'Authorization: Bearer KEY'), or bind 127.0.0.1"
        )


def check_key(request: Request, api_key: str | None) -> None:
    """401 unless the request carries the key (no key configured: every request is let in)."""
    if not api_key:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise unauthorized()


def check_browser_safety(request: Request, api_key: str | None) -> None:
    """Keep web pages the user visits from driving a keyless loopback server.

    A page can send a "simple" cross-origin POST (text/plain, no preflight) to 127.0.0.1, so a
    request body must be declared JSON (415 otherwise), which forces the browser's CORS preflight
    that this server never grants. A page can also rebind its own host name to 127.0.0.1 (DNS
    rebinding) and then read the answers, so without a key the Host header must name loopback."""
    if request.method == "POST":
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise APIError(
                415, "send the request body as JSON (Content-Type: application/json)", code="unsupported_media_type"
            )
    if not api_key:
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if not is_loopback(name):
            raise APIError(
                403,
                f"Host {host!r} is not a loopback name: a server without an API key answers only requests "
                "addressed to 127.0.0.1, [::1] or localhost",
                kind="permission_error",
                code="host_not_allowed",
            )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (a declared
    Content-Length over the limit is refused before anything is read)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _body_too_large(limit)
        except ValueError:
            raise APIError(400, "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _body_too_large(limit: int) -> APIError:
    return too_large(f"the request body is over this server's limit of {limit} bytes")
