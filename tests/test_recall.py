"""First-stage recall: pseudo-relevance feedback, widened passages, re-ranking by a judge,
queries written by the model (HyDE)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np
import pytest

from index.lexical import LexicalIndex
from index.store import IndexStore
from rag.answer.hyde import write_query
from rag.answer.rerank import relevance_prompt, rerank
from rag.config import Settings
from rag.errors import ConfigError
from rag.ingest.chunk import ChunkerSettings
from rag.ingest.indexer import Indexer
from rag.search.expand import feed_back, rm3_query, rocchio
from rag.search.retrieve import HybridRetriever, LexicalRetriever
from rag.search.widen import widen_passages
from rag.serialize import answer_to_dict
from rag.service import RagService
from rag.text.words import lexical_tokens
from tests.fakes import FakeEmbedder, FakeGenerator, FakeJudge, FakeWriter, register_generator

# One long article (several small chunks) and two short ones.
FLOOD = (
    "# Floods reach Marrow county\n\nFebruary 3, 2023 (River Post)\n\n"
    "Heavy rain swelled the Tamsin river for a fourth day. "
    "Volunteers filled sandbags along the old mill road. "
    "The county opened two shelters in school gymnasiums. "
    "Forecasters expect the rain to ease by the weekend. "
    "The mayor, Ilse Brandt, thanked the volunteers by name. "
    "Insurers said claims would be handled within a month. "
    "Farmers downstream moved their cattle to higher pastures. "
    "A rail line to the coast stayed closed after a landslide.\n"
)
ARTICLES = {
    "flood.md": FLOOD,
    "mill.md": (
        "# Old mill road reopens\n\nFebruary 9, 2023 (River Post)\n\n"
        "Sandbags were cleared from the old mill road on Thursday. "
        "Traffic returned to the Tamsin bridge by noon.\n"
    ),
    "orchard.md": (
        "# Orchard harvest doubles\n\nMarch 2, 2023 (Farm Weekly)\n\n"
        "Apple growers in the Kessel valley picked twice as much fruit as last year.\n"
    ),
}


@pytest.fixture
def small_chunks(tmp_path, write_articles):
    """The articles indexed in chunks of about two sentences, so the flood story has several."""
    folder = write_articles(ARTICLES)
    store = IndexStore(tmp_path / "idx")
    Indexer(store, FakeEmbedder(), ChunkerSettings(40, 24, 0)).index_paths([folder])
    return store.load()


# --- RM3 and Rocchio ----------------------------------------------------------------


def test_rm3_interpolates_the_query_with_feedback_terms():
    query = lexical_tokens("Which river flooded?")
    feedback = [
        (lexical_tokens("The Tamsin river flooded Marrow county"), 2.0),
        (lexical_tokens("Tamsin river sandbags"), 1.0),
    ]
    terms = rm3_query(query, feedback, n_terms=5, original_weight=0.6)
    assert sum(terms.values()) == pytest.approx(1.0)
    assert sum(terms[t] for t in query) >= 0.6
    assert "tamsin" in terms and "orchard" not in terms
    # A term of both feedback passages outweighs one of the lower-scored passage only.
    assert terms["tamsin"] > terms.get("sandbag", 0.0)


def test_rm3_without_feedback_is_the_query_alone():
    query = lexical_tokens("Tamsin river")
    assert rm3_query(query, []) == {t: 0.5 for t in query}
    assert rm3_query(query, [([], 1.0), (["flood"], 0.0)]) == {t: 0.5 for t in query}
    with pytest.raises(ValueError, match="original_weight"):
        rm3_query(query, [], original_weight=1.5)


def test_rocchio_moves_the_query_towards_the_feedback_and_stays_unit_length():
    rng = np.random.default_rng(0)
    query, *rest = (v / np.linalg.norm(v) for v in rng.normal(size=(4, 8)).astype(np.float32))
    feedback = np.vstack(rest)
    centroid = feedback.mean(axis=0)
    moved = rocchio(query, feedback, beta=0.5)
    assert np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-5)
    assert moved @ centroid > query @ centroid
    assert rocchio(query, feedback[:0]) is query
    assert np.allclose(rocchio(query, feedback, beta=0.0), query)
    with pytest.raises(ValueError, match="beta"):
        rocchio(query, feedback, beta=-1)


def test_weighted_bm25_search_matches_plain_search_for_one_term(tmp_path):
    index = LexicalIndex.build(["red apples", "green pears", "red pears", "blue plums"])
    plain = index.search("pears", 4)
    weighted = index.search_weighted({"pear": 1.0}, 4)
    assert [r for r, _ in weighted] == [r for r, _ in plain]
    assert [s for _, s in weighted] == pytest.approx([s for _, s in plain])
    # The heavier term decides the order; a term the index lacks is ignored.
    red_first = index.search_weighted({"red": 0.9, "pear": 0.1, "zeppelin": 5.0}, 4)
    assert red_first[0][0] in (0, 2) and {r for r, _ in red_first} == {0, 1, 2}
    assert index.search_weighted({"zeppelin": 1.0}, 4) == []


def test_feedback_expands_with_the_best_passages_words(small_chunks):
    retriever = HybridRetriever(FakeEmbedder(), small_chunks)
    query = "Where did volunteers fill sandbags?"
    first = retriever.search(query, 5)
    vector = retriever.dense.query_vector(query)
    expansion = feed_back(small_chunks, query, vector, first, "both")
    assert expansion.terms and set(expansion.terms) - set(lexical_tokens(query))
    assert expansion.vector is not None and not np.allclose(expansion.vector, vector)
    assert feed_back(small_chunks, query, vector, first, "rm3").vector is None
    assert feed_back(small_chunks, query, vector, first, "rocchio").terms is None


@pytest.mark.parametrize("mode", ["rm3", "rocchio", "both"])
def test_search_with_feedback_still_reports_closeness_to_the_query(small_chunks, mode):
    query = "Which river rose for a fourth day?"
    hits = HybridRetriever(FakeEmbedder(), small_chunks, feedback=mode).search(query, 4)
    assert [p.rank for p in hits] == list(range(1, len(hits) + 1))
    vector = FakeEmbedder().embed([query], kind="query")[0]
    for p in hits:
        row = small_chunks.chunk_row(p.chunk_id)
        assert p.similarity == pytest.approx(small_chunks.similarities(vector, [row])[0], abs=1e-5)


def test_unknown_feedback_mode_is_refused(small_chunks):
    with pytest.raises(ValueError, match="feedback must be one of"):
        HybridRetriever(FakeEmbedder(), small_chunks, feedback="rm4")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="feedback"):
        Settings(feedback="rm4")


# --- match small, read large --------------------------------------------------------


def test_widened_passages_are_exact_spans_of_the_article_around_the_hit(small_chunks):
    hits = LexicalRetriever(small_chunks).search("mayor Ilse Brandt", 3)
    assert hits and hits[0].title == "Floods reach Marrow county"
    wide = widen_passages(small_chunks, hits, 3, neighbours=1)
    article = small_chunks.documents[wide[0].doc_id]
    rows = small_chunks.article_rows(wide[0].doc_id)
    assert len(rows) >= 3
    assert wide[0].text == article.text[wide[0].chunk.start : wide[0].chunk.end]
    assert hits[0].text in wide[0].text and len(wide[0].text) > len(hits[0].text)
    assert [p.rank for p in wide] == list(range(1, len(wide) + 1))
    assert widen_passages(small_chunks, hits, 3, neighbours=0)[0].text == hits[0].text


def test_windows_of_one_article_never_overlap(small_chunks):
    doc = next(d for d, a in small_chunks.documents.items() if a.title.startswith("Floods"))
    rows = small_chunks.article_rows(doc)
    hits = LexicalRetriever(small_chunks).search("rain river volunteers county shelters", 20)
    hits = [p for p in hits if p.doc_id == doc]
    wide = widen_passages(small_chunks, hits, 20, neighbours=1)
    spans = sorted((p.chunk.start, p.chunk.end) for p in wide)
    first_starts = {small_chunks.chunks[r].start for r in rows}
    assert all(start in first_starts for start, _ in spans)
    # Windows are made of whole chunks, so two windows share no chunk's start.
    covered = [
        {small_chunks.chunks[r].start for r in rows if s <= small_chunks.chunks[r].start < e}
        for s, e in spans
    ]
    assert all(not (a & b) for i, a in enumerate(covered) for b in covered[i + 1 :])
    # A hit inside an earlier window adds no second copy.
    assert len(wide) <= len(hits)


def test_hybrid_search_hands_on_the_neighbours(small_chunks):
    query = "Who thanked the volunteers?"
    narrow = HybridRetriever(FakeEmbedder(), small_chunks).search(query, 2)
    wide = HybridRetriever(FakeEmbedder(), small_chunks, neighbours=1).search(query, 2)
    assert len(wide) == 2
    assert sum(len(p.text) for p in wide) > sum(len(p.text) for p in narrow)
    with pytest.raises(ValueError, match="neighbours"):
        HybridRetriever(FakeEmbedder(), small_chunks, neighbours=-1)


# --- re-ranking ---------------------------------------------------------------------


def test_rerank_lifts_what_the_judge_says_answers_and_keeps_the_tail(small_chunks):
    question = "Who thanked the volunteers?"
    hits = HybridRetriever(FakeEmbedder(), small_chunks).search(question, 6)
    judge = FakeJudge(["Brandt"])
    ranked = rerank(judge, question, hits, depth=5)
    assert len(judge.judged) == 5
    assert sorted(p.chunk_id for p in ranked) == sorted(p.chunk_id for p in hits)
    assert ranked[5].chunk_id == hits[5].chunk_id
    named = [i for i, p in enumerate(hits[:5]) if "Brandt" in p.text]
    assert named, "the passage naming the mayor should be among the first five"
    # A passage judged to answer never falls, and passes those judged not to at equal footing.
    position = {p.chunk_id: i for i, p in enumerate(ranked)}
    for i in named:
        assert position[hits[i].chunk_id] <= i
    assert any(position[hits[i].chunk_id] < i for i in named) or named == list(range(len(named)))
    assert [p.rank for p in ranked] == list(range(1, len(ranked) + 1))
    with pytest.raises(ValueError, match="depth"):
        rerank(judge, question, hits, depth=0)


def test_the_question_comes_before_the_passage_so_its_tokens_are_shared():
    a = relevance_prompt("Who won?", "Title A", "First passage.")
    b = relevance_prompt("Who won?", "Title B", "Second passage.")
    assert a[0] == b[0]
    shared = a[1]["content"].split("Passage")[0]
    assert shared == b[1]["content"].split("Passage")[0] and "Who won?" in shared


def test_the_service_reranks_with_the_instruction_model_when_asked(tmp_path, write_articles):
    folder = write_articles(ARTICLES)
    judge = FakeJudge(["Brandt"])
    settings = Settings(index_dir=tmp_path / "idx", rerank=4, model="judge", rerank_model="judge")
    service = RagService(settings, embedder=FakeEmbedder(), generator=judge)
    service.index_paths([folder])
    hits = service.search("Who thanked the volunteers?", k=2)
    assert len(hits) == 2 and judge.judged
    plain = RagService(settings.updated(rerank=0), embedder=FakeEmbedder(), generator=judge)
    judge.judged.clear()
    plain.search("Who thanked the volunteers?", k=2)
    assert judge.judged == []


def test_the_re_ranker_loads_with_the_models_not_inside_the_search(
    tmp_path, write_articles, monkeypatch
):
    """Its loading time is reported as load_ms, as the answering model's is."""
    loaded: list[str] = []
    judge = FakeJudge(["Brandt"])

    def load():
        time.sleep(0.2)  # a model takes a while to load; the search must not be charged
        loaded.append("judge")
        return judge

    register_generator(monkeypatch, "judge", load)
    settings = Settings(index_dir=tmp_path / "idx", rerank=4, rerank_model="judge", model="x")
    service = RagService(settings, embedder=FakeEmbedder(), generator=FakeGenerator())
    service.index_paths([write_articles(ARTICLES)])
    answer = service.ask("Who thanked the volunteers?")
    assert loaded == ["judge"] and judge.judged
    assert answer.timings.load_ms >= 200  # the loading was counted as loading
    service.ask("Who thanked the volunteers?")
    assert loaded == ["judge"]  # once


# --- queries written by the model (HyDE) --------------------------------------------

# Farmers appear in the flood story; "Kessel" only in the orchard story.
HARVEST = "What did farmers gather this season?"
WRITTEN = "Apple growers in the Kessel valley gathered a record harvest."


def _rank_of(title: str, passages) -> int:
    return next((p.rank for p in passages if p.title.startswith(title)), 99)


def test_a_written_query_lifts_the_article_it_names(small_chunks):
    retriever = HybridRetriever(FakeEmbedder(), small_chunks)
    plain = retriever.search(HARVEST, 5)
    written = retriever.search(HARVEST, 5, written_query=WRITTEN)
    assert _rank_of("Orchard", written) < _rank_of("Orchard", plain)
    # Fused with the question's own rankings, not instead of them: its best passage stays.
    assert written[0].chunk_id == plain[0].chunk_id
    vector = FakeEmbedder().embed([HARVEST], kind="query")[0]
    for p in written:  # closeness is still to the question
        row = small_chunks.chunk_row(p.chunk_id)
        assert p.similarity == pytest.approx(small_chunks.similarities(vector, [row])[0], abs=1e-5)
    # Its rankings stay in the second search that feedback makes.
    second = HybridRetriever(FakeEmbedder(), small_chunks, feedback="both")
    plain, written = second.search(HARVEST, 5), second.search(HARVEST, 5, written_query=WRITTEN)
    assert _rank_of("Orchard", written) < _rank_of("Orchard", plain)


class Records(logging.Handler):
    """Keeps the records a logger emits, whatever other tests did to the root's handlers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def hyde_log(monkeypatch) -> Iterator[Records]:
    """The query writer's log, read at its own logger: in a full run an earlier test may
    leave the root's handlers (pytest's caplog among them) without these records."""
    logger = logging.getLogger("rag.answer.hyde")
    records = Records()
    monkeypatch.setattr(logger, "disabled", False)
    monkeypatch.setattr(logger, "level", logging.WARNING)
    monkeypatch.setattr(logging.root.manager, "disable", logging.NOTSET)
    logger.addHandler(records)
    yield records
    logger.removeHandler(records)


@pytest.mark.parametrize("reply", [RuntimeError("llama_decode returned -1"), "", "  "])
def test_a_writer_that_fails_or_writes_nothing_leaves_the_plain_search(
    small_chunks, reply, hyde_log
):
    writer = FakeWriter([reply])
    written = write_query(writer, HARVEST)
    assert written == "" and any("question alone" in m for m in hyde_log.messages)
    assert HARVEST in writer.chats[0][-1]["content"]
    retriever = HybridRetriever(FakeEmbedder(), small_chunks, feedback="rm3")
    assert retriever.search(HARVEST, 5, written_query=written) == retriever.search(HARVEST, 5)


def test_the_service_writes_a_query_when_asked_and_reports_it(tmp_path, write_articles):
    folder = write_articles(ARTICLES)
    writer = FakeWriter([WRITTEN, "The articles do not say."])
    settings = Settings(
        index_dir=tmp_path / "idx", query_writer="hyde", model="writer", query_model="writer"
    )
    service = RagService(settings, embedder=FakeEmbedder(), generator=writer)
    service.index_paths([folder])
    answer = service.ask(HARVEST)
    assert answer.written_query == WRITTEN
    assert 0 < answer.timings.rewrite_ms <= answer.timings.retrieve_ms
    data = answer_to_dict(answer)
    assert data["written_query"] == WRITTEN and data["timings"]["rewrite_ms"] is not None
    assert writer.chats[0][-1]["content"].endswith(HARVEST)
    # The search alone writes too; with the setting off nothing is written.
    service.search(HARVEST, k=2)
    assert len(writer.chats) == 3
    plain = RagService(
        settings.updated(query_writer="off"), embedder=FakeEmbedder(), generator=writer
    )
    assert plain.ask(HARVEST).written_query is None
    assert len(writer.chats) == 4  # the answer's prompt only
    assert "opening sentence" not in writer.chats[-1][-1]["content"]


def test_a_query_model_without_a_chat_template_is_refused(tmp_path, write_articles):
    settings = Settings(
        index_dir=tmp_path / "idx", query_writer="hyde", model="base", query_model="base"
    )
    service = RagService(settings, embedder=FakeEmbedder(), generator=FakeGenerator())
    service.index_paths([write_articles(ARTICLES)])
    with pytest.raises(ConfigError, match="query_model 'base' has no chat template"):
        service.search(HARVEST)
