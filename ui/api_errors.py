"""The HTTP API's errors: OpenAI's error object, with the status each case calls for.

``{"error": {"message", "type", "param", "code"}}``: 400 for a bad request (FastAPI's
422 too, as OpenAI answers), 401, 404, 405 with ``Allow``, 413, 429 with ``Retry-After``,
503 when the index or the model is not there. Library errors are converted here, at the edge.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag.errors import (
    ConfigError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
    InputError,
    ModelError,
    RagError,
)
from ui.openai_format import error_body
from ui.queue import QueueFull

log = logging.getLogger(__name__)


class ApiError(HTTPException):
    """An error with OpenAI's ``type``, ``param`` and ``code``."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers=headers)
        self.kind, self.param, self.code = kind, param, code


def rag_error(err: RagError) -> ApiError:
    """A library error as an HTTP status: the client's fault, or the server's state."""
    if isinstance(err, InputError | ConfigError):
        return ApiError(400, str(err), param=_setting_named(err))
    if isinstance(err, IndexNotFoundError | IndexMismatchError | IndexCorruptError):
        return ApiError(503, str(err), "server_error", code="index_unavailable")
    if isinstance(err, IndexLockedError):
        return ApiError(503, str(err), "server_error", code="index_locked")
    if isinstance(err, ModelError):
        return ApiError(503, str(err), "server_error", code="model_unavailable")
    return ApiError(500, str(err), "server_error")


def _setting_named(err: RagError) -> str | None:
    for name in ("k", "temperature", "max_tokens"):
        if str(err).startswith(f"{name} "):
            return name
    return None


def queue_full(err: QueueFull) -> ApiError:
    return ApiError(
        429,
        str(err),
        "rate_limit_error",
        code="queue_full",
        headers={"Retry-After": str(err.retry_after)},
    )


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"The request body is larger than the limit of {limit:,} bytes.",
            code="request_too_large",
        )


def install_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc, ApiError):
            body = error_body(exc.detail, exc.kind, param=exc.param, code=exc.code)
        else:
            kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
            code = "not_found" if exc.status_code == 404 else None
            body = error_body(str(exc.detail), kind, code=code)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # OpenAI answers 400 where FastAPI would say 422.
        first = exc.errors()[0] if exc.errors() else {}
        where = [str(p) for p in first.get("loc", ()) if p != "body"]
        if first.get("type") == "json_invalid":
            message = f"The request body is not valid JSON ({first.get('ctx', {}).get('error')})."
            return JSONResponse(error_body(message, "invalid_request_error"), status_code=400)
        param = ".".join(where) or None
        message = f"{param or 'the body'}: {first.get('msg', 'invalid value')}"
        return JSONResponse(
            error_body(message, "invalid_request_error", param=param), status_code=400
        )

    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        body = error_body("The server failed to answer; its log says why.", "server_error")
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, failed)
    app.add_exception_handler(RequestValidationError, invalid)  # type: ignore[arg-type]
