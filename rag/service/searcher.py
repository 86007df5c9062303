"""The search as the service runs it: the query writer's sentence, the hybrid search as of
a day over the current index, and the re-ranker, each as the settings ask; and the
deeper search a timeline is told from.

Imports ``rag.answer`` (the query writer and the re-ranker), ``rag.search``,
``rag.timeline`` (its depth), the service's ``models``, ``roles`` and ``index_view``,
and ``rag.types``.
"""

from __future__ import annotations

import datetime

from rag.answer.hyde import write_query
from rag.answer.rerank import rerank
from rag.config import Settings
from rag.search.dated import search_as_of
from rag.search.retrieve import HybridRetriever
from rag.service.index_view import IndexView
from rag.service.models import Models
from rag.service.roles import query_writer, reranker
from rag.timeline import DEPTH
from rag.types import ScoredPassage, SearchFilter


class Searcher:
    """Finds the passages for a checked query with the service's models and index."""

    def __init__(self, models: Models, index: IndexView) -> None:
        self.models = models
        self.index = index

    @property
    def settings(self) -> Settings:
        return self.models.settings

    def retriever(self) -> HybridRetriever:
        return HybridRetriever(
            self.models.embedder,
            self.index.snapshot(),
            feedback=self.settings.feedback,
            neighbours=self.settings.passage_neighbours,
            depth=self.settings.candidate_depth,
        )

    def written_query(self, query: str) -> str:
        """The sentence the query writer adds to the search ("" when ``query_writer`` is off)."""
        if self.settings.query_writer == "off":
            return ""
        return write_query(query_writer(self.models), query)

    def second_models(self) -> tuple[str, ...]:
        """The second models the search asks (the query writer, the re-ranker), when it asks
        any: loaded with the others, so their loading is in ``load_ms``, not in the search."""
        names = []
        if self.settings.query_writer != "off":
            names.append(self.settings.query_model)
        if self.settings.rerank:
            names.append(self.settings.rerank_model)
        return tuple(dict.fromkeys(names))

    def search(
        self,
        query: str,
        written_query: str,
        *,
        k: int | None,
        where: SearchFilter | None,
        as_of: datetime.date | None,
    ) -> list[ScoredPassage]:
        """The ``k`` best passages for ``query`` and the sentence written for it, as of
        ``as_of`` (see ``search_as_of``), re-ranked when the settings ask."""
        k = k or self.settings.k
        depth = max(k, self.settings.rerank)
        passages = search_as_of(
            self.retriever(), query, depth, where=where, as_of=as_of, written_query=written_query
        )
        if self.settings.rerank:
            passages = rerank(reranker(self.models), query, passages, depth=self.settings.rerank)
        return passages[:k]

    def timeline_passages(self, topic: str, since: str | None) -> list[ScoredPassage]:
        """The passages a timeline of ``topic`` is told from, from articles published since
        ``since``: deeper than a question's (``DEPTH``), syndicated copies kept (each is a
        source to cite), no days preferred (a story's first events count as much as its
        last)."""
        retriever = HybridRetriever(self.models.embedder, self.index.snapshot(), collapse=False)
        return retriever.search(topic, DEPTH, where=SearchFilter(date_from=since))
