"""Subscribed RSS and Atom feeds, and the refresh that keeps the index up to date with them.

Each feed has a small JSON state file in ``INDEX_DIR/feeds/`` (written to a
temporary file and renamed): its URL and name, the ETag and Last-Modified of
its last good fetch (sent back for a conditional GET), and for every item seen
its key, a fingerprint of what the feed said about it and the origin of the
article it gave. A refresh fetches every feed (``max_concurrent`` at a time),
skips items whose fingerprint is unchanged, gets the full article from the
item's link when the feed carries only a summary (robots.txt permitting),
and indexes everything new or changed in one write. An unchanged feed (304,
or the same items) costs one request and embeds nothing.

A feed that fails (404, 500, a timeout, not a feed at all) is reported with
its URL and reason; the others go on, and nothing already indexed is removed.
An item whose article could not be fetched is not recorded as seen, and the
feed's validators are not kept, so the next refresh tries it again.
"""

from __future__ import annotations

import datetime
import html
import json
import logging
import re
import shlex
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rag.errors import FetchError, IndexCorruptError, InputError, RagError, StorageError
from rag.ingest.clean import clean_document
from rag.ingest.indexer import Indexer, IndexReport
from rag.sources.fetch import Fetcher, RobotsRules, check_url
from rag.sources.syndication import CopyFinder
from rag.sources.web import article_origin, document_from_response
from rag.types import Article, LoadProblem, RawDocument, content_hash

log = logging.getLogger(__name__)

FEEDS_DIR = "feeds"
STATE_VERSION = 1
# An item carrying fewer words than this is a summary: its article is fetched from its link.
FULL_TEXT_WORDS = 150
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass
class FeedState:
    """What is known about one feed; saved as ``feeds/<name>.json``."""

    name: str
    url: str
    added_at: str
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    # item key -> {"fp": fingerprint, "origin": article origin}
    items: dict[str, dict[str, str]] = field(default_factory=dict)
    last_refresh: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "name": self.name,
            "url": self.url,
            "added_at": self.added_at,
            "title": self.title,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "items": self.items,
            "last_refresh": self.last_refresh,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> FeedState:
        return FeedState(
            name=str(data["name"]),
            url=str(data["url"]),
            added_at=str(data.get("added_at") or ""),
            title=data.get("title"),
            etag=data.get("etag"),
            last_modified=data.get("last_modified"),
            items=dict(data.get("items") or {}),
            last_refresh=data.get("last_refresh"),
        )


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


@dataclass(frozen=True)
class RefreshReport:
    feeds: tuple[FeedResult, ...]
    index: IndexReport | None
    seconds: float

    @property
    def ok(self) -> bool:
        return all(f.status != "failed" and not f.failed for f in self.feeds)

    @property
    def exit_code(self) -> int:
        """0 every feed refreshed; 1 some feed or item failed (the rest is indexed)."""
        return 0 if self.ok else 1


# --- the feeds folder ----------------------------------------------------------


class FeedBook:
    """The subscribed feeds of one index folder. The constructor touches nothing."""

    def __init__(self, index_dir: str | Path) -> None:
        self.index_dir = Path(index_dir)
        self.folder = self.index_dir / FEEDS_DIR

    def lock(self) -> Any:
        """Held while feeds are changed or refreshed: one refresh at a time per index."""
        from filelock import FileLock

        self.folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.folder / ".lock"), timeout=600)

    def feeds(self) -> list[FeedState]:
        if not self.folder.is_dir():
            return []
        return [self._read(path) for path in sorted(self.folder.glob("*.json"))]

    def _read(self, path: Path) -> FeedState:
        """One feed's state; a damaged file is an error, not a feed that silently vanishes."""
        text = ""
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
            return FeedState.from_json(json.loads(text))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IndexCorruptError(damaged_state_message(path, text, exc)) from None

    def find(self, name_or_url: str) -> FeedState:
        wanted = name_or_url.strip()
        for state in self.feeds():
            if wanted in (state.name, state.url):
                return state
        known = ", ".join(s.name for s in self.feeds()) or "none yet"
        raise InputError(f"No feed is called or has the URL {wanted!r}; feeds: {known}.")

    def save(self, state: FeedState) -> None:
        from index.disk import atomic_write_text

        path = self.folder / f"{state.name}.json"
        text = json.dumps(state.to_json(), ensure_ascii=False, indent=1) + "\n"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
        except OSError as exc:
            raise StorageError(
                f"Could not write the feed state {path}: {exc.strerror or exc}. The previous "
                "state is kept; check the disk and the folder, and run `rag refresh` again."
            ) from None

    def delete(self, state: FeedState) -> None:
        (self.folder / f"{state.name}.json").unlink(missing_ok=True)


def damaged_state_message(path: Path, text: str, exc: BaseException) -> str:
    """What happened to the feed's state file, and the commands that repair it."""
    found = re.search(r'"url"\s*:\s*"([^"\s]+)"', text)
    url = shlex.quote(found.group(1)) if found else "URL"
    where, aside = shlex.quote(str(path)), shlex.quote(f"{path}.damaged")
    return (
        f"The state of the feed {path.stem!r} ({path}) is damaged ({exc}); its articles "
        f"stay indexed. To repair it, move the file away and subscribe again: "
        f"`mv {where} {aside} && rag feeds add {url} --name {shlex.quote(path.stem)}`; "
        "the next `rag refresh` embeds nothing already indexed."
    )


def _default_name(url: str, taken: set[str]) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "feed").removeprefix("www.")
    path = re.sub(r"[^A-Za-z0-9]+", "-", parts.path).strip("-")
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{host}-{path}" if path else host)[:56].strip("-.")
    name, n = base or "feed", 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def add_feed(book: FeedBook, fetcher: Fetcher, url: str, name: str | None = None) -> FeedState:
    """Subscribe to ``url`` after fetching it once to check that it is a feed."""
    url = url.strip()
    check_url(url)
    with book.lock():
        existing = book.feeds()
        if any(s.url == url for s in existing):
            raise InputError(f"{url} is already a feed here (`rag feeds list`).")
        taken = {s.name for s in existing}
        if name is not None:
            name = name.strip()
            if not _NAME.fullmatch(name):
                raise InputError(
                    f"A feed name must be 1-64 letters, digits, '.', '-' or '_', got {name!r}."
                )
            if name in taken:
                raise InputError(f"A feed is already called {name!r}; pick another --name.")
        response = fetcher.get(url)
        title, entries, _ = parse_feed(response.body, url)
        state = FeedState(
            name=name or _default_name(url, taken),
            url=url,
            added_at=_now(),
            title=title,
        )
        state.last_refresh = {"at": None, "status": "added", "summary": f"{len(entries)} items"}
        book.save(state)
        return state


def remove_feed(
    book: FeedBook, name_or_url: str, *, indexer: Indexer | None = None
) -> tuple[FeedState, list[Article]]:
    """Unsubscribe; with ``indexer``, also remove the articles only this feed gave."""
    with book.lock():
        state = book.find(name_or_url)
        removed: list[Article] = []
        if indexer is not None and state.items and indexer.store.exists():
            others = {
                item["origin"]
                for other in book.feeds()
                if other.name != state.name
                for item in other.items.values()
            }
            mine = {item["origin"] for item in state.items.values()} - others
            before = indexer.store.load(embedder_id=indexer.embedder.model_id).documents
            indexer.index_articles([], retract=mine)
            after = indexer.store.load(embedder_id=indexer.embedder.model_id).documents
            removed = [a for d, a in before.items() if d not in after]
        book.delete(state)
        return state, removed


# --- parsing -------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    key: str
    fingerprint: str
    title: str | None
    link: str | None
    date: str | None
    text: str  # the item's content, or its summary
    html_text: bool


def parse_feed(body: bytes, url: str) -> tuple[str | None, list[FeedEntry], list[str]]:
    """(feed title, entries without repeats, notes on what was odd) or a FetchError saying why."""
    import feedparser

    parsed = feedparser.parse(body)
    version = parsed.get("version") or ""
    entries = parsed.get("entries") or []
    if not entries and not version:
        head = body[:2000].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise FetchError(url, "is an HTML page, not an RSS or Atom feed")
        if parsed.get("bozo"):
            reason = parsed.get("bozo_exception")
            raise FetchError(url, f"is not a readable RSS or Atom feed (malformed XML: {reason})")
        raise FetchError(url, "is not an RSS or Atom feed")
    title = (parsed.get("feed") or {}).get("title") or None
    seen: dict[str, FeedEntry] = {}
    repeats = 0
    for raw in entries:
        entry = _entry(raw, url)
        if entry is None:
            continue
        if entry.key in seen:
            repeats += 1
            continue
        seen[entry.key] = entry
    notes = [f"listed {repeats} item(s) twice; read once"] if repeats else []
    if parsed.get("bozo") and not isinstance(
        parsed.get("bozo_exception"), feedparser.CharacterEncodingOverride
    ):
        reason = parsed.get("bozo_exception")
        if not seen:
            raise FetchError(url, f"is not a readable RSS or Atom feed (malformed XML: {reason})")
        notes.append(f"malformed XML ({reason}); read the {len(seen)} item(s) that could be read")
    return title, list(seen.values()), notes


def _entry(raw: Any, feed_url: str) -> FeedEntry | None:
    content = raw.get("content") or []
    body = max((c.get("value") or "" for c in content), key=len, default="")
    summary = raw.get("summary") or ""
    text = body if len(body) >= len(summary) else summary
    link = raw.get("link") or None
    title = raw.get("title") or None
    date = _entry_date(raw)
    key = raw.get("id") or link or content_hash(feed_url, title or "", text)
    if not (text.strip() or link):
        return None
    # dict.get: feedparser's own get() maps a missing "updated" to "published", with a warning.
    updated = str(dict.get(raw, "updated") or "")
    fingerprint = content_hash(title or "", link or "", date or "", text, updated)
    return FeedEntry(str(key), fingerprint, title, link, date, text, "<" in text)


def _entry_date(raw: Any) -> str | None:
    parsed = dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed")
    if parsed:
        return time.strftime("%Y-%m-%d", parsed)
    return None


_BLOCKS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "br")
_TAG = re.compile(r"<[^>]*>")


def html_fragment_text(fragment: str) -> str:
    """The text of a feed item's HTML: blocks become paragraphs, scripts and tags go."""
    from lxml import html as lxml_html

    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except Exception:  # lxml rejects some fragments; plain tag stripping is good enough then
        text = html.unescape(_TAG.sub(" ", fragment))
    else:
        for bad in root.xpath(".//script|.//style"):
            bad.drop_tree()
        for element in root.iter(*_BLOCKS):
            element.tail = "\n" + (element.tail or "")
        text = root.text_content()
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n\n".join(line for line in lines if line)


# --- refreshing ----------------------------------------------------------------


@dataclass
class _Fetched:
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
class _Batch:
    """Up to ``batch_items`` items of any feeds: read, indexed and recorded together."""

    documents: list[tuple[_Fetched, str, RawDocument]] = field(default_factory=list)
    records: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # feed, key
    problems: list[LoadProblem] = field(default_factory=list)


def _item_origin(feed_url: str, entry: FeedEntry) -> str:
    if entry.link and entry.link.lower().startswith(("http://", "https://")):
        return article_origin(entry.link)
    return f"urn:newsrag:item:{content_hash(feed_url, entry.key)}"


def _fetch_feed(state: FeedState, fetcher: Fetcher, full: bool = False) -> _Fetched:
    """The feed itself, and which of its items are new or changed (read later, in batches)."""
    headers = {}
    if state.etag and not full:
        headers["If-None-Match"] = state.etag
    if state.last_modified and not full:
        headers["If-Modified-Since"] = state.last_modified
    try:
        response = fetcher.get(state.url, headers=headers)
        if response.not_modified:
            return _Fetched(state, FeedResult(state.name, state.url, "not modified"))
        title, entries, notes = parse_feed(response.body, state.url)
    except FetchError as err:
        return _Fetched(state, FeedResult(state.name, state.url, "failed", message=err.reason))
    fetched = _Fetched(state, FeedResult(state.name, state.url, "ok", message="; ".join(notes)))
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


def _read_batch(
    items: Sequence[tuple[_Fetched, FeedEntry, bool]], fetcher: Fetcher, robots: RobotsRules
) -> _Batch:
    """Each item's article (its page fetched when the feed gives a summary), and its record."""

    def read(
        item: tuple[_Fetched, FeedEntry, bool],
    ) -> tuple[RawDocument | None, LoadProblem | None, str]:
        feed, entry, _seen = item
        origin = _item_origin(feed.state.url, entry)
        return *_item_document(entry, origin, feed.feed_title, fetcher, robots), origin

    batch = _Batch()
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


# Items read, indexed and recorded at a time: an interrupted refresh keeps every batch
# before it, and memory holds one batch of articles, not the whole feed.
BATCH_ITEMS = 200


def refresh_feeds(
    book: FeedBook,
    indexer: Indexer | Callable[[], Indexer],
    fetcher: Fetcher,
    *,
    names: Sequence[str] = (),
    full: bool = False,
    on_feed: Callable[[FeedResult], None] | None = None,
    batch_items: int = BATCH_ITEMS,
) -> RefreshReport:
    """Fetch every feed (or those named), index what is new or changed, save the states.

    Items are read and indexed ``batch_items`` at a time, and each batch's items
    are recorded in their feeds' states right after its index write: stopped
    half-way, a refresh keeps what it finished, and the next one goes on from there.
    ``full`` reads every feed and item again as if never seen (after ``rag index
    --rebuild``, say); articles already indexed are still not embedded again.
    ``indexer`` may be a function that makes one: it is called only when there is
    something to index, so a refresh that finds nothing new loads no model.
    """
    started = time.perf_counter()
    if not isinstance(indexer, Indexer):
        indexer = _Lazy(indexer)  # type: ignore[assignment]
    with book.lock():
        states = [book.find(n) for n in names] if names else book.feeds()
        robots = RobotsRules(fetcher)
        workers = max(1, min(fetcher.policy.max_concurrent, len(states)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feed") as pool:
            fetched = list(pool.map(lambda s: _fetch_feed(s, fetcher, full), states))
        index_report = _index_in_batches(book, fetched, indexer, fetcher, robots, batch_items)
        results = []
        for feed in fetched:
            result = _finish_feed(feed)
            book.save(feed.state)
            results.append(result)
            if on_feed is not None:
                on_feed(result)
    return RefreshReport(tuple(results), index_report, time.perf_counter() - started)


def _index_in_batches(
    book: FeedBook,
    fetched: Sequence[_Fetched],
    indexer: Indexer,
    fetcher: Fetcher,
    robots: RobotsRules,
    batch_items: int,
) -> IndexReport | None:
    """Read, index and record the pending items a batch at a time; the reports summed."""
    pending = [(f, entry, seen) for f in fetched for entry, seen in f.pending]
    report: IndexReport | None = None
    finder: CopyFinder | None = None
    for at in range(0, len(pending), batch_items):
        batch = _read_batch(pending[at : at + batch_items], fetcher, robots)
        if not batch.documents:
            continue
        if finder is None:  # once, and only when there is something to compare
            finder = _copy_finder(indexer)
        articles, retract, problems = _articles_to_index(batch, finder)
        try:
            written = indexer.index_articles(articles, problems=problems, retract=retract)
        except RagError as err:  # the index is unchanged: this batch and the rest wait
            for feed, _entry, _seen in pending[at:]:
                feed.write_error = str(err)
            return report
        report = written if report is None else _summed(report, written)
        for feed in {id(f): f for f, _key, _doc in batch.documents}.values():
            feed.state.items.update(batch.records.get(feed.state.name, {}))
            book.save(feed.state)
    return report


def _finish_feed(feed: _Fetched) -> FeedResult:
    """The feed's result; its validators are kept only when every item was read and indexed."""
    result = feed.result
    if result.status == "ok":
        result = replace(
            result,
            new=feed.new,
            changed=feed.changed,
            unchanged=feed.unchanged,
            failed=feed.failed,
            problems=tuple(feed.problems),
        )
    if feed.write_error:
        result = replace(result, status="failed", message=feed.write_error)
    elif feed.validators is not None and not feed.failed:
        # Otherwise the whole feed is fetched again next time, to retry those items.
        feed.state.etag, feed.state.last_modified = feed.validators
    feed.state.last_refresh = {"at": _now(), "status": result.status, "summary": result.summary()}
    return result


def _summed(a: IndexReport, b: IndexReport) -> IndexReport:
    """Two batches' reports as one: counts added, totals from the later."""
    return replace(
        b,
        added=a.added + b.added,
        unchanged=a.unchanged + b.unchanged,
        replaced=a.replaced + b.replaced,
        removed=a.removed + b.removed,
        chunks_embedded=a.chunks_embedded + b.chunks_embedded,
        problems=a.problems + b.problems,
        seconds=a.seconds + b.seconds,
        embed_seconds=a.embed_seconds + b.embed_seconds,
    )


class _Lazy:
    """An indexer made on first use."""

    def __init__(self, make: Callable[[], Indexer]) -> None:
        self._make = make
        self._indexer: Indexer | None = None

    def __getattr__(self, name: str) -> Any:
        if self._indexer is None:
            self._indexer = self._make()
        return getattr(self._indexer, name)


def _copy_finder(indexer: Indexer) -> CopyFinder:
    """Near-copy detection against every indexed article (their text only, no vectors)."""
    finder = CopyFinder()
    if indexer.store.exists():
        finder.add_all(indexer.store.load(vectors=False).documents.values())
    return finder


def _articles_to_index(
    batch: _Batch, finder: CopyFinder
) -> tuple[list[Article], set[str], list[LoadProblem]]:
    """Clean the batch's documents; a near-copy of a known article joins it instead."""
    problems = list(batch.problems)
    articles: list[Article] = []
    retract: set[str] = set()
    for feed, key, doc in batch.documents:
        article = clean_document(doc)
        if article is None:
            problems.append(LoadProblem(doc.origin, "no article text left after cleaning"))
            batch.records.get(feed.state.name, {}).pop(key, None)
            continue
        previous = feed.state.items.get(key, {}).get("origin")
        if previous and previous != doc.origin:
            retract.add(previous)  # the item moved to another link
        original = finder.copy_of(article, ignore_origins=(doc.origin,))
        if original is not None:
            merged = (doc.origin, original.doc_id, original.title)
            feed.result = replace(feed.result, merged=(*feed.result.merged, merged))
            log.info("%s is a copy of %s (%s)", doc.origin, original.doc_id, original.title)
            article = replace(original, origins=(doc.origin,))
        else:
            finder.add(article)
        articles.append(article)
    return articles, retract, problems


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


# --- in the background ---------------------------------------------------------


def parse_interval(text: str) -> float:
    """Seconds in "30m", "2h", "90s" or "45" (minutes); at least a minute."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text or "")
    if not match:
        raise InputError(f"--refresh-every must look like 30m, 2h or 90s, got {text!r}.")
    value = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "": 60}[match.group(2)]
    if value < 60:
        raise InputError(f"--refresh-every must be at least 1 minute, got {text!r}.")
    return value


def start_background_refresh(refresh: Callable[[], RefreshReport], every: float) -> tuple[Any, Any]:
    """Run ``refresh`` every ``every`` seconds in a daemon thread; returns (thread, stop event)."""
    import threading

    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                report = refresh()
                for result in report.feeds:
                    log.warning("refresh %s: %s", result.name, result.summary())
            except RagError as err:  # e.g. a damaged feed state: said, and tried again later
                log.error("background refresh failed: %s", err)
            except Exception:  # a background refresh must never take the server down
                log.exception("background refresh failed")

    thread = threading.Thread(target=loop, name="feed-refresh", daemon=True)
    thread.start()
    return thread, stop
