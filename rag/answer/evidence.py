"""Find the sentence that answers: rank the sentences of the retrieved passages.

The sentence most like the question often only restates it ("Trump sent a letter
to Khamenei") while the one that answers sits next to it ("The letter was carried
to Tehran by Anwar Gargash"). A sentence is scored for *answering*:

- its meaning is close to the question's (the embedder's cosine);
- it and its passage hold the question's terms, rare ones counting more (IDF over
  the sentences at hand, so no corpus statistics are needed);
- it holds something of the kind asked (a new name for "who", a date for "when",
  a number for "how many") that the question does not already name;
- it says something beyond the question's own words;
- its passage ranked high in the search.

The weights are round numbers, not fitted to a question set: each part is on a
0..1 scale and the kind of answer weighs most, because that is what separates the
answering sentence from the restating one. ``EvidenceRanker`` is the real ranker;
tests pass any object with the same ``rank`` method.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from rag.answer.candidates import find_candidates
from rag.answer.injection import is_instruction
from rag.answer.support import asked_kind
from rag.text.sentences import split_sentences
from rag.text.words import content_words, lexical_tokens
from rag.types import Citation, Embedder, ScoredPassage

# Parts of a sentence's score (each part on a 0..1 scale).
W_SIMILARITY = 0.35
W_COVERAGE = 0.30
W_KIND = 0.25
W_NOVELTY = 0.05
W_RANK = 0.05
# The sentence's own share of the question's terms against its passage's share.
SENTENCE_SHARE = 0.6
# Sentences shorter than this many words are headings, datelines or fragments.
MIN_WORDS = 5
# Sentences longer than this are cut for the embedder (it reads ~128 word pieces).
MAX_EMBED_CHARS = 600


@dataclass(frozen=True)
class Evidence:
    """One sentence of a retrieved passage, scored for answering the question."""

    passage: ScoredPassage
    start: int  # offsets into passage.text
    end: int
    score: float
    similarity: float  # cosine of question and sentence (0 without an embedder)
    coverage: float  # IDF-weighted share of the question's terms, sentence and passage
    gives_kind: bool  # holds the kind of thing asked (always True when none is asked)
    passage_coverage: float = 0.0  # the same share, of the passage and its title alone

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]


class SentenceRanker(Protocol):
    """Ranks the sentences of passages for answering a question, best first."""

    def rank(self, question: str, passages: Sequence[ScoredPassage]) -> list[Evidence]: ...


@dataclass(frozen=True)
class _Sentence:
    passage: int
    start: int
    end: int
    text: str


def _sentences(passages: Sequence[ScoredPassage]) -> list[_Sentence]:
    """Each sentence once: chunks of one article overlap by a sentence, so the copy in a
    lower-ranked passage is left out."""
    found = []
    seen: set[tuple[str, int]] = set()
    for i, passage in enumerate(passages):
        text = passage.text
        for start, end in split_sentences(text):
            sentence = text[start:end]
            if len(sentence.split()) < MIN_WORDS or is_instruction(sentence):
                continue
            where = (passage.chunk.doc_id, passage.chunk.start + start)
            if where in seen:
                continue
            seen.add(where)
            found.append(_Sentence(i, start, end, sentence))
    return found


def _idf(units: Sequence[set[str]]) -> dict[str, float]:
    """Inverse document frequency of each term over ``units`` (sentences), smoothed."""
    n = len(units)
    df = Counter(term for unit in units for term in unit)
    return {term: math.log(1 + n / count) for term, count in df.items()}


def _weighted_share(
    asked: set[str], found: set[str], idf: dict[str, float], rarest: float
) -> float:
    """The IDF-weighted share of ``asked`` in ``found``; a term no sentence holds weighs
    as much as the rarest one (a name the passages never mention matters most)."""
    total = sum(idf.get(t, rarest) for t in asked)
    if not total:
        return 0.0
    return sum(idf.get(t, rarest) for t in asked & found) / total


class EvidenceRanker:
    """The real ranker: embedder similarity, weighted term coverage, the kind asked."""

    def __init__(self, embedder: Embedder | None) -> None:
        self.embedder = embedder

    def _similarities(self, question: str, sentences: Sequence[_Sentence]) -> np.ndarray:
        if self.embedder is None or not sentences:
            return np.zeros(len(sentences), dtype=np.float32)
        query = self.embedder.embed([question], kind="query")[0]
        vectors = self.embedder.embed([s.text[:MAX_EMBED_CHARS] for s in sentences])
        return np.clip(vectors @ query, 0.0, 1.0)

    def rank(self, question: str, passages: Sequence[ScoredPassage]) -> list[Evidence]:
        sentences = _sentences(passages)
        if not sentences:
            return []
        kind = asked_kind(question)
        asked = set(lexical_tokens(question))
        asked_words = content_words(question)
        tokens = [set(lexical_tokens(s.text)) for s in sentences]
        idf = _idf(tokens)
        rarest = math.log(1 + len(tokens))
        passage_tokens = [set(lexical_tokens(f"{p.title} {p.text}")) for p in passages]
        similarity = self._similarities(question, sentences)
        ranked = []
        for n, (s, terms) in enumerate(zip(sentences, tokens, strict=True)):
            own = _weighted_share(asked, terms, idf, rarest)
            around = _weighted_share(asked, passage_tokens[s.passage], idf, rarest)
            coverage = SENTENCE_SHARE * own + (1 - SENTENCE_SHARE) * around
            words = content_words(s.text)
            novelty = len(words - asked_words) / len(words) if words else 0.0
            has_kind = kind is None or bool(find_candidates(s.text, question, kind))
            score = (
                W_SIMILARITY * float(similarity[n])
                + W_COVERAGE * coverage
                + W_KIND * (1.0 if has_kind and kind is not None else 0.0)
                + W_NOVELTY * min(1.0, 2 * novelty)
                + W_RANK / (1 + s.passage)
            )
            ranked.append(
                Evidence(
                    passage=passages[s.passage],
                    start=s.start,
                    end=s.end,
                    score=score,
                    similarity=float(similarity[n]),
                    coverage=coverage,
                    gives_kind=has_kind,
                    passage_coverage=around,
                )
            )
        ranked.sort(key=lambda e: (-e.score, e.passage.rank, e.start))
        return ranked


_POINTS_BACK = re.compile(
    r"\b(?:he|she|they|his|her|their|it|its|him|them|this|that|these|those)\b", re.IGNORECASE
)


def narrowed(passage: ScoredPassage, start: int, end: int) -> ScoredPassage:
    """The passage cut to ``text[start:end]``: the same chunk id, exact article offsets."""
    chunk = passage.chunk
    cut = replace(
        chunk, text=passage.text[start:end], start=chunk.start + start, end=chunk.start + end
    )
    return replace(passage, chunk=cut)


def evidence_passages(evidence: Sequence[Evidence], n: int) -> list[ScoredPassage]:
    """The best ``n`` sentences as passages the model reads, best first.

    A sentence that points back ("he", "it", "this") brings the sentence before it,
    where the name it points to stands. Sentences of one passage that touch are
    read as one stretch, so the model sees them in their order.
    """
    spans: dict[str, list[tuple[int, int, int]]] = {}  # chunk id: (start, end, best place)
    passages: dict[str, ScoredPassage] = {}
    for place, item in enumerate(evidence[:n]):
        start = item.start
        if _POINTS_BACK.search(item.text):
            before = [a for a, _ in split_sentences(item.passage.text[:start])]
            if before:
                start = before[-1]
        passages.setdefault(item.passage.chunk_id, item.passage)
        spans.setdefault(item.passage.chunk_id, []).append((start, item.end, place))
    stretches: list[tuple[int, ScoredPassage, int, int]] = []
    for chunk_id, found in spans.items():
        merged: list[list[int]] = []
        for start, end, place in sorted(found):
            if merged and start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], end)
                merged[-1][2] = min(merged[-1][2], place)
            else:
                merged.append([start, end, place])
        stretches.extend((place, passages[chunk_id], a, b) for a, b, place in merged)
    stretches.sort(key=lambda s: s[0])
    return [narrowed(p, a, b) for _, p, a, b in stretches]


# A quoted sentence's passage must hold at least this share of the question's weighted
# terms (see ``EvidenceRanker``), and the sentence must be among the first few.
MIN_QUOTE_COVERAGE = 0.5
QUOTE_CANDIDATES = 3


def answering_quote(
    question: str, passages: Sequence[ScoredPassage], evidence: Sequence[Evidence]
) -> Citation | None:
    """The best-ranked sentence that holds what is asked and enough of the question.

    Its marker is its passage's place in ``passages``. None when none of the first
    few sentences qualifies: quoting a sentence ranked lower is guessing.
    """
    place = {p.chunk_id: n for n, p in enumerate(passages, start=1)}
    for item in evidence[:QUOTE_CANDIDATES]:
        if item.passage_coverage < MIN_QUOTE_COVERAGE or not item.gives_kind:
            continue
        if item.passage.chunk_id not in place:
            continue
        offset = item.passage.chunk.start
        return Citation(
            marker=place[item.passage.chunk_id],
            passage=item.passage,
            text=item.text,
            start=offset + item.start,
            end=offset + item.end,
        )
    return None
