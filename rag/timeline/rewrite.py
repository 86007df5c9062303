"""A model's short statement for a timeline line, kept only when it says nothing new.

Quoting is the default: every word of a quoted line is its source's. Asked to,
a language model rewrites each line's sentence into a short statement, and
``keeps_facts`` accepts it only when it keeps every name and number of the
quoted clause, adds none, and states no other date than the line's; otherwise
the line keeps its quote. Nor may it bring a word the quote lacks: with the names and
numbers alone, "came close to a deal in mid-2022" passed as "the deal was reached in
2022". It costs a model pass per line: off by default (README, "Timelines").
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import replace

from rag.text.conflict import split_facts
from rag.timeline.dates import find_dates, parse_day, stated_date
from rag.timeline.types import Timeline, TimelineEvent
from rag.types import Generator

log = logging.getLogger(__name__)

INSTRUCTION = (
    "Rewrite the news sentence as one short statement of what happened, in under 20 words. "
    "Keep every name and number. Answer with the statement only."
)
MAX_TOKENS = 48
STEM = 4


def _ask(generator: Generator, sentence: str) -> str:
    if generator.has_chat_template:
        messages = [{"role": "user", "content": f"{INSTRUCTION}\n\nSentence: {sentence}"}]
        pieces = generator.stream_chat(messages, max_tokens=MAX_TOKENS, temperature=0.0)
    else:
        prompt = f"{INSTRUCTION}\n\nSentence: {sentence}\nStatement:"
        pieces = generator.stream(prompt, max_tokens=MAX_TOKENS, temperature=0.0, stop=["\n"])
    return " ".join("".join(pieces).split()).strip(" \"'")


def _undated(text: str, published: datetime.date | None) -> str:
    """``text`` without its date words: the line's date is checked on its own."""
    if published is None:
        return text
    for found in reversed(find_dates(text, published)):
        text = f"{text[: found.start]} {text[found.end :]}"
    return text


def keeps_facts(quote: str, statement: str, date: str, published: datetime.date | None) -> bool:
    """Does ``statement`` keep the names and numbers of ``quote``, add none, and state no
    date but ``date`` (read against the article's day ``published``)?"""
    quote = quote.removesuffix(" …")
    if not statement or len(statement) >= len(quote):
        return False
    facts_quote, _ = split_facts(_undated(quote, published))
    facts_said, _ = split_facts(_undated(statement, published))
    # The first word of a sentence is capitalised whatever it is: not a name to keep.
    first = quote.split(maxsplit=1)[0].lower().strip(",.\"'“”")
    # Every name and number kept; none that the quote lacks, in any case, added.
    quote_tokens = set().union(*split_facts(quote))
    if not facts_quote - {first} <= facts_said or not facts_said <= quote_tokens:
        return False
    # Nor any other word: a new verb is a new claim ("came close to a deal" made "the deal
    # was reached"). Words match by their first letters ("firing" keeps "fired").
    stems = {w[:STEM] for w in quote_tokens}
    if any(w[:STEM] not in stems for w in split_facts(statement)[1]):
        return False
    if published is not None:
        said = stated_date(statement, published)
        if said is not None and said.value != date:
            return False
    return True


def rewrite_event(generator: Generator, event: TimelineEvent) -> TimelineEvent:
    """The line with the model's statement, when it passes ``keeps_facts``; else as it was."""
    source = event.citations[0]
    statement = _ask(generator, event.statement.removesuffix(" …"))
    if keeps_facts(event.statement, statement, event.date, parse_day(source.passage.date)):
        return replace(event, statement=statement, quoted=False)
    log.info("kept the quote: the rewrite %r changed its facts", statement)
    return event


def rewrite_timeline(generator: Generator, timeline: Timeline) -> Timeline:
    events: Sequence[TimelineEvent] = [rewrite_event(generator, e) for e in timeline.events]
    return replace(timeline, events=tuple(events))
