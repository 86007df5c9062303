"""The Gradio web chat: streamed answers, their sources, and the article collection.

One ``RagService`` serves every browser session; the language model answers
one question at a time. Questions wait their turn in a ``ModelQueue`` that the
HTTP API (``ui.api``) shares, in arrival order, and a waiting session is told
its place. Each session keeps its own conversation in ``gr.State``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import gradio as gr

from rag.errors import ConfigError, IndexNotFoundError, RagError
from rag.ingest.files import SUPPORTED_SUFFIXES
from rag.overrides import checked_settings
from rag.search.query import make_filter
from rag.serialize import answer_to_dict
from rag.service import RagService
from rag.timeline.route import timeline_request
from rag.types import Answer, AnswerEvent, TokenEvent, Turn
from ui.feeds import build_feeds_tab, feed_rows
from ui.queue import ModelQueue, QueueFull, Ticket
from ui.render import (
    CSS,
    DOCUMENT_HEADERS,
    MARKER_SCRIPT,
    document_rows,
    escape_chat,
    link_markers,
    render_panel,
    render_sources,
    sources_message,
)
from ui.timeline import build_timeline_tab, timeline_turn
from ui.uploads import MAX_UPLOAD_BYTES, store_uploads

log = logging.getLogger(__name__)

# The file picker offers what the loader reads.
UPLOAD_TYPES = sorted(SUPPORTED_SUFFIXES)
# Named in the message when a setting sent by the browser or a script is refused.
API_ORIGIN = "the request"

Messages = list[dict[str, str]]
# Per browser session: (question, its sources cards HTML) for each answer so far.
Panel = list[tuple[str, str]]


def user_error(message: str) -> gr.Error:
    """An error for the person at the browser; a refused input needs no traceback in the log."""
    return gr.Error(message, print_exception=False)


def take_ticket(queue: ModelQueue) -> Ticket:
    """A place in the model's queue, or a clear refusal when the queue is full."""
    try:
        return queue.enter()
    except QueueFull as err:
        raise user_error(str(err)) from None


async def in_turn(ticket: Ticket, turn: Iterator[Any], waiting: Callable[[int], Any]):
    """Yield ``waiting(ahead)`` until the ticket's turn, then ``turn``'s items.

    The wait holds no thread; ``turn`` (a blocking generator) runs one step at a
    time in a worker thread, and is closed, freeing the model, however this ends.
    """
    try:
        granted = asyncio.ensure_future(ticket.wait_async())
        shown = None
        while not granted.done():
            ahead = ticket.ahead
            if ahead and ahead != shown:
                shown = ahead
                yield waiting(ahead)
            await asyncio.wait({granted}, timeout=0.5)
        try:
            while (item := await anyio.to_thread.run_sync(next, turn, None)) is not None:
                yield item
        finally:
            turn.close()
    finally:
        ticket.release()


async def in_queue(queue: ModelQueue, work: Callable[[], Any]) -> Any:
    """Run ``work`` (blocking) in a worker thread once it is the model's turn."""
    ticket = take_ticket(queue)
    try:
        await ticket.wait_async()
        return await anyio.to_thread.run_sync(work)
    finally:
        ticket.release()


def answer_message(answer: Answer, turn: int) -> str:
    """The checked answer for the chat bubble: escaped, with its markers linked."""
    text = link_markers(escape_chat(answer.text), answer, turn)
    if answer.abstained:
        return f"{text}\n\n*The closest passages are listed under Sources.*"
    if answer.quoted:
        return (
            f"{text}\n\n*The model's own answer could not be checked against the articles; "
            "this is the sentence closest to your question.*"
        )
    return text


def show_question(question: str, messages: Messages) -> tuple[Messages, str, str]:
    """Put the question in the chat at once, before it waits for the model.

    Returns (chat messages, cleared textbox, the question for ``chat_turn``).
    """
    question = (question or "").strip()
    if not question:
        raise user_error("Type a question about the articles first.")
    return [*messages, {"role": "user", "content": escape_chat(question)}], "", question


def chat_turn(
    service: RagService,
    question: str,
    messages: Messages,
    turns: list[Turn],
    panel: Panel,
    k: int,
    temperature: float,
    since: str = "",
    until: str = "",
    sources: Sequence[str] = (),
) -> Iterator[tuple[Messages, list[Turn], Panel, str]]:
    """Stream the answer to ``question``, the last message of ``messages``.

    Yields (chat messages, turns, panel state, sources panel HTML); the panel
    HTML is left alone (``gr.skip()``) until the answer is checked.
    """
    try:
        where = make_filter(since, until, sources or ())
        options = checked_settings(service.settings, API_ORIGIN, k=k, temperature=temperature)
    except RagError as err:
        raise user_error(str(err)) from None
    if (asked := timeline_request(question)) is not None:  # a chronology: the timeline answers
        yield from timeline_turn(service, asked, messages, turns, panel, question, since, until)
        return
    messages = [*messages, {"role": "assistant", "content": ""}]
    written = ""
    turn = len(panel) + 1
    try:
        for event in service.ask_stream(
            question, history=turns, k=options.k, temperature=options.temperature, where=where
        ):
            if isinstance(event, TokenEvent):
                written += event.text
                messages[-1] = {"role": "assistant", "content": escape_chat(written)}
                yield messages, turns, panel, gr.skip()
            elif isinstance(event, AnswerEvent):
                answer = event.answer
                messages[-1] = {"role": "assistant", "content": answer_message(answer, turn)}
                cited = sources_message(answer)
                if cited is not None:
                    messages.append(cited)
                turns = [*turns, Turn(answer.question, answer.text)]
                panel = [*panel, (answer.question, render_sources(answer, turn))]
                yield messages, turns, panel, render_panel(panel)
    except RagError as err:
        messages[-1] = {"role": "assistant", "content": escape_chat(f"Not answered: {err}")}
        yield messages, turns, panel, gr.skip()
        raise user_error(str(err)) from None


def upload_articles(
    service: RagService,
    files: Sequence[Any] | None,
    progress: Callable[..., Any],
    query: str = "",
) -> tuple[str, list[list[object]]]:
    """Index uploaded files; the status lists what was added and what was refused."""
    if not files:
        raise user_error("Choose one or more files to add.")
    paths = [getattr(f, "name", f) for f in files]
    try:
        service.store.check_owned()  # nothing is copied into a folder that is not an index
        saved, refused = store_uploads(paths, service.upload_dir)
    except RagError as err:
        raise user_error(str(err)) from None
    except OSError as err:
        raise user_error(f"Could not keep the uploaded files ({err}).") from None
    lines = [f"- not added {r.name}: {r.reason}" for r in refused]
    if saved:

        def report(done: int, total: int) -> None:
            progress(done / total, desc=f"Embedding {done}/{total} passages")

        progress(0, desc="Reading and splitting the articles")
        try:
            result = service.index_paths(saved, progress=report)
        except RagError as err:
            raise user_error(str(err)) from None
        lines.insert(
            0,
            f"Added {result.added} article(s), {result.unchanged} already indexed; "
            f"{result.chunks_embedded} passages embedded. The index now has "
            f"{result.n_documents} articles.",
        )
        lines += [f"- skipped {Path(p.origin).name}: {p.message}" for p in result.problems]
    return "\n".join(escape_chat(line) for line in lines), list_articles(service, query)


def list_articles(service: RagService, query: str = "") -> list[list[object]]:
    """Rows of the articles table, those whose title, source, date or id hold ``query``."""
    try:
        rows = document_rows(service.documents())
    except IndexNotFoundError:
        return []
    except RagError as err:
        raise user_error(str(err)) from None
    words = query.lower().split()
    return [r for r in rows if all(w in " ".join(map(str, r)).lower() for w in words)]


def source_names(service: RagService) -> list[str]:
    """The sources of the indexed articles, for the source filter."""
    try:
        return sorted({d.article.source for d in service.documents() if d.article.source})
    except RagError:
        return []


def removal_request(service: RagService, text: str) -> tuple[str, list[str]]:
    """Step one of removing: the articles ``text`` names, for the user to confirm.

    ``text`` holds article ids (picked rows, or pasted), each exactly as in the
    table. A path, a folder above all, is refused: one click must never reach
    more articles than the rows it shows. Returns the confirmation (titles and
    ids) and the ids that step two removes.
    """
    tokens = [t for t in re.split(r"[\s,;]+", text or "") if t]
    if not tokens:
        raise user_error("Pick the articles in the table (or paste their ids), then press Remove.")
    try:
        documents = {i.article.doc_id: i.article for i in service.documents()}
    except RagError as err:
        raise user_error(str(err)) from None
    ids: list[str] = []
    for token in tokens:
        if token not in documents:
            if re.search(r"[\\/~]", token) or token.startswith("."):
                raise user_error(
                    f"{token} is a path, not an article id. This box takes the ids of rows in "
                    "the table; a folder is never accepted here."
                )
            raise user_error(f"No indexed article has the id {token}. Pick it in the table.")
        if token not in ids:
            ids.append(token)
    lines = [f"**Remove {len(ids)} article(s) from the index?**"]
    lines += [f"- {escape_chat(documents[i].title)} (`{i}`)" for i in ids]
    return "\n".join(lines), ids


def remove_articles(
    service: RagService, ids: Sequence[str], query: str = ""
) -> tuple[str, list[list[object]]]:
    """Step two: remove exactly the confirmed ids, and say what was removed."""
    if not ids:
        raise user_error("Nothing to remove: press Remove first and confirm the list it shows.")
    try:
        removed = service.remove(list(ids))
    except RagError as err:
        raise user_error(str(err)) from None
    lines = [f"Removed {len(removed)} article(s):"]
    lines += [f"- {a.title} ({a.doc_id})" for a in removed]
    return "\n".join(escape_chat(line) for line in lines), list_articles(service, query)


def toggle_pick(current: str, doc_id: str) -> str:
    """The ids in the remove box with ``doc_id`` added, or taken out if it was there."""
    ids = [t for t in re.split(r"[\s,;]+", current or "") if t]
    if doc_id in ids:
        ids.remove(doc_id)
    elif doc_id:
        ids.append(doc_id)
    return " ".join(ids)


def load_model(service: RagService, path: str) -> str:
    if not (path or "").strip():
        raise user_error(
            "Type a model pack name (see `rag models`) or the path of a .gguf model file."
        )
    try:
        name = service.use_model(path)
    except RagError as err:
        raise user_error(str(err)) from None
    return escape_chat(f"Answering with {name}.")


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


def build_app(
    service: RagService, *, examples: Sequence[str] = (), queue: ModelQueue | None = None
) -> gr.Blocks:
    """The web chat; ``queue`` is the model's queue, shared with the HTTP API if it runs."""
    settings = service.settings
    queue = queue or ModelQueue()
    # No usage reports to Gradio's servers: nothing leaves the machine.
    with gr.Blocks(title="newsrag", analytics_enabled=False) as app:
        gr.Markdown("## newsrag — ask your news articles")
        turns = gr.State([])
        panel = gr.State([])
        pending = gr.State("")
        with gr.Tab("Chat"), gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    elem_id="chat",
                    height=460,
                    buttons=["copy"],
                    placeholder="Ask a question about the indexed articles.",
                    feedback_options=None,
                )
                question = gr.Textbox(
                    label="Question",
                    elem_id="question",
                    placeholder="What did … say about …?",
                    lines=1,
                )
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask")
                    new_chat = gr.Button("New conversation", elem_id="new-chat")
                if examples:
                    gr.Examples(list(examples), inputs=question, label="Examples")
                with gr.Accordion("Settings", open=False, elem_id="settings"):
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
                    with gr.Row():
                        model_path = gr.Textbox(
                            label="Model: a pack name or a .gguf file, for everyone using "
                            "this server",
                            value=str(settings.model or ""),
                            placeholder="empty: the default pack (rag models lists them)",
                            scale=3,
                        )
                        load = gr.Button("Load model", scale=1)
                    model_status = gr.Markdown()
            with gr.Column(scale=2, min_width=300):
                gr.Markdown("### Sources")
                sources = gr.HTML(render_panel([]), elem_id="sources")
        with gr.Tab("Articles", elem_id="articles-tab"):
            with gr.Row():
                search = gr.Textbox(
                    label="Search the articles", placeholder="title, source, date or id", scale=3
                )
                refresh = gr.Button("Refresh", scale=1)
            table = gr.Dataframe(
                headers=DOCUMENT_HEADERS, interactive=False, wrap=True, elem_id="articles"
            )
            with gr.Row():
                remove_id = gr.Textbox(
                    label="Articles to remove (pick rows, or paste their ids)",
                    elem_id="remove-ids",
                    scale=3,
                )
                remove = gr.Button("Remove", variant="stop", scale=1, elem_id="remove")
            # Step two of removing: the list of what goes, and a button that removes it.
            confirm_text = gr.Markdown(visible=False, elem_id="remove-confirm-text")
            with gr.Row():
                confirm = gr.Button(
                    "Yes, remove them", variant="stop", visible=False, elem_id="remove-confirm"
                )
                cancel = gr.Button("Cancel", visible=False, elem_id="remove-cancel")
            pending_removal = gr.State([])
            upload = gr.File(
                label="Add articles (.txt, .md, .html, .jsonl, .pdf; 50 MB each at most)",
                file_count="multiple",
                file_types=UPLOAD_TYPES,
                elem_id="upload",
            )
            add = gr.Button("Index the uploaded files", variant="primary", elem_id="add")
            status = gr.Markdown(elem_id="upload-status")
        with gr.Tab("Feeds", elem_id="feeds-tab"):
            feeds_table = build_feeds_tab(service)
        with gr.Tab("Timeline", elem_id="timeline-tab"):
            build_timeline_tab(service)

        async def respond(
            q, msgs, history, shown, k_value, temp, since_day, until_day, names
        ) -> AsyncIterator[Any]:
            if not q:
                return
            msgs = msgs or []
            turn = chat_turn(
                service,
                q,
                msgs,
                history or [],
                shown or [],
                k_value,
                temp,
                since_day,
                until_day,
                names,
            )

            def waiting(ahead: int) -> tuple[Any, ...]:
                note = f"*Waiting in the queue for the model: {ahead} question(s) ahead.*"
                bubble = {"role": "assistant", "content": note}
                return [*msgs, bubble], gr.skip(), gr.skip(), gr.skip()

            async for update in in_turn(take_ticket(queue), turn, waiting):
                yield update

        def on_upload(files, query, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
            return (*upload_articles(service, files, progress, query), None)

        def pick(current: str, evt: gr.SelectData) -> str:
            row = evt.row_value or []
            return toggle_pick(current, str(row[-1])) if row else current

        def ask_to_remove(text: str):
            message, ids = removal_request(service, text)
            shown = gr.update(visible=True)
            return gr.update(value=message, visible=True), ids, shown, shown

        def hide_confirmation():
            hidden = gr.update(visible=False)
            return gr.update(value="", visible=False), [], hidden, hidden

        def do_remove(ids, query):
            status_text, rows = remove_articles(service, ids, query)
            return (status_text, rows, "", *hide_confirmation())

        chat_inputs = [pending, chatbot, turns, panel, k, temperature, since, until, source_filter]
        chat_outputs = [chatbot, turns, panel, sources]
        for trigger in (send.click, question.submit):
            # The question shows at once; the answer waits in the one queue for the model,
            # which the API shares (so Gradio's own queue does not limit it again).
            trigger(
                show_question,
                [question, chatbot],
                [chatbot, question, pending],
                queue=False,
                api_name=False,
            ).success(respond, chat_inputs, chat_outputs, concurrency_limit=None, api_name=False)
        new_chat.click(
            lambda: ([], [], [], render_panel([])),
            None,
            [chatbot, turns, panel, sources],
            api_name=False,
        )
        # The chat's own bin icon empties the conversation; forget it here too.
        chatbot.clear(lambda: ([], [], render_panel([])), None, [turns, panel, sources])

        async def load_in_turn(path: str) -> str:
            return await in_queue(queue, lambda: load_model(service, path))

        load.click(load_in_turn, [model_path], model_status, concurrency_limit=None, api_name=False)
        add.click(
            on_upload,
            [upload, search],
            [status, table, upload],
            concurrency_id="index",
            api_name=False,
        )
        search.change(lambda q: list_articles(service, q), search, table, api_name=False)
        refresh.click(lambda q: list_articles(service, q), search, table, api_name=False)
        table.select(pick, remove_id, remove_id, api_name=False)
        confirmation = [confirm_text, pending_removal, confirm, cancel]
        remove.click(ask_to_remove, remove_id, confirmation, api_name=False)
        # Editing the list after Remove withdraws the question: what is confirmed is what is shown.
        remove_id.change(hide_confirmation, None, confirmation, api_name=False)
        cancel.click(hide_confirmation, None, confirmation, api_name=False)
        confirm.click(
            do_remove,
            [pending_removal, search],
            [status, table, remove_id, *confirmation],
            concurrency_id="index",
            api_name=False,
        )

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
        app.load(lambda: list_articles(service), None, table, api_name=False)
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


def launch(
    service: RagService,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    password: str | None = None,
    examples: Sequence[str] = (),
    block: bool = True,
) -> gr.Blocks:
    """Serve the app; binding anything but loopback, or a share link, requires a password.

    ``block=False`` returns once the server runs (tests close it with ``app.close()``).
    """
    if not is_loopback(host) and not password:
        raise ConfigError(
            f"Serving on {host} would let other machines in without a password. "
            "Set RAG_PASSWORD or --password (user name 'rag'), or bind 127.0.0.1."
        )
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
