"""What a user asks: the question checked, a filter from their flags, a follow-up made stand-alone.

Imports ``rag.errors``, ``rag.types`` and ``rag.text`` only.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence

from rag.errors import InputError
from rag.text.codepoints import valid_unicode
from rag.text.words import STOPWORDS, content_words
from rag.types import SearchFilter, Turn

MAX_QUESTION_CHARS = 2000


class Question(str):
    """A question ``check_question`` has passed. Checking it again gives it back at once, so
    a caller that checks early (to refuse a question before it waits for the model) and the
    service, which checks every question, make one pass between them."""

    __slots__ = ()


def check_question(question: str) -> Question:
    if isinstance(question, Question):
        return question
    question = " ".join(valid_unicode(question).split())  # every question passes here
    if not question:
        raise InputError("The question is empty. Type a question about the indexed articles.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(
            f"The question is {len(question):,} characters long; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Ask a shorter question."
        )
    return Question(question)


def parse_day(value: str | None, flag: str) -> datetime.date | None:
    """A YYYY-MM-DD date given by a user, or None when empty."""
    if value is None or not value.strip():
        return None
    try:
        return datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{flag} must be a date like 2023-01-31, got {value!r}.") from None


def _check_day(value: str | None, flag: str) -> str | None:
    day = parse_day(value, flag)
    return day.isoformat() if day else None


def make_filter(
    since: str | None = None, until: str | None = None, sources: Sequence[str] = ()
) -> SearchFilter:
    """A search filter from user input, with the dates checked (YYYY-MM-DD)."""
    date_from, date_to = _check_day(since, "--since"), _check_day(until, "--until")
    if date_from and date_to and date_from > date_to:
        raise InputError(f"--since ({date_from}) is after --until ({date_to}).")
    return SearchFilter(date_from, date_to, tuple(s.strip() for s in sources if s.strip()))


# Words that point back into the conversation instead of naming what they mean.
_REFERRING = frozenset(
    """he him his she her hers it its they them their theirs this that these those there
    then such same one ones former latter before earlier later afterwards""".split()
)
_LEADS = ("and ", "but ", "what about", "how about", "so ", "also ")
_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:[A-Z][\w'’-]*|(?:of|al|bin|de|von)\b))*")


def needs_context(question: str) -> bool:
    """Does the question lean on the conversation ("What did he say?", "And why?")?"""
    words = re.findall(r"[\w'’]+", question.lower())
    if any(w in _REFERRING for w in words) or question.lower().startswith(_LEADS):
        return True
    return len(content_words(question)) < 2


def _names(text: str) -> list[str]:
    """Capitalised phrases, minus a sentence's first word when it is a plain word."""
    found = []
    for match in _NAME.finditer(text):
        name = match.group(0)
        first = name.split()[0]
        starts = match.start() == 0 or text[: match.start()].rstrip().endswith((".", "?", "!"))
        if starts and (first.lower() in STOPWORDS or first.lower() in _ASKING):
            rest = name.split()[1:]
            if not rest:
                continue
            name = " ".join(rest)
        found.append(name)
    return found


_ASKING = frozenset("what who when where why how which whose whom did does do is are was".split())


def search_query_for(question: str, history: Sequence[Turn]) -> str:
    """A stand-alone query for retrieval: a follow-up gets the subject it refers to.

    "What did he say about resigning?" after a question about Rouhani becomes
    "What did he say about resigning? Rouhani ...": the names and content words of
    the previous question and the names in its answer that the follow-up lacks.
    A question that stands on its own (no pronoun, enough words) is left alone,
    so a change of subject does not drag the old one along.
    """
    if not history or not needs_context(question):
        return question
    last = history[-1]
    have = content_words(question)
    extra: list[str] = []
    for name in _names(last.question) + _names(last.answer):
        if not content_words(name) <= have | content_words(" ".join(extra)):
            extra.append(name)
    seen = have | content_words(" ".join(extra))
    for word in re.findall(r"[\w'’]+", last.question):
        if word.lower() in content_words(word) and word.lower() not in seen:
            extra.append(word)
            seen.add(word.lower())
    return f"{question} {' '.join(extra)}".strip()
