"""Sentence spans: where sentences start and end in a text, by character offset.

Shared by every room that reads sentences (chunking, citation checks, prompts,
the injection filter, calibration). Imports nothing of the project's.
"""

from __future__ import annotations

import re

# Words after which a period does not end a sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st jr sr gen sen rep gov lt col capt sgt maj cmdr adm pres
    jan feb mar apr jun jul aug sep sept oct nov dec no nos vs etc e.g i.e a.m p.m
    u.s u.k u.n u.s.a e.u inc ltd co corp dept est fig approx""".split()
)
# A candidate boundary: terminal punctuation, optional closing quotes/brackets, whitespace.
# It starts only where a run of punctuation starts and takes the run whole (possessive),
# so a line of ten thousand dots is read once, not once from each dot (quadratic).
_BOUNDARY = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’»)\]]*+(?=\s)")
_NEXT_STARTS_SENTENCE = re.compile(r"\s++[\"'“‘«(\[]*[A-Z0-9À-ÖØ-Þ]")
_LAST_WORD = re.compile(r"([\w.]+)[.]+[\"'”’»)\]]*$")


def _is_abbreviation(text: str, end: int) -> bool:
    """Does the period run ending at ``end`` close an abbreviation or an initial?"""
    match = _LAST_WORD.search(text, max(0, end - 40), end)
    if not match:
        return False
    word = match.group(1)
    if len(word) == 1 and word.isalpha() and word.isupper():
        return True  # an initial: "Donald J. Trump"
    return word.lower().rstrip(".") in _ABBREVIATIONS


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of sentences in ``text``, in order, without surrounding whitespace.

    Every line break ends a unit too: news text puts headings, datelines and
    list items on lines of their own.
    """
    spans: list[tuple[int, int]] = []
    line_start = 0
    for line in text.splitlines(keepends=True):
        line_end = line_start + len(line)
        start = line_start
        for match in _BOUNDARY.finditer(text, line_start, line_end):
            end = match.end()
            if not _NEXT_STARTS_SENTENCE.match(text, end, line_end):
                continue
            single_period = match.group(0).rstrip("\"'”’»)]") == "."
            if single_period and _is_abbreviation(text, match.start() + 1):
                continue
            span = _trimmed(text, start, end)
            if span:
                spans.append(span)
            start = end
        span = _trimmed(text, start, line_end)
        if span:
            spans.append(span)
        line_start = line_end
    return spans
