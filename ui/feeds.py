"""The web chat's Feeds tab: subscribe, unsubscribe, refresh now, and how each refresh went."""

from __future__ import annotations

from typing import Any

import gradio as gr

from rag.errors import RagError
from rag.service import RagService
from rag.sources.feeds import add_feed, remove_feed
from rag.sources.fetch import make_fetcher
from rag.sources.refresh import feed_book, refresh
from ui.notices import beside, user_error
from ui.render import escape_chat

FEED_HEADERS = ["name", "url", "items seen", "last refresh (UTC)", "result"]


def feed_rows(service: RagService) -> list[list[object]]:
    rows: list[list[object]] = []
    try:
        states = feed_book(service).feeds()
    except RagError as err:  # a damaged feed state: said, with the repair
        raise user_error(str(err)) from None
    for state in states:
        last = state.last_refresh or {}
        rows.append(
            [
                state.name,
                state.url,
                len(state.items),
                last.get("at") or "never",
                last.get("summary") or last.get("status") or "",
            ]
        )
    return rows


def add_feed_action(
    service: RagService, url: str, name: str = ""
) -> tuple[str, list[list[object]]]:
    if not (url or "").strip():
        raise user_error("Paste the address of an RSS or Atom feed first.")
    try:
        service.store.check_owned()
        state = add_feed(
            feed_book(service), make_fetcher(service.settings), url, (name or "").strip() or None
        )
    except RagError as err:
        raise user_error(str(err)) from None
    message = f"Added {state.name} ({state.title or 'no title'}). Press Refresh now to index it."
    return escape_chat(message), feed_rows(service)


def remove_feed_action(
    service: RagService, name_or_url: str, purge: bool = False
) -> tuple[str, list[list[object]]]:
    if not (name_or_url or "").strip():
        raise user_error("Type the name or address of the feed to remove.")
    try:
        indexer = service.indexer() if purge else None
        state, removed = remove_feed(feed_book(service), name_or_url, indexer=indexer)
    except RagError as err:
        raise user_error(str(err)) from None
    if purge:
        message = f"Removed {state.name} and {len(removed)} article(s) only it gave."
    else:
        message = f"Removed {state.name}; its articles stay in the index."
    return escape_chat(message), feed_rows(service)


def refresh_action(service: RagService) -> tuple[str, list[list[object]]]:
    try:
        report = refresh(service)
    except RagError as err:
        raise user_error(str(err)) from None
    if not report.feeds:
        return "No feeds yet: add one above.", []
    embedded = report.index.chunks_embedded if report.index else 0
    lines = [f"Refreshed {len(report.feeds)} feed(s): {embedded} passages embedded."]
    for result in report.feeds:
        lines.append(f"- {result.name}: {result.summary()}")
        lines += [f"  - {p.origin}: {p.message}" for p in result.problems[:5]]
    return "\n".join(escape_chat(line) for line in lines), feed_rows(service)


def build_feeds_tab(service: RagService) -> Any:
    """The tab's components and events; call inside ``gr.Blocks`` (and a ``gr.Tab``)."""
    table = gr.Dataframe(headers=FEED_HEADERS, interactive=False, wrap=True, elem_id="feeds")
    with gr.Row():
        url = gr.Textbox(label="Feed address (RSS or Atom)", elem_id="feed-url", scale=3)
        name = gr.Textbox(label="Name (optional)", elem_id="feed-name", scale=1)
        add = gr.Button("Add feed", variant="primary", elem_id="feed-add", scale=1)
    with gr.Row():
        target = gr.Textbox(label="Feed to remove (name or address)", elem_id="feed-remove-name")
        purge = gr.Checkbox(label="Also remove the articles only it gave", value=False)
        remove = gr.Button("Remove feed", variant="stop", elem_id="feed-remove")
    refresh_now = gr.Button("Refresh now", elem_id="feed-refresh")
    status = gr.Markdown(elem_id="feed-status")
    # A refused feed is said on the status line; the table stays.
    add.click(
        beside(lambda u, n: add_feed_action(service, u, n), others=1),
        [url, name],
        [status, table],
        api_name=False,
    )
    remove.click(
        beside(lambda t, p: remove_feed_action(service, t, p), others=1),
        [target, purge],
        [status, table],
        concurrency_id="index",
        api_name=False,
    )
    refresh_now.click(
        beside(lambda: refresh_action(service), others=1),
        None,
        [status, table],
        concurrency_id="index",
        api_name=False,
    )
    return table
