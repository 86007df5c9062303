"""The OpenAI chat-completions format: requests in, responses and stream chunks out.

Only the shapes live here; ``ui.api`` does the asking. An answer's text, with
its ``[n]`` markers, is the message content; the checked answer's citations,
passages, abstention and timings ride along as extra top-level fields
(``answer_fields``), which OpenAI clients keep and may ignore.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.errors import InputError
from rag.serialize import answer_to_dict
from rag.types import Answer, Turn


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            # Parts are separate pieces of text: a line break keeps their words apart.
            return "\n".join(p.text for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions``. Fields OpenAI defines that newsrag has no use for
    (``n``, ``top_p``, ``tools``, ...) are accepted and ignored, as are unknown ones."""

    model_config = ConfigDict(extra="ignore")
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    # With include_usage, a last chunk (no choices) carries ``usage``, as OpenAI sends it.
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = None
    # newsrag's own: how many passages, which articles, and the day asked on (as /api/ask).
    k: int | None = None
    since: str | None = None
    until: str | None = None
    sources: list[str] = Field(default_factory=list)
    as_of: str | None = None

    def answer_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def conversation(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The question (the last message, from the user) and the turns before it.

    Each user message answered by an assistant message is one turn of the
    conversation, as the web chat keeps it; system messages are left out (the
    product writes its own instructions).
    """
    last = messages[-1]
    if last.role != "user":
        raise InputError(f"The last message must be the user's question; it is {last.role!r}.")
    turns: list[Turn] = []
    pending: str | None = None
    for message in messages[:-1]:
        if message.role == "user":
            pending = message.text()
        elif message.role == "assistant" and pending is not None:
            turns.append(Turn(pending, message.text()))
            pending = None
    return last.text(), turns


def answer_fields(answer: Answer) -> dict[str, Any]:
    """``rag ask --json`` without the question and answer text, which the message carries."""
    fields = answer_to_dict(answer)
    del fields["question"], fields["answer"]
    return fields


def usage(answer: Answer) -> dict[str, int]:
    """Tokens the model read and wrote for this answer (0 and 0 when it was not asked:
    no passage was found). The judge's and the query writer's tokens are not counted."""
    prompt, written = answer.timings.prompt_tokens, answer.timings.generated_tokens
    return {"prompt_tokens": prompt, "completion_tokens": written, "total_tokens": prompt + written}


def finish_reason(answer: Answer, max_tokens: int) -> str:
    return "length" if answer.timings.generated_tokens >= max_tokens else "stop"


class Completion:
    """One response's id, time and model, shared by its chunks."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model

    def whole(self, answer: Answer, max_tokens: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": finish_reason(answer, max_tokens),
                }
            ],
            "usage": usage(answer),
            **answer_fields(answer),
        }

    def chunk(
        self, delta: dict[str, str], finish: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    def usage_chunk(self, answer: Answer) -> dict[str, Any]:
        """The last chunk a client asks for with ``stream_options.include_usage``."""
        return {**self.chunk({}), "choices": [], "usage": usage(answer)}


def sse(data: dict[str, Any] | str) -> bytes:
    """One server-sent event: ``data: {json}`` and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


def error_body(
    message: str, kind: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
