"""The Chat tab: a question, its answer written and checked, and the sources panel.

One ``RagService`` serves every browser session; the language model answers
one question at a time. Questions wait their turn in a ``ModelQueue`` that the
HTTP API (``ui.api``) shares, in arrival order, and a waiting session is told
its place. Each session keeps its own conversation in ``gr.State``. Until an
answer is checked, the chat shows status boxes (waiting, the draft being
checked), never answer text that could be taken back; a session sends one
question at a time, and Stop or New conversation end the answer under way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import gradio as gr

from rag.errors import RagError
from rag.overrides import checked_settings
from rag.search.query import make_filter
from rag.service import RagService
from rag.timeline.route import timeline_request
from rag.types import Answer, AnswerEvent, TokenEvent, Turn
from ui.notices import refusal, user_error
from ui.queue import ModelQueue, QueueFull, Steps, Ticket, run_in_turn
from ui.render import (
    escape_chat,
    link_markers,
    render_panel,
    render_sources,
    sources_message,
)
from ui.timeline import timeline_turn

# Named in the message when a setting sent by the browser or a script is refused.
API_ORIGIN = "the request"

Messages = list[dict[str, str]]
# Per browser session: (question, its sources cards HTML) for each answer so far.
Panel = list[tuple[str, str]]


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
    return await run_in_turn(take_ticket(queue), work)


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
    if (asked := timeline_request(question)) is not None:  # a chronology: the timeline answers
        yield from timeline_turn(service, asked, messages, turns, panel, question, since, until)
        return
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


def source_names(service: RagService) -> list[str]:
    """The sources of the indexed articles, for the source filter."""
    try:
        return sorted({d.article.source for d in service.documents() if d.article.source})
    except RagError:
        return []


def load_model(service: RagService, path: str) -> str:
    if not (path or "").strip():
        raise user_error(
            "Type a model pack name (see `rag models`), auto, or the path of a .gguf model file."
        )
    try:
        name = service.use_model(path)
    except RagError as err:
        raise user_error(str(err)) from None
    return escape_chat(f"Answering with {name}.")


@dataclass(frozen=True)
class ChatSettings:
    """The Settings accordion: how the search and the model answer, and which model."""

    k: gr.Slider
    temperature: gr.Slider
    since: gr.Textbox
    until: gr.Textbox
    source_filter: gr.Dropdown
    model_path: gr.Textbox
    load: gr.Button
    model_status: gr.Markdown

    @property
    def for_answers(self) -> list[Any]:
        """What ``chat_turn`` takes after the conversation, in its order."""
        return [self.k, self.temperature, self.since, self.until, self.source_filter]


@dataclass(frozen=True)
class ChatTab:
    """The Chat tab's components and per-session state, for the functions that wire it."""

    turns: gr.State
    panel: gr.State
    pending: gr.State
    busy: gr.State
    chatbot: gr.Chatbot
    question: gr.Textbox
    notice: gr.Markdown
    send: gr.Button
    stop: gr.Button
    new_chat: gr.Button
    settings: ChatSettings
    sources: gr.HTML

    @property
    def controls(self) -> list[Any]:
        """Whether an answer is under way, and the buttons that follow it."""
        return [self.busy, self.send, self.stop]

    @property
    def conversation(self) -> list[Any]:
        """Everything a new conversation empties."""
        return [self.chatbot, self.turns, self.panel, self.sources, *self.controls]


class Endings:
    """Per browser session, how many times Stop or New conversation ended its answers.

    An answer started before the count changed sends nothing more: cancelling it stops the
    model, but an update already on its way could otherwise refill a cleared chat.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def count(self, request: gr.Request) -> int:
        return self._counts.get(request.session_hash or "", 0)

    def end(self, request: gr.Request) -> None:
        key = request.session_hash or ""
        self._counts[key] = self._counts.get(key, 0) + 1


def build_chat_tab(service: RagService, queue: ModelQueue, examples: Sequence[str]) -> gr.Dropdown:
    """The chat, its settings and the sources panel, inside the caller's tab.

    Returns the source filter, which the page refreshes when it loads.
    """
    tab = chat_layout(service, examples)
    endings = Endings()
    answering = wire_questions(tab, service, queue, endings)
    wire_endings(tab, answering, endings)
    wire_model_loading(tab, service, queue)
    return tab.settings.source_filter


def chat_layout(service: RagService, examples: Sequence[str]) -> ChatTab:
    """The conversation and its buttons on the left, the sources panel on the right."""
    turns, panel, pending, busy = gr.State([]), gr.State([]), gr.State(""), gr.State(False)
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
            settings = settings_panel(service)
        with gr.Column(scale=2, min_width=300):
            gr.Markdown("## Sources")
            sources = gr.HTML(render_panel([]), elem_id="sources")
    return ChatTab(
        turns=turns,
        panel=panel,
        pending=pending,
        busy=busy,
        chatbot=chatbot,
        question=question,
        notice=notice,
        send=send,
        stop=stop,
        new_chat=new_chat,
        settings=settings,
        sources=sources,
    )


def settings_panel(service: RagService) -> ChatSettings:
    """The Settings accordion, closed at first: the search's settings and the model to load."""
    settings = service.settings
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
                placeholder="empty or auto: the best pack for this machine (rag models lists them)",
                scale=3,
            )
            load = gr.Button("Load model", scale=1)
        model_status = gr.Markdown()
    return ChatSettings(
        k=k,
        temperature=temperature,
        since=since,
        until=until,
        source_filter=source_filter,
        model_path=model_path,
        load=load,
        model_status=model_status,
    )


def wire_questions(
    tab: ChatTab, service: RagService, queue: ModelQueue, endings: Endings
) -> list[Any]:
    """Ask and Enter: check the question, show it, then answer it in the model's turn.

    Returns the answering events, which Stop and New conversation cancel.
    """
    respond = responder(service, queue, endings)
    chat_inputs = [tab.pending, tab.chatbot, tab.turns, tab.panel, *tab.settings.for_answers]
    chat_outputs = [tab.chatbot, tab.turns, tab.panel, tab.sources]
    answering = []
    for trigger in (tab.send.click, tab.question.submit):
        checked = trigger(
            check_sendable, [tab.question, tab.busy], None, queue=False, api_name=False
        )
        checked.failure(
            lambda q, b: f"**{question_problem(q, b)}**",
            [tab.question, tab.busy],
            tab.notice,
            queue=False,
        )
        # The question shows at once; the answer waits in the one queue for the model,
        # which the API shares (so Gradio's own queue does not limit it again).
        event = (
            checked.success(lambda: "", None, tab.notice, queue=False, api_name=False)
            .success(
                show_question,
                [tab.question, tab.chatbot],
                [tab.chatbot, tab.question, tab.pending, *tab.controls],
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
        # Off Gradio's queue: queued, it reopened the page's event stream just after each
        # answer and closed it again, and a click sent as it closed was never answered.
        event.then(
            lambda: (False, *answering_controls(False), ""),
            None,
            [*tab.controls, tab.notice],
            queue=False,
        )
    return answering


def responder(
    service: RagService, queue: ModelQueue, endings: Endings
) -> Callable[..., AsyncIterator[Any]]:
    """The event that answers the shown question in the model's turn, its place in the
    queue shown while it waits; it sends nothing more once Stop or New conversation ended it."""

    async def respond(
        q, msgs, history, shown, k_value, temp, since_day, until_day, names, request: gr.Request
    ) -> AsyncIterator[Any]:
        if not q:
            return
        started = endings.count(request)
        msgs = msgs or []
        turn = chat_turn(
            service, q, msgs, history or [], shown or [], k_value, temp, since_day, until_day, names
        )

        def waiting(ahead: int) -> tuple[Any, ...]:
            note = status_message(f"Waiting in the queue for the model: {ahead} question(s) ahead…")
            return [*msgs, note], gr.skip(), gr.skip(), gr.skip()

        async with contextlib.aclosing(in_turn(take_ticket(queue), turn, waiting)) as updates:
            async for update in updates:
                if endings.count(request) != started:
                    # The last update stands for the whole event when it ends: make it one
                    # that changes nothing. Leaving closes the turn, which frees the model.
                    yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
                    return
                yield update

    return respond


def wire_endings(tab: ChatTab, answering: list[Any], endings: Endings) -> None:
    """Stop, New conversation and the chat's bin icon end the answer under way."""

    # Cancelling the turn closes its generator, which stops the model and frees its queue.
    def stop_pressed(messages: Messages, request: gr.Request) -> tuple[Messages, bool, Any, Any]:
        endings.end(request)
        return stop_answer(messages)

    tab.stop.click(
        stop_pressed,
        tab.chatbot,
        [tab.chatbot, *tab.controls],
        cancels=answering,
        queue=False,
        api_name=False,
    )

    def clear(request: gr.Request) -> tuple[Any, ...]:
        endings.end(request)
        return [], [], [], render_panel([]), False, *answering_controls(False)

    conversation = tab.conversation
    tab.new_chat.click(clear, None, conversation, cancels=answering, queue=False, api_name=False)
    # The chat's own bin icon empties the conversation; forget it here too.
    tab.chatbot.clear(clear, None, conversation, cancels=answering, queue=False, api_name=False)


def wire_model_loading(tab: ChatTab, service: RagService, queue: ModelQueue) -> None:
    """Load model: the new model takes over in its turn, for everyone on this server.

    The click waits for the model's turn in ``queue``, not in Gradio's: off Gradio's queue,
    its answer comes back in the reply to the click itself. On Gradio's queue the answer
    came on the page's event stream, which the server closes when the session has nothing
    else queued; a click sent just as it closed (the page not having read the close yet)
    was never answered.
    """

    async def load_in_turn(path: str) -> str:
        try:
            return await in_queue(queue, lambda: load_model(service, path))
        except gr.Error as err:
            return refusal(err.message)

    s = tab.settings
    s.load.click(load_in_turn, [s.model_path], s.model_status, queue=False, api_name=False)
