"""One index folder, read and written: the FAISS index, its chunk store and manifest.

Layout of an index directory::

    manifest.json        which generation is current, and how it was built
    gen-000007/          one complete, immutable generation
        vectors.faiss    FAISS inner-product index over unit vectors (row i = chunk i)
        bm25/            the BM25 index over the same rows (see index.lexical)
        chunks.jsonl     chunk ids and character spans, in row order
        documents.jsonl  cleaned articles with their metadata
    .lock                held by whoever is writing
    feeds/               subscribed feeds and what each refresh saw (rag.sources.feeds)

``IndexStore`` joins the parts: ``index.folder`` (whether newsrag may write
there, the writers' lock), ``index.writer`` (a new generation, made current by
one rename, so a crash never leaves half of one) and ``index.reader`` (the
current generation as an ``index.snapshot.IndexSnapshot``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.folder import IndexFolder
from index.reader import SnapshotReader
from index.records import MANIFEST, Manifest
from index.snapshot import IndexSnapshot
from index.vectors import FLAT_LIMIT
from index.writer import GenerationWriter
from rag.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from rag.types import Article, Chunk


class IndexStore:
    """Reads and writes one index directory. The constructor touches nothing."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_timeout: float = 600.0,
        flat_limit: int = FLAT_LIMIT,
    ) -> None:
        self.path = Path(path)
        self.folder = IndexFolder(self.path, lock_timeout=lock_timeout)
        self.reader = SnapshotReader(self.folder)
        # Up to ``flat_limit`` passages the vector index is exact (flat); above it, IVF.
        self.writer = GenerationWriter(self.folder, flat_limit=flat_limit)

    # --- reading -------------------------------------------------------------

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def read_manifest(self) -> Manifest:
        return self.reader.read_manifest()

    def recorded_embedder_id(self) -> str | None:
        """The embedder id the current index was built with; None when there is none to read.

        Errors are left for ``load`` to report: this only lets ``embed_backend = "auto"``
        follow the backend an index was made with, so an existing index is never refused.
        """
        try:
            return self.read_manifest().embedder_id
        except (IndexNotFoundError, IndexCorruptError, IndexMismatchError, OSError):
            return None

    def load(self, *, embedder_id: str | None = None, vectors: bool = True) -> IndexSnapshot:
        """Load the current generation, refusing one built by another embedder.

        ``vectors=False`` reads the articles and chunks only, enough to list them:
        the snapshot has no FAISS or BM25 index, and neither library is imported.
        """
        return self.reader.load(embedder_id=embedder_id, vectors=vectors)

    def empty(self) -> IndexSnapshot:
        return IndexSnapshot(None, {}, [], None)

    # --- writing -------------------------------------------------------------

    def check_owned(self) -> None:
        """Refuse to write into a folder that is not an index and not empty."""
        self.folder.check_owned()

    def lock(self) -> Any:
        """An exclusive, cross-process lock for writers (use as a context manager)."""
        return self.folder.lock()

    def write(
        self,
        *,
        documents: Iterable[Article],
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        lexical_texts: Sequence[str],
        embedder_id: str,
        chunker: dict[str, Any],
    ) -> Manifest:
        """Write a new generation and make it current. Call while holding ``lock()``."""
        return self.writer.write(
            documents=documents,
            chunks=chunks,
            vectors=vectors,
            lexical_texts=lexical_texts,
            embedder_id=embedder_id,
            chunker=chunker,
        )
