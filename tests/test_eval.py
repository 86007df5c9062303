"""The evaluation harness: metrics on hand-made cases, loaders on the real files, a smoke run."""

from __future__ import annotations

import json

import pytest

from eval.baselines import extractive_answer
from eval.datasets import BENCHMARKS, load_gold, load_realtimeqa, load_rgb
from eval.harness import Evaluation, RunOptions, pick_questions, write_run
from eval.metrics import (
    abstention_scores,
    contains_answer,
    exact_match,
    ndcg,
    normalise_answer,
    percentile,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)
from eval.report import markdown
from rag.config import Settings
from rag.search.retrieve import fuse_rankings
from rag.types import Chunk, ScoredPassage


def test_answer_metrics():
    assert normalise_answer("The U.S. [1] said: “no”.") == "us said no"
    assert exact_match("The Buffalo Bills [2].", ["Buffalo Bills"]) == 1.0
    assert exact_match("Bills", ["Buffalo Bills"]) == 0.0
    assert token_f1("the Buffalo Bills team", ["Buffalo Bills"]) == pytest.approx(0.8)
    assert token_f1("nothing", ["Buffalo Bills"]) == 0.0
    assert contains_answer("It was the Buffalo  Bills, in the end.", ["buffalo bills"])
    assert contains_answer("Talks with the US stalled.", ["U.S."])
    assert not contains_answer("Bill paid.", ["Buffalo Bills"])


def test_ranking_metrics():
    assert reciprocal_rank([False, False, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([False] * 10 + [True]) == 0.0
    assert ndcg([True, False], 1) == 1.0
    assert ndcg([False, True], 1) == pytest.approx(0.6309, abs=1e-4)
    assert ndcg([False, False], 0) == 0.0
    assert recall_at_k(["a", "b", "c"], {"a", "z"}, 2) == 0.5
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([], 50) is None


def test_abstention_scores():
    scores = abstention_scores([True, True, False, False], [False, True, False, True])
    assert scores == {
        "abstention_precision": 0.5,
        "abstention_recall": 0.5,
        "false_abstention_rate": 0.5,
    }


def passage(cid: str, rank: int, text: str = "x") -> ScoredPassage:
    return ScoredPassage(Chunk(cid, "d", text, 0, len(text), 1), 1.0, rank, "t")


def test_reciprocal_rank_fusion_prefers_agreement():
    fused = fuse_rankings(
        [[passage("a", 1), passage("b", 2)], [passage("b", 1), passage("c", 2)]], 3
    )
    assert [p.chunk_id for p in fused] == ["b", "a", "c"]
    assert [p.rank for p in fused] == [1, 2, 3]


def test_extractive_answer_picks_the_best_matching_sentence():
    text = "The mayor opened a park. The bridge reopened after eight months of repairs."
    assert extractive_answer("When did the bridge reopen?", [passage("a", 1, text)]) == (
        "The bridge reopened after eight months of repairs."
    )


def test_limit_and_seed_give_a_repeatable_ordered_sample():
    items = list(range(50))
    first = pick_questions(items, 10, seed=3)
    assert first == pick_questions(items, 10, seed=3) == sorted(first)
    assert first != pick_questions(items, 10, seed=4)
    assert pick_questions(items, None, seed=0) == items


def test_gold_set_shape():
    gold = load_gold()
    questions = gold.questions
    assert len(questions) >= 60
    assert sum(not q.answerable for q in questions) / len(questions) >= 0.15
    assert sum(bool(q.history) for q in questions) >= 10
    for q in questions:
        if q.answerable:
            assert q.gold_origins and q.supporting


@pytest.mark.skipif(not BENCHMARKS.is_dir(), reason="shared benchmarks not present")
def test_benchmark_loaders_match_the_reference_counts():
    weeks = ["20230106", "20230113", "20230120", "20230127"]
    rtqa = load_realtimeqa(weeks)
    assert rtqa.notes["articles"] == 782
    assert rtqa.notes["questions"] == 120 and rtqa.notes["answerable"] == 95
    rgb = load_rgb()
    assert len(rgb.questions) == 100
    assert all(q.gold_origins and q.answers for q in rgb.questions)
    flipped = load_rgb(counterfactual=True)
    assert flipped.questions[0].answers != rgb.questions[0].answers


@pytest.mark.model
def test_smoke_run_writes_well_formed_results(tmp_path):
    settings = Settings(index_dir=tmp_path / "idx", k=3)
    options = RunOptions(limit=4, seed=2)
    result = Evaluation(load_gold(), settings, options).run()
    out = write_run(result, tmp_path / "run")
    for name in ("results.json", "report.md", "answer_in_top_k.png", "latency.png"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "results.json").read_text())
    assert data["n_questions"] == 4 and len(data["records"]) == 4
    retrieval = data["metrics"]["retrieval"]
    assert set(retrieval) == {"bm25", "dense", "rrf", "product"}
    for row in retrieval.values():
        assert 0.0 <= row["answer_in_top_5"] <= row["answer_in_top_20"] <= 1.0
    answers = data["metrics"]["answers"]
    assert set(answers) >= {"closed_book", "extractive", "product"}
    assert answers["product"]["total_ms_p50"] > 0
    for record in data["records"]:
        product = record["answers"]["product"]
        assert {"answer", "citations", "abstained", "timings"} <= set(product)
    report = (out / "report.md").read_text()
    assert "## Retrieval" in report and "| product |" in report
    assert (out / "answer_in_top_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rag_eval_is_a_subcommand_of_rag(capsys):
    from rag.cli import main

    assert main(["eval", "--dataset", "gold", "--limit", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rag eval: error: --limit must be greater than 0, got 0")


def test_support_scores_count_catches_by_label():
    from eval.support import auc, scores

    labels = ["supported", "negated", "swapped", "supported"]
    result = scores([False, True, False, True], labels)
    assert result["precision"] == 0.5 and result["recall"] == 0.5
    assert result["caught_by_label"] == {"negated": "1/1", "supported": "1/2", "swapped": "0/1"}
    assert auc([0.9, 0.1, 0.2, 0.8], labels) == 1.0


def test_support_cases_are_labelled_and_quote_the_articles():
    from eval.support import ARTICLES, load_cases

    cases = load_cases()
    labels = {c["label"] for c in cases}
    assert len(cases) >= 60
    assert labels == {"supported", "distorted", "swapped", "negated", "unsupported"}
    for case in cases:
        assert case["sentence"] in (ARTICLES / case["article"]).read_text(encoding="utf-8")


def test_audit_scores_verdicts_per_sentence():
    from eval.audit import score

    rows = [
        {"qid": "a", "verdicts": ["supported", "supported"]},
        {"qid": "b", "verdicts": ["unsupported"]},
    ]
    assert score(rows) == {
        "answers": 2,
        "sentences": 3,
        "not_supported": 1,
        "unsupported_rate": 0.3333,
        "answers_with_an_unsupported_sentence": 1,
    }


def test_audit_counts_a_quote_and_its_marker_as_one_sentence():
    from eval.audit import claims

    quote = "The articles say: \u201cBoth offers were turned down.\u201d [1]"
    assert [quote[a:b] for a, b in claims(quote)] == [quote]
    two = "Khamenei refused [1]. He said so twice [2]."
    assert len(claims(two)) == 2


def test_product_variants_run_as_named_retrievers(tmp_path):
    from rag.service import RagService
    from tests.fakes import FakeEmbedder

    settings = Settings(index_dir=tmp_path / "idx", k=3)
    names = ("product", "product-prf", "product-wide")
    evaluation = Evaluation(load_gold(), settings, RunOptions(retrievers=names, systems=()))
    evaluation.service = RagService(settings, embedder=FakeEmbedder())
    result = evaluation.run().to_dict()
    retrieval = result["metrics"]["retrieval"]
    assert set(retrieval) == set(names)
    for row in retrieval.values():
        assert 0.0 <= row["answer_in_top_5"] <= row["answer_in_top_20"] <= 1.0
        assert row["words_top_5"] > 0
    assert evaluation.service_for("product-prf").settings.feedback == "both"
    assert evaluation.service_for("product") is evaluation.service


def test_answers_published_after_the_question_are_counted_as_out_of_reach(tmp_path):
    import datetime

    from eval.datasets import EvalDataset, EvalQuestion
    from rag.service import RagService
    from rag.types import RawDocument
    from tests.fakes import FakeEmbedder

    def article(name: str, day: str, text: str) -> RawDocument:
        return RawDocument(text=text, origin=f"t:{name}", title=name, date=day)

    documents = (
        article("Before", "2023-01-02", "The council chose Maple Street for the new library."),
        article("After", "2023-03-01", "The mayor later named Oak Avenue for the new park."),
    )

    def asked(qid: str, answer: str) -> EvalQuestion:
        return EvalQuestion(
            qid,
            f"Where will the new {qid} be?",
            (answer,),
            True,
            asked_on=datetime.date(2023, 1, 5),
        )

    dataset = EvalDataset(
        "dated", documents, (asked("library", "Maple Street"), asked("park", "Oak Avenue"))
    )
    for dates, later in ((True, 1), (False, 0)):
        settings = Settings(index_dir=tmp_path / f"idx-{dates}", k=3)
        options = RunOptions(retrievers=("product",), systems=(), dates=dates)
        evaluation = Evaluation(dataset, settings, options)
        evaluation.service = RagService(settings, embedder=FakeEmbedder())
        result = evaluation.run()
        assert (result.n_answerable, result.n_published_later) == (2, later)
        park = next(r for r in result.records if r["qid"] == "park")
        assert park["answerable"] and park["published_later"] is dates
        row = result.metrics.retrieval["product"]
        if dates:  # the park's answer is out of reach: only the library counts
            assert row["reachable_answer_in_top_1"] == 1.0
            assert row["answer_in_top_1"] == 0.5
        else:
            assert row["reachable_answer_in_top_1"] == row["answer_in_top_1"]
        assert "only from articles published after" in markdown(result) or not dates


def test_a_gold_string_found_by_coincidence_is_not_counted_on_topic(tmp_path, monkeypatch):
    from eval.datasets import EvalDataset, EvalQuestion
    from eval.scoring import on_topic
    from eval.systems import RETRIEVER_FACTORIES
    from rag.search.retrieve import passage_at
    from rag.service import RagService
    from rag.types import RawDocument
    from tests.fakes import FakeEmbedder

    def article(name: str, text: str) -> RawDocument:
        return RawDocument(text=text, origin=f"t:{name}", title=name)

    documents = (
        article("Car park", "The Buffalo Bills car park flooded after the storm on Sunday."),
        article("Collapse", "Safety Damar Hamlin of the Buffalo Bills collapsed on the field."),
        article("Bakery", "Maria Lind runs a bakery on Main Street and bakes rye bread."),
    )
    hamlin = EvalQuestion(
        "hamlin", "Which team does Damar Hamlin play for?", ("Buffalo Bills",), True
    )
    # The gold string is in the corpus, but only in an article about something else.
    chess = EvalQuestion("chess", "Who won the Lakeside chess open?", ("Maria Lind",), True)
    assert on_topic("Collapse", documents[1].text, hamlin)
    assert not on_topic("Car park", documents[0].text, hamlin)  # holds the answer, not the topic
    assert not on_topic("Collapse", documents[1].text, chess)  # on no topic without the answer

    def in_order(run):
        """Every passage, the car park, the collapse, the bakery: a ranking fixed for the test."""
        snapshot = run.snapshot
        order = ["Car park", "Collapse", "Bakery"]
        rows = sorted(
            range(snapshot.size),
            key=lambda r: order.index(snapshot.documents[snapshot.chunks[r].doc_id].title),
        )
        return lambda q: [passage_at(snapshot, r, 0.0, i) for i, r in enumerate(rows, 1)]

    monkeypatch.setitem(RETRIEVER_FACTORIES, "fixed", in_order)
    settings = Settings(index_dir=tmp_path / "idx", k=3)
    dataset = EvalDataset("coincidence", documents, (hamlin, chess))
    evaluation = Evaluation(dataset, settings, RunOptions(retrievers=("fixed",), systems=()))
    evaluation.service = RagService(settings, embedder=FakeEmbedder())
    result = evaluation.run()
    by_id = {r["qid"]: r for r in result.records}
    assert by_id["hamlin"]["on_topic_answer"] and not by_id["chess"]["on_topic_answer"]
    assert "on_topic_answer_in_top_1" not in by_id["chess"]["retrieval"]["fixed"]
    # The car park comes first: a hit by the gold string, not on the question's topic.
    found = by_id["hamlin"]["retrieval"]["fixed"]
    assert (found["answer_in_top_1"], found["on_topic_answer_in_top_1"]) == (1.0, 0.0)
    assert found["on_topic_answer_in_top_5"] == 1.0
    row = result.metrics.retrieval["fixed"]
    # By the string, both questions are found at top 5; on topic, only Hamlin's counts.
    assert (row["answer_in_top_5"], row["on_topic_answer_in_top_5"]) == (1.0, 1.0)
    assert (row["answer_in_top_1"], row["on_topic_answer_in_top_1"]) == (0.5, 0.0)
    assert "Retrieval on topic (1 answerable questions" in markdown(result)


def test_product_hyde_is_a_named_retriever_with_the_query_writer_on(tmp_path):
    import argparse

    from eval.run import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--dataset", "gold", "--retrievers", "product", "product-hyde"])
    assert args.retrievers == ["product", "product-hyde"]  # argparse checks the choices
    settings = Settings(index_dir=tmp_path / "idx")
    evaluation = Evaluation(load_gold(), settings, RunOptions(retrievers=tuple(args.retrievers)))
    variant = evaluation.service_for("product-hyde").settings
    assert variant.query_writer == "hyde" and variant.query_model == settings.query_model


def test_right_by_choice_names_the_gold_and_no_other():
    from eval.metrics import names_choice, right_by_choice

    choices = ["Ohio State University", "Michigan", "Ohio", "None of the above"]
    assert right_by_choice("Ohio State won the final [1].", "Ohio State University", choices)
    assert not right_by_choice("Ohio State beat Michigan [1].", "Ohio State University", choices)
    assert not right_by_choice("Michigan won [2].", "Ohio State University", choices)
    assert names_choice("Inflation rose 25 percent.", "25%")
    assert names_choice("It cost $1,000 in all.", "$1000")
    assert not names_choice("None of the above was said.", "None of the above")
    assert not names_choice("The articles do not say.", "Ohio")


def test_confidently_wrong_is_an_answer_that_is_not_right():
    from eval.datasets import EvalQuestion
    from eval.scoring import judged

    q = EvalQuestion("q", "Who won?", ("Ohio State",), True, choices=("Ohio State", "Michigan"))
    assert judged("Ohio State won [1].", q, abstained=False) == {
        "right": 1.0,
        "confidently_wrong": 0.0,
    }
    assert judged("Michigan won [1].", q, abstained=False)["confidently_wrong"] == 1.0
    assert judged("The articles do not say.", q, abstained=True) == {
        "right": 0.0,
        "confidently_wrong": 0.0,
    }
    unanswerable = EvalQuestion("u", "Who won?", (), False)
    assert judged("Michigan won [1].", unanswerable, abstained=False)["confidently_wrong"] == 1.0


def test_a_choice_is_named_by_its_possessive_its_place_or_its_own_last_word():
    from eval.metrics import right_by_choice

    assert right_by_choice(
        "Solo hiking is banned in Nepal’s parks [1].", "Nepal", ["Nepal", "Peru"]
    )
    assert right_by_choice("Bungay [1].", "Bungay, Suffolk", ["Bungay, Suffolk", "Leeds"])
    suns = ["Phoenix Suns", "Boston Celtics", "Miami Heat"]
    assert right_by_choice("The Suns [2].", "Phoenix Suns", suns)
    # A last word another choice shares names neither.
    assert not right_by_choice("Jones [1].", "Tom Jones", ["Tom Jones", "Ann Jones"])


def test_every_name_offered_is_registered_and_a_new_one_runs_by_name(tmp_path, monkeypatch):
    from eval import DESIGNS, PRODUCT_VARIANTS, RETRIEVERS, SYSTEMS
    from eval.datasets import EvalDataset, EvalQuestion
    from eval.systems import RETRIEVER_FACTORIES, SYSTEM_FACTORIES
    from rag.service import RagService
    from rag.types import RawDocument
    from tests.fakes import FakeEmbedder

    assert set(RETRIEVER_FACTORIES) == {*RETRIEVERS, *PRODUCT_VARIANTS, *DESIGNS}
    assert set(SYSTEM_FACTORIES) == set(SYSTEMS)

    def top_passage(run):
        return lambda q: run.service.search(q.question, k=1)

    monkeypatch.setitem(RETRIEVER_FACTORIES, "top-passage", top_passage)
    text = "The council chose Maple Street for the new library."
    dataset = EvalDataset(
        "tiny",
        (RawDocument(text=text, origin="t:library", title="Library"),),
        (EvalQuestion("library", "Where will the new library be?", ("Maple Street",), True),),
    )
    settings = Settings(index_dir=tmp_path / "idx", k=3)
    options = RunOptions(retrievers=("top-passage",), systems=("extractive",))
    evaluation = Evaluation(dataset, settings, options)
    evaluation.service = RagService(settings, embedder=FakeEmbedder())
    result = evaluation.run()
    assert result.metrics.retrieval["top-passage"]["answer_in_top_1"] == 1.0
    assert result.metrics.answers["extractive"]["contains_gold"] == 1.0
