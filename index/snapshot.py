"""One loaded generation of an index: its articles, its chunks in row order, and the
vector and BM25 indexes over them (``index.reader`` loads one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from index.lexical import LexicalIndex
from index.records import Manifest
from index.vectors import search_params
from rag.types import Article, Chunk, DocumentInfo


@dataclass
class IndexSnapshot:
    """One loaded generation: articles, chunks in row order, and the vectors."""

    manifest: Manifest | None
    documents: dict[str, Article]
    chunks: list[Chunk]
    faiss_index: Any
    lexical: LexicalIndex | None = None
    _row_of: dict[str, int] = field(default_factory=dict, repr=False)
    _article_rows: dict[str, list[int]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._row_of = {c.chunk_id: i for i, c in enumerate(self.chunks)}

    def article_rows(self, doc_id: str) -> list[int]:
        """Rows of an article's chunks in reading order (built on first use)."""
        if self._article_rows is None:
            table: dict[str, list[int]] = {}
            for i, c in enumerate(self.chunks):
                table.setdefault(c.doc_id, []).append(i)
            for rows in table.values():
                rows.sort(key=lambda r: self.chunks[r].start)
            self._article_rows = table
        return self._article_rows.get(doc_id, [])

    @property
    def size(self) -> int:
        return len(self.chunks)

    def document_infos(self) -> list[DocumentInfo]:
        """Every article with its number of chunks, newest first."""
        counts: dict[str, int] = {}
        for chunk in self.chunks:
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        infos = [DocumentInfo(a, counts.get(d, 0)) for d, a in self.documents.items()]
        return sorted(infos, key=lambda i: (i.article.date or "", i.article.title), reverse=True)

    def chunk_row(self, chunk_id: str) -> int | None:
        return self._row_of.get(chunk_id)

    def vectors(self) -> np.ndarray:
        if self.faiss_index is None or self.faiss_index.ntotal == 0:
            dim = self.manifest.dimension if self.manifest else 0
            return np.zeros((0, dim), dtype=np.float32)
        return self.faiss_index.reconstruct_n(0, self.faiss_index.ntotal)

    def search(
        self, query: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Rows and inner-product scores of the ``k`` nearest chunks, best first.

        ``allowed`` (a boolean mask over rows) restricts the search to those rows.
        """
        if self.faiss_index is None or self.faiss_index.ntotal == 0:
            return []
        params = None
        if allowed is not None:
            rows_ok = np.flatnonzero(allowed).astype(np.int64)
            if len(rows_ok) == 0:
                return []
            params = search_params(self.faiss_index, rows_ok)
        k = min(k, self.faiss_index.ntotal)
        query = query.reshape(1, -1).astype(np.float32)
        scores, rows = self.faiss_index.search(query, k, params=params)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def stored_vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``rows``, in that order."""
        if len(rows) == 0:
            return np.zeros((0, self.faiss_index.d), dtype=np.float32)
        return self.faiss_index.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    def similarities(self, query: np.ndarray, rows: Sequence[int]) -> list[float]:
        """Inner products of ``query`` with the stored vectors of ``rows``."""
        if not rows:
            return []
        return [float(x) for x in self.stored_vectors(rows) @ query.astype(np.float32)]
