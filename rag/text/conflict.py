"""Passages that tell the same thing with a different name, number or date.

Two outlets often report one event in nearly the same words; when one says
"Apple bought WhatsApp" and the other "Facebook bought WhatsApp", the reader
should see both, not one picked in silence. Two sentences from different
articles conflict when they share most of their other words (the same
statement) but each holds a name or number the other lacks (a different
fact in the same place).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.text.sentences import split_sentences
from rag.text.words import STOPWORDS
from rag.types import ScoredPassage

_TOKEN = re.compile(r"[^\W_]+(?:['’.,][^\W_]+)*", re.UNICODE)
# Share of the two sentences' content words (names included) that must agree.
SAME_STATEMENT = 0.5
MIN_SHARED_WORDS = 3
MIN_SHARED_PLAIN_WORDS = 1


@dataclass(frozen=True)
class Conflict:
    """Sentence spans (offsets in each passage's text) that state different facts."""

    first: int  # index into the passages given
    first_span: tuple[int, int]
    second: int
    second_span: tuple[int, int]
    facts: tuple[tuple[str, ...], tuple[str, ...]]  # what each says that the other does not


def _is_fact(token: str) -> bool:
    return token[0].isdigit() or token[0].isupper()


def split_facts(sentence: str) -> tuple[set[str], set[str]]:
    """(facts, other content words): names and numbers apart from the rest, lower-cased."""
    facts, words = set(), set()
    for match in _TOKEN.finditer(sentence):
        token = match.group(0)
        lower = token.lower()
        if lower in STOPWORDS:
            continue
        if _is_fact(token):
            facts.add(lower.replace(",", ""))
        else:
            words.add(lower)
    return facts, words


def sentences_conflict(a: str, b: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The facts only ``a`` and only ``b`` state, when they make the same statement."""
    facts_a, words_a = split_facts(a)
    facts_b, words_b = split_facts(b)
    shared = (words_a | facts_a) & (words_b | facts_b)
    union = words_a | facts_a | words_b | facts_b
    if len(shared) < MIN_SHARED_WORDS or len(shared) / max(1, len(union)) < SAME_STATEMENT:
        return None
    if len(words_a & words_b) < MIN_SHARED_PLAIN_WORDS:
        return None  # names and dates alone (a dateline, a byline) make no statement
    only_a, only_b = facts_a - facts_b, facts_b - facts_a
    if not only_a or not only_b:
        return None
    return tuple(sorted(only_a)), tuple(sorted(only_b))


def _sentences(passage: ScoredPassage) -> Iterable[tuple[int, int, str]]:
    text = passage.text
    for start, end in split_sentences(text):
        yield start, end, text[start:end]


def find_conflicts(passages: Sequence[ScoredPassage]) -> list[Conflict]:
    """Conflicting sentence pairs across passages of different articles."""
    found: list[Conflict] = []
    split = [list(_sentences(p)) for p in passages]
    for i, first in enumerate(passages):
        for j in range(i + 1, len(passages)):
            if passages[j].doc_id == first.doc_id:
                continue
            for a_start, a_end, a in split[i]:
                for b_start, b_end, b in split[j]:
                    facts = sentences_conflict(a, b)
                    if facts:
                        found.append(Conflict(i, (a_start, a_end), j, (b_start, b_end), facts))
    return found


def passages_conflict(a: str, b: str) -> bool:
    """Do two passage texts hold a pair of sentences that conflict (see ``sentences_conflict``)?"""
    return any(
        sentences_conflict(a[s:e], b[t:u])
        for s, e in split_sentences(a)
        for t, u in split_sentences(b)
    )
