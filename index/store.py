"""The FAISS index, its chunk store and manifest, saved atomically.

Layout of an index directory::

    manifest.json        which generation is current, and how it was built
    gen-000007/          one complete, immutable generation
        vectors.faiss    FAISS inner-product index over unit vectors (row i = chunk i)
        bm25/            the BM25 index over the same rows (see index.lexical)
        chunks.jsonl     chunk ids and character spans, in row order
        documents.jsonl  cleaned articles with their metadata
    .lock                held by whoever is writing
    feeds/               subscribed feeds and what each refresh saw (rag.sources.feeds)

A write builds a new generation beside the current one and then replaces
``manifest.json`` with ``os.replace``, so a crash at any moment leaves either
the old or the new generation current, never half of one. The previous
generation is kept so readers that just read the old manifest can finish.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.lexical import LexicalIndex
from index.vectors import FLAT_LIMIT, build_vector_index, read_vector_index, search_params
from rag.errors import (
    ConfigError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
    StorageError,
    rebuild_command,
)
from rag.types import Article, Chunk, DocumentInfo

log = logging.getLogger(__name__)

# 2: a BM25 index beside the vectors; chunks embedded with their article's title.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
LOCK = ".lock"
# What newsrag creates in an index folder, and so all it may delete there: a
# generation, a generation being written, a manifest being replaced, Ray shards.
_GENERATION = re.compile(r"gen-\d{6}")
_OWN_NAMES = re.compile(
    r"manifest\.json|\.lock|uploads|feeds|gen-\d{6}|\.gen-\d{6}-\w+|\.manifest\.json-\w+|\.shards-\w+"
)
# The files of a generation (bm25/ is a folder); a folder holding anything else is not ours.
_GENERATION_FILES = frozenset(
    {"documents.jsonl", "chunks.jsonl", "vectors.faiss", "vectors.json", "bm25"}
)


@dataclass(frozen=True)
class Manifest:
    format_version: int
    embedder_id: str
    dimension: int
    chunker: dict[str, Any]
    generation: str
    n_documents: int
    n_chunks: int
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "embedder": {"id": self.embedder_id, "dimension": self.dimension},
            "chunker": self.chunker,
            "generation": self.generation,
            "n_documents": self.n_documents,
            "n_chunks": self.n_chunks,
            "updated_at": self.updated_at,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Manifest:
        return Manifest(
            format_version=int(data["format_version"]),
            embedder_id=str(data["embedder"]["id"]),
            dimension=int(data["embedder"]["dimension"]),
            chunker=dict(data["chunker"]),
            generation=str(data["generation"]),
            n_documents=int(data["n_documents"]),
            n_chunks=int(data["n_chunks"]),
            updated_at=float(data["updated_at"]),
        )


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


def _embedder_flags(embedder_id: str) -> str:
    """The flags that pick the embedder an id names: the int8 backends' ids end in +BACKEND."""
    name, plus, backend = embedder_id.partition("+")
    return f"--embedder {name}" + (f" --embed-backend {backend}" if plus else "")


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
        self.lock_timeout = lock_timeout
        # Up to this many passages the vector index is exact (flat); above it, IVF.
        self.flat_limit = flat_limit

    # --- reading -------------------------------------------------------------

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def read_manifest(self) -> Manifest:
        self._check_folder()
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
        if not _GENERATION.fullmatch(manifest.generation):
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
            documents = {a.doc_id: a for a in _read_documents(gen_dir / "documents.jsonl")}
            chunks = list(_read_chunks(gen_dir / "chunks.jsonl", documents))
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

    def empty(self) -> IndexSnapshot:
        return IndexSnapshot(None, {}, [], None)

    # --- writing -------------------------------------------------------------

    def _check_folder(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise IndexNotFoundError(
                f"{self.path} is a file, not an index folder. Pass --index-dir a folder "
                "(`rag index` creates it)."
            )

    def check_owned(self) -> None:
        """Refuse to write into a folder that is not an index and not empty.

        ``manifest.json`` marks an index. A folder without one is used only when
        it holds nothing but what newsrag itself makes (a first write that was
        interrupted); any other folder is someone's data, and is left alone.
        """
        self._check_folder()
        if not self.path.is_dir() or _is_manifest(self.path / MANIFEST):
            return
        try:
            names = sorted(e.name for e in self.path.iterdir())
        except OSError as exc:
            raise self._storage_error(exc) from None
        foreign = [
            n
            for n in names
            if not _OWN_NAMES.fullmatch(n)
            or ("gen-" in n and not _is_generation_folder(self.path / n))
        ]
        if MANIFEST in names and not any(_GENERATION.fullmatch(n) for n in names):
            foreign.insert(0, MANIFEST)  # someone else's manifest.json, not a damaged index
        if foreign:
            more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            raise ConfigError(
                f"{self.path} is not a newsrag index (it has no newsrag {MANIFEST}) and is not "
                f"empty: it holds {foreign[0]!r}{more}. newsrag writes only into a new or empty "
                "folder or an existing index; pass --index-dir another folder."
            )

    def lock(self) -> Any:
        """An exclusive, cross-process lock for writers (use as a context manager)."""
        from filelock import FileLock, Timeout

        self.check_owned()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._storage_error(exc, f"Cannot create the index folder {self.path}") from None
        lock = FileLock(str(self.path / LOCK), timeout=self.lock_timeout)
        storage_error = self._storage_error

        class _Guard:
            def __enter__(self_inner) -> None:
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    log.warning("Another process is writing %s; waiting for it.", self.path)
                    try:
                        lock.acquire()
                    except Timeout:
                        raise IndexLockedError(
                            f"Another `rag index` has held {self.path} for over "
                            f"{self.lock_timeout:.0f}s. Wait for it to finish, or stop it."
                        ) from None
                except OSError as exc:  # a read-only folder, or one we may not write to
                    raise storage_error(exc) from None

            def __exit__(self_inner, *exc: object) -> None:
                lock.release()

        return _Guard()

    def _storage_error(self, exc: BaseException, what: str = "") -> StorageError:
        """A failed write as one sentence: what happened, that nothing changed, what to do."""
        code = getattr(exc, "errno", None)
        if code == errno.ENOSPC or code == errno.EDQUOT or "write error" in str(exc):
            reason, fix = "the disk is full", "Free some space and run the command again."
        elif code == errno.EROFS:
            reason = "the folder is on a read-only file system"
            fix = "Pass --index-dir a folder you can write to."
        elif code in (errno.EACCES, errno.EPERM):
            reason, fix = "permission denied", "Pass --index-dir a folder you can write to."
        else:
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            reason = getattr(exc, "strerror", None) or lines[-1]
            fix = "Check the disk and the folder, and run the command again."
        what = what or f"Could not write the index at {self.path}"
        return StorageError(f"{what}: {reason}. The index is unchanged. {fix}")

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
        import faiss

        documents = list(documents)
        if vectors.shape[0] != len(chunks):
            raise ValueError(f"{vectors.shape[0]} vectors for {len(chunks)} chunks")
        if len(lexical_texts) != len(chunks):
            raise ValueError(f"{len(lexical_texts)} lexical texts for {len(chunks)} chunks")
        dimension = int(vectors.shape[1])
        self.check_owned()
        generation = self._next_generation()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            tmp_dir = Path(tempfile.mkdtemp(prefix=f".{generation}-", dir=self.path))
        except OSError as exc:
            raise self._storage_error(exc) from None
        try:
            _write_jsonl(tmp_dir / "documents.jsonl", (article_to_json(a) for a in documents))
            _write_jsonl(tmp_dir / "chunks.jsonl", (_chunk_json(c) for c in chunks))
            faiss_index, info = build_vector_index(vectors, flat_limit=self.flat_limit)
            faiss.write_index(faiss_index, str(tmp_dir / "vectors.faiss"))
            info.save(tmp_dir)
            LexicalIndex.build(lexical_texts).save(tmp_dir)
            for path in sorted(tmp_dir.rglob("*")):
                if path.is_file():
                    _fsync_file(path)
            _chmod_as_umask(tmp_dir, 0o777)
            os.rename(tmp_dir, self.path / generation)
        except (OSError, RuntimeError) as exc:  # faiss reports a full disk as RuntimeError
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise self._storage_error(exc) from None
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
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
            _atomic_write_text(
                self.path / MANIFEST, json.dumps(manifest.to_json(), indent=2) + "\n"
            )
        except OSError as exc:
            # The old manifest still names the old generation; the new one is an orphan.
            shutil.rmtree(self.path / generation, ignore_errors=True)
            raise self._storage_error(exc) from None
        self._remove_stale_generations(keep={generation, self._previous_generation(generation)})
        return manifest

    def _generations(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if _GENERATION.fullmatch(p.name))

    def _next_generation(self) -> str:
        numbers = [int(g.split("-")[1]) for g in self._generations()]
        return f"gen-{max(numbers, default=0) + 1:06d}"

    def _previous_generation(self, current: str) -> str | None:
        older = [g for g in self._generations() if g < current]
        return older[-1] if older else None

    def _remove_stale_generations(self, keep: set[str | None]) -> None:
        """Delete old generations and leftovers of killed writes; nothing else.

        Only a real folder (not a link) named as newsrag names them and holding
        only the files newsrag writes there: a ``gen-photos`` folder, or a
        ``gen-000001`` with someone's files in it, stays.
        """
        for entry in self.path.iterdir():
            stale_gen = _GENERATION.fullmatch(entry.name) and entry.name not in keep
            # Leftovers of a write that was killed before its rename.
            stale_tmp = re.fullmatch(r"\.gen-\d{6}-\w+", entry.name)
            if (stale_gen or stale_tmp) and _is_generation_folder(entry):
                shutil.rmtree(entry, ignore_errors=True)


def _is_generation_folder(path: Path) -> bool:
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        return all(p.name in _GENERATION_FILES for p in path.iterdir())
    except OSError:
        return False


def _is_manifest(path: Path) -> bool:
    """Is ``path`` a newsrag manifest (even one of another format version)?"""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "format_version" in data and "generation" in data


# --- file formats ------------------------------------------------------------


def article_to_json(a: Article) -> dict[str, Any]:
    """An article as stored in ``documents.jsonl`` (and in Ray's shards)."""
    return {
        "doc_id": a.doc_id,
        "title": a.title,
        "date": a.date,
        "source": a.source,
        "url": a.url,
        "origins": list(a.origins),
        "text": a.text,
        **({"pages": list(a.pages)} if a.pages else {}),
    }


def _chunk_json(c: Chunk) -> dict[str, Any]:
    # The text is the article's slice; storing spans keeps the two from drifting apart.
    return {
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "start": c.start,
        "end": c.end,
        "n_tokens": c.n_tokens,
    }


def article_from_json(data: dict[str, Any]) -> Article:
    return Article(
        doc_id=data["doc_id"],
        title=data["title"],
        text=data["text"],
        date=data.get("date"),
        source=data.get("source"),
        url=data.get("url"),
        origins=tuple(data.get("origins", ())),
        pages=tuple(int(p) for p in data.get("pages", ())),
    )


def _read_documents(path: Path) -> Iterable[Article]:
    for data in _read_jsonl(path):
        yield article_from_json(data)


def _read_chunks(path: Path, documents: dict[str, Article]) -> Iterable[Chunk]:
    for data in _read_jsonl(path):
        article = documents[data["doc_id"]]
        start, end = int(data["start"]), int(data["end"])
        yield Chunk(
            chunk_id=data["chunk_id"],
            doc_id=article.doc_id,
            text=article.text[start:end],
            start=start,
            end=end,
            n_tokens=int(data["n_tokens"]),
        )


def _read_faiss(path: Path) -> Any:
    if not path.is_file():
        raise OSError(f"{path.name} is missing")
    try:
        return read_vector_index(path)
    except RuntimeError:
        # FAISS's own message is a C++ stack of file names and line numbers: of no use here.
        raise ValueError(f"{path.name} is not a vector index FAISS can read") from None


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    where = f"{path.name} line {number}"
                    raise ValueError(f"{where} is not valid JSON: {exc}") from None


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False))
            f.write("\n")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chmod_as_umask(path: Path, mode: int) -> None:
    """Give a temporary file or folder the permissions a plain open() would have.

    ``mkstemp`` and ``mkdtemp`` create them private (0600, 0700); an index is
    ordinary data that the user's umask should govern, e.g. for a server
    running as another user.
    """
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(mode & ~umask)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        _chmod_as_umask(Path(tmp), 0o666)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
