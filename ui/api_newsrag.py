"""newsrag's own routes: ``/api/...`` gives the same JSON as ``rag search --json``,
``rag ask --json``, ``rag timeline --json``, ``rag list --json`` and ``rag index --json``;
``/healthz`` says what is loaded.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from rag.errors import IndexNotFoundError, RagError
from rag.overrides import checked_settings
from rag.search.query import check_question, make_filter, parse_day
from rag.serialize import answer_to_dict, document_to_dict, passage_to_dict, report_to_dict
from rag.timeline import timeline_to_dict
from rag.types import AnswerEvent, TokenEvent
from ui.api_context import ORIGIN, Context, ask_options
from ui.api_errors import ApiError, rag_error
from ui.uploads import forget_uploads, safe_name, store_uploads

router = APIRouter(prefix="/api", tags=["newsrag"])
# /healthz stands beside /api, not under it.
health = APIRouter(tags=["newsrag"])


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


@router.post("/search")
async def search(body: PassagesRequest, context: Context) -> list[dict[str, Any]]:
    """The ranked passages, as ``rag search --json``."""
    service = context.service
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


@router.post("/ask")
async def ask(body: AskRequest, request: Request, context: Context) -> dict[str, Any]:
    """One question answered whole, as ``rag ask --json``."""
    try:
        options = ask_options(context.service.settings, body, max_tokens=body.max_tokens)
        question = check_question(body.question)
    except RagError as err:
        raise rag_error(err) from None

    def start() -> Iterator[TokenEvent | AnswerEvent]:
        return options.stream(context.service, question)

    answer = await context.answer(context.ticket(), start, request)
    return answer_to_dict(answer)


@router.post("/timeline")
async def timeline(body: TimelineBody, context: Context) -> dict[str, Any]:
    """The story's dated events, oldest first, each cited, as ``rag timeline --json``."""
    service = context.service
    try:
        make_filter(body.since, body.until)
        topic = check_question(body.topic)
    except RagError as err:
        raise rag_error(err) from None

    def run() -> dict[str, Any]:
        return timeline_to_dict(service.timeline(topic, since=body.since, until=body.until))

    # The search embeds the topic: it takes its turn like a question does.
    return await context.run(run)


@router.get("/articles")
def articles(context: Context) -> list[dict[str, Any]]:
    """The indexed articles, as ``rag list --json``."""
    try:
        return [document_to_dict(i) for i in context.service.documents()]
    except IndexNotFoundError:
        return []
    except RagError as err:
        raise rag_error(err) from None


@router.post("/articles")
def add_articles(
    context: Context,
    files: list[UploadFile] = File(...),  # noqa: B008
) -> dict[str, Any]:
    """Index uploaded files (as the web chat's Articles tab): ``rag index --json``
    plus ``refused``, the files that gave no article."""
    service = context.service
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
                paths, service.upload_dir, max_bytes=context.options.max_upload_bytes
            )
            report = service.index_paths(saved) if saved else None
        except RagError as err:
            raise rag_error(err) from None
        except OSError as err:
            raise ApiError(500, f"Could not keep the uploaded files ({err}).") from None
    result = report_to_dict(report) if report else {"added": 0, "problems": []}
    result["refused"] = [{"name": r.name, "reason": r.reason} for r in refused]
    return result


@router.delete("/articles/{doc_id}")
def delete_article(doc_id: str, context: Context) -> dict[str, Any]:
    """Remove one article by its exact id (never a path); the removed article back."""
    service = context.service
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


@health.get("/healthz")
def healthz(context: Context) -> dict[str, Any]:
    """Whether the index and the model are loaded, and how many articles there are."""
    service = context.service
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
        "queue": {"answering": context.queue.busy, "waiting": context.queue.waiting},
    }
