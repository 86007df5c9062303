"""Evidence before recency: the question's rare terms, and who holds them.

A person who types a bill number, a product code or an unusual surname
expects the article that holds it. Such a term is rare in the index: few
articles hold it, so holding it is decisive evidence. The date preference
(``rag.search.dated``) orders passages by how many of the question's rare
terms they hold first, and only then by fused score plus date bonus: a
recent passage never comes before an older one holding a rare question term
it lacks. Most questions name no rare term, and their order is as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from index.store import IndexSnapshot
from rag.text.words import lexical_tokens

# A question term is rare when at most this many articles hold it (of those the
# search may return), and fewer than half of the index's articles: in a folder of
# three articles, a word that only one holds still tells them apart.
RARE_ARTICLES = 3


@dataclass(frozen=True)
class RareTerms:
    """The question's rare terms (analysed, as BM25 matches them), each with the
    chunks that hold it."""

    holders: dict[str, frozenset[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.holders)

    def held_by(self, chunk_id: str) -> tuple[str, ...]:
        """The rare terms a chunk holds, in the question's order."""
        return tuple(t for t, chunks in self.holders.items() if chunk_id in chunks)


def rare_terms(
    snapshot: IndexSnapshot,
    query: str,
    allowed: np.ndarray | None = None,
    *,
    most_articles: int = RARE_ARTICLES,
) -> RareTerms:
    """The terms of ``query`` that at most ``most_articles`` of the articles ``allowed``
    (a boolean mask over rows; None: all) hold, and fewer than half of the index's."""
    lexical = snapshot.lexical
    if lexical is None or snapshot.size == 0:
        return RareTerms()
    limit = min(most_articles, (len(snapshot.documents) - 1) // 2)
    holders: dict[str, frozenset[str]] = {}
    for term in dict.fromkeys(lexical_tokens(query)):
        rows = lexical.holders(term)
        if allowed is not None:
            rows = rows[allowed[rows]]
        if len(rows) and _articles_at_most(snapshot, rows, limit):
            holders[term] = frozenset(snapshot.chunks[r].chunk_id for r in rows)
    return RareTerms(holders)


def _articles_at_most(snapshot: IndexSnapshot, rows: np.ndarray, limit: int) -> bool:
    """Do the chunks at ``rows`` come from ``limit`` articles or fewer? (Stops counting
    past the limit: a common term has thousands of chunks.)"""
    articles: set[str] = set()
    for r in rows:
        articles.add(snapshot.chunks[int(r)].doc_id)
        if len(articles) > limit:
            return False
    return True
