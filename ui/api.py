"""The HTTP API beside the web chat.

``/v1/chat/completions`` and ``/v1/models`` speak OpenAI's format, so existing
clients and chat front-ends can point at newsrag; ``/api/...`` gives the same
JSON as ``rag search --json``, ``rag ask --json``, ``rag list --json`` and
``rag index --json``; ``/healthz`` says what is loaded. The app's OpenAPI
schema is at ``/docs``.

Every question goes through the ``ModelQueue`` the web chat uses, so the two
take turns in arrival order. A client that goes away while waiting leaves the
line; one that goes away mid-answer stops the model at the next token.
Errors are OpenAI-style objects: ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import hmac
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, File, Request, UploadFile
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Match

from rag.errors import IndexNotFoundError, RagError
from rag.overrides import checked_settings
from rag.search.query import check_question, make_filter, parse_day
from rag.serialize import answer_to_dict, document_to_dict, passage_to_dict, report_to_dict
from rag.service import RagService
from rag.timeline import timeline_to_dict
from rag.types import AnswerEvent, TokenEvent
from ui import api_openai as openai_routes
from ui.api_context import ORIGIN, ApiContext, ApiOptions, keep_context
from ui.api_errors import ApiError, BodyTooLarge, install_error_handlers, rag_error
from ui.openai_format import (
    error_body,
)
from ui.queue import ModelQueue
from ui.uploads import forget_uploads, safe_name, store_uploads


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


class SearchRequest(BaseModel):
    """``rag search`` and ``rag ask`` as JSON: the question, and the same filters as their flags."""

    model_config = ConfigDict(extra="forbid")
    question: str
    k: int | None = None
    since: str | None = None
    until: str | None = None
    sources: list[str] = Field(default_factory=list)
    as_of: str | None = None


class TimelineBody(BaseModel):
    """``rag timeline`` as JSON: the story's topic, and the days its events may fall on."""

    model_config = ConfigDict(extra="forbid")
    topic: str
    since: str | None = None
    until: str | None = None


class PassagesRequest(SearchRequest):
    """``/api/search``: ``explain`` adds why each passage ranks (as ``rag search --explain``)."""

    explain: bool = False


class AskRequest(SearchRequest):
    temperature: float | None = None
    max_tokens: int | None = None


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
    context = ApiContext(service, queue, options)
    keep_context(app, context)
    secured = [Depends(key_check(options))]
    api = APIRouter(prefix="/api", dependencies=secured, tags=["newsrag"])

    @api.post("/search")
    async def search(body: PassagesRequest) -> list[dict[str, Any]]:
        """The ranked passages, as ``rag search --json``."""
        try:
            where = make_filter(body.since, body.until, body.sources)
            day = parse_day(body.as_of, "as_of")
            k = checked_settings(service.settings, ORIGIN, k=body.k).k
        except RagError as err:
            raise rag_error(err) from None

        def run() -> list[dict[str, Any]]:
            passages = service.search(body.question, k=k, where=where, as_of=day)
            return [passage_to_dict(p, explain=body.explain) for p in passages]

        # The search embeds the question: it takes its turn like an answer does.
        return await context.run(run)

    @api.post("/ask")
    async def ask(body: AskRequest, request: Request) -> dict[str, Any]:
        """One question answered whole, as ``rag ask --json``."""
        try:
            where = make_filter(body.since, body.until, body.sources)
            day = parse_day(body.as_of, "as_of")
            settings = checked_settings(
                service.settings,
                ORIGIN,
                k=body.k,
                temperature=body.temperature,
                max_tokens=body.max_tokens,
            )
            question = check_question(body.question)
        except RagError as err:
            raise rag_error(err) from None

        def start() -> Iterator[TokenEvent | AnswerEvent]:
            return service.ask_stream(
                question,
                k=settings.k,
                temperature=settings.temperature,
                max_tokens=settings.max_tokens,
                where=where,
                as_of=day,
            )

        answer = await context.answer(context.ticket(), start, request)
        return answer_to_dict(answer)

    @api.post("/timeline")
    async def timeline(body: TimelineBody) -> dict[str, Any]:
        """The story's dated events, oldest first, each cited, as ``rag timeline --json``."""
        try:
            make_filter(body.since, body.until)
            topic = check_question(body.topic)
        except RagError as err:
            raise rag_error(err) from None

        def run() -> dict[str, Any]:
            return timeline_to_dict(service.timeline(topic, since=body.since, until=body.until))

        # The search embeds the topic: it takes its turn like a question does.
        return await context.run(run)

    @api.get("/articles")
    def articles() -> list[dict[str, Any]]:
        """The indexed articles, as ``rag list --json``."""
        try:
            return [document_to_dict(i) for i in service.documents()]
        except IndexNotFoundError:
            return []
        except RagError as err:
            raise rag_error(err) from None

    @api.post("/articles")
    def add_articles(files: list[UploadFile] = File(...)) -> dict[str, Any]:  # noqa: B008
        """Index uploaded files (as the web chat's Articles tab): ``rag index --json``
        plus ``refused``, the files that gave no article."""
        with tempfile.TemporaryDirectory(prefix="newsrag-upload-") as tmp:
            try:
                paths = []
                for n, upload in enumerate(files):
                    # The client's name is not trusted: its last component, cleaned.
                    path = Path(tmp) / str(n) / safe_name(upload.filename or "upload")
                    path.parent.mkdir()
                    with path.open("wb") as out:
                        shutil.copyfileobj(upload.file, out)
                    paths.append(path)
                service.store.check_owned()
                saved, refused = store_uploads(
                    paths, service.upload_dir, max_bytes=options.max_upload_bytes
                )
                report = service.index_paths(saved) if saved else None
            except RagError as err:
                raise rag_error(err) from None
            except OSError as err:
                raise ApiError(500, f"Could not keep the uploaded files ({err}).") from None
        result = report_to_dict(report) if report else {"added": 0, "problems": []}
        result["refused"] = [{"name": r.name, "reason": r.reason} for r in refused]
        return result

    @api.delete("/articles/{doc_id}")
    def delete_article(doc_id: str) -> dict[str, Any]:
        """Remove one article by its exact id (never a path); the removed article back."""
        try:
            known = {i.article.doc_id: i for i in service.documents()}
            if doc_id not in known:
                raise ApiError(
                    404, f"No indexed article has the id {doc_id!r}.", code="article_not_found"
                )
            removed = service.remove([doc_id])
            forget_uploads(service.upload_dir, removed, [d.article for d in service.documents()])
        except RagError as err:
            raise rag_error(err) from None
        return {"removed": [document_to_dict(known[doc_id])]}

    @app.get("/healthz", dependencies=secured, tags=["newsrag"])
    def healthz() -> dict[str, Any]:
        """Whether the index and the model are loaded, and how many articles there are."""
        try:
            articles = len(service.snapshot(vectors=False).documents)
            index_ok = True
        except RagError:
            articles, index_ok = 0, False
        model_ok = service.model_loaded
        return {
            "status": "ok" if index_ok and model_ok else "degraded",
            "index_loaded": index_ok,
            "model_loaded": model_ok,
            "model": context.model_name() if model_ok else None,
            "articles": articles,
            "queue": {"answering": queue.busy, "waiting": queue.waiting},
        }

    app.include_router(openai_routes.router, dependencies=secured)
    app.include_router(api)

    routes = list(app.router.routes)  # the real ones: the catch-alls below come after
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")

    def unknown(request: Request) -> None:
        path = request.url.path
        allowed = [
            m
            for m in methods
            if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes)
        ]
        if allowed:  # the route is there, for other methods
            raise ApiError(
                405,
                f"{request.method} is not allowed on {path}; use {' or '.join(allowed)}.",
                code="method_not_allowed",
                headers={"Allow": ", ".join(allowed)},
            )
        raise ApiError(
            404,
            f"{request.method} {path} is not a route of this API; see /docs.",
            code="unknown_route",
        )

    # Anything else under /v1 and /api is the API's 404, not the web chat's page.
    for prefix in ("/v1", "/api"):
        app.add_api_route(
            prefix + "/{rest:path}",
            unknown,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            dependencies=secured,
            include_in_schema=False,
        )
    return app
