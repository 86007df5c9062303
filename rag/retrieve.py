"""Dense retrieval over the FAISS index."""

from __future__ import annotations

from index.store import IndexSnapshot
from rag.types import Embedder, ScoredPassage


class DenseRetriever:
    """Nearest chunks by inner product of unit vectors (cosine similarity)."""

    def __init__(self, embedder: Embedder, snapshot: IndexSnapshot) -> None:
        self.embedder = embedder
        self.snapshot = snapshot

    def search(self, query: str, k: int) -> list[ScoredPassage]:
        if k <= 0:
            raise ValueError(f"k must be greater than 0, got {k}")
        if self.snapshot.size == 0:
            return []
        vector = self.embedder.embed([query], kind="query")[0]
        passages = []
        for rank, (row, score) in enumerate(self.snapshot.search(vector, k), start=1):
            chunk = self.snapshot.chunks[row]
            article = self.snapshot.documents[chunk.doc_id]
            passages.append(
                ScoredPassage(
                    chunk=chunk,
                    score=score,
                    rank=rank,
                    title=article.title,
                    source=article.source,
                    date=article.date,
                )
            )
        return passages
