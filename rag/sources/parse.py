"""Reading a feed: RSS 0.9x, 1.0 and 2.0 or Atom into entries, an item's HTML into text."""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from typing import Any

from rag.errors import FetchError
from rag.types import content_hash


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
