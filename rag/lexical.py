"""The lexical half of hybrid search: Okapi BM25 over the same chunks as FAISS.

Dense vectors find paraphrases; BM25 finds the rare words a news question
hinges on (names, places, figures) that a small embedder blurs. The index is
built with bm25s and saved inside each index generation, so a search never
re-tokenises the corpus. Text is lower-cased, split into words, stripped of
English stop words and stemmed (Snowball) the same way for chunks and queries.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
LEXICAL_DIR = "bm25"


# Function words and news reporting verbs: they match everywhere and decide nothing.
STOPWORDS = frozenset(
    """a an and are as at be been but by did do does for from had has have he her his i
    in into is it its of on or said says say she so than that the their them then there
    these they this to was we were what when where which who whom why will with would
    you your not no yes also after before about over under up out if can could should
    our us my me him how any all more most other some such only own same too very just
    may might must shall being""".split()
)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return STOPWORDS | frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def lexical_tokens(text: str) -> list[str]:
    """The terms BM25 matches on: stemmed, lower-case words that are not stop words."""
    stop = _stopwords()
    words = [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in stop]
    return _stemmer().stemWords(words) if words else []


def _quiet() -> None:
    # bm25s sets its own logger to DEBUG on import, which floods a user's terminal.
    logging.getLogger("bm25s").setLevel(logging.WARNING)


class LexicalIndex:
    """BM25 scores for the rows of an index generation (row i = chunk i)."""

    def __init__(self, model: Any, size: int) -> None:
        self._model = model
        self.size = size

    @staticmethod
    def build(texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        _quiet()
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

        _quiet()
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

    def _top(
        self, scores: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(r), float(scores[r])) for r in top if scores[r] > 0]
