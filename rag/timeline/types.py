"""What a timeline is made of: dated lines, each citing the sentences that say it.

Kept in the timeline's own room (not ``rag.types``) so the room stays one
piece; the UI and the evaluation import them from ``rag.timeline``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rag.types import Citation

DateBasis = Literal["stated", "article"]
NO_EVENTS = "No events found"


@dataclass(frozen=True)
class TimelineEvent:
    """One line of a timeline.

    ``date`` is an ISO day, month or year ("2025-03-12", "2025-03", "2019");
    ``date_basis`` says whether a sentence states it ("stated") or it is the day
    of the article that reports the event ("article"). ``statement`` quotes the
    first citation's sentence (trimmed to its event clause) unless ``quoted`` is
    False: then a model rewrote it, checked to keep its names, numbers and date.
    ``disagrees`` holds the 1-based numbers of lines that tell the same event
    with a different name, number or date.
    """

    date: str
    date_basis: DateBasis
    statement: str
    citations: tuple[Citation, ...]
    disagrees: tuple[int, ...] = ()
    quoted: bool = True


@dataclass(frozen=True)
class Timeline:
    """The events of a topic, oldest first; empty when the articles do not cover it."""

    topic: str
    events: tuple[TimelineEvent, ...]
    since: str | None = None
    until: str | None = None
    passages_searched: int = 0
    total_ms: float = 0.0

    @property
    def found(self) -> bool:
        return bool(self.events)
