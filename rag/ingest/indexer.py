"""Bring an index up to date with a set of files: load, clean, chunk, embed, save.

Articles are identified by a hash of their cleaned text, so a copy is stored
once and re-running on an unchanged folder embeds nothing. Each article keeps
the origins (file paths, or ``path#line`` for JSONL) it was read from: when a
file's content changes, the article it used to give loses that origin and is
dropped once no origin is left.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from index.store import IndexSnapshot, IndexStore
from rag.embed.base import Progress, embed_in_batches
from rag.errors import IndexMismatchError, InputError, RagError, rebuild_command
from rag.ingest.chunk import ChunkerSettings, chunk_under_title
from rag.ingest.clean import clean_document
from rag.ingest.files import load_documents
from rag.ingest.generation import PreparedArticle, plan_generation, vectors_for
from rag.ingest.origins import merge_by_origin
from rag.ingest.removal import remove_articles
from rag.types import Article, Embedder, LoadProblem, RawDocument

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    added: int
    unchanged: int
    replaced: int
    removed: int
    chunks_embedded: int
    problems: tuple[LoadProblem, ...]
    n_documents: int
    n_chunks: int
    seconds: float
    embed_seconds: float

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_embedded / self.embed_seconds if self.embed_seconds else 0.0


@dataclass(frozen=True)
class CommitResult:
    """What writing one generation did: chunks embedded, chunks in all, time embedding."""

    chunks_embedded: int
    n_chunks: int
    embed_seconds: float


def effective_chunker(settings: ChunkerSettings, embedder: Embedder) -> ChunkerSettings:
    """Never let a chunk exceed what the embedder reads: it would be cut off silently."""
    limit = min(settings.max_tokens, embedder.max_tokens)
    return replace(
        settings,
        max_tokens=limit,
        target_tokens=min(settings.target_tokens, limit),
    )


class Indexer:
    """Writes to one index with one embedder.

    ``embedder`` must be warmed up to index; removing reads only its ``model_id``.
    ``batch_size`` passages are embedded at a time (the ``embed_batch_size`` setting).
    """

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        chunker: ChunkerSettings,
        *,
        batch_size: int = 32,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be greater than 0, got {batch_size}")
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.batch_size = batch_size

    def _current(self, rebuild: bool) -> IndexSnapshot:
        if rebuild or not self.store.exists():
            return self.store.empty()
        snapshot = self.store.load(embedder_id=self.embedder.model_id)
        chunker = effective_chunker(self.chunker, self.embedder).as_dict()
        if snapshot.manifest and snapshot.manifest.chunker != chunker:
            raise IndexMismatchError(
                f"The index at {self.store.path} was chunked with {snapshot.manifest.chunker}, "
                f"but the settings now say {chunker}. Rebuild it with "
                f"{rebuild_command(self.store.path)}."
            )
        return snapshot

    def _previous_size(self) -> int:
        """How many articles the index held before a rebuild replaces them all."""
        if not self.store.exists():
            return 0
        try:
            return self.store.read_manifest().n_documents
        except RagError:  # a damaged index is what a rebuild is for
            return 0

    def index_paths(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        started = time.perf_counter()
        if not paths:
            raise InputError("No paths given. Name files or folders of articles to index.")
        raws, problems = load_documents(paths)
        return self.index_documents(
            raws, problems=problems, rebuild=rebuild, progress=progress, started=started
        )

    def index_documents(
        self,
        raws: Sequence[RawDocument],
        *,
        problems: Sequence[LoadProblem] = (),
        rebuild: bool = False,
        progress: Progress | None = None,
        started: float | None = None,
    ) -> IndexReport:
        """Clean, chunk and embed documents already in memory (e.g. a benchmark's corpus)."""
        problems = list(problems)
        articles: list[Article] = []
        for raw in raws:
            article = clean_document(raw)
            if article is None:
                problems.append(LoadProblem(raw.origin, "no article text left after cleaning"))
            else:
                articles.append(article)
        return self.index_articles(
            articles, problems=problems, rebuild=rebuild, progress=progress, started=started
        )

    def index_articles(
        self,
        articles: Sequence[Article],
        *,
        problems: Sequence[LoadProblem] = (),
        rebuild: bool = False,
        progress: Progress | None = None,
        started: float | None = None,
        prepared: Mapping[str, PreparedArticle] | None = None,
        retract: Collection[str] = (),
    ) -> IndexReport:
        """Bring the index up to date with cleaned ``articles``.

        Articles in ``prepared`` (by doc id) bring their own chunks and vectors;
        the rest are chunked and embedded here. Origins in ``retract`` (a feed
        item that moved, a feed removed with its articles) are taken off their
        articles in the same write; an article left with no origin goes.
        """
        started = time.perf_counter() if started is None else started
        with self.store.lock():
            dropped = self._previous_size() if rebuild else 0
            snapshot = self._current(rebuild)
            merged = merge_by_origin(snapshot.documents, articles, retract)
            commit = self._commit(snapshot, merged.documents, progress, prepared or {})
            return IndexReport(
                added=merged.added,
                unchanged=merged.unchanged,
                replaced=merged.replaced,
                removed=dropped,
                chunks_embedded=commit.chunks_embedded,
                problems=tuple(problems),
                n_documents=len(merged.documents),
                n_chunks=commit.n_chunks,
                seconds=time.perf_counter() - started,
                embed_seconds=commit.embed_seconds,
            )

    def remove(self, selectors: Sequence[str], *, recursive: bool = False) -> list[Article]:
        """Remove articles by exact doc id or file path (``rag.ingest.removal``).

        Only the embedder's id is read: nothing is embedded.
        """
        return remove_articles(self.store, self.embedder.model_id, selectors, recursive=recursive)

    def _commit(
        self,
        snapshot: IndexSnapshot,
        docs: dict[str, Article],
        progress: Progress | None,
        prepared: Mapping[str, PreparedArticle],
    ) -> CommitResult:
        """Write ``docs`` as the new generation, embedding only chunks not stored yet."""
        if snapshot.manifest is not None and docs == snapshot.documents:
            log.info("Index is up to date; nothing to write.")
            return CommitResult(chunks_embedded=0, n_chunks=snapshot.size, embed_seconds=0.0)
        chunker = effective_chunker(self.chunker, self.embedder)
        plan = plan_generation(
            snapshot,
            docs,
            prepared,
            lambda article: chunk_under_title(article, self.embedder.count_tokens, chunker),
        )
        dimension = self.embedder.dimension
        embed_started = time.perf_counter()
        new_vectors, embedded = vectors_for(
            plan.new_texts,
            snapshot,
            plan.given,
            lambda texts: embed_in_batches(
                self.embedder.embed,
                texts,
                batch_size=self.batch_size,
                dimension=dimension,
                progress=progress,
                bar="Embedding",
            ),
            dimension,
        )
        embed_seconds = time.perf_counter() - embed_started
        old_vectors = snapshot.stored_vectors(plan.kept_rows) if plan.kept_rows else None
        parts = [v for v in (old_vectors, new_vectors) if v is not None and len(v)]
        vectors = np.vstack(parts) if parts else np.zeros((0, dimension), dtype=np.float32)
        self.store.write(
            documents=docs.values(),
            chunks=plan.chunks,
            vectors=vectors,
            lexical_texts=plan.texts,
            embedder_id=self.embedder.model_id,
            chunker=chunker.as_dict(),
        )
        return CommitResult(
            chunks_embedded=embedded, n_chunks=len(plan.chunks), embed_seconds=embed_seconds
        )
