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
from dataclasses import dataclass, replace

from rag.answer.injection import is_instruction
from rag.answer.support import Judge, check_support
from rag.text.sentences import split_sentences
from rag.text.words import WORD_WITH_APOSTROPHE, content_words, lexical_tokens
from rag.types import Citation, ScoredPassage

MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")

ABSTAIN_TEXT = "The articles do not say."
_ABSTAIN_PATTERNS = re.compile(
    r"\b(do(?:es)?\s*(?:not|n['’]t)\s+(?:say|mention|contain|answer|state|provide)"
    r"|no (?:information|mention|answer)|not (?:mentioned|stated|provided|available)"
    r"|cannot (?:be )?(?:answer|determine|found)|unknown from the"
    r"|(?:have|has) no idea|(?:do not|don't) know|not sure)",
    re.IGNORECASE,
)

# A sentence is supported when at least this share of its content words occur
# in one sentence of the passage; a short answer (a name, a figure) must occur whole.
MIN_SUPPORT = 0.5
SHORT_CLAIM_WORDS = 3
# Short answers that only partly match are cut down to the passage's words (see _snap).
SNAP_MAX_WORDS = 6
SNAP_MAX_SPAN = 12


def is_abstention(text: str) -> bool:
    stripped = MARKER.sub("", text).strip()
    return not stripped or bool(_ABSTAIN_PATTERNS.search(stripped))


@dataclass(frozen=True)
class Support:
    """How well one passage sentence supports one answer sentence."""

    score: float  # share of the claim's content words found in the sentence
    context: int  # question words in the sentence: breaks ties between equal scores
    start: int  # offsets into the passage text
    end: int


def best_support(claim: str, passage_text: str, question: str = "") -> Support | None:
    """The passage sentence holding the largest share of the claim's content words.

    Among sentences that hold the same share, the one that also shares the most
    words with the question wins: a short answer like "71" is cited where it
    answers the question, not wherever the number occurs.
    """
    words = content_words(claim)
    if not words:
        return None
    asked = content_words(question) - words
    best: Support | None = None
    for start, end in split_sentences(passage_text):
        if is_instruction(passage_text[start:end]):
            continue  # an order to the model supports nothing
        sentence = content_words(passage_text[start:end])
        shared = len(words & sentence)
        if shared == 0:
            continue
        support = Support(shared / len(words), len(asked & sentence), start, end)
        if best is None or (support.score, support.context) > (best.score, best.context):
            best = support
    return best


def is_supported(claim: str, support: Support | None, floor: float = MIN_SUPPORT) -> bool:
    if support is None:
        return False
    if len(content_words(claim)) <= SHORT_CLAIM_WORDS:
        return support.score >= 1.0
    return support.score >= floor


def coverage(question: str, text: str) -> float:
    """Share of the question's (stemmed) terms that ``text`` contains."""
    asked = set(lexical_tokens(question))
    if not asked:
        return 0.0
    return len(asked & set(lexical_tokens(text))) / len(asked)


def relevance(question: str, passage: ScoredPassage) -> float:
    """Share of the question's (stemmed) terms that the passage or its title contains."""
    return coverage(question, f"{passage.title} {passage.text}")


@dataclass(frozen=True)
class CheckedAnswer:
    text: str
    citations: tuple[Citation, ...]
    unsupported: tuple[str, ...]  # answer sentences no passage supports


# With a judge, fewer shared words may carry a paraphrase; the judge decides.
JUDGED_MIN_SUPPORT = 0.34
# Candidate passages asked about one answer sentence, best first.
JUDGED_CANDIDATES = 2


def _by_meaning(
    claim: str,
    question: str,
    passages: Sequence[ScoredPassage],
    good: dict[int, Support],
    judge: Judge | None,
) -> dict[int, Support]:
    """The candidates whose sentence states the claim: key facts in place, judge agreeing."""
    kept: dict[int, Support] = {}
    ranked = sorted(good, key=lambda n: (-good[n].score, -good[n].context, n))
    for n in ranked[:JUDGED_CANDIDATES] if judge is not None else ranked:
        support, text = good[n], passages[n - 1].text
        before = [text[a:b] for a, b in split_sentences(text[: support.start])]
        verdict = check_support(
            claim,
            question,
            text[support.start : support.end],
            before=before,
            title=passages[n - 1].title,
            judge=judge,
        )
        if verdict.supported:
            kept[n] = support
            if judge is not None:
                break  # one judged support is enough; each judgement costs a forward pass
    return kept


def _cited_numbers(sentence: str, n_passages: int) -> list[int]:
    numbers: list[int] = []
    for group in MARKER.findall(sentence):
        for part in group.split(","):
            n = int(part)
            if 1 <= n <= n_passages and n not in numbers:
                numbers.append(n)
    return numbers


def verify_citations(
    answer: str,
    passages: Sequence[ScoredPassage],
    question: str = "",
    *,
    judge: Judge | None = None,
) -> CheckedAnswer:
    """Check each answer sentence against ``passages`` (marker n = passages[n-1]).

    Supported sentences keep (or get) a marker to a passage that supports
    them; unsupported ones are left out of the text and listed apart. A
    sentence is supported when a passage sentence shares enough of its words,
    holds its key names and numbers, and (given a ``judge``) is judged to state it.
    """
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
            n: best_support(claim, passages[n - 1].text, question)
            for n in range(1, len(passages) + 1)
        }
        floor = JUDGED_MIN_SUPPORT if judge is not None else MIN_SUPPORT
        good = {
            n: s for n, s in supports.items() if s is not None and is_supported(claim, s, floor)
        }
        if not good:
            snapped = _snap(claim, passages, supports)
            if snapped is not None:
                claim, n, support = snapped
                sentence, good = claim, {n: support}
        good = _by_meaning(claim, question, passages, good, judge)
        claimed = [n for n in _cited_numbers(sentence, len(passages)) if n in good]
        if not claimed and good:
            claimed = [max(good, key=lambda n: (good[n].score, good[n].context, -n))]
        if not claimed:
            unsupported.append(claim)
            continue
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


def _snap(
    claim: str, passages: Sequence[ScoredPassage], supports: dict[int, Support | None]
) -> tuple[str, int, Support] | None:
    """A short answer that half matches a passage, replaced by the passage's own words.

    "On March 12, 2019" against "... on March 12, Khamenei said ..." becomes
    "March 12": the shortest stretch of the supporting sentence that holds every
    claim word the sentence has. Longer claims are not rewritten: their
    unsupported part may be the point.
    """
    words = content_words(claim)
    if not words or len(words) > SNAP_MAX_WORDS:
        return None
    ranked = sorted(
        ((n, s) for n, s in supports.items() if s is not None and s.score >= MIN_SUPPORT),
        key=lambda item: (-item[1].score, -item[1].context, item[0]),
    )
    for n, support in ranked:
        text = passages[n - 1].text
        hits = [
            m
            for m in WORD_WITH_APOSTROPHE.finditer(text, support.start, support.end)
            if m.group(0).lower() in words
        ]
        if not hits:
            continue
        start, end = hits[0].start(), hits[-1].end()
        if len(text[start:end].split()) > SNAP_MAX_SPAN:
            continue
        return text[start:end], n, replace(support, score=1.0)
    return None


def _split_final_punct(sentence: str) -> tuple[str, str]:
    match = re.search(r"[.!?]+[\"'”’)]*$", sentence)
    if match:
        return sentence[: match.start()].rstrip(), match.group(0)
    return sentence, ""


# A quoted sentence must hold at least this share of the question's terms.
MIN_QUOTE_COVERAGE = 0.5
QUOTE_PASSAGES = 2


def closest_quote(question: str, passages: Sequence[ScoredPassage]) -> Citation | None:
    """The sentence of the top passages that holds most of the question's terms, if enough.

    When the model's own answer cannot be checked, the sentence that best
    matches the question is quoted instead: the reader sees the articles' exact
    words and where they are, and judges for themselves.
    """
    asked = set(lexical_tokens(question))
    if not asked:
        return None
    best: tuple[float, int, int, int] | None = None  # coverage, passage index, start, end
    for i, passage in enumerate(passages[:QUOTE_PASSAGES]):
        text = passage.text
        for start, end in split_sentences(text):
            if is_instruction(text[start:end]):
                continue
            coverage = len(asked & set(lexical_tokens(text[start:end]))) / len(asked)
            if best is None or coverage > best[0]:
                best = (coverage, i, start, end)
    if best is None or best[0] < MIN_QUOTE_COVERAGE:
        return None
    _, i, start, end = best
    passage = passages[i]
    return Citation(
        marker=i + 1,
        passage=passage,
        text=passage.text[start:end],
        start=passage.chunk.start + start,
        end=passage.chunk.start + end,
    )
