"""Hybrid search: the BM25 index saved with each generation, fusion, duplicates, filters."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from index.lexical import LexicalIndex
from index.store import IndexStore
from rag.errors import InputError
from rag.ingest.chunk import ChunkerSettings
from rag.ingest.indexer import Indexer
from rag.search.query import make_filter
from rag.search.retrieve import (
    DenseRetriever,
    HybridRetriever,
    LexicalRetriever,
    collapse_duplicates,
    diversify,
    fuse_rankings,
    prefer,
)
from rag.text.words import lexical_tokens
from rag.types import Article, Chunk, ScoredPassage, SearchFilter
from tests.fakes import FakeEmbedder

WIRE = (
    "The port of Valdora closed on Tuesday after a fire spread through three warehouses. "
    "Officials said no one was hurt and that shipping would resume within a week."
)
ARTICLES = {
    "valdora.md": f"# Fire closes Valdora port\n\nJanuary 10, 2023 (Coast Herald)\n\n{WIRE}\n",
    "valdora-copy.md": (
        f"# Valdora port shut by blaze\n\nJanuary 11, 2023 (Daily Ledger)\n\n{WIRE} "
        "The Ledger adds nothing new.\n"
    ),
    "orchard.md": (
        "# Orchard harvest doubles\n\nMarch 2, 2023 (Farm Weekly)\n\n"
        "Apple growers in the Kessel valley picked twice as much fruit as last year. "
        "A mild spring and new irrigation channels explain the jump, growers said.\n"
    ),
}


@pytest.fixture
def snapshot(tmp_path, write_articles):
    folder = write_articles(ARTICLES)
    store = IndexStore(tmp_path / "idx")
    Indexer(store, FakeEmbedder(), ChunkerSettings(256, 200, 1)).index_paths([folder])
    return store.load()


def test_lexical_tokens_stem_and_drop_stop_words():
    assert lexical_tokens("The growers were picking apples") == ["grower", "pick", "appl"]
    assert lexical_tokens("the of and") == []


def test_bm25_index_is_saved_with_the_generation_and_searches_after_loading(snapshot):
    assert snapshot.lexical is not None and snapshot.lexical.size == snapshot.size
    hits = LexicalRetriever(snapshot).search("irrigation channels", 3)
    assert [p.title for p in hits] == ["Orchard harvest doubles"]
    assert LexicalRetriever(snapshot).search("zeppelin", 3) == []


def test_lexical_index_round_trip_and_mask(tmp_path):
    index = LexicalIndex.build(["red apples", "green pears", "red pears"])
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path, 3)
    assert [r for r, _ in loaded.search("red", 5)] in ([0, 2], [2, 0])
    mask = np.array([False, True, True])
    assert [r for r, _ in loaded.search("red", 5, allowed=mask)] == [2]


def test_titles_are_searchable_with_every_chunk(snapshot):
    # "Kessel" is in the text; "harvest" and "doubles" only in the title.
    hits = LexicalRetriever(snapshot).search("harvest doubles", 2)
    assert hits and hits[0].title == "Orchard harvest doubles"


def test_hybrid_collapses_the_same_story_from_another_outlet(snapshot):
    retriever = HybridRetriever(FakeEmbedder(), snapshot)
    hits = retriever.search("Why did the Valdora port close?", 3)
    titles = [p.title for p in hits]
    assert sum("Valdora" in t for t in titles) == 1
    assert [p.rank for p in hits] == list(range(1, len(hits) + 1))
    assert all(p.similarity is not None for p in hits)
    plain = HybridRetriever(FakeEmbedder(), snapshot, collapse=False).search(
        "Why did the Valdora port close?", 3
    )
    assert sum("Valdora" in p.title for p in plain) == 2


def test_filters_restrict_every_retriever(snapshot):
    only_march = SearchFilter(date_from="2023-03-01")
    for retriever in (
        DenseRetriever(FakeEmbedder(), snapshot),
        LexicalRetriever(snapshot),
        HybridRetriever(FakeEmbedder(), snapshot),
    ):
        hits = retriever.search("port fire warehouses apples", 5, where=only_march)
        assert hits and {p.title for p in hits} == {"Orchard harvest doubles"}
    ledger = HybridRetriever(FakeEmbedder(), snapshot).search(
        "port fire", 5, where=SearchFilter(sources=("ledger",))
    )
    assert {p.source for p in ledger} == {"Daily Ledger"}
    nothing = SearchFilter(date_to="2022-12-31")
    assert HybridRetriever(FakeEmbedder(), snapshot).search("port", 5, where=nothing) == []


def test_search_filter_rules():
    dated = Article("d", "t", "x", date="2023-01-10", source="Coast Herald")
    undated = Article("u", "t", "x")
    assert SearchFilter("2023-01-10", "2023-01-10").allows(dated)
    assert not SearchFilter("2023-01-11").allows(dated)
    assert not SearchFilter(date_to="2024-01-01").allows(undated)
    assert SearchFilter(sources=("herald",)).allows(dated)
    assert not SearchFilter(sources=("herald",)).allows(undated)
    assert not SearchFilter()


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2023-13-01", None, "--since"),
        (None, "Jan 5", "--until"),
        ("2023-02-01", "2023-01-01", "after"),
    ],
)
def test_bad_filter_dates_are_input_errors(since, until, message):
    with pytest.raises(InputError, match=message):
        make_filter(since, until)


def _passage(cid: str, doc: str, text: str, rank: int) -> ScoredPassage:
    return ScoredPassage(Chunk(cid, doc, text, 0, len(text), 1), 1.0, rank, "t")


def test_fusion_rewards_agreement_and_weights():
    a, b = _passage("a", "a", "a", 1), _passage("b", "b", "b", 2)
    dense = [a, b]
    lexical = [_passage("b", "b", "b", 1), _passage("c", "c", "c", 2)]
    fused = fuse_rankings([dense, lexical], 3)
    assert [p.chunk_id for p in fused] == ["b", "a", "c"]
    lexical_heavy = fuse_rankings([dense, lexical], 3, weights=[0.1, 1.0])
    assert lexical_heavy[0].chunk_id == "b" and lexical_heavy[1].chunk_id == "c"


def test_preferred_dates_outweigh_a_first_place_in_both_rankings():
    def dated(cid: str, score: float, day: str | None) -> ScoredPassage:
        return replace(_passage(cid, cid, cid, 1), score=score, date=day)

    passages = [
        dated("old-best", 0.033, "2023-01-02"),  # first in both rankings: 2/61
        dated("old", 0.0164, "2023-01-03"),
        dated("recent", 0.016, "2023-01-12"),
        dated("undated", 0.0158, None),
    ]
    window = SearchFilter("2023-01-05", "2023-01-14")
    ranked = prefer(passages, window)
    assert [p.chunk_id for p in ranked] == ["recent", "old-best", "old", "undated"]
    assert [p.rank for p in ranked] == [1, 2, 3, 4]
    assert ranked[0].score == pytest.approx(0.036)
    assert [p.chunk_id for p in prefer(passages, window, bonus=0.01)][:2] == ["old-best", "recent"]


def test_overlapping_chunks_of_one_article_are_not_duplicates():
    text = "one two three four five six seven eight nine ten"
    same_doc = [_passage("a", "doc", text, 1), _passage("b", "doc", text, 2)]
    assert len(collapse_duplicates(same_doc, 5)) == 2
    other_doc = [_passage("a", "doc", text, 1), _passage("b", "other", text, 2)]
    assert [p.chunk_id for p in collapse_duplicates(other_doc, 5)] == ["a"]


def test_diversify_trades_rank_for_novelty():
    a, b, c = (_passage(x, x, x, r) for r, x in enumerate("abc", 1))
    a, b, c = (replace(p, score=s) for p, s in zip((a, b, c), (1.0, 0.9, 0.8), strict=True))
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert [p.chunk_id for p in diversify([a, b, c], vectors, 2, weight=1.0)] == ["a", "b"]
    assert [p.chunk_id for p in diversify([a, b, c], vectors, 2, weight=0.5)] == ["a", "c"]
    with pytest.raises(ValueError, match="diversity"):
        HybridRetriever(FakeEmbedder(), None, diversity=1.0)  # type: ignore[arg-type]
