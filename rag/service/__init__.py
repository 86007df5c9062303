"""The question-answering service that the CLI and the UI share: a thin facade over its parts.

``RagService`` owns the models and the index for one index directory. Models
load once, in ``warm_up()`` or on first use; the index is re-read only when
its manifest changes on disk, so a running chat sees articles indexed by
another process without a restart. Each job sits in a part of its own:
``Models`` (load, replace), ``roles`` (which model judges, re-ranks, writes
queries), ``IndexView`` (the current snapshot), ``rag.ingest.Indexer`` (add
and remove articles), ``Searcher`` (the query writer, the search policy of
``rag.search`` and the re-ranker) and ``rag.answer.Answerer`` (write, check,
quote or abstain). The service may import every room of ``rag``; none of them
imports it.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Unpack

from index.store import IndexSnapshot, IndexStore
from rag.answer.answerer import Answerer
from rag.answer.evidence import EvidenceRanker
from rag.answer.support import Judge
from rag.config import Settings
from rag.ingest.chunk import ChunkerSettings
from rag.ingest.indexer import Indexer, IndexReport, Progress
from rag.search.query import check_question, make_filter, search_query_for
from rag.service import roles
from rag.service.index_view import IndexView
from rag.service.models import GivenModels, Models
from rag.service.searcher import Searcher
from rag.text.codepoints import valid_unicode
from rag.timeline import Timeline, build_timeline
from rag.timeline.rewrite import rewrite_timeline
from rag.types import (
    Answer,
    AnswerEvent,
    Article,
    DocumentInfo,
    Embedder,
    Generator,
    ScoredPassage,
    SearchFilter,
    TokenEvent,
    Turn,
)

__all__ = ["DocumentInfo", "RagService"]


class RagService:
    def __init__(self, settings: Settings, **given: Unpack[GivenModels]) -> None:
        self.store = IndexStore(settings.index_dir)
        self.models = Models(settings, index_embedder=self.store.recorded_embedder_id, **given)
        # Constructing the embedder is cheap; reading its id must not load the model.
        self.index = IndexView(self.store, lambda: self.models.unloaded_embedder().model_id)
        self.searcher = Searcher(self.models, self.index)

    @property
    def settings(self) -> Settings:
        """The settings in force (``use_model`` changes the model)."""
        return self.models.settings

    # --- models -------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedder, loaded on first use."""
        return self.models.embedder

    @property
    def generator(self) -> Generator:
        """The language model, loaded on first use."""
        return self.models.generator

    @property
    def model_loaded(self) -> bool:
        """Whether the language model is loaded (``warm_up`` or a first question did it)."""
        return self.models.loaded

    def judge(self) -> Judge | None:
        """The yes/no judge of support (``judge_model``, or an instruction model itself)."""
        return roles.judge(self.models)

    def use_model(self, model: str | Path) -> str:
        """Load another model (a pack name or a GGUF file); questions from now on use it."""
        return self.models.use_model(model)

    def warm_up(self, *, generator: bool = True) -> None:
        """Load the models now rather than on the first question."""
        helpers = self.searcher.second_models() if generator else ()
        self.models.load(generator=generator, helpers=helpers)
        if generator and self.settings.judge and self.settings.judge_model is not None:
            roles.judge(self.models)

    # --- index --------------------------------------------------------------

    def snapshot(self, *, vectors: bool = True) -> IndexSnapshot:
        """The current index, re-read only when its manifest has changed."""
        return self.index.snapshot(vectors=vectors)

    @property
    def upload_dir(self) -> Path:
        """Where files added through the web chat are kept (inside the index folder)."""
        return self.store.path / "uploads"

    def chunker_settings(self) -> ChunkerSettings:
        return ChunkerSettings(
            max_tokens=self.settings.chunk_max_tokens,
            target_tokens=self.settings.chunk_target_tokens,
            overlap_sentences=self.settings.chunk_overlap_sentences,
        )

    def indexer(self) -> Indexer:
        batch = self.settings.embed_batch_size
        return Indexer(self.store, self.embedder, self.chunker_settings(), batch_size=batch)

    def index_paths(
        self,
        paths: Sequence[str | Path],
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        return self.indexer().index_paths(paths, rebuild=rebuild, progress=progress)

    def remove(self, selectors: Sequence[str], *, recursive: bool = False) -> list[Article]:
        """Remove articles by exact id or file path (see ``Indexer.remove``).

        Nothing is embedded, so the embedder is not loaded.
        """
        embedder = self.models.unloaded_embedder()
        indexer = Indexer(self.store, embedder, self.chunker_settings())
        return indexer.remove(selectors, recursive=recursive)

    def documents(self) -> list[DocumentInfo]:
        return self.index.documents()

    def article(self, doc_id: str) -> Article:
        return self.index.article(doc_id)

    # --- questions ----------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        where: SearchFilter | None = None,
        as_of: datetime.date | None = None,
    ) -> list[ScoredPassage]:
        """The best passages for ``query``, as of ``as_of`` (see ``search_as_of``)."""
        query = check_question(query)
        written = self.searcher.written_query(query)
        return self.searcher.search(query, written, k=k, where=where, as_of=as_of)

    def ask_stream(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        k: int | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        passages: Sequence[ScoredPassage] | None = None,
        where: SearchFilter | None = None,
        as_of: datetime.date | None = None,
    ) -> Iterator[TokenEvent | AnswerEvent]:
        """Yield the answer's pieces as they are written, then the checked answer.

        ``passages`` skips retrieval and answers from the given ones (evaluation uses
        it to hand the model the gold passage).
        """
        question = check_question(question)
        # Earlier turns come from clients as they sent them (the /v1 messages).
        history = [Turn(valid_unicode(t.question), valid_unicode(t.answer)) for t in history]
        query = search_query_for(question, history)
        searching = passages is None
        ranks_sentences = self.settings.reader == "sentences"
        load_ms = self.models.load(
            embedder=searching or ranks_sentences or self.settings.answer_mode == "choose",
            index=self.index.refresh if searching else None,
            helpers=self.searcher.second_models() if searching else (),
        )
        ranks = ranks_sentences or self.settings.answer_mode == "choose"
        ranker = EvidenceRanker(self.embedder) if ranks else None
        answerer = Answerer(self.generator, self.settings, self.judge, ranker)
        started = time.perf_counter()
        written, rewrite_ms = "", 0.0
        if passages is None:
            written = self.searcher.written_query(query)
            rewrite_ms = (time.perf_counter() - started) * 1000
            depth = k or self.settings.k
            if ranks_sentences:
                depth = max(depth, self.settings.read_depth)
            passages = self.searcher.search(query, written, k=depth, where=where, as_of=as_of)
        retrieve_ms = (time.perf_counter() - started) * 1000
        events = answerer.stream(
            question,
            passages,
            history=history,
            max_tokens=max_tokens,
            temperature=temperature,
            started=started,
            retrieve_ms=retrieve_ms,
            load_ms=load_ms,
        )
        for event in events:
            if isinstance(event, AnswerEvent):
                answer = event.answer
                timings = replace(answer.timings, rewrite_ms=rewrite_ms)
                answer = replace(
                    answer, search_query=query, written_query=written or None, timings=timings
                )
                event = AnswerEvent(answer)
            yield event

    def ask(self, question: str, **options: object) -> Answer:
        for event in self.ask_stream(question, **options):  # type: ignore[arg-type]
            if isinstance(event, AnswerEvent):
                return event.answer
        raise AssertionError("ask_stream ended without an answer")

    # --- timelines ----------------------------------------------------------

    def timeline(
        self,
        topic: str,
        since: str | None = None,
        until: str | None = None,
        *,
        rewrite: bool = False,
    ) -> Timeline:
        """The dated events of ``topic`` in the indexed articles, oldest first (``rag.timeline``).

        Only articles published since ``since`` can report events since then (see
        ``Searcher.timeline_passages``); ``until`` bounds the events, not the articles, since
        a later article may tell an earlier event. No language model is loaded unless
        ``rewrite`` asks it to shorten each line (kept only when it keeps the line's facts).
        """
        topic = check_question(topic)
        window = make_filter(since, until)
        started = time.perf_counter()
        self.models.load(generator=False, index=self.index.refresh)
        passages = self.searcher.timeline_passages(topic, window.date_from)
        timeline = build_timeline(topic, passages, since=window.date_from, until=window.date_to)
        if rewrite:
            timeline = rewrite_timeline(self.generator, timeline)
        return replace(timeline, total_ms=(time.perf_counter() - started) * 1000)
