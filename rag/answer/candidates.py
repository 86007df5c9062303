"""Candidate answers of the kind a question asks for, found in a sentence.

"Who …" wants a name, "When …" a date, "How many …" a number (see
``rag.answer.support.asked_kind``). A candidate is a span of the sentence of that
kind that the question does not already name: "Anwar Gargash" in "The letter was
carried to Tehran by Anwar Gargash" for "Who delivered Trump's letter to
Khamenei?", but not "Donald Trump" (the question names him) nor "March" (a date,
not a name). Rules, not a trained tagger: capitalised runs, numbers with their
units, and dates in the forms news text uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text.words import STOPWORDS

# Words that open a sentence or a title rather than a name.
_NOT_NAMES = frozenset(
    """a an the in on at it he she they his her their this that these those there
    according after before during because since while when where who what as by for
    but and or if yes no mr mrs ms dr i we you our my its also however meanwhile
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december today yesterday tomorrow
    president minister leader supreme foreign prime secretary spokesman spokeswoman
    spokesperson chief senator governor general ayatollah king queen prince officials
    official sources source reuters ap afp news breaking update""".split()
)
_CONNECTORS = frozenset("of de da del la le al bin ibn van von der den du y and".split())
_WORD = re.compile(r"[^\W_][\w'’.-]*[^\W_]|[^\W_]")
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_DATE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
    rf"|{_MONTH}\s+\d{{4}}|(?:in|since|until|by)\s+(?:1[5-9]\d\d|20\d\d)s?"
    rf"|{_WEEKDAY}|\d{{4}}-\d\d-\d\d"
    r"|(?:this|next|last|coming|following|previous|past)\s+(?:week|month|year|weekend|spring"
    r"|summer|autumn|fall|winter)"
    r"|(?:earlier|later)\s+(?:this|that|next|last)\s+(?:week|month|year)"
    r"|by\s+the\s+(?:start|middle|end)\s+of\s+(?:the\s+|this\s+|next\s+)?(?:week|month|year)"
    r"|yesterday|today|tomorrow|tonight)\b",
    re.IGNORECASE,
)
_UNITS = (
    r"percent|per\s+cent|%|million|billion|trillion|thousand|hundred|people|years?|days?"
    r"|months?|weeks?|hours?|times|dollars|euros|pounds|points|votes|seats|members"
)
_NUMBER_WORD = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty"
    r"|fifty|sixty|seventy|eighty|ninety|hundred|thousand|dozens?|twice|thrice|half"
)
_NUMBER = re.compile(
    rf"(?:[$£€¥]\s?)?\b\d[\d,.]*(?:\s*(?:{_UNITS})\b)?(?:\s+(?:{_UNITS})\b)?"
    rf"|\b(?:{_NUMBER_WORD})\b(?:[\s-]+(?:{_NUMBER_WORD}))*(?:\s+(?:{_UNITS})\b)?",
    re.IGNORECASE,
)
_YEAR = re.compile(r"^(?:1[5-9]\d\d|20\d\d)s?$")


@dataclass(frozen=True)
class Candidate:
    """A span of a sentence that could answer the question."""

    text: str
    start: int  # offsets into the sentence
    end: int


def _asked(question: str) -> set[str]:
    words = {m.group(0).lower() for m in _WORD.finditer(question)}
    return words | {re.sub(r"['’]s$", "", w) for w in words}


def _names(sentence: str, asked: set[str]) -> list[Candidate]:
    """Runs of capitalised words, joined by "of", "al", "bin"…, that the question lacks."""
    found: list[Candidate] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        while run and run[-1].group(0).lower() in _CONNECTORS:
            run.pop()
        words = [m.group(0) for m in run]
        names = [re.sub(r"['’]s$", "", w).lower().rstrip(".") for w in words]
        possessive = bool(words) and re.search(r"['’]s$", words[-1]) is not None
        # "Iran's Supreme Leader": a possessive names whose something, not the answer.
        if run and not possessive and not any(n in asked for n in names):
            found.append(
                Candidate(sentence[run[0].start() : run[-1].end()], run[0].start(), run[-1].end())
            )
        run.clear()

    for match in _WORD.finditer(sentence):
        word = match.group(0)
        plain = re.sub(r"['’]s$", "", word).rstrip(".")
        lower = plain.lower()
        if word[0].isupper() and lower not in _NOT_NAMES and lower not in STOPWORDS:
            if run and sentence[run[-1].end() : match.start()].strip(" -"):
                close()  # punctuation between two capitalised words ends the name
            run.append(match)
            if plain != word.rstrip("."):
                close()  # "Iran's": the possessive ends the name
        elif run and lower in _CONNECTORS and word.islower():
            run.append(match)
        elif run:
            close()
    close()
    return found


def _spans(pattern: re.Pattern[str], sentence: str, asked: set[str]) -> list[Candidate]:
    found = []
    for match in pattern.finditer(sentence):
        text = match.group(0).strip().rstrip(".,;:")
        if not text or text.lower() in asked:
            continue
        found.append(Candidate(text, match.start(), match.start() + len(text)))
    return found


def find_candidates(sentence: str, question: str, kind: str | None) -> list[Candidate]:
    """Spans of ``sentence`` of the kind asked that the question does not name."""
    asked = _asked(question)
    if kind == "name":
        return _names(sentence, asked)
    if kind == "date":
        dates = _spans(_DATE, sentence, asked)
        years = [
            Candidate(m.group(0), m.start(), m.end())
            for m in re.finditer(r"\b(?:1[5-9]\d\d|20\d\d)\b", sentence)
            if m.group(0) not in asked and not any(d.start <= m.start() < d.end for d in dates)
        ]
        return sorted(dates + years, key=lambda c: c.start)
    if kind == "number":
        dates = [(m.start(), m.end()) for m in _DATE.finditer(sentence)]
        return [
            c
            for c in _spans(_NUMBER, sentence, asked)
            if not _YEAR.match(c.text) and not any(a <= c.start < b for a, b in dates)
        ]
    return []
