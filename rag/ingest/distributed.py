"""Ingestion on Ray, for corpora that outgrow one machine.

``rag index --ray [ADDRESS]`` runs the same load, clean, chunk and embed steps
as a local ``rag index``, spread over a Ray cluster (or a Ray instance started
on this machine when no address is given):

1. Ray Data reads the article files in parallel tasks (``load_file``).
2. A pool of actors, each holding the embedding model once, cleans, chunks
   and embeds batches of articles. An article whose id is already in the
   index is passed through without being embedded.
3. The results are written as Parquet shards (one row per article: the
   cleaned article, its chunks and their vectors) to a folder every node can
   write and this machine can read.
4. This machine merges the shards into a new index generation under the
   index lock, exactly as a local run would: same article and chunk ids, same
   manifest, same content-hash reuse of stored vectors.

Articles come out of the shards in the order of the input files, so a Ray run
and a local run over the same folder give the same index, row for row.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from index.records import article_from_json, article_to_json
from rag.config import Settings
from rag.embed import backend_of
from rag.errors import DistributedError, InputError, RagError
from rag.ingest.chunk import chunk_under_title
from rag.ingest.clean import clean_document
from rag.ingest.files import iter_files, load_file, unsupported_type
from rag.ingest.generation import PreparedArticle
from rag.ingest.indexer import IndexReport, effective_chunker
from rag.optional import optional_import
from rag.types import Article, Chunk, LoadProblem, RawDocument, chunk_context

log = logging.getLogger(__name__)

LOCAL = "local"
FILES_PER_READ_TASK = 16
ARTICLES_PER_BATCH = 32


@dataclass(frozen=True)
class RayOptions:
    address: str = LOCAL  # "local", "auto", or "ray://host:10001"
    actors: int | None = None  # embedding actors; default: one per ``cpus_per_actor`` CPUs
    cpus_per_actor: int = 1
    shard_dir: str | None = None  # default: a folder inside the index, removed after merging


def _ray() -> Any:
    with optional_import(
        DistributedError,
        "Ray is not installed. Run `pip install 'newsrag[distributed]'` "
        "(or `pip install 'ray[data]'`) on this machine and on every node.",
    ):
        import ray
        import ray.data
    return ray


def list_inputs(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[str], list[LoadProblem]]:
    """The article files under ``paths`` and the explicitly named files that are not articles."""
    files: list[str] = []
    problems: list[LoadProblem] = []
    for path, explicit in iter_files(paths, problems):
        unsupported = unsupported_type(path)
        if unsupported is None:
            files.append(str(path))
        elif explicit:
            problems.append(LoadProblem(str(path), unsupported))
    return files, problems


# --- what the workers run ---------------------------------------------------------

_RAW_FIELDS = ("text", "origin", "title", "date", "source", "url", "external_id")


def read_files(batch: Any) -> Any:
    """Ray task: read a batch of files into raw documents (or problems), numbered in order."""
    out: dict[str, list[Any]] = {f: [] for f in (*_RAW_FIELDS, "seq", "problem")}
    for item in batch.to_pylist():
        file_no = item["file_no"]
        docs, problems = load_file(Path(item["path"]))
        rows: list[tuple[RawDocument | None, LoadProblem | None]] = [(d, None) for d in docs]
        rows += [(None, p) for p in problems]
        for i, (doc, problem) in enumerate(rows):
            for name in _RAW_FIELDS:
                if doc is not None:
                    out[name].append(getattr(doc, name))
                else:
                    out[name].append(problem.origin if name == "origin" else None)
            out["seq"].append(int(file_no) * 1_000_000 + i)
            out["problem"].append(problem.message if problem else None)
    return _table(out, {"seq": "int64"})


class ArticleEmbedder:
    """Ray actor: holds the embedding model; cleans, chunks and embeds articles."""

    def __init__(self, settings: Settings, chunker: dict[str, Any], known: frozenset[str]) -> None:
        from rag.embed import make_embedder
        from rag.ingest.chunk import ChunkerSettings

        self.known = known
        self.embedder = make_embedder(settings)
        self.embedder.warm_up()
        if settings.threads and settings.embed_backend == "torch":
            import torch

            torch.set_num_threads(settings.threads)
        self.chunker = effective_chunker(ChunkerSettings(**chunker), self.embedder)

    def __call__(self, batch: Any) -> Any:
        out: dict[str, list[Any]] = {
            f: [] for f in ("seq", "article", "chunks", "vectors", "known", "problem", "origin")
        }
        ready: list[tuple[int, Article, list[Chunk]]] = []  # (output row, article, chunks)
        for row in batch.to_pylist():
            if row["problem"] is not None:
                self._emit(out, row["seq"], problem=(str(row["origin"]), str(row["problem"])))
                continue
            raw = RawDocument(**{f: _str_or_none(row[f]) for f in _RAW_FIELDS})
            article = clean_document(raw)
            if article is None:
                problem = (raw.origin, "no article text left after cleaning")
                self._emit(out, row["seq"], problem=problem)
            elif article.doc_id in self.known:
                self._emit(out, row["seq"], article=article, known=True)
            else:
                ready.append((len(out["seq"]), article, self._chunk(article)))
                self._emit(out, row["seq"], article=article)
        texts = [chunk_context(a, c) for _, a, chunks in ready for c in chunks]
        vectors = self.embedder.embed(texts) if texts else None
        at = 0
        for slot, _, chunks in ready:
            out["chunks"][slot] = json.dumps([_chunk_json(c) for c in chunks])
            part = vectors[at : at + len(chunks)] if vectors is not None else np.zeros((0,))
            out["vectors"][slot] = np.ascontiguousarray(part, dtype=np.float32).tobytes()
            at += len(chunks)
        return _table(out, {"seq": "int64", "vectors": "binary", "known": "bool_"})

    def _chunk(self, article: Article) -> list[Chunk]:
        return chunk_under_title(article, self.embedder.count_tokens, self.chunker)

    @staticmethod
    def _emit(
        out: dict[str, list[Any]],
        seq: Any,
        *,
        article: Article | None = None,
        known: bool = False,
        problem: tuple[str, str] | None = None,
    ) -> None:
        out["seq"].append(int(seq))
        out["article"].append(json.dumps(article_to_json(article)) if article else None)
        out["chunks"].append(None)
        out["vectors"].append(None)
        out["known"].append(known)
        out["origin"].append(problem[0] if problem else None)
        out["problem"].append(problem[1] if problem else None)


def _table(columns: dict[str, list[Any]], types: dict[str, str]) -> Any:
    """An Arrow table with fixed column types (a column of only nulls stays a string column)."""
    import pyarrow as pa

    fields = [pa.field(name, getattr(pa, types.get(name, "string"))()) for name in columns]
    return pa.table(columns, schema=pa.schema(fields))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _chunk_json(c: Chunk) -> list[Any]:
    return [c.chunk_id, c.start, c.end, c.n_tokens]


# --- the driver ------------------------------------------------------------------


def index_with_ray(
    service: Any,
    paths: Sequence[str | os.PathLike[str]],
    options: RayOptions,
    *,
    rebuild: bool = False,
) -> IndexReport:
    """Index ``paths`` with Ray workers, then merge their shards into ``service``'s index."""
    started = time.perf_counter()
    if not paths:
        raise InputError("No paths given. Name files or folders of articles to index.")
    files, problems = list_inputs(paths)
    if options.actors is not None and options.actors <= 0:
        raise InputError(f"--ray-actors must be greater than 0, got {options.actors}.")
    indexer = service.indexer()
    store = service.store
    known: frozenset[str] = frozenset()
    if not rebuild and store.exists():
        known = frozenset(store.load(embedder_id=indexer.embedder.model_id).documents)
    store.check_owned()  # before a shard folder is made inside it
    shard_dir, owned = _shard_location(store.path, options.shard_dir)
    ray = _ray()
    embed_started = time.perf_counter()
    try:
        _start(ray, options.address)
        try:
            if files:
                _run_pipeline(ray, service.settings, indexer, files, known, options, shard_dir)
        finally:
            ray.shutdown()
        embed_seconds = time.perf_counter() - embed_started
        articles, prepared, shard_problems = read_shards(
            shard_dir, indexer.embedder.model_id, indexer.chunker, indexer.embedder
        )
        report = indexer.index_articles(
            articles,
            problems=problems + shard_problems,
            rebuild=rebuild,
            started=started,
            prepared=prepared,
        )
    finally:
        if owned:
            shutil.rmtree(shard_dir, ignore_errors=True)
    embedded_by_workers = sum(len(p.chunks) for p in prepared.values())
    return replace(
        report,
        chunks_embedded=report.chunks_embedded + embedded_by_workers,
        embed_seconds=report.embed_seconds + embed_seconds,
    )


def _shard_location(index_dir: Path, given: str | None) -> tuple[str, bool]:
    if given:
        return given, False
    folder = index_dir / f".shards-{uuid.uuid4().hex[:12]}"
    return str(folder), True


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once when nothing listens at a HOST:PORT address (Ray retries for minutes)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise DistributedError(
            f"Nothing answers at {address!r} ({exc.strerror or exc}). Start the cluster's head "
            "with `ray start --head`, or pass its address (HEAD:6379, or ray://HEAD:10001)."
        ) from None


def _start(ray: Any, address: str) -> None:
    quiet = log.getEffectiveLevel() > logging.INFO
    if address != LOCAL:
        _check_reachable(address)
    try:
        if address == LOCAL:
            ray.init(
                include_dashboard=False,
                log_to_driver=not quiet,
                logging_level=logging.WARNING,
                configure_logging=True,
            )
        else:
            import index as index_package
            import rag as rag_package

            # Ship this version of the code, so every node chunks and ids alike.
            modules = [Path(rag_package.__file__).parent, Path(index_package.__file__).parent]
            ray.init(
                address=address,
                log_to_driver=not quiet,
                logging_level=logging.WARNING,
                runtime_env={"py_modules": [str(m) for m in modules]},
            )
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        raise DistributedError(f"Could not start or reach Ray at {address!r}: {exc}") from None
    if quiet:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = False


def _run_pipeline(
    ray: Any,
    settings: Settings,
    indexer: Any,
    files: list[str],
    known: frozenset[str],
    options: RayOptions,
    shard_dir: str,
) -> None:
    cpus = int(ray.cluster_resources().get("CPU", 1))
    per_actor = max(1, options.cpus_per_actor)
    actors = options.actors or max(1, cpus // per_actor)
    # The driver's backend, never "auto": a node with another CPU could pick another one,
    # and its vectors would not match the index's embedder id.
    backend = settings.embed_backend
    if backend == "auto":
        backend = backend_of(indexer.embedder.model_id)
    worker_settings = settings.updated(threads=per_actor, embed_backend=backend)
    items = [{"file_no": i, "path": p} for i, p in enumerate(files)]
    # Enough blocks to keep every actor busy, few enough to batch well.
    blocks = max(1, min(len(files), max(2 * actors, len(files) // FILES_PER_READ_TASK), 8 * cpus))
    actors = min(actors, blocks)
    log.info("Ray: %d files, %d embedding actors of %d CPU(s)", len(files), actors, per_actor)
    try:
        dataset = (
            ray.data.from_items(items, override_num_blocks=blocks)
            .map_batches(read_files, batch_size=None, batch_format="pyarrow", num_cpus=0)
            .map_batches(
                ArticleEmbedder,
                fn_constructor_args=(worker_settings, indexer.chunker.as_dict(), known),
                batch_size=ARTICLES_PER_BATCH,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=per_actor,
            )
        )
        dataset.write_parquet(shard_dir)
    except RagError:
        raise
    except Exception as exc:  # a worker's error arrives wrapped in Ray's exception types
        raise DistributedError(f"The Ray ingestion failed: {_root_cause(exc)}") from None


def _root_cause(exc: BaseException) -> str:
    """The worker's own error: Ray's wrappers put it on the last line of their text."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def read_shards(
    shard_dir: str, embedder_id: str, chunker: Any, embedder: Any
) -> tuple[list[Article], dict[str, PreparedArticle], list[LoadProblem]]:
    """The articles, prepared chunks and vectors, and problems in the Parquet shards."""
    rows = sorted(_shard_rows(shard_dir), key=lambda r: r["seq"])
    articles: list[Article] = []
    prepared: dict[str, PreparedArticle] = {}
    problems: list[LoadProblem] = []
    dimension = embedder.dimension
    for row in rows:
        if row["problem"] is not None:
            problems.append(LoadProblem(row["origin"], row["problem"]))
            continue
        article = article_from_json(json.loads(row["article"]))
        articles.append(article)
        if row["known"] or row["chunks"] is None:
            continue
        chunks = tuple(
            Chunk(cid, article.doc_id, article.text[start:end], start, end, n_tokens)
            for cid, start, end, n_tokens in json.loads(row["chunks"])
        )
        vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(-1, dimension)
        if len(vectors) != len(chunks):
            raise DistributedError(
                f"A shard in {shard_dir} holds {len(vectors)} vectors of dimension "
                f"{dimension} for {len(chunks)} chunks of {article.doc_id}: the workers ran "
                f"another embedder than {embedder_id!r}. Install the same models on every node."
            )
        # The first copy of an article is the one indexed, as in a local run.
        prepared.setdefault(article.doc_id, PreparedArticle(article, chunks, vectors))
    return articles, prepared, problems


def _shard_rows(shard_dir: str) -> Iterator[dict[str, Any]]:
    import pyarrow.dataset as ds

    if not shard_dir.startswith(("s3://", "gs://", "hdfs://")) and not Path(shard_dir).exists():
        return
    for batch in ds.dataset(shard_dir, format="parquet").to_batches():
        yield from batch.to_pylist()
