"""Subscribed RSS and Atom feeds: their saved state, subscribing and unsubscribing.

Each feed has a small JSON state file in ``INDEX_DIR/feeds/`` (written to a
temporary file and renamed): its URL and name, the ETag and Last-Modified of
its last good fetch (sent back for a conditional GET), and for every item seen
its key, a fingerprint of what the feed said about it and the origin of the
article it gave. ``rag.sources.refresh`` brings the index up to date with them.
"""

from __future__ import annotations

import datetime
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rag.errors import IndexCorruptError, InputError, StorageError
from rag.ingest.indexer import Indexer
from rag.sources.fetch import Fetcher, check_url
from rag.sources.parse import parse_feed
from rag.types import Article

FEEDS_DIR = "feeds"
STATE_VERSION = 1
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
            added_at=timestamp(),
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


def timestamp() -> str:
    """The time now, in UTC, as a feed's state records it."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
