"""Turn a raw document into a clean article: normalised text plus metadata.

Explicit metadata (from JSONL fields or HTML) wins; otherwise the title,
date and source are read from the text the way news copy lays them out: a
headline line, a dateline such as "February 17, 2020 — TEHRAN (Agency)", a
trailing "Source: …" line. Site furniture (photo credits, newsletter prompts,
an "About <site>" blurb at the end) is removed so it is never retrieved.
Every rule is narrow on purpose: dropping a real paragraph is worse than
keeping a stray line.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from rag.ingest.pdf import locate_pages
from rag.text.months import MONTHS
from rag.types import Article, RawDocument

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"
_DATE_FORMS = [
    rf"{_WEEKDAY}{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})",
    rf"{_WEEKDAY}(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(?P<year>\d{{4}})",
    r"(?P<year>\d{4})[-/](?P<mnum>\d{1,2})[-/](?P<day>\d{1,2})",
]
_DATE_RES = [re.compile(form, re.IGNORECASE) for form in _DATE_FORMS]
# A line that is only a dateline: date, optional "— PLACE", optional "(Source)".
_DATELINE_TAIL = re.compile(
    r"^\s*(?:[—–-]\s*(?P<place>[^()]{1,60}?))?\s*(?:\((?P<source>[^()]{1,80})\))?\s*$"
)
_SOURCE_LINE = re.compile(r"^\s*source\s*:\s*(?P<source>.{1,120}?)\s*$", re.IGNORECASE)
_ABOUT_LINE = re.compile(r"^\s*about\s+\S.{0,60}$", re.IGNORECASE)
_FURNITURE = re.compile(
    r"^\s*+(?:"
    r"(?:sign up|subscribe)\b.{0,100}"
    r"|follow us\b.{0,80}"
    r"|share (?:this|on)\b.{0,60}"
    r"|advertisement|advert|sponsored content"
    r"|(?:read more|related)\s*:.{0,150}"
    r"|.{0,300}\bphoto(?:graph)? credit\b.{0,120}"
    r")\s*$",
    re.IGNORECASE,
)
# An image caption credited to an agency, e.g. "Iranian President Hassan Rouhani. (Reuters)".
_CAPTION = re.compile(r"^.{0,200}\((?:reuters|afp|ap|epa|getty images|file photo)\)\s*$", re.I)
_OUTLET = re.compile(r"^\s*[A-Z0-9][\w'’&.-]*(?:\s+[A-Z0-9][\w'’&.-]*){0,3}\s*$")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_TITLE_MAX = 150


def parse_date(text: str) -> str | None:
    """The first date in ``text`` as ISO ``YYYY-MM-DD``, or None."""
    match = find_date(text)
    return match[0] if match else None


def iso_day(year: int, month: int, day: int) -> str | None:
    """``YYYY-MM-DD`` of a real calendar day in 1800-2200, else None (2020-02-30 is None).

    The one test of a day for every date read from articles, as ``--since`` has it.
    """
    if not 1800 <= year <= 2200:
        return None
    try:
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        return None


def find_date(text: str) -> tuple[str, int, int] | None:
    best: tuple[str, int, int] | None = None
    for pattern in _DATE_RES:
        for m in pattern.finditer(text):
            parts = m.groupdict()
            month = int(parts["mnum"]) if parts.get("mnum") else MONTHS[parts["month"].lower()]
            day = iso_day(int(parts["year"]), month, int(parts["day"]))
            if day is not None:
                if best is None or m.start() < best[1]:
                    best = (day, m.start(), m.end())
                break
    return best


def normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u202f", " ")
    text = _ZERO_WIDTH.sub("", text)
    lines = [line.rstrip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _dateline(line: str) -> tuple[str, str | None] | None:
    """(ISO date, source) when the whole line is a dateline."""
    found = find_date(line)
    if not found or line[: found[1]].strip():
        return None
    tail = _DATELINE_TAIL.match(line[found[2] :])
    if not tail:
        return None
    return found[0], tail.group("source")


def _looks_like_headline(line: str) -> bool:
    stripped = line.strip()
    if stripped.startswith("#"):
        return True
    if not stripped or len(stripped) > _TITLE_MAX:
        return False
    return not stripped.endswith((".", ":", ",", ";")) or len(stripped) < 60


def _strip_heading(line: str) -> str:
    return line.strip().lstrip("#").strip()


def _cut_tail(lines: list[str]) -> tuple[list[str], str | None]:
    """Remove a trailing "Source: X" line or "About <site>" blurb (and what follows).

    A short outlet name left just above a removed blurb is the source.
    """
    source = None
    before = len(lines)
    total = sum(len(line) + 1 for line in lines) or 1
    position = total
    for i in range(len(lines) - 1, -1, -1):
        position -= len(lines[i]) + 1
        if position < total * 0.7:
            break
        match = _SOURCE_LINE.match(lines[i])
        if match:
            source = match.group("source")
            del lines[i:]
            total = position or 1
        elif _ABOUT_LINE.match(lines[i]) and i < len(lines) - 1:
            del lines[i:]
            total = position or 1
    while lines and not lines[-1].strip():
        lines.pop()
    if source is None and len(lines) < before and lines and _OUTLET.match(lines[-1]):
        source = lines.pop().strip()
    return lines, source


def _first_sentence_title(text: str) -> str:
    first = text.strip().split("\n", 1)[0]
    match = re.search(r"(?<=[.!?])[\"'”’]?\s", first)
    sentence = first[: match.start() + 1] if match else first
    sentence = sentence.strip()
    if len(sentence) <= 100:
        return sentence
    cut = sentence[:100].rsplit(" ", 1)[0]
    return cut.rstrip(",;:—– ") + "…"


_ENDS_UNIT = re.compile(r"[.!?:;\"”’)\]…]$")
_STARTS_BLOCK = re.compile(r"^\s*+(?:[#>|*•–—-]|\d+[.)]\s)")
# A line shorter than this is a heading or a label, not a wrapped line of prose.
_MIN_WRAPPED = 30
# Subheadings are shorter than this; a line as long as a folded one runs on
# even when the next line starts with a capital ("the Saint" / "Brendan").
_FOLDED = 60


def unwrap_lines(text: str) -> str:
    """Join the lines of hard-wrapped paragraphs (text folded at ~72 columns).

    A line break ends a sentence for the chunker and the citation check, so a
    sentence folded over three lines would be cited a third at a time. A line
    runs on into the next when it is prose-length, does not end a sentence or
    clause, the next line does not start a heading, list item or quote, and
    either the next line starts in lower case or the line is as long as a
    folded one (a short sentence-case subheading stays on its own line).
    """
    out: list[str] = []
    # The paragraph being joined, kept as parts: joining a growing string line by
    # line copies it each time, quadratic for a long paragraph folded into many lines.
    parts: list[str] = []
    length = 0  # of the joined paragraph: its parts plus a space between each two
    for line in text.split("\n"):
        previous_end = parts[-1][-1:] if parts else ""
        runs_on = (
            line.strip()
            and length >= _MIN_WRAPPED
            and not _ENDS_UNIT.search(previous_end)
            and not _STARTS_BLOCK.match(parts[0])
            and not _STARTS_BLOCK.match(line)
            and (line.lstrip()[:1].islower() or length >= _FOLDED)
        )
        if runs_on:
            stripped = line.strip()
            parts.append(stripped)
            length += 1 + len(stripped)
        else:
            if parts:
                out.append(" ".join(parts))
            parts, length = [line], len(line)
    if parts:
        out.append(" ".join(parts))
    return "\n".join(out)


def clean_document(raw: RawDocument) -> Article | None:
    """The cleaned article, or None when no article text is left."""
    lines = normalise_text(raw.text).split("\n")
    lines, tail_source = _cut_tail(lines)
    lines = [line for line in lines if not _FURNITURE.match(line)]

    title = raw.title.strip() if raw.title and raw.title.strip() else None
    # A given date that is no real day is not kept as text: filters compare ISO days.
    date = parse_date(raw.date) if raw.date else None
    source = raw.source.strip() if raw.source and raw.source.strip() else None

    # The head of the article: captions, a headline (maybe twice), a dateline.
    head: list[str] = []
    body_start = 0
    for i, line in enumerate(lines):
        if len(head) >= 5 or (line.strip() and not _is_head_line(line, title, head)):
            body_start = i
            break
        if line.strip():
            head.append(line)
        body_start = i + 1
    for line in head:
        stripped = _strip_heading(line)
        dateline = _dateline(stripped)
        if dateline:
            date = date or dateline[0]
            source = source or (dateline[1].strip() if dateline[1] else None)
        elif not _CAPTION.match(stripped) and title is None:
            title = stripped
    text = normalise_text(unwrap_lines("\n".join(lines[body_start:])))
    one_sentence = title is not None and title.endswith((".", "!", "?"))
    if not text and one_sentence and any(_strip_heading(h) == title for h in head):
        text = title  # a one-line article: its only sentence is both title and text
    if not text:
        return None
    title = title or _first_sentence_title(text)
    source = source or tail_source
    return Article(
        doc_id=Article.make_id(text),
        title=title,
        text=text,
        date=date,
        source=source,
        url=raw.url,
        origins=(raw.origin,),
        pages=locate_pages(raw.text, raw.page_starts, text, normalise_text)
        if raw.page_starts
        else (),
    )


def _is_head_line(line: str, title: str | None, head: list[str]) -> bool:
    """Does this line belong to the head (metadata) rather than the article body?"""
    stripped = _strip_heading(line)
    if _dateline(stripped) or _CAPTION.match(stripped):
        return True
    if title is not None and stripped == title:
        return True  # the given title repeated as the first line
    heads = [_strip_heading(h) for h in head if not _dateline(_strip_heading(h))]
    if stripped in heads:
        return True  # a headline printed twice
    have_title = title is not None or any(not _CAPTION.match(h) for h in heads)
    return not have_title and _looks_like_headline(line)
