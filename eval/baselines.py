"""Reference systems the product is compared with, over the same chunks.

Retrievers: BM25 (bm25s, English stop words), dense (the product's MiniLM
search) and their reciprocal-rank fusion. Answerers: closed-book (the model
with no passages), extractive (the top passage's sentence that shares the most
words with the question) and oracle (the product's prompt given the gold
passage).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from index.store import IndexSnapshot
from rag.chunk import split_sentences
from rag.cite import content_words
from rag.types import Generator, ScoredPassage

_TOKEN = re.compile(r"\w+")


def _passage(snapshot: IndexSnapshot, row: int, score: float, rank: int) -> ScoredPassage:
    chunk = snapshot.chunks[row]
    article = snapshot.documents[chunk.doc_id]
    return ScoredPassage(chunk, float(score), rank, article.title, article.source, article.date)


class BM25Retriever:
    """Okapi BM25 over the index's chunks, built in memory."""

    def __init__(self, snapshot: IndexSnapshot) -> None:
        import bm25s

        # bm25s sets its own logger to DEBUG on import, which floods the run's output.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.snapshot = snapshot
        self._bm25s = bm25s
        corpus = bm25s.tokenize(
            [c.text for c in snapshot.chunks], stopwords="en", show_progress=False
        )
        self._index = bm25s.BM25()
        self._index.index(corpus, show_progress=False)

    def search(self, query: str, k: int) -> list[ScoredPassage]:
        tokens = self._bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        k = min(k, self.snapshot.size)
        rows, scores = self._index.retrieve(tokens, k=k, show_progress=False)
        return [
            _passage(self.snapshot, int(r), float(s), i + 1)
            for i, (r, s) in enumerate(zip(rows[0], scores[0], strict=True))
            if s > 0
        ]


def fuse_rankings(
    rankings: Sequence[Sequence[ScoredPassage]], k: int, *, constant: int = 60
) -> list[ScoredPassage]:
    """Reciprocal rank fusion: score = sum of 1 / (constant + rank) over the rankings."""
    scores: dict[str, float] = {}
    first: dict[str, ScoredPassage] = {}
    for ranking in rankings:
        for p in ranking:
            scores[p.chunk_id] = scores.get(p.chunk_id, 0.0) + 1.0 / (constant + p.rank)
            first.setdefault(p.chunk_id, p)
    ordered = sorted(scores, key=lambda c: -scores[c])[:k]
    return [
        ScoredPassage(
            first[c].chunk, scores[c], i + 1, first[c].title, first[c].source, first[c].date
        )
        for i, c in enumerate(ordered)
    ]


class FusedRetriever:
    def __init__(self, *retrievers: object, depth: int = 50) -> None:
        self.retrievers = retrievers
        self.depth = depth

    def search(self, query: str, k: int) -> list[ScoredPassage]:
        rankings = [r.search(query, max(k, self.depth)) for r in self.retrievers]  # type: ignore[attr-defined]
        return fuse_rankings(rankings, k)


def extractive_answer(question: str, passages: Sequence[ScoredPassage]) -> str:
    """The sentence of the top passage that shares the most content words with the question."""
    if not passages:
        return ""
    text = passages[0].text
    words = content_words(question)
    best, best_score = "", -1
    for start, end in split_sentences(text):
        score = len(words & content_words(text[start:end]))
        if score > best_score:
            best, best_score = text[start:end], score
    return best


CLOSED_BOOK_PROMPT = "Answer the question in one short sentence.\nQuestion: {question}\nAnswer:"


def closed_book_answer(generator: Generator, question: str, *, max_tokens: int) -> str:
    pieces = generator.stream(
        CLOSED_BOOK_PROMPT.format(question=question),
        max_tokens=max_tokens,
        temperature=0.0,
        stop=("\nQuestion:", "\n\n"),
    )
    return "".join(pieces).strip()
