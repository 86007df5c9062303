"""What the HTTP API's routes share: the service, the model's queue and the options.

``build_api`` keeps one ``ApiContext`` on the app; a route takes it as a ``Context``
parameter (a FastAPI dependency), so the OpenAI routes and newsrag's own live in
modules of their own instead of closures inside one function.

Every question goes through the ``ModelQueue`` the web chat uses, so the two
take turns in arrival order. A client that goes away while waiting leaves the
line; one that goes away mid-answer stops the model at the next token.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import anyio
from fastapi import Depends, FastAPI, Request

from rag.config import Settings
from rag.errors import RagError
from rag.overrides import checked_settings
from rag.search.query import make_filter, parse_day
from rag.service import RagService
from rag.types import Answer, AnswerEvent, SearchFilter, TokenEvent, Turn
from ui.api_errors import ApiError, queue_full, rag_error
from ui.queue import ModelQueue, QueueFull, Steps, Ticket, run_in_turn
from ui.uploads import MAX_UPLOAD_BYTES

log = logging.getLogger(__name__)

T = TypeVar("T")

# Named in the message when a setting sent by a client is refused.
ORIGIN = "the request"
# JSON bodies: a question is 2,000 characters at most, a conversation some more.
MAX_BODY_BYTES = 1_000_000
# While a question waits for its turn, how often to look whether its client left.
POLL_S = 0.25


@dataclass(frozen=True)
class ApiOptions:
    """``api_key`` None: no key asked (loopback only; ``ui.server`` enforces that)."""

    api_key: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    max_upload_bytes: int = MAX_UPLOAD_BYTES


@dataclass(frozen=True)
class AskOptions:
    """One question's options, checked alike for ``/api/ask`` and ``/v1/chat/completions``."""

    where: SearchFilter
    as_of: datetime.date | None
    k: int
    temperature: float
    max_tokens: int

    def stream(
        self, service: RagService, question: str, history: Sequence[Turn] = ()
    ) -> Iterator[TokenEvent | AnswerEvent]:
        """The answer's events, asked with these options."""
        return service.ask_stream(
            question,
            history=history,
            k=self.k,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            where=self.where,
            as_of=self.as_of,
        )


class AskFields(Protocol):
    """What an ``/api/ask`` and a ``/v1/chat/completions`` request both carry."""

    since: str | None
    until: str | None
    sources: list[str]
    as_of: str | None
    k: int | None
    temperature: float | None


def ask_options(settings: Settings, body: AskFields, *, max_tokens: int | None) -> AskOptions:
    """The options a client sent, checked: ``InputError`` or ``ConfigError`` names a bad one."""
    where = make_filter(body.since, body.until, body.sources)
    day = parse_day(body.as_of, "as_of")
    checked = checked_settings(
        settings, ORIGIN, k=body.k, temperature=body.temperature, max_tokens=max_tokens
    )
    return AskOptions(where, day, checked.k, checked.temperature, checked.max_tokens)


class ApiContext:
    """One server's service, model queue and options; runs questions through the queue,
    stopping when the client leaves."""

    def __init__(self, service: RagService, queue: ModelQueue, options: ApiOptions) -> None:
        self.service = service
        self.queue = queue
        self.options = options

    def model_name(self) -> str:
        """The loaded model as clients name it: its pack's name (`rag models`), or its file."""
        from rag.answer.packs import PACKS

        model_id = self.service.generator.model_id
        names = {pack.filename: pack.name for pack in PACKS.values()}
        return names.get(model_id, model_id)

    def ticket(self) -> Ticket:
        try:
            return self.queue.enter()
        except QueueFull as err:
            raise queue_full(err) from None

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` (blocking) run in its turn, its library errors as HTTP errors."""
        ticket = self.ticket()
        try:
            return await run_in_turn(ticket, work)
        except RagError as err:
            raise rag_error(err) from None

    async def events(
        self,
        ticket: Ticket,
        start: Callable[[], Iterator[TokenEvent | AnswerEvent]],
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[TokenEvent | AnswerEvent]:
        """Wait for the model, then the answer's events; the ticket is released at the end.

        The events are pulled one at a time in a worker thread. Closing the
        iterator (the stream was cancelled, or ``gone()`` said the client left)
        closes the generator, which stops the model before its next token.
        """
        steps: Steps[TokenEvent | AnswerEvent] | None = None
        try:
            waiting = asyncio.ensure_future(ticket.wait_async())
            while not waiting.done():
                await asyncio.wait({waiting}, timeout=POLL_S)
                if not waiting.done() and gone is not None and await gone():
                    waiting.cancel()
                    return
            steps = Steps(start())
            while (event := await anyio.to_thread.run_sync(steps.next)) is not None:
                yield event
                if gone is not None and await gone():
                    log.info("client left mid-answer; the model stops")
                    return
        finally:
            # A cancelled stream may leave a step running in its thread: Steps.finish
            # closes the generator after it, then gives the model's turn up.
            if steps is None:
                ticket.release()
            else:
                steps.finish(ticket)

    async def answer(
        self, ticket: Ticket, start: Callable[[], Iterator[Any]], request: Request
    ) -> Answer:
        """The checked answer, whole; 499-style silence if the client left (nothing to send)."""
        answer: Answer | None = None
        try:
            async for event in self.events(ticket, start, request.is_disconnected):
                if isinstance(event, AnswerEvent):
                    answer = event.answer
        except RagError as err:
            raise rag_error(err) from None
        if answer is None:
            raise ApiError(499, "The client closed the request.", code="client_closed")
        return answer


def keep_context(app: FastAPI, context: ApiContext) -> None:
    """Keep ``context`` on ``app``, for its routes' ``Context`` parameters."""
    app.state.api_context = context


async def api_context(request: Request) -> ApiContext:
    """The context ``keep_context`` kept on the app that took the request."""
    return request.app.state.api_context


# A route's parameter ``context: Context`` is this server's ``ApiContext``.
Context = Annotated[ApiContext, Depends(api_context)]
