"""Removing articles from an index by id or by the file they came from.

Nothing is chunked or embedded: the articles left keep their stored vectors
and the manifest its chunker settings, so removing needs the embedder's id
only and never loads the model.
"""

from __future__ import annotations

from collections.abc import Sequence

from index.snapshot import IndexSnapshot
from index.store import IndexStore
from rag.errors import InputError
from rag.ingest.origins import select_documents
from rag.types import Article, chunk_context


def remove_articles(
    store: IndexStore, embedder_id: str, selectors: Sequence[str], *, recursive: bool = False
) -> list[Article]:
    """Remove articles by exact doc id or the path of the file they came from.

    A folder removes the articles of the files under it only with ``recursive``.
    An index built by another embedder than ``embedder_id`` is refused. Returns
    the removed articles.
    """
    if not selectors:
        raise InputError("Nothing to remove: give document ids or file paths.")
    if any(not s.strip() for s in selectors):
        select_documents({}, selectors)  # says a blank argument is an error
    if not store.exists():
        store.read_manifest()  # says there is no index, and creates no folder
    with store.lock():
        snapshot = store.load(embedder_id=embedder_id)
        victims = select_documents(snapshot.documents, selectors, recursive=recursive)
        _write_without(store, snapshot, set(victims))
        return [snapshot.documents[d] for d in victims]


def _write_without(store: IndexStore, snapshot: IndexSnapshot, victims: set[str]) -> None:
    """Write the generation minus ``victims``, in the same row order."""
    assert snapshot.manifest is not None
    docs = {d: a for d, a in snapshot.documents.items() if d not in victims}
    rows = [i for i, c in enumerate(snapshot.chunks) if c.doc_id in docs]
    chunks = [snapshot.chunks[i] for i in rows]
    store.write(
        documents=docs.values(),
        chunks=chunks,
        vectors=snapshot.stored_vectors(rows),
        lexical_texts=[chunk_context(docs[c.doc_id], c) for c in chunks],
        embedder_id=snapshot.manifest.embedder_id,
        chunker=snapshot.manifest.chunker,
    )
