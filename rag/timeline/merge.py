"""One line per event: near-identical sentences merged, different claims kept side by side.

Syndicated copies and follow-up stories tell one event in nearly the same
words. Two candidates are the same event when their dates agree (the same
period, or one more precise than the other, or an article's day up to a week
after a stated day) and they share most of their content words, the date words
left out; or, for a year or a month, when they give it to the same names and
numbers (background each article retells in its own words). When two such
sentences state a different name or number in the same place
(``rag.text.conflict``), or the same statement on different days, they are
not merged: both lines stay, each marked as disagreeing with the other.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import replace

from rag.text.conflict import SAME_STATEMENT, sentences_conflict, split_facts
from rag.timeline.dates import parse_day
from rag.timeline.events import Candidate
from rag.timeline.types import TimelineEvent
from rag.types import Citation

# Share of content words two sentences must have in common to tell one event:
# on the same day, a retelling in other words; otherwise, nearly a copy.
SAME_DAY_OVERLAP = 0.45
OVERLAP = 0.6
# Background told in other words: names and numbers in common, of the fewer. For a day,
# more of them: on RealTimeQA, 4 took duplicate lines from 0.136 to 0.108 at the same
# recall; 3 merged a different event of the day into another line, and lost it.
SHARED_FACTS = 2
SHARED_FACTS_DAY = 4
SHARED_FACT_SHARE = 0.6
# An article's day may come this long after the stated day of the event it retells.
REPORTING_LAG = datetime.timedelta(days=7)


def _words(candidate: Candidate) -> frozenset[str]:
    facts, words = split_facts(candidate.without_date())
    return frozenset(facts | words)


def _facts(candidate: Candidate) -> frozenset[str]:
    return frozenset(split_facts(candidate.without_date())[0])


def _same_background(a: Candidate, b: Candidate) -> bool:
    """Two sentences giving one date to the same names and numbers: the story's background,
    retold in other words by each article ("the 2015 deal Trump left in 2018"), or one day's
    event told by several ("shot down off the South Carolina coast on Saturday")."""
    if a.date != b.date:
        return False
    facts_a, facts_b = _facts(a), _facts(b)
    shared = len(facts_a & facts_b)
    least = SHARED_FACTS if len(a.date) < 10 else SHARED_FACTS_DAY
    return shared >= least and shared >= SHARED_FACT_SHARE * min(len(facts_a), len(facts_b))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def _lagging(stated: Candidate, reported: Candidate) -> bool:
    """Is ``reported`` (dated by its article) within the reporting lag after ``stated``?"""
    day, later = parse_day(stated.date), parse_day(reported.date)
    return day is not None and later is not None and day <= later <= day + REPORTING_LAG


def dates_agree(a: Candidate, b: Candidate) -> bool:
    if a.date.startswith(b.date) or b.date.startswith(a.date):
        return True
    if a.date_basis == "stated" and b.date_basis == "article":
        return _lagging(a, b)
    if b.date_basis == "stated" and a.date_basis == "article":
        return _lagging(b, a)
    return False


def _disagree(a: Candidate, b: Candidate, words_a: frozenset[str], words_b: frozenset[str]) -> bool:
    """Do ``a`` and ``b`` (of different articles) tell one event differently?"""
    if a.doc_id == b.doc_id or overlap(words_a, words_b) < SAME_STATEMENT:
        return False  # (both rules below need at least this much in common)
    if sentences_conflict(a.without_date(), b.without_date()) is not None:
        return dates_agree(a, b) or _near(a, b)
    # The same statement, both dated by the sentence, on different days within a week.
    stated = a.date_basis == b.date_basis == "stated"
    return stated and not dates_agree(a, b) and overlap(words_a, words_b) >= OVERLAP and _near(a, b)


def _near(a: Candidate, b: Candidate) -> bool:
    day_a, day_b = parse_day(a.date), parse_day(b.date)
    if day_a is None or day_b is None:
        return a.date[:7] == b.date[:7]
    return abs(day_a - day_b) <= REPORTING_LAG


def _same_event(
    a: Candidate, b: Candidate, words_a: frozenset[str], words_b: frozenset[str]
) -> bool:
    if not dates_agree(a, b):
        return False
    needed = SAME_DAY_OVERLAP if a.date == b.date else OVERLAP
    if overlap(words_a, words_b) < needed and not _same_background(a, b):
        return False
    return sentences_conflict(a.without_date(), b.without_date()) is None


def _line_date(cluster: Sequence[Candidate]) -> Candidate:
    """The candidate whose date the line takes: the most precise stated date, else the
    earliest article's day."""
    stated = [c for c in cluster if c.date_basis == "stated"]
    if stated:
        return max(stated, key=lambda c: len(c.date))
    return min(cluster, key=lambda c: c.date)


def _event(cluster: Sequence[Candidate]) -> TimelineEvent:
    dated = _line_date(cluster)
    head = dated if dated.date_basis == "stated" else cluster[0]
    citations: list[Citation] = []
    cited: set[str] = set()
    for c in [head, *(c for c in cluster if c is not head)]:
        if c.doc_id in cited:
            continue
        cited.add(c.doc_id)
        citations.append(Citation(len(citations) + 1, c.passage, c.sentence, c.start, c.end))
    return TimelineEvent(dated.date, dated.date_basis, head.statement, tuple(citations))


def merge_candidates(candidates: Sequence[Candidate]) -> list[TimelineEvent]:
    """Timeline lines from candidates (best first): merged, oldest first, with the lines
    that disagree pointing at each other."""
    clusters: list[list[Candidate]] = []
    heads: list[frozenset[str]] = []
    for candidate in candidates:
        words = _words(candidate)
        for cluster, head in zip(clusters, heads, strict=True):
            if _same_event(cluster[0], candidate, head, words):
                cluster.append(candidate)
                break
        else:
            clusters.append([candidate])
            heads.append(words)
    order = sorted(range(len(clusters)), key=lambda i: (_line_date(clusters[i]).date, i))
    events = [_event(clusters[i]) for i in order]
    position = {i: n for n, i in enumerate(order, 1)}
    others: dict[int, set[int]] = {}
    for i in range(len(clusters)):
        for j in range(i + 1, len(clusters)):
            if _disagree(clusters[i][0], clusters[j][0], heads[i], heads[j]):
                others.setdefault(position[i], set()).add(position[j])
                others.setdefault(position[j], set()).add(position[i])
    return [replace(e, disagrees=tuple(sorted(others.get(n, ())))) for n, e in enumerate(events, 1)]
