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
from rag.types import Answer, AnswerEvent, TokenEvent, Turn
from ui.feeds import build_feeds_tab, feed_rows
from ui.notices import beside, refusal
from ui.queue import ModelQueue, QueueFull, Steps, Ticket
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
from ui.uploads import MAX_UPLOAD_BYTES, forget_uploads, store_uploads

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
    steps = Steps(turn)
    granted = asyncio.ensure_future(ticket.wait_async())
    try:
        shown = None
        while not granted.done():
            ahead = ticket.ahead
            if ahead and ahead != shown:
                shown = ahead
                yield waiting(ahead)
            await asyncio.wait({granted}, timeout=0.5)
        while (item := await anyio.to_thread.run_sync(steps.next)) is not None:
            yield item
    finally:
        # Stop, New conversation or a closed tab cancel this mid-step: see Steps.finish.
        granted.cancel()
        steps.finish(ticket)


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


# What the chat shows while an answer is not there yet. Each is a status box of its own
# (a message with a title), never the answer's bubble, so no text is shown as the answer
# and then taken back.
CHECKING = "Writing the answer and checking it against the articles…"
STOPPED = "Stopped: this question was not answered."
BUSY = (
    "The answer to your last question is still being written: wait for it, or press Stop, "
    "then send this one (it stays in the box)."
)


def status_message(title: str, text: str = "", *, pending: bool = True) -> dict[str, Any]:
    """A titled box in the chat, for what is going on rather than what the articles say."""
    metadata = {"title": title, "status": "pending" if pending else "done"}
    return {"role": "assistant", "content": text, "metadata": metadata}


def checking_message(draft: str) -> dict[str, Any]:
    """The model's draft while it is written and checked: the checked answer replaces it.

    Checking may leave a sentence out or the whole draft, so the draft is shown only
    inside the status box, marked as unchecked.
    """
    if not draft.strip():
        return status_message(CHECKING)
    return status_message(CHECKING, f"*Draft, not checked yet:* {escape_chat(draft)}")


def is_status(message: dict[str, Any]) -> bool:
    return bool((message.get("metadata") or {}).get("status") == "pending")


def question_problem(question: str, busy: bool) -> str:
    """Why the question cannot be sent now; "" when it can."""
    if not (question or "").strip():
        return "Type a question about the articles first."
    return BUSY if busy else ""


def check_sendable(question: str, busy: bool) -> None:
    """Stop the send here when ``question_problem`` names one.

    The error shows nowhere itself (the chat's notice line says why) and its
    event has no outputs, so no box is swapped for an "Error" badge and the
    question stays in the box, never lost or merged into the answer on its way.
    """
    problem = question_problem(question, busy)
    if problem:
        raise gr.Error(problem, visible=False, print_exception=False)


def show_question(question: str, messages: Messages) -> tuple[Messages, str, str, bool, Any, Any]:
    """Put the question in the chat at once, before it waits for the model.

    Returns (chat messages, cleared textbox, the question for ``chat_turn``,
    busy, the Ask button, the Stop button).
    """
    question = (question or "").strip()
    if not question:
        raise user_error(question_problem(question, False))
    messages = [*settled(messages), {"role": "user", "content": escape_chat(question)}]
    return messages, "", question, True, *answering_controls(True)


def answering_controls(answering: bool) -> tuple[Any, Any]:
    """The Ask button (off while an answer is written) and the Stop button (shown then)."""
    return gr.update(interactive=not answering), gr.update(visible=answering)


def settled(messages: Messages) -> Messages:
    """The conversation without status boxes left from a turn that did not finish."""
    return [m for m in messages or [] if not is_status(m)]


def stop_answer(messages: Messages) -> tuple[Messages, bool, Any, Any]:
    """Stop pressed: the unfinished turn's status box says it stopped; sending is back."""
    messages = list(messages or [])
    if messages and is_status(messages[-1]):
        messages[-1] = status_message(STOPPED, pending=False)
    return messages, False, *answering_controls(False)


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
    HTML is left alone (``gr.skip()``) until the answer is checked. The draft
    shows in a "checking" box that the checked answer replaces; the follow-up
    history gets the checked answer only (``Turn.of``).
    """
    try:
        where = make_filter(since, until, sources or ())
        options = checked_settings(service.settings, API_ORIGIN, k=k, temperature=temperature)
    except RagError as err:
        raise user_error(str(err)) from None
    messages = [*messages, checking_message("")]
    yield messages, turns, panel, gr.skip()
    written = ""
    turn = len(panel) + 1
    try:
        for event in service.ask_stream(
            question, history=turns, k=options.k, temperature=options.temperature, where=where
        ):
            # Each update is a list of its own: an earlier one is never changed afterwards.
            if isinstance(event, TokenEvent):
                written += event.text
                messages = [*messages[:-1], checking_message(written)]
                yield messages, turns, panel, gr.skip()
            elif isinstance(event, AnswerEvent):
                answer = event.answer
                answered = {"role": "assistant", "content": answer_message(answer, turn)}
                cited = sources_message(answer)
                messages = [*messages[:-1], answered, *([cited] if cited else [])]
                turns = [*turns, Turn.of(answer)]
                panel = [*panel, (answer.question, render_sources(answer, turn))]
                yield messages, turns, panel, render_panel(panel)
    except RagError as err:
        failed = {"role": "assistant", "content": escape_chat(f"Not answered: {err}")}
        yield [*messages[:-1], failed], turns, panel, gr.skip()
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
        forget_uploads(service.upload_dir, removed, [d.article for d in service.documents()])
    except RagError as err:
        raise user_error(str(err)) from None
    lines = [f"Removed {len(removed)} article(s):"]
    lines += [f"- {a.title} ({a.doc_id})" for a in removed]
    return "\n".join(escape_chat(line) for line in lines), list_articles(service, query)


def pick_rows(rows: Sequence[Sequence[object]]) -> list[list[object]]:
    """Rows for the articles table: an unticked "remove" box before each article."""
    return [[False, *row] for row in rows]


def picked_ids(table: Sequence[Sequence[object]] | None) -> str:
    """The ids of the ticked rows, for the remove box (the id is a row's last cell)."""
    return " ".join(str(row[-1]) for row in table or [] if row and row[0] is True)


def article_view(service: RagService, doc_id: str) -> str:
    """An article's title, source, date and whole text, escaped, for reading under the table."""
    try:
        article = service.article(doc_id)
    except RagError as err:
        return f'<div class="newsrag-meta">{escape_chat(str(err))}</div>'
    meta = " · ".join(x for x in (article.source, article.date, article.doc_id) if x)
    return (
        f"<h2>{escape_chat(article.title)}</h2>"
        f'<div class="newsrag-meta">{escape_chat(meta)}</div>'
        f'<div class="newsrag-passage">{escape_chat(article.text)}</div>'
    )


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


def build_chat_tab(service: RagService, queue: ModelQueue, examples: Sequence[str]) -> gr.Dropdown:
    """The chat, its settings and the sources panel, inside the caller's tab.

    Returns the source filter, which the page refreshes when it loads.
    """
    settings = service.settings
    turns = gr.State([])
    panel = gr.State([])
    pending = gr.State("")
    busy = gr.State(False)
    with gr.Row(equal_height=False):
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
            # Why a question was not sent, beside the box that still holds it.
            notice = gr.Markdown(elem_id="chat-notice")
            with gr.Row():
                send = gr.Button("Ask", variant="primary", elem_id="ask")
                stop = gr.Button("Stop", variant="stop", visible=False, elem_id="stop")
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
                        label="Model: a pack name or a .gguf file, for everyone using this server",
                        value=str(settings.model or ""),
                        placeholder="empty: the default pack (rag models lists them)",
                        scale=3,
                    )
                    load = gr.Button("Load model", scale=1)
                model_status = gr.Markdown()
        with gr.Column(scale=2, min_width=300):
            gr.Markdown("## Sources")
            sources = gr.HTML(render_panel([]), elem_id="sources")

    async def respond(
        q, msgs, history, shown, k_value, temp, since_day, until_day, names
    ) -> AsyncIterator[Any]:
        if not q:
            return
        msgs = msgs or []
        turn = chat_turn(
            service, q, msgs, history or [], shown or [], k_value, temp, since_day, until_day, names
        )

        def waiting(ahead: int) -> tuple[Any, ...]:
            note = status_message(f"Waiting in the queue for the model: {ahead} question(s) ahead…")
            return [*msgs, note], gr.skip(), gr.skip(), gr.skip()

        async for update in in_turn(take_ticket(queue), turn, waiting):
            yield update

    controls = [busy, send, stop]
    chat_inputs = [pending, chatbot, turns, panel, k, temperature, since, until, source_filter]
    chat_outputs = [chatbot, turns, panel, sources]
    answering = []
    for trigger in (send.click, question.submit):
        checked = trigger(check_sendable, [question, busy], None, queue=False, api_name=False)
        checked.failure(
            lambda q, b: f"**{question_problem(q, b)}**", [question, busy], notice, queue=False
        )
        # The question shows at once; the answer waits in the one queue for the model,
        # which the API shares (so Gradio's own queue does not limit it again).
        event = (
            checked.success(lambda: "", None, notice, queue=False, api_name=False)
            .success(
                show_question,
                [question, chatbot],
                [chatbot, question, pending, *controls],
                queue=False,
                api_name=False,
            )
            # The chat's own status boxes say what goes on: Gradio's "•••" bubble is left out
            # (it could stay behind, above the next question).
            .success(
                respond,
                chat_inputs,
                chat_outputs,
                concurrency_limit=None,
                show_progress="hidden",
                api_name=False,
            )
        )
        answering.append(event)
        # Finished or failed: sending is back. (Stop and New conversation do this themselves.)
        event.then(lambda: (False, *answering_controls(False), ""), None, [*controls, notice])
    # Cancelling the turn closes its generator, which stops the model and frees its queue.
    stop.click(
        stop_answer, chatbot, [chatbot, *controls], cancels=answering, queue=False, api_name=False
    )

    def clear() -> tuple[Any, ...]:
        return [], [], [], render_panel([]), False, *answering_controls(False)

    conversation = [chatbot, turns, panel, sources, *controls]
    new_chat.click(clear, None, conversation, cancels=answering, queue=False, api_name=False)
    # The chat's own bin icon empties the conversation; forget it here too.
    chatbot.clear(clear, None, conversation, cancels=answering, queue=False, api_name=False)

    async def load_in_turn(path: str) -> str:
        try:
            return await in_queue(queue, lambda: load_model(service, path))
        except gr.Error as err:
            return refusal(err.message)

    load.click(load_in_turn, [model_path], model_status, concurrency_limit=None, api_name=False)
    return source_filter


def build_articles_tab(service: RagService) -> gr.Dataframe:
    """The articles table, uploads and removal, inside the caller's tab.

    Returns the table, which the page fills when it loads.
    """
    with gr.Row():
        search = gr.Textbox(
            label="Search the articles", placeholder="title, source, date or id", scale=3
        )
        refresh = gr.Button("Refresh", scale=1)
    # Only the "remove" boxes can be changed; a click on another cell shows the article below.
    table = gr.Dataframe(
        headers=["remove", *DOCUMENT_HEADERS],
        datatype=["bool", "str", "str", "str", "number", "str"],
        type="array",
        interactive=True,
        static_columns=[1, 2, 3, 4, 5],
        column_widths=["110px", "40%", "15%", "110px", "90px", "20%"],
        wrap=True,
        elem_id="articles",
    )
    with gr.Row():
        remove_id = gr.Textbox(
            label="Articles to remove (tick their boxes, or paste their ids)",
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
    reading = gr.HTML(
        '<div class="newsrag-meta">Click an article\'s title to read it here.</div>',
        elem_id="article-text",
    )

    def rows_for(query: str) -> list[list[object]]:
        return pick_rows(list_articles(service, query))

    def on_upload(files, query, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
        message, rows = upload_articles(service, files, progress, query)
        return message, pick_rows(rows), None

    def read(evt: gr.SelectData) -> Any:
        column = evt.index[1] if isinstance(evt.index, list | tuple) else None
        if column == 0 or not evt.row_value:
            return gr.skip()  # a tick in the remove box, not a wish to read
        return article_view(service, str(evt.row_value[-1]))

    def ask_to_remove(text: str):
        try:
            message, ids = removal_request(service, text)
        except gr.Error as err:  # said where the question would be, without its buttons
            hidden = gr.update(visible=False)
            return gr.update(value=refusal(err.message), visible=True), [], hidden, hidden
        shown = gr.update(visible=True)
        return gr.update(value=message, visible=True), ids, shown, shown

    def hide_confirmation():
        hidden = gr.update(visible=False)
        return gr.update(value="", visible=False), [], hidden, hidden

    def do_remove(ids, query):
        status_text, rows = remove_articles(service, ids, query)
        return (status_text, pick_rows(rows), "", *hide_confirmation())

    # A refusal is said on the status line; the table and the chosen files stay.
    add.click(
        beside(on_upload, others=2),
        [upload, search],
        [status, table, upload],
        concurrency_id="index",
        api_name=False,
    )
    # A new filter or a refresh starts with nothing ticked: a tick never hides behind it.
    search.change(lambda q: (rows_for(q), ""), search, [table, remove_id], api_name=False)
    refresh.click(lambda q: (rows_for(q), ""), search, [table, remove_id], api_name=False)
    table.input(picked_ids, table, remove_id, api_name=False)
    table.select(read, None, reading, api_name=False)
    confirmation = [confirm_text, pending_removal, confirm, cancel]
    remove.click(ask_to_remove, remove_id, confirmation, api_name=False)
    # Editing the list after Remove withdraws the question: what is confirmed is what is shown.
    remove_id.change(hide_confirmation, None, confirmation, api_name=False)
    cancel.click(hide_confirmation, None, confirmation, api_name=False)
    confirm.click(
        beside(do_remove, others=6),
        [pending_removal, search],
        [status, table, remove_id, *confirmation],
        concurrency_id="index",
        api_name=False,
    )
    return table


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
