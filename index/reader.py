"""Reading an index: its manifest, checked, and the generation it names as a snapshot.

Whatever is wrong is said with the command that mends it: a missing index
(build one), a damaged or inconsistent one, or one of another format or
embedder (rebuild it, or name the embedder it was built with).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from index.folder import IndexFolder
from index.lexical import LexicalIndex
from index.records import (
    FORMAT_VERSION,
    GENERATION,
    MANIFEST,
    Manifest,
    read_chunks,
    read_documents,
)
from index.snapshot import IndexSnapshot
from index.vectors import read_vector_index
from rag.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    rebuild_command,
)


class SnapshotReader:
    """Reads the current generation of one index folder; writes nothing."""

    def __init__(self, folder: IndexFolder) -> None:
        self.folder = folder
        self.path = folder.path

    def read_manifest(self) -> Manifest:
        self.folder.check_folder()
        manifest_path = self.path / MANIFEST
        if not manifest_path.is_file():
            raise IndexNotFoundError(
                f"No index at {self.path}. Build one with `rag index PATH... "
                f"--index-dir {self.path}`."
            )
        try:
            data = json.loads(manifest_path.read_text(encoding="utf-8"))
            manifest = Manifest.from_json(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(
                f"The index manifest {manifest_path} is unreadable ({exc}). "
                f"Rebuild with {rebuild_command(self.path)}."
            ) from None
        if not GENERATION.fullmatch(manifest.generation):
            # Only names the store writes: a hand-edited "../elsewhere" must not be read.
            raise IndexCorruptError(
                f"The index manifest {manifest_path} names the generation "
                f"{manifest.generation!r}, not one newsrag writes (gen-NNNNNN). "
                f"Rebuild with {rebuild_command(self.path)}."
            )
        if manifest.format_version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"The index at {self.path} has format version {manifest.format_version}; "
                f"this version of newsrag reads version {FORMAT_VERSION}. "
                f"Rebuild it with {rebuild_command(self.path)}."
            )
        return manifest

    def load(self, *, embedder_id: str | None = None, vectors: bool = True) -> IndexSnapshot:
        """Load the current generation, refusing one built by another embedder.

        ``vectors=False`` reads the articles and chunks only, enough to list them:
        the snapshot has no FAISS or BM25 index, and neither library is imported.
        """
        manifest = self.read_manifest()
        if embedder_id is not None and manifest.embedder_id != embedder_id:
            raise IndexMismatchError(
                f"The index at {self.path} was built with the embedder "
                f"{manifest.embedder_id!r}, but {embedder_id!r} is configured. Use "
                f"`{_embedder_flags(manifest.embedder_id)}`, or rebuild with "
                f"{rebuild_command(self.path)}."
            )
        gen_dir = self.path / manifest.generation
        try:
            documents = {a.doc_id: a for a in read_documents(gen_dir / "documents.jsonl")}
            chunks = list(read_chunks(gen_dir / "chunks.jsonl", documents))
            if not vectors:
                # The manifest's counts stand in for the vectors' when they are not read.
                if (len(chunks), len(documents)) != (manifest.n_chunks, manifest.n_documents):
                    raise IndexCorruptError(
                        f"The index at {self.path} is inconsistent: {len(chunks)} chunks and "
                        f"{len(documents)} articles where its manifest lists "
                        f"{manifest.n_chunks} and {manifest.n_documents}. Rebuild it with "
                        f"{rebuild_command(self.path)}."
                    )
                return IndexSnapshot(manifest, documents, chunks, None)
            faiss_index = _read_faiss(gen_dir / "vectors.faiss")
            lexical = LexicalIndex.load(gen_dir, len(chunks))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise IndexCorruptError(
                f"The index at {self.path} is damaged ({exc}). "
                f"Rebuild it with {rebuild_command(self.path)}."
            ) from None
        if faiss_index.ntotal != len(chunks) or faiss_index.d != manifest.dimension:
            raise IndexCorruptError(
                f"The index at {self.path} is inconsistent: {faiss_index.ntotal} vectors "
                f"of dimension {faiss_index.d} for {len(chunks)} chunks. "
                f"Rebuild it with {rebuild_command(self.path)}."
            )
        if lexical.size != len(chunks):
            raise IndexCorruptError(
                f"The index at {self.path} is inconsistent: {lexical.size} BM25 rows for "
                f"{len(chunks)} chunks. "
                f"Rebuild it with {rebuild_command(self.path)}."
            )
        return IndexSnapshot(manifest, documents, chunks, faiss_index, lexical)


def _embedder_flags(embedder_id: str) -> str:
    """The flags that pick the embedder an id names: the int8 backends' ids end in +BACKEND."""
    name, plus, backend = embedder_id.partition("+")
    return f"--embedder {name}" + (f" --embed-backend {backend}" if plus else "")


def _read_faiss(path: Path) -> Any:
    if not path.is_file():
        raise OSError(f"{path.name} is missing")
    try:
        return read_vector_index(path)
    except RuntimeError:
        # FAISS's own message is a C++ stack of file names and line numbers: of no use here.
        raise ValueError(f"{path.name} is not a vector index FAISS can read") from None
