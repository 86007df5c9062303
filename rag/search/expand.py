"""Pseudo-relevance feedback: a second search with the query the first one suggests.

A quiz-style question names the event ("the energy giant that announced the
highest profit in its history") but not the words of the passage that
answers it ("Shell ... record profits"). The best passages of a first search
usually share those words, so the second search adds them:

- ``rm3_query`` (lexical): the relevance model RM3 (Lavrenko and Croft 2001;
  Abdul-Jaleel et al. 2004) estimates a term distribution from the feedback
  passages, each weighted by its first-pass score, keeps the strongest terms
  and interpolates them with the original query. Defaults are Anserini's
  (10 passages, 10 terms, original weight 0.5), the usual newswire baseline.
- ``rocchio`` (dense): the query vector moved towards the mean vector of the
  feedback passages (Rocchio 1971; for dense retrievers Li et al. 2021).

Both read only the passages and vectors the index already holds: no model runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rag.config import FEEDBACK_MODES, Feedback
from rag.text.words import lexical_tokens
from rag.types import ScoredPassage, chunk_context

if TYPE_CHECKING:
    from index.store import IndexSnapshot

# Anserini's RM3 defaults (fbDocs=10, fbTerms=10, originalQueryWeight=0.5).
FEEDBACK_PASSAGES = 10
FEEDBACK_TERMS = 10
ORIGINAL_WEIGHT = 0.5
# Rocchio: the query keeps weight 1; the feedback centroid of the first few passages
# gets ROCCHIO_BETA. Dense feedback drifts quickly past the first 3-5 passages (Li et al.).
ROCCHIO_PASSAGES = 5
ROCCHIO_BETA = 0.5


def check_feedback(mode: str) -> Feedback:
    for known in FEEDBACK_MODES:
        if mode == known:
            return known
    raise ValueError(f"feedback must be one of {', '.join(FEEDBACK_MODES)}, got {mode!r}")


def rm3_query(
    query_terms: Sequence[str],
    feedback: Sequence[tuple[Sequence[str], float]],
    *,
    n_terms: int = FEEDBACK_TERMS,
    original_weight: float = ORIGINAL_WEIGHT,
) -> dict[str, float]:
    """Weighted query terms: the original query interpolated with the relevance model.

    ``feedback`` holds each feedback passage's terms with its first-pass score
    (any positive scale: the scores are normalised to sum to one). The result's
    weights sum to one; with no usable feedback it is the original query alone.
    """
    if not 0.0 <= original_weight <= 1.0:
        raise ValueError(f"original_weight must be in [0, 1], got {original_weight}")
    original = Counter(query_terms)
    total = sum(original.values())
    weights = {t: c / total for t, c in original.items()} if total else {}
    usable = [(terms, score) for terms, score in feedback if terms and score > 0]
    mass = sum(score for _, score in usable)
    if not usable or not weights:
        return weights
    model: Counter[str] = Counter()
    for terms, score in usable:
        share = score / mass / len(terms)
        for term, count in Counter(terms).items():
            model[term] += share * count  # P(w|D) P(D|Q)
    top = model.most_common(n_terms)
    top_mass = sum(w for _, w in top)
    expanded = {t: original_weight * w for t, w in weights.items()}
    for term, w in top:
        expanded[term] = expanded.get(term, 0.0) + (1 - original_weight) * w / top_mass
    return expanded


def rocchio(query: np.ndarray, feedback: np.ndarray, *, beta: float = ROCCHIO_BETA) -> np.ndarray:
    """The unit query vector moved towards the centroid of ``feedback`` (rows of unit vectors)."""
    if beta < 0:
        raise ValueError(f"beta must be 0 or more, got {beta}")
    if len(feedback) == 0:
        return query
    moved = query.astype(np.float32) + beta * feedback.mean(axis=0).astype(np.float32)
    norm = float(np.linalg.norm(moved))
    return moved / norm if norm > 0 else query


@dataclass(frozen=True)
class Expansion:
    """What a second search asks: weighted BM25 terms, a moved query vector (None: as before)."""

    terms: dict[str, float] | None = None
    vector: np.ndarray | None = None


def feed_back(
    snapshot: IndexSnapshot,
    query: str,
    vector: np.ndarray,
    ranked: Sequence[ScoredPassage],
    mode: Feedback,
) -> Expansion:
    """The expanded query for ``mode``, from the first search's best passages ``ranked``."""
    terms = moved = None
    if mode in ("rm3", "both"):
        feedback = [
            (lexical_tokens(chunk_context(snapshot.documents[p.doc_id], p.chunk)), p.score)
            for p in ranked[:FEEDBACK_PASSAGES]
        ]
        terms = rm3_query(lexical_tokens(query), feedback)
    if mode in ("rocchio", "both"):
        rows = [snapshot.chunk_row(p.chunk_id) for p in ranked[:ROCCHIO_PASSAGES]]
        moved = rocchio(vector, snapshot.stored_vectors([r for r in rows if r is not None]))
    return Expansion(terms, moved)
