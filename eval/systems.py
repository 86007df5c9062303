"""The retrievers and answer systems a run compares, each registered by name.

A retriever gives a question's passages, best first; an answer system gives a
question's scored answer, or None when it has nothing to answer from. Each is
made once a run's index is ready, by the factory registered under its name,
from the run (``RunContext``: the product and the loaded index). ``eval.RETRIEVERS``
and ``eval.SYSTEMS`` name those compared by default; ``eval.PRODUCT_VARIANTS``
are retrievers too, run only when named.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from eval import PRODUCT_VARIANTS
from eval.baselines import closed_book_answer, extractive_answer
from eval.datasets import EvalQuestion
from eval.results import K_VALUES
from eval.scoring import answer_scores, text_scores
from eval.sentences import SentenceDense, sentence_vectors
from index.snapshot import IndexSnapshot
from rag.config import Settings
from rag.search.dated import search_as_of
from rag.search.query import search_query_for
from rag.search.retrieve import DenseRetriever, HybridRetriever, LexicalRetriever
from rag.service import RagService
from rag.types import Retriever, ScoredPassage

Search = Callable[[EvalQuestion], list[ScoredPassage]]
Answerer = Callable[[EvalQuestion], dict[str, Any] | None]


class RunContext(Protocol):
    """What a retriever or an answer system is made from (``eval.harness.Evaluation``)."""

    settings: Settings
    service: RagService
    snapshot: IndexSnapshot

    def as_of(self, q: EvalQuestion) -> datetime.date | None:
        """The day to ask ``q`` as of, if the run asks by date."""
        ...

    def service_for(self, name: str) -> RagService:
        """The product, or the product with a variant's settings."""
        ...

    def oracle_passage(self, q: EvalQuestion) -> ScoredPassage | None:
        """The passage holding the answer that the embedder finds closest to ``q``."""
        ...


RetrieverFactory = Callable[[RunContext], Search]
SystemFactory = Callable[[RunContext], Answerer]
RETRIEVER_FACTORIES: dict[str, RetrieverFactory] = {}
SYSTEM_FACTORIES: dict[str, SystemFactory] = {}


def retriever(name: str) -> Callable[[RetrieverFactory], RetrieverFactory]:
    """Register a retriever's factory under ``name``."""

    def register(make: RetrieverFactory) -> RetrieverFactory:
        RETRIEVER_FACTORIES[name] = make
        return make

    return register


def answer_system(name: str) -> Callable[[SystemFactory], SystemFactory]:
    """Register an answer system's factory under ``name``."""

    def register(make: SystemFactory) -> SystemFactory:
        SYSTEM_FACTORIES[name] = make
        return make

    return register


# --- retrievers ------------------------------------------------------------------


def _plain_search(retriever: Retriever, q: EvalQuestion) -> list[ScoredPassage]:
    """A retriever as it stands: the question as typed, no dates, no follow-up rewrite."""
    return retriever.search(q.question, max(K_VALUES))


@retriever("bm25")
def _bm25(run: RunContext) -> Search:
    return partial(_plain_search, LexicalRetriever(run.snapshot))


@retriever("dense")
def _dense(run: RunContext) -> Search:
    return partial(_plain_search, DenseRetriever(run.service.embedder, run.snapshot))


@retriever("rrf")
def _rrf(run: RunContext) -> Search:
    fused = HybridRetriever(run.service.embedder, run.snapshot, collapse=False)
    return partial(_plain_search, fused)


def _product_search(run: RunContext, variant: str, q: EvalQuestion) -> list[ScoredPassage]:
    """The product's search (or a variant's): the follow-up rewritten, as of the day
    it was asked."""
    query = search_query_for(q.question, q.history)
    return run.service_for(variant).search(query, k=max(K_VALUES), as_of=run.as_of(q))


def _product_retriever(variant: str) -> RetrieverFactory:
    def make(run: RunContext) -> Search:
        return partial(_product_search, run, variant)

    return make


for _variant in ("product", *PRODUCT_VARIANTS):  # the variants are measured only when named
    retriever(_variant)(_product_retriever(_variant))


@retriever("product-sentences")
def _product_sentences(run: RunContext) -> Search:
    """The product's search with its dense side over single sentences (``eval.sentences``)."""
    embedder = run.service.embedder
    vectors, rows = sentence_vectors(run.settings.index_dir, run.snapshot, embedder)
    search = HybridRetriever(embedder, run.snapshot, depth=run.settings.candidate_depth)
    search.dense = SentenceDense(embedder, run.snapshot, vectors, rows)

    def passages(q: EvalQuestion) -> list[ScoredPassage]:
        query = search_query_for(q.question, q.history)
        return search_as_of(search, query, max(K_VALUES), as_of=run.as_of(q))

    return passages


# --- answer systems ----------------------------------------------------------------


@answer_system("product")
def _product(run: RunContext) -> Answerer:
    def answer(q: EvalQuestion) -> dict[str, Any]:
        reply = run.service.ask(q.question, history=q.history, as_of=run.as_of(q))
        return answer_scores(reply, q, run.service.generator)

    return answer


@answer_system("oracle")
def _oracle(run: RunContext) -> Answerer:
    """The product given only the passage that holds the answer."""

    def answer(q: EvalQuestion) -> dict[str, Any] | None:
        gold = run.oracle_passage(q) if q.answerable else None
        if gold is None:
            return None
        reply = run.service.ask(q.question, history=q.history, passages=[gold])
        return answer_scores(reply, q, run.service.generator)

    return answer


@answer_system("closed_book")
def _closed_book(run: RunContext) -> Answerer:
    """The language model with no passages."""

    def answer(q: EvalQuestion) -> dict[str, Any]:
        started = time.perf_counter()
        text = closed_book_answer(
            run.service.generator, q.question, max_tokens=run.settings.max_tokens
        )
        return text_scores(text, q, (time.perf_counter() - started) * 1000)

    return answer


@answer_system("extractive")
def _extractive(run: RunContext) -> Answerer:
    """The best sentence of the product's top passage."""

    def answer(q: EvalQuestion) -> dict[str, Any]:
        query = search_query_for(q.question, q.history)
        passages = run.service.search(query, k=run.settings.k, as_of=run.as_of(q))
        return text_scores(extractive_answer(q.question, passages), q, None)

    return answer
