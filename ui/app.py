"""The Gradio web chat: streamed answers, their sources, and the article collection.

One ``RagService`` serves every browser session; the language model answers
one question at a time (``concurrency_limit=1``) and Gradio's queue shows the
others their place. Each session keeps its own conversation in ``gr.State``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr

from rag.errors import ConfigError, RagError
from rag.pipeline import RagService, make_filter
from rag.types import Answer, AnswerEvent, TokenEvent, Turn
from ui.render import (
    CSS,
    DOCUMENT_HEADERS,
    document_rows,
    escape_chat,
    render_sources,
    sources_message,
)

log = logging.getLogger(__name__)

UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".jsonl"]
MAX_UPLOAD = "50mb"

Messages = list[dict[str, str]]


def answer_message(answer: Answer) -> str:
    text = escape_chat(answer.text)
    if answer.abstained:
        return f"{text}\n\n*The closest passages are listed under Sources.*"
    if answer.quoted:
        return (
            f"{text}\n\n*The model's own answer could not be checked against the articles; "
            "this is the sentence closest to your question.*"
        )
    return text


def chat_turn(
    service: RagService,
    question: str,
    messages: Messages,
    turns: list[Turn],
    k: int,
    temperature: float,
    since: str = "",
    until: str = "",
    sources: Sequence[str] = (),
) -> Iterator[tuple[Messages, list[Turn], str, str]]:
    """Stream one answer: yields (chat messages, turns, sources HTML, textbox value)."""
    question = (question or "").strip()
    if not question:
        raise gr.Error("Type a question about the articles first.")
    try:
        where = make_filter(since, until, sources or ())
    except RagError as err:
        raise gr.Error(str(err)) from None
    messages = [*messages, {"role": "user", "content": escape_chat(question)}]
    messages.append({"role": "assistant", "content": ""})
    written = ""
    try:
        for event in service.ask_stream(
            question, history=turns, k=int(k), temperature=float(temperature), where=where
        ):
            if isinstance(event, TokenEvent):
                written += event.text
                messages[-1] = {"role": "assistant", "content": escape_chat(written)}
                yield messages, turns, gr.skip(), ""
            elif isinstance(event, AnswerEvent):
                answer = event.answer
                messages[-1] = {"role": "assistant", "content": answer_message(answer)}
                cited = sources_message(answer)
                if cited is not None:
                    messages.append(cited)
                turns = [*turns, Turn(answer.question, answer.text)]
                yield messages, turns, render_sources(answer), ""
    except RagError as err:
        raise gr.Error(str(err)) from None


def upload_articles(
    service: RagService, files: Sequence[Any] | None, progress: gr.Progress
) -> tuple[str, list[list[object]]]:
    if not files:
        raise gr.Error("Choose one or more files to add.")
    paths = [getattr(f, "name", f) for f in files]

    def report(done: int, total: int) -> None:
        progress(done / total, desc=f"Embedding {done}/{total} passages")

    try:
        result = service.index_paths(paths, progress=report)
    except RagError as err:
        raise gr.Error(str(err)) from None
    lines = [
        f"Added {result.added} article(s), {result.unchanged} already indexed; "
        f"{result.chunks_embedded} passages embedded. The index now has "
        f"{result.n_documents} articles."
    ]
    lines += [f"- skipped {p.origin.rsplit('/', 1)[-1]}: {p.message}" for p in result.problems]
    return "\n".join(escape_chat(line) for line in lines), list_articles(service)


def list_articles(service: RagService) -> list[list[object]]:
    try:
        return document_rows(service.documents())
    except RagError as err:
        raise gr.Error(str(err)) from None


def source_names(service: RagService) -> list[str]:
    """The sources of the indexed articles, for the source filter."""
    try:
        return sorted({d.article.source for d in service.documents() if d.article.source})
    except RagError:
        return []


def remove_article(service: RagService, doc_id: str) -> tuple[str, list[list[object]]]:
    doc_id = (doc_id or "").strip()
    if not doc_id:
        raise gr.Error("Paste the id of the article to remove (from the table).")
    try:
        removed = service.remove([doc_id])
    except RagError as err:
        raise gr.Error(str(err)) from None
    titles = ", ".join(a.title for a in removed)
    return escape_chat(f"Removed: {titles}"), list_articles(service)


def build_app(service: RagService, *, examples: Sequence[str] = ()) -> gr.Blocks:
    settings = service.settings
    with gr.Blocks(title="newsrag") as app:
        gr.Markdown("## newsrag — ask your news articles")
        turns = gr.State([])
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    height=460,
                    buttons=["copy"],
                    placeholder="Ask a question about the indexed articles.",
                )
                question = gr.Textbox(
                    label="Question", placeholder="What did … say about …?", lines=1
                )
                with gr.Row():
                    send = gr.Button("Ask", variant="primary")
                    new_chat = gr.Button("New conversation")
                if examples:
                    gr.Examples(list(examples), inputs=question, label="Examples")
                with gr.Accordion("Settings", open=False):
                    k = gr.Slider(1, 10, value=settings.k, step=1, label="Passages (k)")
                    temperature = gr.Slider(
                        0.0, 1.5, value=settings.temperature, step=0.05, label="Temperature"
                    )
                    with gr.Row():
                        since = gr.Textbox(label="From date", placeholder="YYYY-MM-DD")
                        until = gr.Textbox(label="To date", placeholder="YYYY-MM-DD")
                    source_filter = gr.Dropdown(
                        choices=source_names(service),
                        multiselect=True,
                        label="Only these sources (none: all)",
                    )
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(render_sources(None))
        with gr.Tab("Articles"):
            table = gr.Dataframe(headers=DOCUMENT_HEADERS, interactive=False, wrap=True)
            refresh = gr.Button("Refresh")
            upload = gr.File(
                label="Add articles (.txt, .md, .html, .jsonl)",
                file_count="multiple",
                file_types=UPLOAD_TYPES,
            )
            add = gr.Button("Index the uploaded files", variant="primary")
            status = gr.Markdown()
            with gr.Row():
                remove_id = gr.Textbox(label="Article id to remove", scale=3)
                remove = gr.Button("Remove", scale=1)

        def respond(q, msgs, history, k_value, temp, since_day, until_day, names):
            yield from chat_turn(
                service, q, msgs or [], history or [], k_value, temp, since_day, until_day, names
            )

        def on_upload(files, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
            return upload_articles(service, files, progress)

        chat_inputs = [question, chatbot, turns, k, temperature, since, until, source_filter]
        chat_outputs = [chatbot, turns, sources, question]
        for trigger in (send.click, question.submit):
            trigger(respond, chat_inputs, chat_outputs, concurrency_limit=1, api_name=False)
        new_chat.click(
            lambda: ([], [], render_sources(None)),
            None,
            [chatbot, turns, sources],
            api_name=False,
        )
        add.click(on_upload, [upload], [status, table], concurrency_limit=1, api_name=False)
        refresh.click(lambda: list_articles(service), None, table, api_name=False)
        remove.click(
            lambda i: remove_article(service, i),
            [remove_id],
            [status, table],
            concurrency_limit=1,
            api_name=False,
        )
        app.load(lambda: list_articles(service), None, table, api_name=False)
        app.load(
            lambda: gr.Dropdown(choices=source_names(service)),
            None,
            source_filter,
            api_name=False,
        )
    return app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def launch(
    service: RagService,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    password: str | None = None,
    examples: Sequence[str] = (),
) -> None:
    """Serve the app; binding anything but loopback requires a password."""
    if not _is_loopback(host) and not password:
        raise ConfigError(
            f"Serving on {host} would let other machines in without a password. "
            "Set RAG_PASSWORD (user name 'rag'), or bind 127.0.0.1."
        )
    app = build_app(service, examples=examples)
    app.queue(default_concurrency_limit=1)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=("rag", password) if password else None,
        max_file_size=MAX_UPLOAD,
        css=CSS,
        footer_links=[],
        show_error=False,
        quiet=True,
    )
