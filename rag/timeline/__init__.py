"""Timelines: what happened in a story, and when, each line citing its sentences.

``build_timeline`` turns the passages found for a topic into dated lines:
``events`` picks the dated, topical sentences, ``dates`` resolves what they
state against their article's day, ``merge`` makes one line of each event
told several times and marks the claims that disagree. Lines quote their
sentence: a model rewrites one only when asked, and only when the rewrite
keeps the sentence's names, numbers and date (``rewrite``). ``route`` tells
chronology questions from others. Imports ``rag.text`` and ``rag.types``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rag.serialize import citation_to_dict
from rag.timeline.events import candidate_events
from rag.timeline.merge import merge_candidates
from rag.timeline.types import NO_EVENTS, DateBasis, Timeline, TimelineEvent
from rag.types import ScoredPassage

__all__ = [
    "DEPTH",
    "MAX_EVENTS",
    "NO_EVENTS",
    "DateBasis",
    "Timeline",
    "TimelineEvent",
    "build_timeline",
    "format_timeline",
    "timeline_to_dict",
]

# Passages searched for a topic: deeper than for a question (k = 4), since a
# story's events are spread over many articles.
DEPTH = 50
# Lines shown at most; a topic with more keeps those cited by the most articles.
MAX_EVENTS = 60


def build_timeline(
    topic: str,
    passages: Sequence[ScoredPassage],
    *,
    since: str | None = None,
    until: str | None = None,
    max_events: int = MAX_EVENTS,
) -> Timeline:
    """The timeline of ``topic`` from ``passages`` (best first); events in [since, until]."""
    candidates = candidate_events(passages, topic, since=since, until=until)
    events = merge_candidates(candidates)
    if len(events) > max_events:
        events = _most_cited(events, max_events)
    return Timeline(topic, tuple(events), since, until, passages_searched=len(passages))


def _most_cited(events: Sequence[TimelineEvent], limit: int) -> list[TimelineEvent]:
    """The ``limit`` lines cited by the most articles (the earlier found on ties), in
    date order; disagreement numbers follow the lines kept."""
    ranked = sorted(range(len(events)), key=lambda i: -len(events[i].citations))[:limit]
    kept = sorted(ranked)
    renumber = {old + 1: new for new, old in enumerate(kept, 1)}
    return [
        replace(
            events[i],
            disagrees=tuple(renumber[d] for d in events[i].disagrees if d in renumber),
        )
        for i in kept
    ]


def event_to_dict(event: TimelineEvent) -> dict[str, Any]:
    return {
        "date": event.date,
        "date_basis": event.date_basis,
        "statement": event.statement,
        "quoted": event.quoted,
        "disagrees": list(event.disagrees),
        "citations": [citation_to_dict(c) for c in event.citations],
    }


def timeline_to_dict(timeline: Timeline) -> dict[str, Any]:
    """What `rag timeline --json` and ``/api/timeline`` return."""
    return {
        "topic": timeline.topic,
        "since": timeline.since,
        "until": timeline.until,
        "events": [event_to_dict(e) for e in timeline.events],
        "message": None if timeline.found else f"{NO_EVENTS} for {timeline.topic!r}.",
        "passages_searched": timeline.passages_searched,
        "total_ms": round(timeline.total_ms, 1),
    }


def format_timeline(timeline: Timeline) -> str:
    """The timeline as plain text, one event a line, its sources numbered below it."""
    if not timeline.found:
        return f"{NO_EVENTS} for {timeline.topic!r} in the indexed articles."
    lines = []
    for n, event in enumerate(timeline.events, 1):
        basis = "" if event.date_basis == "stated" else " (article date)"
        lines.append(f"{n:>2}. {event.date}{basis}  {event.statement}")
        if event.disagrees:
            others = ", ".join(str(d) for d in event.disagrees)
            lines.append(f"    The sources disagree: see line(s) {others}.")
        for c in event.citations:
            where = ", ".join(x for x in (c.passage.source, c.passage.date) if x)
            lines.append(f"    [{c.marker}] {c.passage.title} ({where or 'no source'})")
    return "\n".join(lines)
