"""Questions that ask for a chronology get a timeline, not a one-fact answer.

"What has happened between Iran and the United States since January?",
"Timeline of the TikTok ban", "How did the strike unfold?": the story's events
in order answer these better than one sentence does. ``timeline_request``
says whether a question is one, and which topic and start it names.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from rag.timeline.dates import period_start

_ASKS = tuple(
    re.compile(form, re.IGNORECASE)
    for form in (
        r"^(?:please\s+)?(?:give|show|make|build|draw|write)\s+(?:me\s+|us\s+)?(?:a|the)\s+"
        r"(?:timeline|chronology)\s+(?:of|for|on|about)\s+(?P<topic>.+)$",
        r"^(?:what\s+(?:is|was)\s+)?(?:the\s+|a\s+)?(?:timeline|chronology)\s+(?:of|for|on|about)\s+"
        r"(?P<topic>.+)$",
        r"^what\s+(?:has\s+|have\s+|had\s+)?happened\s+(?:with|to|in|between|on|around|"
        r"regarding|about|at|over)\s+(?P<topic>.+)$",
        r"^how\s+(?:did|has|have)\s+(?P<topic>.+?)\s+(?:unfold(?:ed)?|develop(?:ed)?|"
        r"evolve(?:d)?|play(?:ed)?\s+out)$",
    )
)
# "... since January", "since March 3, 2025", "since 2019", "since last month" at the end.
_SINCE = re.compile(r"\s*,?\s+since\s+(?P<since>[^,;?]+?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class TimelineRequest:
    """What a chronology question asks for: a topic, and the first day it counts from."""

    topic: str
    since: str | None = None


def _split_since(text: str, today: datetime.date) -> tuple[str, str | None]:
    match = _SINCE.search(text)
    if not match:
        return text, None
    start = period_start(f"since {match.group('since')}", today) or period_start(
        match.group("since"), today
    )
    if start is None:
        return text, None
    return text[: match.start()], start


def timeline_request(question: str, today: datetime.date | None = None) -> TimelineRequest | None:
    """The timeline a question asks for, or None when it asks something else.

    Besides the forms above, any question ending in "since" and a date ("What
    has Iran said about talks since January?") asks for the events since then.
    """
    today = today or datetime.date.today()
    text = " ".join(question.split()).rstrip(" ?.!")
    rest, since = _split_since(text, today)
    for pattern in _ASKS:
        match = pattern.match(rest)
        if match:
            topic = match.group("topic").strip(" ,")
            return TimelineRequest(topic, since) if topic else None
    if since is not None and rest.strip():
        return TimelineRequest(rest.strip(" ,"), since)
    return None
