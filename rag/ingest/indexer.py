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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from index.store import IndexSnapshot, IndexStore
from rag.errors import IndexMismatchError, InputError, RagError, rebuild_command
from rag.ingest.chunk import ChunkerSettings, chunk_under_title
from rag.ingest.clean import clean_document
from rag.ingest.files import load_documents, path_text
from rag.types import Article, Chunk, Embedder, LoadProblem, RawDocument, chunk_context

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


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


@dataclass(frozen=True)
class PreparedArticle:
    """An article already chunked and embedded elsewhere (e.g. by Ray workers).

    ``vectors`` row i is the vector of ``chunk_context(article, chunks[i])``.
    """

    article: Article
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray


def _origin_file(origin: str) -> str:
    return origin.split("#", 1)[0]


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
    """

    def __init__(self, store: IndexStore, embedder: Embedder, chunker: ChunkerSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker

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
            return self._update(
                list(articles),
                list(problems),
                rebuild,
                progress,
                started,
                prepared or {},
                frozenset(retract),
            )

    def _update(
        self,
        articles: list[Article],
        problems: list[LoadProblem],
        rebuild: bool,
        progress: Progress | None,
        started: float,
        prepared: Mapping[str, PreparedArticle],
        retract: frozenset[str] = frozenset(),
    ) -> IndexReport:
        dropped = self._previous_size() if rebuild else 0
        snapshot = self._current(rebuild)
        old = snapshot.documents
        seen_files = {_origin_file(o) for a in articles for o in a.origins}

        # Origins read this run replace whatever they pointed at before.
        docs: dict[str, Article] = {}
        for doc_id, article in old.items():
            kept = tuple(
                o for o in article.origins if _origin_file(o) not in seen_files and o not in retract
            )
            docs[doc_id] = replace(article, origins=kept)
        added = unchanged = 0
        for article in articles:
            current = docs.get(article.doc_id)
            if current is None:
                docs[article.doc_id] = article
                added += int(article.doc_id not in old)
            else:
                unchanged += int(article.doc_id in old)
                origins = tuple(dict.fromkeys(current.origins + article.origins))
                docs[article.doc_id] = replace(current, origins=origins)
        # An article whose every origin now says something else has been replaced.
        replaced = [d for d, a in docs.items() if not a.origins and old.get(d, a).origins]
        for doc_id in replaced:
            del docs[doc_id]

        commit = self._commit(snapshot, docs, progress, prepared)
        return IndexReport(
            added=added,
            unchanged=unchanged,
            replaced=len(replaced),
            removed=dropped,
            chunks_embedded=commit.chunks_embedded,
            problems=tuple(problems),
            n_documents=len(docs),
            n_chunks=commit.n_chunks,
            seconds=time.perf_counter() - started,
            embed_seconds=commit.embed_seconds,
        )

    def remove(self, selectors: Sequence[str], *, recursive: bool = False) -> list[Article]:
        """Remove articles by exact doc id or the path of the file they came from.

        A folder removes the articles of the files under it only with ``recursive``.
        Returns the removed articles.
        """
        if not selectors:
            raise InputError("Nothing to remove: give document ids or file paths.")
        if any(not s.strip() for s in selectors):
            select_documents({}, selectors)  # says a blank argument is an error
        if not self.store.exists():
            self.store.read_manifest()  # says there is no index, and creates no folder
        with self.store.lock():
            snapshot = self.store.load(embedder_id=self.embedder.model_id)
            victims = select_documents(snapshot.documents, selectors, recursive=recursive)
            self._write_without(snapshot, set(victims))
            return [snapshot.documents[d] for d in victims]

    def _write_without(self, snapshot: IndexSnapshot, victims: set[str]) -> None:
        """Write the generation minus ``victims``: nothing is chunked or embedded.

        The rest keep their stored vectors and the manifest its chunker settings,
        so removing needs the embedder's id only and never loads the model.
        """
        assert snapshot.manifest is not None
        docs = {d: a for d, a in snapshot.documents.items() if d not in victims}
        rows = [i for i, c in enumerate(snapshot.chunks) if c.doc_id in docs]
        chunks = [snapshot.chunks[i] for i in rows]
        self.store.write(
            documents=docs.values(),
            chunks=chunks,
            vectors=snapshot.stored_vectors(rows),
            lexical_texts=[chunk_context(docs[c.doc_id], c) for c in chunks],
            embedder_id=snapshot.manifest.embedder_id,
            chunker=snapshot.manifest.chunker,
        )

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
        kept_rows: list[int] = []
        kept_chunks: list[Chunk] = []
        new_chunks: list[Chunk] = []
        given: dict[str, np.ndarray] = {}
        rows_of: dict[str, list[int]] = {}
        for row, chunk in enumerate(snapshot.chunks):
            rows_of.setdefault(chunk.doc_id, []).append(row)
        for doc_id, article in docs.items():
            if doc_id in snapshot.documents:
                rows = rows_of.get(doc_id, [])
                kept_rows.extend(rows)
                kept_chunks.extend(snapshot.chunks[i] for i in rows)
            elif doc_id in prepared:
                ready = prepared[doc_id]
                new_chunks.extend(ready.chunks)
                # Keyed by what was embedded: a copy filed under another title
                # indexes other text, and is embedded here.
                for chunk, vector in zip(ready.chunks, ready.vectors, strict=True):
                    given[chunk_context(ready.article, chunk)] = vector
            else:
                new_chunks.extend(self._chunk(article, chunker))
        indexed = [chunk_context(docs[c.doc_id], c) for c in kept_chunks + new_chunks]
        embed_started = time.perf_counter()
        new_vectors, embedded = self._vectors_for(
            indexed[len(kept_chunks) :], snapshot, progress, given
        )
        embed_seconds = time.perf_counter() - embed_started
        old_vectors = snapshot.stored_vectors(kept_rows) if kept_rows else None
        parts = [v for v in (old_vectors, new_vectors) if v is not None and len(v)]
        vectors = (
            np.vstack(parts) if parts else np.zeros((0, self.embedder.dimension), dtype=np.float32)
        )
        self.store.write(
            documents=docs.values(),
            chunks=kept_chunks + new_chunks,
            vectors=vectors,
            lexical_texts=indexed,
            embedder_id=self.embedder.model_id,
            chunker=chunker.as_dict(),
        )
        return CommitResult(
            chunks_embedded=embedded,
            n_chunks=len(kept_chunks) + len(new_chunks),
            embed_seconds=embed_seconds,
        )

    def _vectors_for(
        self,
        texts: list[str],
        snapshot: IndexSnapshot,
        progress: Progress | None,
        given: Mapping[str, np.ndarray],
    ) -> tuple[np.ndarray, int]:
        """Vectors for ``texts``, embedding only those with no vector yet.

        A text already in the current generation (an edited article's untouched
        paragraphs, a wire story filed twice) reuses its stored vector: what is
        embedded is keyed by its exact content. ``given`` holds vectors made
        elsewhere. Returns the vectors and how many texts were embedded here.
        """
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32), 0
        stored: dict[str, int] = {}
        for row, chunk in enumerate(snapshot.chunks):
            article = snapshot.documents.get(chunk.doc_id)
            if article is not None:
                stored.setdefault(chunk_context(article, chunk), row)
        missing = list(dict.fromkeys(t for t in texts if t not in stored and t not in given))
        fresh = dict(zip(missing, self._embed(missing, progress), strict=True))
        dimension = self.embedder.dimension
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

    def _chunk(self, article: Article, chunker: ChunkerSettings) -> list[Chunk]:
        return chunk_under_title(article, self.embedder.count_tokens, chunker)

    def _embed(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        from rag.embed.base import progress_enabled

        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        batch = 64
        bar = None
        if progress_enabled():
            from tqdm import tqdm

            bar = tqdm(total=len(texts), unit="chunk", desc="Embedding")
        out = []
        try:
            for i in range(0, len(texts), batch):
                out.append(self.embedder.embed(texts[i : i + batch]))
                done = min(i + batch, len(texts))
                if bar is not None:
                    bar.update(done - bar.n)
                if progress is not None:
                    progress(done, len(texts))
        finally:
            if bar is not None:
                bar.close()
        return np.vstack(out)


def select_documents(
    documents: dict[str, Article], selectors: Sequence[str], *, recursive: bool = False
) -> list[str]:
    """Doc ids matching each selector exactly: a whole id, or the path of a file they came from.

    A folder selects the articles of every file under it only when ``recursive``
    is set: removal never reaches further than what was named. An empty selector
    (a script's unset variable) is an error, never "the current folder".
    """
    chosen: list[str] = []
    for selector in selectors:
        if not selector.strip():
            raise InputError(
                "An empty argument was given to remove. Give document ids (`rag list` shows "
                "them) or file paths."
            )
        matches = _exact_matches(documents, selector, recursive)
        if not matches:
            raise InputError(_no_match_message(documents, selector))
        chosen.extend(d for d in matches if d not in chosen)
    return chosen


def _selector_paths(selector: str) -> set[str]:
    """The absolute path a selector names, as typed and with links resolved (a URL as it is)."""
    if selector.strip().lower().startswith(("http://", "https://")):
        return {selector.strip()}
    path = os.path.abspath(os.path.expanduser(selector))
    try:
        return {path_text(path), path_text(os.path.realpath(path))}
    except (OSError, ValueError):
        return {path_text(path)}


def _exact_matches(documents: dict[str, Article], selector: str, recursive: bool) -> list[str]:
    if selector in documents:
        return [selector]
    paths = _selector_paths(selector)
    by_file = [
        d
        for d, a in documents.items()
        if any(o in paths or _origin_file(o) in paths for o in a.origins)
    ]
    if by_file or not recursive:
        return by_file
    folders = tuple(p.rstrip(os.sep) + os.sep for p in paths)
    return [
        d
        for d, a in documents.items()
        if any(_origin_file(o).startswith(folders) for o in a.origins)
    ]


def _no_match_message(documents: dict[str, Article], selector: str) -> str:
    """Why nothing matches, with the exact form to type when the user was close."""
    prefixed = [d for d in documents if d.startswith(selector.strip())]
    if len(prefixed) == 1:
        return (
            f"No indexed article has the id {selector!r}; give the whole id "
            f"{prefixed[0]!r} to remove {documents[prefixed[0]].title!r}."
        )
    folders = tuple(p.rstrip(os.sep) + os.sep for p in _selector_paths(selector))
    under = sum(
        1 for a in documents.values() if any(_origin_file(o).startswith(folders) for o in a.origins)
    )
    if under:
        return (
            f"{selector!r} is a folder holding {under} indexed article(s); nothing was removed. "
            "Add --recursive to remove them all, or name the files or ids."
        )
    return f"No indexed article matches {selector!r}. `rag list` shows ids and sources."
