"""Refreshing the feeds: fetch each, index what is new or changed, save their states.

A refresh fetches every feed (``max_concurrent`` at a time), skips items whose
fingerprint is unchanged, and indexes the rest a batch at a time. An unchanged
feed (304, or the same items) costs one request and embeds nothing. A feed
that fails is reported with its URL and reason; the others go on, and nothing
already indexed is removed. An item whose article could not be fetched is not
recorded as seen, and the feed's validators are not kept, so the next refresh
tries it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from rag.errors import RagError
from rag.ingest.clean import clean_document
from rag.ingest.indexer import Indexer, IndexReport
from rag.sources.feeds import FeedBook, timestamp
from rag.sources.fetch import Fetcher, RobotsRules, make_fetcher
from rag.sources.items import FeedResult, FetchedFeed, ItemBatch, fetch_feed, read_batch
from rag.sources.syndication import CopyFinder
from rag.types import Article, LoadProblem

log = logging.getLogger(__name__)


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


def feed_book(service: Any) -> FeedBook:
    return FeedBook(service.settings.index_dir)


def refresh(service: Any, names: tuple[str, ...] = (), *, full: bool = False) -> RefreshReport:
    """One refresh of the service's feeds with its embedder and fetch settings."""
    service.store.check_owned()
    fetcher = make_fetcher(service.settings)
    # The indexer (and the embedding model) is made only when there is something to index.
    return refresh_feeds(feed_book(service), service.indexer, fetcher, names=names, full=full)


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
            fetched = list(pool.map(lambda s: fetch_feed(s, fetcher, full), states))
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
    fetched: Sequence[FetchedFeed],
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
        batch = read_batch(pending[at : at + batch_items], fetcher, robots)
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


def _finish_feed(feed: FetchedFeed) -> FeedResult:
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
    feed.state.last_refresh = {
        "at": timestamp(),
        "status": result.status,
        "summary": result.summary(),
    }
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
    batch: ItemBatch, finder: CopyFinder
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
