"""Candidate events: the dated, topical sentences of the passages found for a topic.

A sentence is a candidate when its passage holds the topic's words (two of
them, or the one there is), it holds one itself or its article's title does (a
sentence deep in an article rarely repeats who it is about), and it has a
date: the one it states (``rag.timeline.dates``), or, for an article's opening
sentence only, the article's own day. Other
undated sentences are background, quotes and comment; dating them by the
article would put them on the wrong day. Sentences that speak of the future
("will", "is due to", or a date after the article) are plans, not events.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rag.text.sentences import split_sentences
from rag.text.words import STOPWORDS, WORD
from rag.timeline.dates import StatedDate, covers, parse_day, stated_date
from rag.timeline.types import DateBasis
from rag.types import ScoredPassage

log = logging.getLogger(__name__)

# A quoted sentence longer than this is cut at its first clause break after the date.
MAX_QUOTE_WORDS = 32
MIN_QUOTE_WORDS = 8
# Fewer words than this besides the date: a dateline or a caption, not an event.
MIN_EVENT_WORDS = 5
# Letters a topic word and a sentence word must share at their start to match
# ("sanction" finds "sanctions", "Iran" finds "Iranian").
STEM = 5
_FUTURE = re.compile(
    r"\b(?:will|shall|is due to|are due to|is set to|are set to|scheduled|plans? to|"
    r"expected to|is to|are to)\b",
    re.IGNORECASE,
)
# A note added to an article after its day ("Editor's note: On Friday ..."): its weekday
# cannot be read against the article's day. And page furniture: credits, links onward.
_LATER_NOTE = re.compile(
    r"^\W*(?:editor'?’?s note\b|(?:update|updated|correction|contributing|more|read more|"
    r"related)\s*:)",
    re.I,
)
_CLAUSE_BREAK = re.compile(
    r";|\s[—–]\s|,\s+(?:which|who|while|although|though|but|whereas|adding|according|as)\b"
)


@dataclass(frozen=True)
class Candidate:
    """A sentence that reports a dated event, with where it stands in its article."""

    date: str
    date_basis: DateBasis
    sentence: str
    statement: str  # the sentence, or its opening clauses and " …"
    passage: ScoredPassage
    start: int  # offsets in the article's text
    end: int
    date_span: tuple[int, int] | None  # the stated date's span in ``sentence``

    @property
    def doc_id(self) -> str:
        return self.passage.doc_id

    def without_date(self) -> str:
        """The sentence with its date words taken out, for comparing what it says."""
        if self.date_span is None:
            return self.sentence
        start, end = self.date_span
        return f"{self.sentence[:start]} {self.sentence[end:]}"


def topic_words(topic: str) -> tuple[str, ...]:
    """The words of a topic that must match: lower-cased, stop words left out."""
    words = [w.lower() for w in WORD.findall(topic)]
    return tuple(dict.fromkeys(w for w in words if w not in STOPWORDS and len(w) > 1))


def _stems(text: str) -> set[str]:
    return {w.lower()[:STEM] for w in WORD.findall(text)}


def topic_hits(words: Sequence[str], text: str) -> int:
    """How many of the topic's ``words`` occur in ``text`` (by their first letters)."""
    stems = _stems(text)
    return sum(1 for w in words if w[:STEM] in stems)


def needed_hits(words: Sequence[str]) -> int:
    return min(2, len(words))


def trim_to_clause(sentence: str, keep: int = 0) -> str:
    """``sentence``, or for a long one its opening clauses up to a break after ``keep``."""
    if len(sentence.split()) <= MAX_QUOTE_WORDS:
        return sentence
    for match in _CLAUSE_BREAK.finditer(sentence):
        head = sentence[: match.start()].rstrip(" ,;")
        if match.start() >= keep and len(head.split()) >= MIN_QUOTE_WORDS:
            return f"{head} …"
    return sentence


def _is_event_shaped(sentence: str, date: StatedDate | None) -> bool:
    text = sentence
    if date is not None:
        text = f"{sentence[: date.start]} {sentence[date.end :]}"
    if sentence.rstrip().endswith("?") or sentence.lstrip().startswith("#"):
        return False
    if _LATER_NOTE.match(sentence):
        return False
    return len(WORD.findall(text)) >= MIN_EVENT_WORDS


def _sentences(passage: ScoredPassage) -> Iterator[tuple[int, int, str, bool]]:
    """(article start, article end, sentence, is the article's first sentence)."""
    base = passage.chunk.start
    for n, (start, end) in enumerate(split_sentences(passage.text)):
        yield base + start, base + end, passage.text[start:end], base == 0 and n == 0


def candidate_events(
    passages: Sequence[ScoredPassage],
    topic: str,
    *,
    since: str | None = None,
    until: str | None = None,
) -> list[Candidate]:
    """The candidate events in ``passages``, in the order found, each sentence once.

    Articles without a date are skipped: "on Tuesday" cannot be resolved, and no
    check could keep their events from being dated after their own day.
    """
    words = topic_words(topic)
    need = needed_hits(words)
    seen: set[tuple[str, int]] = set()
    found: list[Candidate] = []
    for passage in passages:
        published = parse_day(passage.date)
        if published is None:
            log.debug("skipped undated article %s", passage.doc_id)
            continue
        # The passage (with its title) holds the topic; each sentence at least one word of it.
        about_topic = topic_hits(words, f"{passage.title} {passage.text}") >= need
        for start, end, sentence, lead in _sentences(passage):
            if (passage.doc_id, start) in seen:
                continue
            seen.add((passage.doc_id, start))
            if not about_topic:
                continue
            if topic_hits(words, f"{passage.title} {sentence}") < min(1, need):
                continue
            date = stated_date(sentence, published)
            if date is not None:
                value, basis = date.value, "stated"
            elif lead and not _FUTURE.search(sentence):
                value, basis = published.isoformat(), "article"
            else:
                continue
            if not _is_event_shaped(sentence, date) or not covers(value, since, until):
                continue
            span = (date.start, date.end) if date else None
            statement = trim_to_clause(sentence, date.end if date else 0)
            found.append(
                Candidate(value, basis, sentence, statement, passage, start, end, span)  # type: ignore[arg-type]
            )
    return found
