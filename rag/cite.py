"""Turn the model's answer into text with checked citations.

A small model's ``[n]`` markers are hints, not facts. For every sentence of
the answer we find the passage sentence that shares the most content words
with it. A marker the model wrote is kept when its passage supports the
sentence; otherwise it is moved to the passage that does, or dropped. Each
citation carries the supporting sentence's character span in the article.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.chunk import split_sentences
from rag.types import Citation, ScoredPassage

MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)

ABSTAIN_TEXT = "The articles do not say."
_ABSTAIN_PATTERNS = re.compile(
    r"\b(do(?:es)?\s*(?:not|n['’]t)\s+(?:say|mention|contain|answer|state|provide)"
    r"|no (?:information|mention|answer)|not (?:mentioned|stated|provided|available)"
    r"|cannot (?:be )?(?:answer|determine|found)|unknown from the"
    r"|(?:have|has) no idea|(?:do not|don't) know|not sure)",
    re.IGNORECASE,
)

STOPWORDS = frozenset(
    """a an and are as at be been but by did do does for from had has have he her his i
    in into is it its of on or said says say she so than that the their them then there
    these they this to was we were what when where which who whom why will with would
    you your not no yes also after before about over under up out if can could should
    our us my me him how any all more most other some such only own same too very just
    may might must shall being""".split()
)

# A sentence is supported when at least this share of its content words occur
# in one sentence of the passage (or the passage as a whole, for short answers).
MIN_SUPPORT = 0.5


def content_words(text: str) -> set[str]:
    return {w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in STOPWORDS}


def is_abstention(text: str) -> bool:
    stripped = MARKER.sub("", text).strip()
    return not stripped or bool(_ABSTAIN_PATTERNS.search(stripped))


@dataclass(frozen=True)
class Support:
    """How well one passage sentence supports one answer sentence."""

    score: float
    start: int  # offsets into the passage text
    end: int


def best_support(claim: str, passage_text: str) -> Support | None:
    """The passage sentence sharing the largest share of the claim's content words."""
    words = content_words(claim)
    if not words:
        return None
    best: Support | None = None
    for start, end in split_sentences(passage_text):
        shared = len(words & content_words(passage_text[start:end]))
        if shared == 0:
            continue
        score = shared / len(words)
        if best is None or score > best.score:
            best = Support(score, start, end)
    return best


@dataclass(frozen=True)
class CheckedAnswer:
    text: str
    citations: tuple[Citation, ...]
    unsupported: tuple[str, ...]  # answer sentences no passage supports


def _cited_numbers(sentence: str, n_passages: int) -> list[int]:
    numbers: list[int] = []
    for group in MARKER.findall(sentence):
        for part in group.split(","):
            n = int(part)
            if 1 <= n <= n_passages and n not in numbers:
                numbers.append(n)
    return numbers


def verify_citations(answer: str, passages: Sequence[ScoredPassage]) -> CheckedAnswer:
    """Check each answer sentence against ``passages`` (marker n = passages[n-1])."""
    pieces: list[str] = []
    citations: dict[tuple[int, int, int], Citation] = {}
    unsupported: list[str] = []
    seen: set[str] = set()
    answer = answer.strip()
    for start, end in split_sentences(answer):
        sentence = answer[start:end]
        claim = MARKER.sub("", sentence).strip()
        if not claim or claim.lower() in seen:
            continue  # empty, or the model repeating itself
        seen.add(claim.lower())
        supports = {
            n: best_support(claim, passages[n - 1].text) for n in range(1, len(passages) + 1)
        }
        good = {n: s for n, s in supports.items() if s is not None and s.score >= MIN_SUPPORT}
        claimed = [n for n in _cited_numbers(sentence, len(passages)) if n in good]
        if not claimed and good:
            claimed = [max(good, key=lambda n: (good[n].score, -n))]
        if not claimed:
            unsupported.append(claim)
        for n in claimed:
            s = good[n]
            passage = passages[n - 1]
            offset = passage.chunk.start
            key = (n, s.start, s.end)
            citations.setdefault(
                key,
                Citation(
                    marker=n,
                    passage=passage,
                    text=passage.text[s.start : s.end],
                    start=offset + s.start,
                    end=offset + s.end,
                ),
            )
        body, final = _split_final_punct(claim)
        marks = "".join(f"[{n}]" for n in claimed)
        pieces.append(f"{body}{' ' + marks if marks else ''}{final}")
    ordered = sorted(citations.values(), key=lambda c: (c.marker, c.start))
    return CheckedAnswer(" ".join(pieces), tuple(ordered), tuple(unsupported))


def _split_final_punct(sentence: str) -> tuple[str, str]:
    match = re.search(r"[.!?]+[\"'”’)]*$", sentence)
    if match:
        return sentence[: match.start()].rstrip(), match.group(0)
    return sentence, ""
