"""The date a sentence states, read against the day its article was published.

News copy dates events relative to the story: "on Tuesday" is the Tuesday on or
before the article's day, "yesterday" the day before it, "March 12" the March 12
of the article's year (or the year before, when that one is still to come), "in
2019" a year and "in March 2019" a month. Dates are ISO strings cut to their
precision ("2025-03-12", "2025-03", "2019"), so they sort and compare as text.
A date after the article's day is a plan or a forecast, never an event the
article reports: ``stated_date`` leaves those out and says so.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Literal

from rag.text.months import MONTHS

Precision = Literal["day", "month", "year"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Month names must be capitalised: "march 5 miles" and "may 3 people" are not dates.
_MONTH = r"(?P<month>" + "|".join(m.title() for m in sorted(MONTHS, key=len, reverse=True)) + r")"
_MONTH_DOT = _MONTH + r"\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:1[89]|2[01])\d\d)"
_WEEKDAY = r"(?P<weekday>" + "|".join(w.title() for w in WEEKDAYS) + r")"
_FUTURE = r"(?P<future>(?i:next|coming|this coming|the following|this))\s+"
# Words shortly before a weekday that make it one to come ("the vote is set for Friday",
# "a game to play on Sunday"), unless a reporting verb stands between them ("Iran will
# not talk, he said on Friday").
_PLANNED = re.compile(
    r"(?:\b(?:will|scheduled|due|set|planned|expected|slated|upcoming|next|preparing|"
    r"prepares?|to play|to face|to meet)|'ll)\b(?P<between>(?:\s+\S+){0,6}?)\s*$",
    re.IGNORECASE,
)
_REPORTED = re.compile(r"\b(?:said|says|told|announced|added|confirmed|reported)\b", re.I)
# "since Monday", "since the Monday night game": a day the event follows, not its own.
_SINCE = re.compile(r"\bsince(?:\s+[^\s,;]+){0,5}?\s+$", re.IGNORECASE)
# "Monday's game", "Monday night's game": a day naming a thing, not when the event was.
_POSSESSIVE = re.compile(r"(?:\s+(?:night|morning|afternoon|evening))?['’]s\b")


def _planned(text: str, end: int) -> bool:
    match = _PLANNED.search(text, 0, end)
    return match is not None and not _REPORTED.search(match.group("between"))


# (pattern, precision); the first that matches a stretch of text claims it.
_FORMS: tuple[tuple[str, str], ...] = (
    (rf"\b{_MONTH_DOT}\s+{_DAY},?\s+{_YEAR}\b", "day"),
    (rf"\b{_DAY}\s+{_MONTH_DOT},?\s+{_YEAR}\b", "day"),
    (r"\b(?P<year>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})\b", "day"),
    (rf"\b{_MONTH_DOT}\s+{_DAY}\b(?!\s*(?:%|per|million|billion))", "day"),
    (rf"\b{_DAY}\s+{_MONTH}\b", "day"),
    (rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}\b", "month"),
    (
        rf"\b(?i:in|since|during|by|until|from|early|late|mid-?)\s+(?i:early\s+|late\s+)?{_MONTH}\b"
        r"(?!\s+\d)",
        "month",
    ),
    (rf"\b(?i:since)\s+{_YEAR},?\s+(?i:when)\b", "year"),
    (
        rf"(?:\b(?i:in|during|early|late)\s+(?i:early\s+|late\s+|mid-|the\s+(?:spring|summer|"
        rf"autumn|fall|winter)\s+of\s+)?|\b(?i:mid-)){_YEAR}\b",
        "year",
    ),
    (rf"(?:\b{_FUTURE})?\b(?i:last\s+|on\s+|this\s+past\s+)?{_WEEKDAY}\b", "weekday"),
    (
        r"(?i:\b(?P<relative>yesterday|today|this morning|this afternoon|tonight|last night|"
        r"last month|this month|last year|this year|earlier this year|earlier this month)\b)",
        "relative",
    ),
)
# "in September of that year": the year is in another sentence, so the month is not dated.
_OTHER_YEAR = re.compile(r"\s+(?:of\s+)?(?:that|the same|the following|the previous)\s+year")
# A bare weekday this many days before the article is not dated: see ``_resolve``.
UNSURE_DAYS_BACK = 6
_PATTERNS = tuple((re.compile(form), kind) for form, kind in _FORMS)


@dataclass(frozen=True)
class StatedDate:
    """A date written in a sentence: its ISO value, precision and span in the sentence."""

    value: str
    precision: Precision
    start: int
    end: int
    # After the article's day: a plan or forecast, not an event it reports.
    future: bool = False
    # A day the event follows ("since Monday"), not the event's own.
    reference: bool = False


def parse_day(value: str | None) -> datetime.date | None:
    """The day of an ISO date or timestamp ("2025-03-12", "2025-03-12T08:00:00Z"), or None."""
    try:
        return datetime.date.fromisoformat((value or "")[:10].replace("/", "-"))
    except ValueError:
        return None


def _cut(day: datetime.date, precision: Precision) -> str:
    return day.isoformat()[: {"day": 10, "month": 7, "year": 4}[precision]]


def _month_before(month: int, published: datetime.date) -> int:
    """The year of the latest ``month`` that has begun by ``published``."""
    return published.year if month <= published.month else published.year - 1


def _resolve(
    match: re.Match[str], kind: str, published: datetime.date, year_said: int | None
) -> tuple[str, Precision]:
    """(ISO value, precision) of one match; raises ValueError for an impossible date.

    ``year_said`` is a year stated earlier in the sentence: "in May 2018 ... on 8 May"
    is 8 May 2018.
    """
    parts = match.groupdict()
    if kind == "weekday":
        target = WEEKDAYS.index(parts["weekday"].lower())
        back = (published.weekday() - target) % 7
        if parts.get("future") or _planned(match.string, match.start()):
            return _cut(published + datetime.timedelta(days=(7 - back) % 7 or 7), "day"), "day"
        if back == UNSURE_DAYS_BACK and not match.group(0).lower().startswith(("last", "this")):
            # The day after the article's weekday: a week back, or the article was updated
            # after its date ("shot down Saturday" in a page dated the Friday before).
            raise ValueError("a weekday six days back")
        return _cut(published - datetime.timedelta(days=back), "day"), "day"
    if kind == "relative":
        return _relative(parts["relative"].lower(), published)
    if kind == "year":
        return parts["year"], "year"
    month = int(parts["mnum"]) if parts.get("mnum") else MONTHS[parts["month"].lower()]
    year = int(parts["year"]) if parts.get("year") else year_said
    if kind == "month":
        if _OTHER_YEAR.match(match.string, match.end()):
            raise ValueError("a month of a year named in another sentence")
        year = year or _month_before(month, published)
        return f"{year:04d}-{month:02d}", "month"
    day = int(parts["day"])
    if year is None:
        year = published.year
        if datetime.date(year, month, day) > published + datetime.timedelta(days=1):
            year -= 1  # "December 30" in a January article is last year's
    return datetime.date(year, month, day).isoformat(), "day"


def _relative(words: str, published: datetime.date) -> tuple[str, Precision]:
    if words in ("yesterday", "last night"):
        return _cut(published - datetime.timedelta(days=1), "day"), "day"
    if words in ("today", "this morning", "this afternoon", "tonight"):
        return _cut(published, "day"), "day"
    if words == "last month":
        first = published.replace(day=1) - datetime.timedelta(days=1)
        return _cut(first, "month"), "month"
    if words in ("this month", "earlier this month"):
        return _cut(published, "month"), "month"
    if words == "last year":
        return str(published.year - 1), "year"
    return str(published.year), "year"


def find_dates(sentence: str, published: datetime.date) -> list[StatedDate]:
    """Every date ``sentence`` states, in order, resolved against ``published``."""
    matches: list[tuple[re.Match[str], str]] = []
    for pattern, kind in _PATTERNS:
        for match in pattern.finditer(sentence):
            start, end = match.span()
            if not any(start < m.end() and m.start() < end for m, _ in matches):
                matches.append((match, kind))
    found: list[StatedDate] = []
    year_said: int | None = None
    for match, kind in sorted(matches, key=lambda m: m[0].start()):
        try:
            value, precision = _resolve(match, kind, published, year_said)
        except ValueError:  # February 30, a month 13
            continue
        if match.groupdict().get("year"):
            year_said = int(match.group("year"))
        future = value > _cut(published, precision)
        reference = bool(_SINCE.search(sentence, 0, match.start()))
        reference = (
            reference
            or bool(_POSSESSIVE.match(sentence, match.end()))
            or (kind != "year" and match.group(0).lower().startswith("since"))
        )
        found.append(StatedDate(value, precision, match.start(), match.end(), future, reference))
    return found


_RANK: dict[str, int] = {"day": 3, "month": 2, "year": 1}


def stated_date(sentence: str, published: datetime.date) -> StatedDate | None:
    """The date of the event ``sentence`` reports: its most precise past date, the latest
    of equals (news tells the new event against older ones: "the game suspended Jan. 2
    will not resume, the NFL announced Thursday"). None when it states no date, or only
    dates after ``published`` or before the event ("since Monday")."""
    past = [d for d in find_dates(sentence, published) if not d.future and not d.reference]
    if not past:
        return None
    return max(past, key=lambda d: (_RANK[d.precision], d.value, -d.start))


def period_start(words: str, today: datetime.date) -> str | None:
    """The first day of the period ``words`` name ("January", "2019", "March 3, 2025",
    "last month"), counted back from ``today``; None when they name none."""
    dates = [d for d in find_dates(words, today) if not d.future]
    if not dates:
        year = re.fullmatch(r"\s*((?:1[89]|2[01])\d\d)\s*", words)
        return f"{year.group(1)}-01-01" if year else None
    value = dates[0].value
    return value + {4: "-01-01", 7: "-01", 10: ""}[len(value)]


def covers(value: str, since: str | None, until: str | None) -> bool:
    """Does the period ``value`` (a year, month or day) overlap [since, until] (ISO days)?"""
    if since and value < since[: len(value)]:
        return False
    return not (until and value > until[: len(value)])
