"""The OpenAI-compatible routes: ``/v1/models`` and ``/v1/chat/completions``.

Existing clients and chat front-ends can point at newsrag. The shapes live in
``ui.openai_format``; here the questions are asked, whole or streamed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from rag.errors import RagError
from rag.search.query import check_question
from rag.types import AnswerEvent, TokenEvent
from ui.api_context import ApiContext, Context, ask_options
from ui.api_errors import rag_error
from ui.openai_format import (
    ChatRequest,
    Completion,
    answer_fields,
    conversation,
    error_body,
    finish_reason,
    sse,
)
from ui.queue import Ticket

# While an answer is written and checked, a comment line this often keeps the stream alive.
KEEP_ALIVE_S = 5.0
KEEP_ALIVE = b": checking the answer\n\n"

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


@router.get("/models")
def list_models(context: Context) -> dict[str, Any]:
    """The model that answers (one is loaded at a time)."""
    return {
        "object": "list",
        "data": [
            {"id": context.model_name(), "object": "model", "created": 0, "owned_by": "newsrag"}
        ],
    }


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, request: Request, context: Context) -> Any:
    """OpenAI chat completions; the answer adds ``citations``, ``passages``,
    ``abstained``, ``abstain_reason``, ``quoted``, ``conflict``, ``unsupported``
    and ``timings`` (as ``rag ask --json``). Besides OpenAI's fields, the request may
    send ``k``, ``since``, ``until``, ``sources`` and ``as_of``, as ``/api/ask`` takes them."""
    try:
        question, history = conversation(body.messages)
        question = check_question(question)
        options = ask_options(context.service.settings, body, max_tokens=body.answer_tokens())
    except RagError as err:
        raise rag_error(err) from None

    def start() -> Iterator[TokenEvent | AnswerEvent]:
        return options.stream(context.service, question, history)

    # The model named in the request is ignored: one is loaded, and it answers.
    completion = Completion(context.model_name())
    ticket = context.ticket()
    if not body.stream:
        answer = await context.answer(ticket, start, request)
        return completion.whole(answer, options.max_tokens)
    return StreamingResponse(
        stream_chat(
            context, ticket, start, completion, options.max_tokens, usage=body.include_usage
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def stream_chat(
    context: ApiContext,
    ticket: Ticket,
    start: Callable[[], Iterator[TokenEvent | AnswerEvent]],
    completion: Completion,
    max_tokens: int,
    *,
    usage: bool = False,
) -> AsyncIterator[bytes]:
    """Server-sent events carrying only what stands: the checked answer's text.

    The model's draft is never sent, as checking may leave out a sentence,
    move a marker or replace the whole draft; a client that joins the chunks'
    ``content`` gets exactly the non-streamed answer. While the draft is being
    written and checked, an SSE comment now and then (which clients ignore)
    keeps proxies from closing a quiet connection. The final chunk carries the
    extra fields; with ``usage``, one more chunk carries the token counts.
    """
    yield sse(completion.chunk({"role": "assistant", "content": ""}))
    quiet_since = time.monotonic()
    try:
        async for event in context.events(ticket, start):
            if isinstance(event, TokenEvent):
                if time.monotonic() - quiet_since >= KEEP_ALIVE_S:
                    quiet_since = time.monotonic()
                    yield KEEP_ALIVE
                continue
            answer = event.answer
            yield sse(completion.chunk({"content": answer.text}))
            yield sse(
                completion.chunk({}, finish_reason(answer, max_tokens), **answer_fields(answer))
            )
            if usage:
                yield sse(completion.usage_chunk(answer))
    except RagError as err:
        failure = rag_error(err)
        yield sse(error_body(failure.detail, failure.kind, code=failure.code))
    yield sse("[DONE]")
