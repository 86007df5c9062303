"""The sentence-level design of the dense side (eval/sentences.py), measured against the product."""

from __future__ import annotations

import numpy as np
import pytest

from eval.sentences import SentenceDense, sentence_units, sentence_vectors
from rag.config import Settings
from rag.search.retrieve import DenseRetriever
from rag.service import RagService
from rag.types import RawDocument
from tests.fakes import FakeEmbedder

QUESTION = "When does the harbour ferry resume its crossings?"
MEETINGS = " ".join(
    f"The {group} committee met on {day} to review parking, lighting and budgets in every district."
    for group, day in [("road", "Tuesday"), ("park", "Wednesday"), ("school", "Thursday")]
)
ARTICLES = (
    # The answer is one sentence among others about something else.
    RawDocument(
        text=f"Town notes. {MEETINGS} The harbour ferry resumes its crossings on Monday.",
        origin="t:notes",
        title="Town notes",
    ),
    # A short passage sharing the question's words, without the answer.
    RawDocument(
        text="A ferry crossed the harbour in fog when the old pier was closed for good.",
        origin="t:pier",
        title="Pier closed",
    ),
)


@pytest.fixture
def indexed(tmp_path):
    settings = Settings(index_dir=tmp_path / "idx", k=3)
    embedder = FakeEmbedder(dimension=512)
    service = RagService(settings, embedder=embedder)
    service.indexer().index_documents(ARTICLES)
    return settings, embedder, service.snapshot()


def test_a_chunk_ranks_by_its_best_sentence_not_by_the_whole_chunk(indexed):
    settings, embedder, snapshot = indexed
    notes = next(i for i, c in enumerate(snapshot.chunks) if "Monday" in c.text)
    query = embedder.embed([QUESTION], kind="query")[0]
    # Whole chunks: the short passage comes first, the answer's chunk is diluted.
    assert DenseRetriever(embedder, snapshot).rows(query, 2)[0][0] != notes
    vectors, rows = sentence_vectors(settings.index_dir, snapshot, embedder)
    by_sentence = SentenceDense(embedder, snapshot, vectors, rows).rows(query, 2)
    assert [r for r, _ in by_sentence] == [notes, 1 - notes]  # each chunk once
    assert by_sentence[0][1] > by_sentence[1][1]
    # A chunk the filter leaves out is skipped, whatever its sentences score.
    allowed = np.ones(snapshot.size, dtype=bool)
    allowed[notes] = False
    kept = SentenceDense(embedder, snapshot, vectors, rows).rows(query, 2, allowed)
    assert [r for r, _ in kept] == [1 - notes]


def test_sentences_are_read_under_their_title_and_embedded_once(indexed):
    settings, embedder, snapshot = indexed
    texts, rows = sentence_units(snapshot)
    assert "Town notes\nThe harbour ferry resumes its crossings on Monday." in texts
    assert "Town notes\nTown notes." not in texts  # under four words
    assert len(texts) == len(rows) == 5
    first = sentence_vectors(settings.index_dir, snapshot, embedder)
    embedded = len(embedder.embedded)
    again = sentence_vectors(settings.index_dir, snapshot, embedder)
    assert len(embedder.embedded) == embedded  # read from the cache beside the index
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    # The cache sits beside the index folder, never in it.
    assert not list(settings.index_dir.rglob("*.npz"))
    assert list(settings.index_dir.with_name("idx.sentences").glob("*.npz"))


def test_product_sentences_runs_as_a_named_retriever(tmp_path):
    from eval.datasets import EvalDataset, EvalQuestion
    from eval.harness import Evaluation, RunOptions

    question = EvalQuestion("ferry", QUESTION, ("Monday",), True)
    dataset = EvalDataset("tiny", ARTICLES, (question,))
    settings = Settings(index_dir=tmp_path / "idx", k=3)
    options = RunOptions(retrievers=("product", "product-sentences"), systems=())
    evaluation = Evaluation(dataset, settings, options)
    evaluation.service = RagService(settings, embedder=FakeEmbedder(dimension=512))
    retrieval = evaluation.run().metrics.retrieval
    assert retrieval["product-sentences"]["answer_in_top_1"] == 1.0
    assert (tmp_path / "idx.sentences").is_dir()
