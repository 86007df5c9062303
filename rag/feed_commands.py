"""``rag feeds add|list|remove`` and ``rag refresh``: the feeds at the command line.

``rag refresh`` exits 0 when every feed was refreshed, 1 when a feed or an
item failed (each is listed with its URL and reason; the rest is indexed),
and with the usual codes for a damaged index (3), a lock (4) or a failed
write (7). What they do is ``rag.sources``; here it is said.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rag.sources.feeds import add_feed, remove_feed
from rag.sources.fetch import make_fetcher
from rag.sources.items import FeedResult
from rag.sources.refresh import feed_book, refresh
from rag.sources.schedule import parse_interval, start_background_refresh


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def cmd_feeds(args: argparse.Namespace, service: Any) -> int:
    book = feed_book(service)
    if args.feeds_action == "add":
        service.store.check_owned()
        state = add_feed(book, make_fetcher(service.settings), args.url, args.name)
        _err(
            f"Added feed {state.name!r} ({state.title or 'no title'}): {state.url}. "
            "Run `rag refresh` to index its items."
        )
        return 0
    if args.feeds_action == "remove":
        indexer = service.indexer() if args.purge else None
        state, removed = remove_feed(book, args.feed, indexer=indexer)
        if args.purge:
            _err(f"Removed feed {state.name!r} and {len(removed)} article(s) only it gave:")
            for article in removed:
                _err(f"  {article.doc_id}  {article.title}")
        else:
            _err(
                f"Removed feed {state.name!r}; its {len(state.items)} article(s) stay indexed "
                "(add --purge to remove them too)."
            )
        return 0
    feeds = book.feeds()
    if args.json:
        _print_json([{**s.to_json(), "items": len(s.items)} for s in feeds])
        return 0
    if not feeds:
        _err("No feeds yet. Add one with `rag feeds add URL`.")
        return 0
    for s in feeds:
        last = s.last_refresh or {}
        print(f"{s.name}  {s.url}")
        result = last.get("summary") or last.get("status") or "-"
        print(f"    {len(s.items)} items seen; last refresh {last.get('at') or 'never'}: {result}")
    return 0


def _result_dict(r: FeedResult) -> dict[str, object]:
    return {
        "name": r.name,
        "url": r.url,
        "status": r.status,
        "new": r.new,
        "changed": r.changed,
        "unchanged": r.unchanged,
        "copies": r.copies,
        "merged": [{"origin": o, "doc_id": d, "title": t} for o, d, t in r.merged],
        "failed": r.failed,
        "message": r.message,
        "problems": [{"origin": p.origin, "message": p.message} for p in r.problems],
    }


def cmd_refresh(args: argparse.Namespace, service: Any) -> int:
    report = refresh(service, tuple(args.names), full=args.full)
    index = report.index
    if args.json:
        _print_json(
            {
                "feeds": [_result_dict(r) for r in report.feeds],
                "chunks_embedded": index.chunks_embedded if index else 0,
                "documents": index.n_documents if index else None,
                "seconds": round(report.seconds, 3),
                "ok": report.ok,
            }
        )
        return report.exit_code
    if not report.feeds:
        _err("No feeds yet. Add one with `rag feeds add URL`.")
        return 0
    for r in report.feeds:
        _err(f"{r.name}: {r.summary()}" + (f" [{r.url}]" if r.status == "failed" else ""))
        for p in r.problems:
            _err(f"  {p.origin}: {p.message}")
    embedded = index.chunks_embedded if index else 0
    total = f"; the index has {index.n_documents} articles" if index else ""
    _err(
        f"Refreshed {len(report.feeds)} feed(s) in {report.seconds:.1f}s: "
        f"{embedded} passages embedded{total}."
    )
    if not report.ok:
        _err(
            "Some feeds or items failed (listed above); the rest is indexed. "
            "They are tried again at the next `rag refresh`."
        )
    return report.exit_code


def refresh_in_background(service: Any, every: str) -> None:
    seconds = parse_interval(every)
    start_background_refresh(lambda: refresh(service), seconds)
    _err(f"Refreshing the feeds every {seconds / 60:g} minutes in the background.")
