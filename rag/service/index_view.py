"""The service's view of its index: the current snapshot, re-read only when it changed on disk.

Imports ``index`` and ``rag.types``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from index.store import IndexSnapshot, IndexStore
from rag.types import Article, DocumentInfo


class IndexView:
    """One index folder as a running service sees it.

    Another process may index articles while a chat runs; the next question
    sees them, because the snapshot is re-read when the manifest changes.
    ``embedder_id`` names the embedder the index must have been made with (it
    is asked for only when the index is read, so nothing loads a model).
    """

    def __init__(self, store: IndexStore, embedder_id: Callable[[], str]) -> None:
        self.store = store
        self._embedder_id = embedder_id
        self._snapshot: IndexSnapshot | None = None
        self._snapshot_key: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def snapshot(self, *, vectors: bool = True) -> IndexSnapshot:
        """The current index, re-read only when its manifest has changed.

        ``vectors=False`` is enough to list the articles: unless they are loaded
        already, the FAISS and BM25 indexes are not read (nor their libraries imported).
        """
        manifest = self.store.path / "manifest.json"
        with self._lock:
            try:
                stat = manifest.stat()
                key = (stat.st_mtime_ns, stat.st_size)
            except OSError:  # no index yet, or not a folder: load() says which
                key = None
            stale = self._snapshot is None or key != self._snapshot_key
            if stale or (vectors and self._snapshot.faiss_index is None):
                # No manifest: load() says there is no index, with no embedder chosen for it.
                expected = None if key is None else self._embedder_id()
                self._snapshot = self.store.load(embedder_id=expected, vectors=vectors)
                self._snapshot_key = key
            return self._snapshot

    def refresh(self) -> bool:
        """Read the index if it changed on disk; was anything read?"""
        before = self._snapshot
        return self.snapshot() is not before

    def documents(self) -> list[DocumentInfo]:
        """Every article with its number of chunks, newest first."""
        return self.snapshot(vectors=False).document_infos()

    def article(self, doc_id: str) -> Article:
        return self.snapshot().documents[doc_id]
