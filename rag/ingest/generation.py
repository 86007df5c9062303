"""What the next generation of an index holds: the chunks it keeps, the chunks it adds,
and a vector for each, embedding only what has no vector yet.

A chunk is indexed (and embedded) as ``chunk_context(article, chunk)``: its
article's title and its text. A text already in the current generation (an
edited article's untouched paragraphs, a wire story filed twice) reuses its
stored vector, so what is embedded is keyed by its exact content.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from index.snapshot import IndexSnapshot
from rag.types import Article, Chunk, chunk_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedArticle:
    """An article already chunked and embedded elsewhere (e.g. by Ray workers).

    ``vectors`` row i is the vector of ``chunk_context(article, chunks[i])``.
    """

    article: Article
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray


@dataclass(frozen=True)
class GenerationPlan:
    """The chunks of the next generation in row order: the kept ones first, then the new."""

    kept_rows: list[int]  # rows of the kept chunks in the current generation
    kept: list[Chunk]
    new: list[Chunk]
    texts: list[str]  # what each chunk, kept then new, is indexed as
    given: dict[str, np.ndarray]  # vectors made elsewhere, by the text they embed

    @property
    def chunks(self) -> list[Chunk]:
        return self.kept + self.new

    @property
    def new_texts(self) -> list[str]:
        return self.texts[len(self.kept) :]


def plan_generation(
    snapshot: IndexSnapshot,
    docs: Mapping[str, Article],
    prepared: Mapping[str, PreparedArticle],
    chunk: Callable[[Article], list[Chunk]],
) -> GenerationPlan:
    """Chunks for ``docs``: an article already indexed keeps its chunks, one in
    ``prepared`` brings its own, and the rest are cut with ``chunk``."""
    kept_rows: list[int] = []
    kept: list[Chunk] = []
    new: list[Chunk] = []
    given: dict[str, np.ndarray] = {}
    rows_of: dict[str, list[int]] = {}
    for row, c in enumerate(snapshot.chunks):
        rows_of.setdefault(c.doc_id, []).append(row)
    for doc_id, article in docs.items():
        if doc_id in snapshot.documents:
            rows = rows_of.get(doc_id, [])
            kept_rows.extend(rows)
            kept.extend(snapshot.chunks[i] for i in rows)
        elif doc_id in prepared:
            ready = prepared[doc_id]
            new.extend(ready.chunks)
            # Keyed by what was embedded: a copy filed under another title
            # indexes other text, and is embedded here.
            for c, vector in zip(ready.chunks, ready.vectors, strict=True):
                given[chunk_context(ready.article, c)] = vector
        else:
            new.extend(chunk(article))
    texts = [chunk_context(docs[c.doc_id], c) for c in kept + new]
    return GenerationPlan(kept_rows, kept, new, texts, given)


def vectors_for(
    texts: list[str],
    snapshot: IndexSnapshot,
    given: Mapping[str, np.ndarray],
    embed: Callable[[list[str]], np.ndarray],
    dimension: int,
) -> tuple[np.ndarray, int]:
    """Vectors for ``texts``, embedding (with ``embed``) only those with no vector yet.

    A text in the current generation reuses its stored vector; ``given`` holds
    vectors made elsewhere. Returns the vectors and how many texts were embedded.
    """
    if not texts:
        return np.zeros((0, dimension), dtype=np.float32), 0
    stored: dict[str, int] = {}
    for row, chunk in enumerate(snapshot.chunks):
        article = snapshot.documents.get(chunk.doc_id)
        if article is not None:
            stored.setdefault(chunk_context(article, chunk), row)
    missing = list(dict.fromkeys(t for t in texts if t not in stored and t not in given))
    fresh = dict(zip(missing, embed(missing), strict=True))
    out = np.zeros((len(texts), dimension), dtype=np.float32)
    reused = [i for i, t in enumerate(texts) if t in stored]
    if reused:
        out[reused] = snapshot.stored_vectors([stored[texts[i]] for i in reused])
    for i, text in enumerate(texts):
        if text in fresh:
            out[i] = fresh[text]
        elif text in given and text not in stored:
            out[i] = given[text]
    if reused:
        log.info("Reused %d stored vectors; embedded %d passages.", len(reused), len(missing))
    return out, len(missing)
