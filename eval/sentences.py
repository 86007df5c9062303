"""A second design for the dense side of the search, measured against the product's:
match small, return large.

The product embeds each chunk (about 200 word pieces) whole, so a chunk that holds
the answer in one sentence among six about other things can sit far from the
question. Here every sentence of every chunk (of at least ``MIN_WORDS`` words, read
under its article's title, as chunks are) has a vector of its own, and the dense
side ranks chunks by their best sentence. BM25, fusion, rare terms and dates are
the product's. Run as ``--retrievers product-sentences``; the sentence vectors are
embedded once an index generation and embedder and kept beside the index folder.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import faiss
import numpy as np

from index.snapshot import IndexSnapshot
from rag.search.retrieve import DenseRetriever
from rag.text.sentences import split_sentences
from rag.types import Embedder

log = logging.getLogger(__name__)

MIN_WORDS = 4  # shorter lines (a byline, a table cell) are left to the chunk's other sentences
# Sentences fetched for each chunk wanted: a chunk holds about six, and the best few of
# one chunk often crowd the list.
FETCH_PER_CHUNK = 40


def sentence_units(snapshot: IndexSnapshot) -> tuple[list[str], np.ndarray]:
    """The text embedded for each sentence, and the row of the chunk it belongs to."""
    texts: list[str] = []
    rows: list[int] = []
    for row, chunk in enumerate(snapshot.chunks):
        title = " ".join(snapshot.documents[chunk.doc_id].title.split())
        for start, end in split_sentences(chunk.text):
            sentence = chunk.text[start:end]
            if len(sentence.split()) >= MIN_WORDS:
                texts.append(f"{title}\n{sentence}" if title else sentence)
                rows.append(row)
    return texts, np.asarray(rows, dtype=np.int64)


def _cache_path(index_dir: Path, snapshot: IndexSnapshot, embedder: Embedder) -> Path:
    manifest = snapshot.manifest
    made = f"{manifest.generation}|{manifest.updated_at}" if manifest else "unsaved"
    key = f"{made}|{snapshot.size}|{embedder.model_id}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return index_dir.with_name(f"{index_dir.name}.sentences") / f"{digest}.npz"


def sentence_vectors(
    index_dir: Path, snapshot: IndexSnapshot, embedder: Embedder
) -> tuple[np.ndarray, np.ndarray]:
    """Every sentence's vector and chunk row, embedded once and then read from the cache."""
    path = _cache_path(Path(index_dir), snapshot, embedder)
    if path.exists():
        with np.load(path) as stored:
            return stored["vectors"], stored["rows"]
    texts, rows = sentence_units(snapshot)
    log.warning("Embedding %d sentences of %d chunks once, for %s", len(texts), snapshot.size, path)
    vectors = np.asarray(embedder.embed(texts, kind="passage"), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, vectors=vectors, rows=rows)
    partial.replace(path)
    return vectors, rows


class SentenceDense(DenseRetriever):
    """The dense side over sentences: chunks in the order of their best sentence's cosine."""

    def __init__(
        self, embedder: Embedder, snapshot: IndexSnapshot, vectors: np.ndarray, rows: np.ndarray
    ) -> None:
        super().__init__(embedder, snapshot)
        self.sentence_rows = rows
        self.sentences = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            self.sentences.add(vectors)

    def rows(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        fetch = min(self.sentences.ntotal, FETCH_PER_CHUNK * k)
        if fetch == 0:
            return []
        scores, ids = self.sentences.search(vector.reshape(1, -1).astype(np.float32), fetch)
        best: dict[int, float] = {}
        for score, i in zip(scores[0], ids[0], strict=True):
            if i < 0:
                break
            row = int(self.sentence_rows[i])
            if row in best or (allowed is not None and not allowed[row]):
                continue
            best[row] = float(score)
            if len(best) == k:
                break
        return list(best.items())
