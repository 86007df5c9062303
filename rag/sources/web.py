"""Articles read from the web: a page by URL, cleaned like a local HTML file.

The fetched URL (fragment dropped) is the article's origin and its ``url``, so
citations link back to it and ``rag remove URL`` takes it out again. A PDF
link is read as a PDF. A page that answers 200 but is an error page ("Page
not found") or holds too little text to be an article is refused, not indexed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urldefrag

from rag.errors import FetchError
from rag.ingest.files import decode, load_documents, parse_html
from rag.ingest.pdf import is_pdf, read_pdf
from rag.sources.fetch import Fetcher, Response, is_url
from rag.types import LoadProblem, RawDocument

if TYPE_CHECKING:
    from rag.ingest.indexer import IndexReport
    from rag.service import RagService

# Fewer words than this is a stub, a paywall notice or an error page, not an article.
MIN_ARTICLE_WORDS = 25
# In a short page's title, any of these; in its opening text, only the phrases (a
# news story may well mention "500 people" or "an error").
_ERROR_TITLE = re.compile(
    r"\b(?:40[134]|410|50[0234]|not found|error|unavailable|access denied|forbidden)\b",
    re.IGNORECASE,
)
_ERROR_TEXT = re.compile(
    r"\b(?:page|file|article|document)s?\s+(?:was\s+|is\s+)?not\s+found\b"
    r"|\bpage (?:cannot|can't|could not) be (?:found|displayed)\b"
    r"|\b(?:error\s+(?:40[34]|410|50[0234])|(?:40[34]|410|50[0234])\s+(?:error|not found))\b"
    r"|\bservice (?:is )?(?:temporarily )?unavailable\b|\baccess denied\b",
    re.IGNORECASE,
)
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def article_origin(url: str) -> str:
    """The origin of an article read from ``url``: the URL without its #fragment."""
    return urldefrag(url.strip())[0]


def document_from_response(
    response: Response, origin: str, url: str
) -> tuple[RawDocument | None, LoadProblem | None]:
    """The article in a fetched page (HTML, PDF or plain text), or why there is none."""
    body = response.body
    kind = response.content_type
    if kind == "application/pdf" or is_pdf(body):
        return read_pdf(body, origin, url=url)
    if kind and not (kind in _HTML_TYPES or kind.startswith("text/")):
        return None, LoadProblem(origin, f"is {kind}, not a web page, PDF or text; skipped")
    text = _decode(body, response.charset)
    if text is None or not text.strip():
        return None, LoadProblem(origin, "the page is empty or not text; skipped")
    looks_html = kind in _HTML_TYPES or "<html" in text[:2000].lower()
    doc = parse_html(text, origin) if looks_html else RawDocument(text=text, origin=origin)
    if doc is None:
        return None, LoadProblem(origin, "no article text found in the page; skipped")
    problem = not_an_article(doc)
    if problem:
        return None, LoadProblem(origin, problem)
    return replace(doc, url=url), None


def _decode(body: bytes, charset: str | None) -> str | None:
    if charset:
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode(body)


def not_an_article(doc: RawDocument) -> str | None:
    """Why a page served with 200 is no article (an error page, a stub), or None."""
    words = len(doc.text.split())
    title, opening = doc.title or "", doc.text[:300]
    if words < 150 and (_ERROR_TITLE.search(title) or _ERROR_TEXT.search(opening)):
        head = " ".join(f"{title} {opening}".split())[:80]
        return f"looks like an error page ({head!r}); skipped"
    if words < MIN_ARTICLE_WORDS:
        return f"holds only {words} words, too few for an article; skipped"
    return None


def load_url(fetcher: Fetcher, url: str) -> tuple[RawDocument | None, LoadProblem | None]:
    origin = article_origin(url)
    try:
        response = fetcher.get(url)
    except FetchError as err:
        return None, LoadProblem(origin, err.reason)
    return document_from_response(response, origin, origin)


def load_sources(
    sources: Sequence[str], fetcher: Fetcher
) -> tuple[list[RawDocument], list[LoadProblem]]:
    """Documents from files, folders and http(s) URLs, in the order given."""
    urls = [s for s in sources if is_url(s)]
    paths = [s for s in sources if not is_url(s)]
    documents, problems = load_documents(paths) if paths else ([], [])
    for url in urls:
        doc, problem = load_url(fetcher, url)
        if doc is not None:
            documents.append(doc)
        if problem is not None:
            problems.append(problem)
    return documents, problems


def index_sources(
    service: RagService, sources: Sequence[str], *, rebuild: bool = False
) -> IndexReport:
    """``rag index`` with URLs among the paths: fetch them, then index everything at once."""
    from rag.sources.fetch import make_fetcher

    documents, problems = load_sources(sources, make_fetcher(service.settings))
    return service.indexer().index_documents(documents, problems=problems, rebuild=rebuild)
