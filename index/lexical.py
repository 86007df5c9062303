"""The lexical half of hybrid search: Okapi BM25 over the same chunks as FAISS.

Dense vectors find paraphrases; BM25 finds the rare words a news question
hinges on (names, places, figures) that a small embedder blurs. The index is
built with bm25s and saved inside each index generation, so a search never
re-tokenises the corpus. Text is lower-cased, split into words, stripped of
English stop words and stemmed (Snowball) the same way for chunks and queries
(``rag.text.words.lexical_tokens``). This module is the BM25 index's persistence,
beside the FAISS index it shares rows with; the search side is
``rag.search.retrieve.LexicalRetriever``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.text.words import lexical_tokens

LEXICAL_DIR = "bm25"


class LexicalIndex:
    """BM25 scores for the rows of an index generation (row i = chunk i)."""

    def __init__(self, model: Any, size: int) -> None:
        self._model = model
        self.size = size

    @staticmethod
    def build(texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        model = bm25s.BM25()
        # An empty token list would leave a chunk out of the matrix; "" keeps rows aligned.
        corpus = [lexical_tokens(t) or [""] for t in texts]
        if corpus:
            model.index(corpus, show_progress=False)
        return LexicalIndex(model, len(corpus))

    def save(self, directory: Path) -> None:
        if self.size:
            self._model.save(str(directory / LEXICAL_DIR))

    @staticmethod
    def load(directory: Path, size: int) -> LexicalIndex:
        import bm25s

        path = directory / LEXICAL_DIR
        if size == 0:
            return LexicalIndex(bm25s.BM25(), 0)
        if not path.is_dir():
            raise OSError(f"{LEXICAL_DIR}/ is missing")
        model = bm25s.BM25.load(str(path), mmap=False, show_progress=False)
        return LexicalIndex(model, size)

    def search(
        self, query: str, k: int, *, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Rows and BM25 scores of the ``k`` best chunks with a score above 0.

        ``allowed`` is a boolean mask over rows; other rows are never returned.
        """
        if self.size == 0 or k <= 0:
            return []
        ids = self._model.get_tokens_ids(lexical_tokens(query))
        if not ids:
            return []
        return self._top(self._model.get_scores_from_ids(ids), k, allowed)

    def search_weighted(
        self, terms: Mapping[str, float], k: int, *, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Like ``search``, for a query of already-analysed terms with weights.

        A chunk scores the weighted sum of its BM25 scores for the terms (an
        expanded query; see ``rag.expand``). Terms not in the index are ignored.
        """
        if self.size == 0 or k <= 0:
            return []
        scores = np.zeros(self.size, dtype=np.float32)
        found = False
        for term, weight in terms.items():
            ids = self._model.get_tokens_ids([term])
            if ids and weight > 0:
                scores += weight * self._model.get_scores_from_ids(ids)
                found = True
        return self._top(scores, k, allowed) if found else []

    def holders(self, term: str) -> np.ndarray:
        """The rows whose text or title holds ``term`` (an analysed term, see
        ``lexical_tokens``), in row order; none when the index lacks it."""
        if self.size == 0:
            return np.zeros(0, dtype=np.int64)
        ids = self._model.get_tokens_ids([term])
        if not ids:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self._model.get_scores_from_ids(ids) > 0)

    def _top(
        self, scores: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(r), float(scores[r])) for r in top if scores[r] > 0]
