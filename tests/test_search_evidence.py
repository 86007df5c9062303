"""Evidence before recency: a rare question term beats a recent date; why a passage ranks."""

from __future__ import annotations

import datetime
import json

import httpx
import numpy as np
import pytest

from eval.datasets import load_dataset
from index.store import IndexStore
from rag import cli
from rag.config import Settings
from rag.ingest.chunk import ChunkerSettings
from rag.ingest.indexer import Indexer
from rag.search.evidence import RareTerms, rare_terms
from rag.search.retrieve import prefer
from rag.service import RagService
from rag.types import Chunk, RankReasons, ScoredPassage, SearchFilter
from tests.fakes import FakeEmbedder, FakeGenerator

TODAY = datetime.date(2024, 6, 20)


def _story(title: str, day: str, text: str) -> str:
    return f"# {title}\n\n{day} (Lowmoor Gazette)\n\n{text}\n"


# One feed, three days; only the oldest names the code name "Ravensdyke", and it
# is outside the ten days before TODAY, so the date preference favours the others.
THREE_DAYS = {
    "old.md": _story(
        "Harbour authority tests new cranes",
        "June 3, 2024",
        "The harbour authority began trials of two electric cranes under the code name "
        "Ravensdyke. Engineers will measure how much power the cranes draw while lifting "
        "containers from the largest ships that call at the harbour.",
    ),
    "middle.md": _story(
        "Harbour cranes to run on shore power",
        "June 14, 2024",
        "The harbour authority said its cranes would draw all their power from the shore "
        "grid by next year. Engineers are fitting new cables along the container quay.",
    ),
    "new.md": _story(
        "Harbour authority orders more cranes",
        "June 19, 2024",
        "The harbour authority ordered four more electric cranes for the container quay, "
        "saying trials of the first cranes had gone well and ships were waiting less.",
    ),
}


@pytest.fixture
def three_days(tmp_path, write_articles) -> RagService:
    svc = RagService(
        Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder(), generator=FakeGenerator()
    )
    svc.index_paths([write_articles(THREE_DAYS)])
    return svc


def test_the_only_article_holding_a_rare_word_comes_first_whatever_the_dates(three_days):
    for question in ("Ravensdyke", "What is being tested under the code name Ravensdyke?"):
        hits = three_days.search(question, k=3, as_of=TODAY)
        assert hits[0].title == "Harbour authority tests new cranes", question
        reasons = hits[0].reasons
        assert reasons is not None and "ravensdyk" in reasons.rare_terms
        assert reasons.date_bonus == 0.0  # it won on evidence, not on its date
    # Without a rare term the date preference still puts the recent articles first.
    hits = three_days.search("What did the harbour authority do with its cranes?", k=3, as_of=TODAY)
    assert hits[0].title != "Harbour authority tests new cranes"
    assert all(p.reasons and not p.reasons.rare_terms for p in hits)


def _passage(cid: str, fused: float, day: str) -> ScoredPassage:
    chunk = Chunk(cid, cid, cid, 0, len(cid), 1)
    return ScoredPassage(chunk, fused, 1, cid, date=day, reasons=RankReasons(None, 1, fused))


def test_a_date_bonus_cannot_lift_an_unmatched_passage_over_the_only_exact_match():
    exact = _passage("exact", 1 / 61, "2024-01-02")  # first for BM25 only
    recent = _passage("recent", 2 / 61, "2024-01-12")  # first in both, and recent
    near = _passage("near", 1 / 62 + 1 / 62, "2024-01-11")
    window = SearchFilter("2024-01-05", "2024-01-13")
    rare = RareTerms({"bluefinch": frozenset({"exact"})})
    # However large the bonus, the passage holding the rare term stays first.
    for bonus in (0.0, 0.02, 1.0):
        ranked = prefer([recent, near, exact], window, bonus, rare=rare)
        assert [p.chunk_id for p in ranked] == ["exact", "recent", "near"]
        assert [p.rank for p in ranked] == [1, 2, 3]
    # Among passages that hold as many rare terms, the date still breaks the tie.
    plain = prefer([exact, near], window, 0.02)
    assert [p.chunk_id for p in plain] == ["near", "exact"]
    assert plain[0].reasons == RankReasons(None, 1, near.score, 0.02, ())
    assert plain[0].score == pytest.approx(near.score + 0.02)


def test_rare_terms_are_held_by_few_of_the_articles_the_search_may_return(tmp_path, write_articles):
    store = IndexStore(tmp_path / "idx")
    indexer = Indexer(store, FakeEmbedder(), ChunkerSettings(256, 200, 1))
    indexer.index_paths([write_articles(THREE_DAYS)])
    snapshot = store.load()
    found = rare_terms(snapshot, "Ravensdyke harbour cranes quay")
    assert list(found.holders) == ["ravensdyk"]  # "quay" is in two of three: not rare
    (chunk,) = found.holders["ravensdyk"]
    assert snapshot.documents[snapshot.chunks[snapshot.chunk_row(chunk)].doc_id].title == (
        "Harbour authority tests new cranes"
    )
    assert not rare_terms(snapshot, "zeppelin harbour")  # not in the index: no evidence
    # A term held only by articles the search may not return is no evidence either.
    tested = {c.doc_id for c in snapshot.chunks if "Ravensdyke" in c.text}
    others = np.array([c.doc_id not in tested for c in snapshot.chunks])
    assert not rare_terms(snapshot, "Ravensdyke", others)


def test_every_exact_match_question_finds_its_article_first(tmp_path):
    """The team's exact-match set (eval/gold/exact_match.jsonl), asked on its day, when
    three articles of the same feed are more recent than any that answers."""
    dataset = load_dataset("exact")
    svc = RagService(
        Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder(), generator=FakeGenerator()
    )
    svc.indexer().index_documents(dataset.documents)
    docs = svc.snapshot().documents
    firsts = []
    for q in dataset.questions:
        (hit, *_) = svc.search(q.question, k=5, as_of=q.asked_on)
        firsts.append(bool(set(docs[hit.doc_id].origins) & q.gold_origins))
    assert len(dataset.questions) >= 15 and all(firsts), [
        q.qid for q, ok in zip(dataset.questions, firsts, strict=True) if not ok
    ]


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_search_explain_shows_ranks_bonus_and_score(
    tmp_path, write_articles, capsys, cli_with_fake_models
):
    idx = str(tmp_path / "idx")
    assert _cli(capsys, "index", str(write_articles(THREE_DAYS)), "--index-dir", idx)[0] == 0
    argv = ("search", "Ravensdyke cranes", "--as-of", "2024-06-20", "--index-dir", idx)
    code, out = _cli(capsys, *argv, "--json", "--explain")
    passages = json.loads(out)
    assert code == 0 and passages
    first = passages[0]
    assert first["title"] == "Harbour authority tests new cranes"
    assert set(first["explain"]) == {
        "bm25_rank",
        "dense_rank",
        "fused_score",
        "date_bonus",
        "rare_terms",
    }
    assert first["explain"]["rare_terms"] == ["ravensdyk"] and first["explain"]["bm25_rank"] == 1
    for p in passages:
        e = p["explain"]
        assert e["date_bonus"] == (0.02 if p["date"] >= "2024-06-10" else 0.0)
        assert p["score"] == pytest.approx(e["fused_score"] + e["date_bonus"], abs=1e-5)
    code, out = _cli(capsys, *argv, "--json")
    assert "explain" not in json.loads(out)[0]
    code, out = _cli(capsys, *argv, "--explain")
    assert code == 0 and "bm25 #1  dense #" in out and "rare terms: ravensdyk" in out
    assert "date bonus +0.0200" in out


def test_api_search_explains_when_asked(three_days):
    from tests.test_api import KEY, Server, auth

    server = Server(three_days, api_key=KEY, queue_size=1)
    try:
        url = f"{server.url}/api/search"
        body = {"question": "Ravensdyke", "as_of": "2024-06-20", "k": 2}
        plain = httpx.post(url, json=body, headers=auth()).json()
        explained = httpx.post(url, json={**body, "explain": True}, headers=auth()).json()
        assert "explain" not in plain[0]
        assert explained[0]["explain"]["rare_terms"] == ["ravensdyk"]
        assert [_without_explain(p) for p in explained] == plain
        bad = httpx.post(url, json={**body, "explain": "maybe"}, headers=auth())
        assert bad.status_code in (400, 422)
    finally:
        server.close()


def _without_explain(passage: dict) -> dict:
    return {k: v for k, v in passage.items() if k != "explain"}


def test_the_candidate_depth_setting_reaches_the_retriever(three_days):
    deep = RagService(
        three_days.settings.updated(candidate_depth=120),
        embedder=FakeEmbedder(),
        generator=FakeGenerator(),
    )
    assert three_days.searcher.retriever().depth == 50 and deep.searcher.retriever().depth == 120
