"""The HTTP API beside the web chat, put together from its routers.

``/v1/chat/completions`` and ``/v1/models`` speak OpenAI's format, so existing
clients and chat front-ends can point at newsrag (``ui.api_openai``); ``/api/...``
gives the same JSON as ``rag search --json``, ``rag ask --json``, ``rag list --json``
and ``rag index --json``, and ``/healthz`` says what is loaded (``ui.api_newsrag``);
any other path under ``/v1`` or ``/api`` is the API's own 404 or 405
(``ui.api_fallbacks``). The app's OpenAPI schema is at ``/docs``.

Every route asks for the key, when one is set; the routers share one ``ApiContext``
(``ui.api_context``), which runs questions through the ``ModelQueue`` the web chat uses.
Errors are OpenAI-style objects: ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from rag.service import RagService
from ui import api_newsrag as newsrag_routes
from ui import api_openai as openai_routes
from ui.api_context import ApiContext, ApiOptions, keep_context
from ui.api_errors import ApiError, BodyTooLarge, install_error_handlers
from ui.api_fallbacks import add_fallbacks
from ui.openai_format import error_body
from ui.queue import ModelQueue


class BodyLimit:
    """ASGI middleware: refuse API bodies over their cap (413), by header or while read.

    Only the API's paths are capped here; the web chat's uploads have Gradio's
    own ``max_file_size``.
    """

    def __init__(self, app: Any, *, options: ApiOptions) -> None:
        self.app = app
        self.options = options

    def limit_for(self, path: str) -> int | None:
        if path.rstrip("/") == "/api/articles":
            return self.options.max_upload_bytes + 64_000  # room for the multipart framing
        if path.startswith(("/v1/", "/api/")):
            return self.options.max_body_bytes
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        limit = self.limit_for(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            too_large = BodyTooLarge(limit)
            body = error_body(too_large.detail, too_large.kind, code=too_large.code)
            await JSONResponse(body, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def key_check(options: ApiOptions) -> Callable[[Request], None]:
    """A dependency: with a key set, ``Authorization: Bearer KEY`` or 401."""
    expected = options.api_key.encode() if options.api_key else None

    def check(request: Request) -> None:
        if expected is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest takes as long whatever the key's first wrong byte.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise ApiError(
                401,
                "Missing or wrong API key: send 'Authorization: Bearer KEY' with the key the "
                "server was started with (--api-key or RAG_API_KEY).",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def build_api(service: RagService, queue: ModelQueue, options: ApiOptions) -> FastAPI:
    """The API routes; ``ui.server`` mounts the web chat beside them."""
    # Swagger UI's script and styles come from the package, so /docs works offline and the
    # page loads nothing from outside the machine; ReDoc is left out (it asks Google for fonts).
    app = FastAPIOffline(
        title="newsrag",
        description="Questions about your news articles, answered with checked citations.",
        version="1",
        redoc_url=None,
    )
    install_error_handlers(app)
    keep_context(app, ApiContext(service, queue, options))
    # The key is asked here, for every route: the routers carry no guard of their own.
    secured = [Depends(key_check(options))]
    for router in (newsrag_routes.health, openai_routes.router, newsrag_routes.router):
        app.include_router(router, dependencies=secured)
    # Anything else under /v1 and /api is the API's 404, not the web chat's page.
    add_fallbacks(app, ("/v1", "/api"), dependencies=secured)
    return app
