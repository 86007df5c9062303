"""The Gradio web chat: the Chat, Articles, Feeds and Timeline tabs, each from its own module.

``build_app`` puts the tabs together around one ``RagService`` and the model's
``ModelQueue``, which the HTTP API (``ui.api``) shares; ``launch`` serves the
chat alone (``rag serve`` mounts it beside the API, see ``ui.server``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import gradio as gr

from rag.config import DEFAULT_HOST, DEFAULT_PORT
from rag.errors import ConfigError, RagError
from rag.overrides import checked_settings
from rag.search.query import make_filter
from rag.serialize import answer_to_dict
from rag.service import RagService
from ui.articles import build_articles_tab, list_articles, pick_rows
from ui.chat import API_ORIGIN, build_chat_tab, in_queue, source_names
from ui.feeds import build_feeds_tab, feed_rows
from ui.notices import user_error
from ui.queue import ModelQueue
from ui.render import CSS, MARKER_SCRIPT
from ui.timeline import build_timeline_tab
from ui.uploads import MAX_UPLOAD_BYTES


def ask_api(
    service: RagService,
    question: str,
    k: int,
    temperature: float,
    since: str = "",
    until: str = "",
) -> dict[str, Any]:
    """One question, answered whole: the same JSON as `rag ask --json`."""
    try:
        where = make_filter(since, until)
        options = checked_settings(service.settings, API_ORIGIN, k=k, temperature=temperature)
        answer = service.ask(question, k=options.k, temperature=options.temperature, where=where)
    except RagError as err:
        raise user_error(str(err)) from None
    return answer_to_dict(answer)


def examples_from_index(service: RagService, count: int = 3) -> list[str]:
    """A question about each of the ``count`` newest articles, for a chat started without
    ``--examples``: the title as the subject, so the search finds the article it names."""
    try:
        articles = [d.article for d in service.documents()]
    except RagError:
        return []  # no index yet: no examples rather than no chat
    titled = [a for a in articles if a.title.strip()]
    titled.sort(key=lambda a: a.date or "", reverse=True)
    questions = []
    for article in titled[:count]:
        title = " ".join(article.title.split())
        if len(title) > 90:
            title = title[:90].rsplit(" ", 1)[0] + "…"
        questions.append(f"What do the articles say about “{title}”?")
    return questions


def build_app(
    service: RagService, *, examples: Sequence[str] = (), queue: ModelQueue | None = None
) -> gr.Blocks:
    """The web chat; ``queue`` is the model's queue, shared with the HTTP API if it runs."""
    settings = service.settings
    queue = queue or ModelQueue()
    examples = list(examples) or examples_from_index(service)
    # No usage reports to Gradio's servers: nothing leaves the machine.
    with gr.Blocks(title="newsrag", analytics_enabled=False) as app:
        gr.Markdown("# newsrag — ask your news articles")
        with gr.Tab("Chat"):
            source_filter = build_chat_tab(service, queue, examples)
        with gr.Tab("Articles", elem_id="articles-tab"):
            table = build_articles_tab(service)
        with gr.Tab("Feeds", elem_id="feeds-tab"):
            feeds_table = build_feeds_tab(service)
        with gr.Tab("Timeline", elem_id="timeline-tab"):
            build_timeline_tab(service)

        async def ask(
            question: str,
            k: int = settings.k,
            temperature: float = settings.temperature,
            since: str = "",
            until: str = "",
        ) -> dict:
            """Answer a question from the indexed articles, with checked citations."""
            return await in_queue(
                queue, lambda: ask_api(service, question, k, temperature, since, until)
            )

        # For scripts (gradio_client): the same queue as the chat.
        gr.api(ask, api_name="ask", concurrency_limit=None)
        app.load(lambda: pick_rows(list_articles(service)), None, table, api_name=False)
        app.load(lambda: feed_rows(service), None, feeds_table, api_name=False)
        app.load(
            lambda: gr.Dropdown(choices=source_names(service)),
            None,
            source_filter,
            api_name=False,
        )
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_password(host: str, password: str | None) -> None:
    """Refuse to open the chat to other machines without a password."""
    if not is_loopback(host) and not password:
        raise ConfigError(
            f"Serving on {host} would let other machines in without a password. "
            f"Set RAG_PASSWORD or --password (user name 'rag'), or bind {DEFAULT_HOST}."
        )


def launch(
    service: RagService,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    share: bool = False,
    password: str | None = None,
    examples: Sequence[str] = (),
    block: bool = True,
) -> gr.Blocks:
    """Serve the app; binding anything but loopback, or a share link, requires a password.

    ``block=False`` returns once the server runs (tests close it with ``app.close()``).
    """
    check_password(host, password)
    if share and not password:
        raise ConfigError(
            "A share link is public: set RAG_PASSWORD or --password (user name 'rag') first."
        )
    app = build_app(service, examples=examples)
    # One question at a time for the model; the others see their place in the queue.
    app.queue(default_concurrency_limit=1, max_size=64)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=("rag", password) if password else None,
        max_file_size=MAX_UPLOAD_BYTES,
        css=CSS,
        head=MARKER_SCRIPT,
        footer_links=[],
        show_error=False,
        quiet=True,
        prevent_thread_lock=not block,
    )
    return app
