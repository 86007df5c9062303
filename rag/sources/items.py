"""A feed fetched, and its new or changed items read into documents: the fetching half
of a refresh (``rag.sources.refresh`` indexes what this reads).

A feed that fails (404, 500, a timeout, not a feed at all) gives a failed
``FeedResult`` with its reason. An item whose feed carries only a summary is
read from its link (robots.txt permitting); one that cannot be read is counted
as failed, and is not recorded as seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from rag.errors import FetchError
from rag.sources.feeds import FeedState
from rag.sources.fetch import Fetcher, RobotsRules
from rag.sources.parse import FeedEntry, html_fragment_text, parse_feed
from rag.sources.web import article_origin, document_from_response
from rag.types import LoadProblem, RawDocument, content_hash

# An item carrying fewer words than this is a summary: its article is fetched from its link.
FULL_TEXT_WORDS = 150


@dataclass(frozen=True)
class FeedResult:
    """What one refresh did with one feed."""

    name: str
    url: str
    status: str  # "ok", "not modified" or "failed"
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    # Near-copies of an article already indexed, stored once: (item origin, doc id, title)
    # of the article each joined as another origin.
    merged: tuple[tuple[str, str, str], ...] = ()
    failed: int = 0  # items whose article could not be read (tried again next time)
    message: str = ""
    problems: tuple[LoadProblem, ...] = ()

    def summary(self) -> str:
        if self.status == "failed":
            return f"failed: {self.message}"
        if self.status == "not modified":
            return "not modified"
        parts = [f"{self.new} new", f"{self.changed} changed", f"{self.unchanged} unchanged"]
        for _origin, doc_id, title in self.merged[:3]:
            parts.append(f"1 merged as another origin of {doc_id} ({title})")
        if len(self.merged) > 3:
            parts.append(f"{len(self.merged) - 3} more merged as other origins of indexed articles")
        if self.failed:
            parts.append(f"{self.failed} failed")
        extra = f" ({self.message})" if self.message else ""
        return ", ".join(parts) + extra

    @property
    def copies(self) -> int:
        return len(self.merged)


@dataclass
class FetchedFeed:
    """One feed after fetching: the items still to read, and what to record as they are."""

    state: FeedState
    result: FeedResult
    pending: list[tuple[FeedEntry, bool]] = field(default_factory=list)  # (entry, seen before)
    feed_title: str = ""
    validators: tuple[str | None, str | None] | None = None
    unchanged: int = 0
    new: int = 0
    changed: int = 0
    failed: int = 0
    problems: list[LoadProblem] = field(default_factory=list)
    write_error: str | None = None


@dataclass
class ItemBatch:
    """Up to ``batch_items`` items of any feeds: read, indexed and recorded together."""

    documents: list[tuple[FetchedFeed, str, RawDocument]] = field(default_factory=list)
    records: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # feed, key
    problems: list[LoadProblem] = field(default_factory=list)


def item_origin(feed_url: str, entry: FeedEntry) -> str:
    if entry.link and entry.link.lower().startswith(("http://", "https://")):
        return article_origin(entry.link)
    return f"urn:newsrag:item:{content_hash(feed_url, entry.key)}"


def fetch_feed(state: FeedState, fetcher: Fetcher, full: bool = False) -> FetchedFeed:
    """The feed itself, and which of its items are new or changed (read later, in batches)."""
    headers = {}
    if state.etag and not full:
        headers["If-None-Match"] = state.etag
    if state.last_modified and not full:
        headers["If-Modified-Since"] = state.last_modified
    try:
        response = fetcher.get(state.url, headers=headers)
        if response.not_modified:
            return FetchedFeed(state, FeedResult(state.name, state.url, "not modified"))
        title, entries, notes = parse_feed(response.body, state.url)
    except FetchError as err:
        return FetchedFeed(state, FeedResult(state.name, state.url, "failed", message=err.reason))
    fetched = FetchedFeed(state, FeedResult(state.name, state.url, "ok", message="; ".join(notes)))
    state.title = title or state.title
    fetched.feed_title = title or state.name
    fetched.validators = (response.headers.get("etag"), response.headers.get("last-modified"))
    for entry in entries:
        known = state.items.get(entry.key)
        if known is not None and known.get("fp") == entry.fingerprint and not full:
            fetched.unchanged += 1
        else:
            fetched.pending.append((entry, known is not None))
    return fetched


def read_batch(
    items: Sequence[tuple[FetchedFeed, FeedEntry, bool]], fetcher: Fetcher, robots: RobotsRules
) -> ItemBatch:
    """Each item's article (its page fetched when the feed gives a summary), and its record."""

    def read(
        item: tuple[FetchedFeed, FeedEntry, bool],
    ) -> tuple[RawDocument | None, LoadProblem | None, str]:
        feed, entry, _seen = item
        origin = item_origin(feed.state.url, entry)
        return *_item_document(entry, origin, feed.feed_title, fetcher, robots), origin

    batch = ItemBatch()
    workers = max(1, min(fetcher.policy.max_concurrent, len(items)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feed-item") as pool:
        read_items = list(pool.map(read, items))
    for (feed, entry, seen), (doc, problem, origin) in zip(items, read_items, strict=True):
        if problem is not None:
            feed.problems.append(problem)
            batch.problems.append(problem)
        if doc is None:
            feed.failed += 1
            continue
        batch.documents.append((feed, entry.key, doc))
        record = {"fp": entry.fingerprint, "origin": origin}
        batch.records.setdefault(feed.state.name, {})[entry.key] = record
        if seen:
            feed.changed += 1
        else:
            feed.new += 1
    return batch


def _item_document(
    entry: FeedEntry, origin: str, feed_title: str, fetcher: Fetcher, robots: RobotsRules
) -> tuple[RawDocument | None, LoadProblem | None]:
    """The item's article: its own content when whole, else the page its link names."""
    text = html_fragment_text(entry.text) if entry.html_text else entry.text.strip()
    meta = {"title": entry.title, "date": entry.date, "source": feed_title}
    link = entry.link if entry.link and entry.link.startswith(("http://", "https://")) else None
    if len(text.split()) >= FULL_TEXT_WORDS or link is None:
        if not text.strip():
            return None, LoadProblem(origin, "the item has no text and no link")
        return RawDocument(text=text, origin=origin, url=link, **meta), None
    if not robots.allowed(link):
        note = LoadProblem(origin, "robots.txt disallows fetching it; indexed the feed's summary")
        if not text.strip():
            return None, LoadProblem(origin, "robots.txt disallows fetching it; no summary")
        return RawDocument(text=text, origin=origin, url=link, **meta), note
    try:
        response = fetcher.get(link)
    except FetchError as err:
        return None, LoadProblem(origin, f"the article could not be fetched ({err.reason})")
    doc, problem = document_from_response(response, origin, link)
    if doc is None:
        return None, problem
    meta = {k: v for k, v in meta.items() if v}  # the feed's own metadata wins
    meta.setdefault("title", doc.title)
    return replace(doc, **meta), None
