"""Search over one index generation: dense, lexical, and the two fused.

The product searches with ``HybridRetriever``: FAISS (MiniLM cosine) and BM25
each return their best candidates, the rankings are fused, and passages that
repeat one already chosen (the same wire story in another outlet) are
collapsed so they do not crowd the top k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from index.store import IndexSnapshot
from rag.search.evidence import RareTerms, rare_terms
from rag.search.expand import Feedback, check_feedback, feed_back
from rag.search.widen import widen_passages
from rag.text.conflict import passages_conflict
from rag.text.words import WORD
from rag.types import Embedder, RankReasons, ScoredPassage, SearchFilter

# How many candidates each side hands to fusion, at least.
CANDIDATE_DEPTH = 50
# Added to the fused score of a passage from the preferred dates. It is more than a
# first place in one ranking (1/61): no older passage scores more than 2/61, so among
# passages holding the same rare question terms (see ``rag.search.evidence``), a
# recent passage that either side ranks in about its first 18 comes before every
# older one. Chosen on RealTimeQA: of 0.005, 0.01, 0.02 and 0.05, the last two tied
# for the best answer-in-top-5 (0.578).
PREFERRED_BONUS = 0.02
# Passages whose word 5-grams overlap this much (Jaccard) tell the same story.
DUPLICATE_JACCARD = 0.5


def _check_k(k: int) -> None:
    if k <= 0:
        raise ValueError(f"k must be greater than 0, got {k}")


def allowed_rows(snapshot: IndexSnapshot, where: SearchFilter | None) -> np.ndarray | None:
    """A boolean mask of the rows ``where`` lets through (None: all of them)."""
    if not where:
        return None
    ok_docs = {d for d, a in snapshot.documents.items() if where.allows(a)}
    return np.fromiter((c.doc_id in ok_docs for c in snapshot.chunks), bool, snapshot.size)


def passage_at(
    snapshot: IndexSnapshot, row: int, score: float, rank: int, similarity: float | None = None
) -> ScoredPassage:
    chunk = snapshot.chunks[row]
    article = snapshot.documents[chunk.doc_id]
    return ScoredPassage(
        chunk=chunk,
        score=float(score),
        rank=rank,
        title=article.title,
        source=article.source,
        date=article.date,
        similarity=similarity,
        url=article.url,
        pages=article.pages,
    )


class DenseRetriever:
    """Nearest chunks by inner product of unit vectors (cosine similarity)."""

    def __init__(self, embedder: Embedder, snapshot: IndexSnapshot) -> None:
        self.embedder = embedder
        self.snapshot = snapshot

    def query_vector(self, query: str) -> np.ndarray:
        return self.query_vectors([query])[0]

    def query_vectors(self, queries: Sequence[str]) -> np.ndarray:
        """One vector a query, embedded in one batch."""
        return self.embedder.embed(queries, kind="query")

    def rows(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        return self.snapshot.search(vector, k, allowed=allowed)

    def search(
        self, query: str, k: int, *, where: SearchFilter | None = None
    ) -> list[ScoredPassage]:
        _check_k(k)
        if self.snapshot.size == 0:
            return []
        hits = self.rows(self.query_vector(query), k, allowed_rows(self.snapshot, where))
        return [passage_at(self.snapshot, r, s, i, s) for i, (r, s) in enumerate(hits, 1)]


class LexicalRetriever:
    """BM25 over the chunks (and their titles), from the index's saved BM25 model."""

    def __init__(self, snapshot: IndexSnapshot) -> None:
        self.snapshot = snapshot

    def search(
        self, query: str, k: int, *, where: SearchFilter | None = None
    ) -> list[ScoredPassage]:
        _check_k(k)
        lexical = self.snapshot.lexical
        if lexical is None or self.snapshot.size == 0:
            return []
        hits = lexical.search(query, k, allowed=allowed_rows(self.snapshot, where))
        return [passage_at(self.snapshot, r, s, i) for i, (r, s) in enumerate(hits, 1)]


def fuse_rankings(
    rankings: Sequence[Sequence[ScoredPassage]],
    k: int,
    *,
    constant: int = 60,
    weights: Sequence[float] | None = None,
) -> list[ScoredPassage]:
    """Reciprocal rank fusion: score = sum of weight / (constant + rank) over the rankings."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    first: dict[str, ScoredPassage] = {}
    for weight, ranking in zip(weights, rankings, strict=True):
        for p in ranking:
            scores[p.chunk_id] = scores.get(p.chunk_id, 0.0) + weight / (constant + p.rank)
            if p.chunk_id not in first or first[p.chunk_id].similarity is None:
                first[p.chunk_id] = p
    ordered = sorted(scores, key=lambda c: -scores[c])[:k]
    return [replace(first[c], score=scores[c], rank=i) for i, c in enumerate(ordered, 1)]


def prefer(
    passages: Sequence[ScoredPassage],
    window: SearchFilter,
    bonus: float = PREFERRED_BONUS,
    *,
    rare: RareTerms | None = None,
) -> list[ScoredPassage]:
    """Re-rank fused passages: those holding more of the question's ``rare`` terms
    first, and among those holding as many, by score plus ``bonus`` for a date
    within ``window``. The bonus and the terms held are kept in each passage's
    ``reasons``."""
    rare = rare or RareTerms()
    # (rare terms held, score with bonus, bonus, passage): one copy a passage, made at the end.
    keyed = []
    for p in passages:
        added = bonus if window.covers(p.date) else 0.0
        keyed.append((rare.held_by(p.chunk_id), p.score + added, added, p))
    keyed.sort(key=lambda e: (-len(e[0]), -e[1]))
    return [
        replace(
            p,
            score=score,
            rank=i,
            reasons=replace(
                p.reasons or RankReasons(None, None, p.score), date_bonus=added, rare_terms=held
            ),
        )
        for i, (held, score, added, p) in enumerate(keyed, 1)
    ]


def _shingles(text: str, n: int = 5) -> frozenset[tuple[str, ...]]:
    words = [w.lower() for w in WORD.findall(text)]
    if len(words) < n:
        return frozenset([tuple(words)])
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def collapse_duplicates(
    passages: Sequence[ScoredPassage], k: int, *, threshold: float = DUPLICATE_JACCARD
) -> list[ScoredPassage]:
    """The first ``k`` passages that do not retell one ranked above them.

    Two passages of one article are never duplicates (chunks overlap by a
    sentence on purpose); two articles sharing most of their word 5-grams are,
    unless they state a different name or number in the same sentence: then
    they disagree, and the reader should see both.
    """
    kept: list[tuple[ScoredPassage, frozenset[tuple[str, ...]]]] = []
    for p in passages:
        grams = _shingles(p.text)
        if any(
            q.doc_id != p.doc_id
            and len(grams & g) / max(1, len(grams | g)) >= threshold
            and not passages_conflict(p.text, q.text)
            for q, g in kept
        ):
            continue
        kept.append((p, grams))
        if len(kept) == k:
            break
    return [replace(p, rank=i) for i, (p, _) in enumerate(kept, 1)]


def diversify(
    passages: Sequence[ScoredPassage], vectors: np.ndarray, k: int, *, weight: float
) -> list[ScoredPassage]:
    """Maximal marginal relevance: trade a passage's rank for novelty over those chosen.

    Relevance is the passage's fused score scaled to [0, 1]; redundancy its
    highest cosine similarity to a passage already chosen. ``weight`` is the
    share given to relevance (1.0 keeps the fused order).
    """
    if not passages:
        return []
    scores = np.array([p.score for p in passages], dtype=np.float32)
    span = float(scores.max() - scores.min()) or 1.0
    relevance = (scores - scores.min()) / span
    pairwise = vectors @ vectors.T
    chosen: list[int] = []
    left = list(range(len(passages)))
    while left and len(chosen) < k:

        def value(i: int) -> float:
            redundancy = max((float(pairwise[i, j]) for j in chosen), default=0.0)
            return weight * float(relevance[i]) - (1 - weight) * redundancy

        best = max(left, key=value)
        chosen.append(best)
        left.remove(best)
    return [replace(passages[i], rank=r) for r, i in enumerate(chosen, 1)]


class HybridRetriever:
    """Dense and BM25 candidates, fused by reciprocal rank, near-duplicates collapsed.

    ``preferred`` (a date window) lifts passages of articles published in it
    (see ``PREFERRED_BONUS``): news questions are mostly about the days before
    they are asked. It lifts none over a passage holding more of the query's rare
    terms (see ``rag.search.evidence``). ``written_query`` (a sentence a model
    wrote for the query, see ``rag.answer.hyde``) adds a dense and a BM25 ranking
    of the query and the sentence together, fused with the query's own (weight 1
    each).
    """

    def __init__(
        self,
        embedder: Embedder,
        snapshot: IndexSnapshot,
        *,
        depth: int = CANDIDATE_DEPTH,
        weights: tuple[float, float] = (1.0, 1.0),
        collapse: bool = True,
        diversity: float = 0.0,
        feedback: Feedback = "off",
        neighbours: int = 0,
    ) -> None:
        self.snapshot = snapshot
        self.dense = DenseRetriever(embedder, snapshot)
        self.lexical = LexicalRetriever(snapshot)
        self.depth = depth
        self.weights = weights
        self.collapse = collapse
        if not 0.0 <= diversity < 1.0:
            raise ValueError(f"diversity must be in [0, 1), got {diversity}")
        self.diversity = diversity
        self.feedback = check_feedback(feedback)
        if neighbours < 0:
            raise ValueError(f"neighbours must be 0 or more, got {neighbours}")
        self.neighbours = neighbours

    def search(
        self,
        query: str,
        k: int,
        *,
        where: SearchFilter | None = None,
        preferred: SearchFilter | None = None,
        written_query: str = "",
    ) -> list[ScoredPassage]:
        _check_k(k)
        if self.snapshot.size == 0:
            return []
        allowed = allowed_rows(self.snapshot, where)
        depth = max(2 * k, self.depth)
        both = f"{query} {written_query}" if written_query.strip() else ""
        vectors = self.dense.query_vectors([query, both] if both else [query])
        vector = vectors[0]
        dense_hits = self.dense.rows(vector, depth, allowed)
        lexical_hits = self._lexical_hits(query, depth, allowed)
        # Found by the query and the written sentence together; kept through feedback.
        written_hits: list[list[tuple[int, float]]] = []
        if both:
            written_hits = [
                self.dense.rows(vectors[1], depth, allowed),
                self._lexical_hits(both, depth, allowed),
            ]
        rare = rare_terms(self.snapshot, query, allowed) if preferred else RareTerms()
        fused = self._fuse(
            vector, dense_hits, lexical_hits, preferred, rare=rare, written=written_hits
        )
        if self.feedback != "off" and fused:
            expansion = feed_back(self.snapshot, query, vector, fused, self.feedback)
            if expansion.vector is not None:
                dense_hits = self.dense.rows(expansion.vector, depth, allowed)
            if expansion.terms and self.snapshot.lexical is not None:
                lexical_hits = self.snapshot.lexical.search_weighted(
                    expansion.terms, depth, allowed=allowed
                )
            moved = expansion.vector is not None
            fused = self._fuse(
                vector,
                dense_hits,
                lexical_hits,
                preferred,
                rare=rare,
                moved=moved,
                written=written_hits,
            )
        # Hits inside an earlier hit's window add nothing: take more of them to widen.
        wanted = 3 * k if self.neighbours else k
        if self.collapse:
            # Only as many as are returned (or diversified): comparing every pair is slow.
            fused = collapse_duplicates(fused, 4 * wanted if self.diversity else wanted)
        if self.diversity:
            pool = fused[: 4 * wanted]
            rows = [self.snapshot.chunk_row(p.chunk_id) for p in pool]
            vectors = np.vstack([self.snapshot.faiss_index.reconstruct(int(r)) for r in rows])
            fused = diversify(pool, vectors, wanted, weight=1.0 - self.diversity)
        if self.neighbours:
            return widen_passages(self.snapshot, fused, k, neighbours=self.neighbours)
        return fused[:k]

    def _lexical_hits(
        self, query: str, depth: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        if self.snapshot.lexical is None:
            return []
        return self.snapshot.lexical.search(query, depth, allowed=allowed)

    def _ranked(self, vector: np.ndarray, hits: list[tuple[int, float]]) -> list[ScoredPassage]:
        """``hits`` as passages in their order, each with its cosine to the query ``vector``."""
        similarity = self.snapshot.similarities(vector, [r for r, _ in hits])
        return [
            passage_at(self.snapshot, r, s, i, sim)
            for i, ((r, s), sim) in enumerate(zip(hits, similarity, strict=True), 1)
        ]

    def _fuse(
        self,
        vector: np.ndarray,
        dense_hits: list[tuple[int, float]],
        lexical_hits: list[tuple[int, float]],
        preferred: SearchFilter | None,
        *,
        rare: RareTerms,
        moved: bool = False,
        written: Sequence[list[tuple[int, float]]] = (),
    ) -> list[ScoredPassage]:
        # Scores to a moved or written vector, and BM25's, are not closeness to the query:
        # those hits get their cosine, so every passage says how close it is.
        if moved:
            dense = self._ranked(vector, dense_hits)
        else:
            dense = [
                passage_at(self.snapshot, r, s, i, s) for i, (r, s) in enumerate(dense_hits, 1)
            ]
        rankings = [dense, self._ranked(vector, lexical_hits)]
        rankings += [self._ranked(vector, hits) for hits in written]
        weights = [*self.weights, *(1.0 for _ in written)]
        fused = fuse_rankings(rankings, sum(map(len, rankings)), weights=weights)
        fused = _with_reasons(fused, dense, rankings[1])
        return prefer(fused, preferred, rare=rare) if preferred else fused


def _with_reasons(
    fused: Sequence[ScoredPassage],
    dense: Sequence[ScoredPassage],
    lexical: Sequence[ScoredPassage],
) -> list[ScoredPassage]:
    """``fused`` with each passage's dense and BM25 rank and fused score in its reasons."""
    dense_rank = {p.chunk_id: p.rank for p in dense}
    bm25_rank = {p.chunk_id: p.rank for p in lexical}
    return [
        replace(
            p,
            reasons=RankReasons(bm25_rank.get(p.chunk_id), dense_rank.get(p.chunk_id), p.score),
        )
        for p in fused
    ]
