"""Writing a generation: built beside the current one, then made current by one rename.

The files are written into a temporary ``.gen-NNNNNN-*`` folder, synced, and the
folder renamed to ``gen-NNNNNN``; then ``manifest.json`` is replaced atomically
to name it. A crash at any moment leaves either the old or the new generation
current, never half of one; the next write clears what a killed one left. The
previous generation is kept so readers that just read the old manifest can finish.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.disk import atomic_write_text, chmod_as_umask, fsync_file, write_jsonl
from index.folder import IndexFolder
from index.lexical import LexicalIndex
from index.records import FORMAT_VERSION, MANIFEST, Manifest, article_to_json, chunk_to_json
from index.vectors import build_vector_index
from rag.types import Article, Chunk


class GenerationWriter:
    """Writes new generations into one index folder; the caller holds its lock."""

    def __init__(self, folder: IndexFolder, *, flat_limit: int) -> None:
        self.folder = folder
        self.path = folder.path
        # Up to this many passages the vector index is exact (flat); above it, IVF.
        self.flat_limit = flat_limit

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
        """Write a new generation and make it current."""
        documents = list(documents)
        if vectors.shape[0] != len(chunks):
            raise ValueError(f"{vectors.shape[0]} vectors for {len(chunks)} chunks")
        if len(lexical_texts) != len(chunks):
            raise ValueError(f"{len(lexical_texts)} lexical texts for {len(chunks)} chunks")
        dimension = int(vectors.shape[1])
        self.folder.check_owned()
        generation = self.folder.next_generation()
        self._write_generation(generation, documents, chunks, vectors, lexical_texts)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            embedder_id=embedder_id,
            dimension=dimension,
            chunker=dict(chunker),
            generation=generation,
            n_documents=len(documents),
            n_chunks=len(chunks),
            updated_at=time.time(),
        )
        try:
            atomic_write_text(self.path / MANIFEST, json.dumps(manifest.to_json(), indent=2) + "\n")
        except OSError as exc:
            # The old manifest still names the old generation; the new one is an orphan.
            shutil.rmtree(self.path / generation, ignore_errors=True)
            raise self.folder.storage_error(exc) from None
        previous = self.folder.previous_generation(generation)
        self.folder.remove_stale_generations(keep={generation, previous})
        return manifest

    def _write_generation(
        self,
        generation: str,
        documents: list[Article],
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        lexical_texts: Sequence[str],
    ) -> None:
        """The generation's files, written and synced in a temporary folder, then renamed."""
        import faiss

        try:
            self.path.mkdir(parents=True, exist_ok=True)
            tmp_dir = Path(tempfile.mkdtemp(prefix=f".{generation}-", dir=self.path))
        except OSError as exc:
            raise self.folder.storage_error(exc) from None
        try:
            write_jsonl(tmp_dir / "documents.jsonl", (article_to_json(a) for a in documents))
            write_jsonl(tmp_dir / "chunks.jsonl", (chunk_to_json(c) for c in chunks))
            faiss_index, info = build_vector_index(vectors, flat_limit=self.flat_limit)
            faiss.write_index(faiss_index, str(tmp_dir / "vectors.faiss"))
            info.save(tmp_dir)
            LexicalIndex.build(lexical_texts).save(tmp_dir)
            for path in sorted(tmp_dir.rglob("*")):
                if path.is_file():
                    fsync_file(path)
            chmod_as_umask(tmp_dir, 0o777)
            os.rename(tmp_dir, self.path / generation)
        except (OSError, RuntimeError) as exc:  # faiss reports a full disk as RuntimeError
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise self.folder.storage_error(exc) from None
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
