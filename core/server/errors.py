"""Errors in OpenAI's wire shape: `{"error": {"message", "type", "param", "code"}}` with the HTTP
status a client library maps to its own exception (400 BadRequestError, 401 AuthenticationError,
404 NotFoundError, 413, 503 InternalServerError/busy)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class APIError(Exception):
    """An error a route answers with; `status` is the HTTP status, `kind` OpenAI's error type."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def unauthorized() -> APIError:
    return APIError(
        401,
        "missing or wrong API key: send it as the header 'Authorization: Bearer KEY'",
        kind="authentication_error",
        code="invalid_api_key",
    )


def model_not_found(name: str, served: str) -> APIError:
    return APIError(
        404,
        f"the model {name!r} is not served here; this server serves {served!r} (GET /v1/models)",
        param="model",
        code="model_not_found",
    )


def too_large(message: str, param: str | None = None, code: str = "request_too_large") -> APIError:
    return APIError(413, message, param=param, code=code)


def busy(waiting: int) -> APIError:
    return APIError(
        503,
        f"the server is busy ({waiting} requests already waiting); retry shortly",
        kind="server_error",
        code="server_busy",
        headers={"Retry-After": "1"},
    )
