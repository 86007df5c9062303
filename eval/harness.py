"""Run a question set against an index and score retrieval, answers, citations, abstention.

Every system sees the same chunks: the dataset is indexed once with the
product's cleaner, chunker and embedder (cached per dataset under
``.rag/eval/``, so later runs embed nothing), then each retriever and each
answerer is run on every question.
"""

from __future__ import annotations

import datetime
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval import PRODUCT_VARIANTS, RETRIEVERS, SYSTEMS
from eval.datasets import EvalDataset, EvalQuestion, normalise_space
from eval.metrics import (
    abstention_scores,
    hit_at_k,
    mean,
    ndcg,
    percentile,
    recall_at_k,
    reciprocal_rank,
)
from eval.report import write_report
from eval.results import K_VALUES, IndexSetup, MetricRows, Metrics, RunResult, RunSettings
from eval.scoring import about, supports
from eval.systems import RETRIEVER_FACTORIES, SYSTEM_FACTORIES, Answerer, Search
from index.snapshot import IndexSnapshot
from rag.config import Settings
from rag.errors import IndexMismatchError
from rag.search.dated import as_of_filter
from rag.service import RagService
from rag.types import ScoredPassage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    limit: int | None = None
    seed: int = 0
    retrievers: tuple[str, ...] = RETRIEVERS
    systems: tuple[str, ...] = SYSTEMS
    # Ask as of the day each question was asked (where the dataset has it), as a user
    # asking that day would: later articles are left out and recent ones preferred.
    dates: bool = True


def pick_questions(
    questions: Sequence[EvalQuestion], limit: int | None, seed: int
) -> list[EvalQuestion]:
    """A repeatable sample that keeps the original order."""
    if limit is None or limit >= len(questions):
        return list(questions)
    chosen = set(random.Random(seed).sample(range(len(questions)), limit))
    return [q for i, q in enumerate(questions) if i in chosen]


class Evaluation:
    """One run: ``prepare`` indexes the dataset and makes the retrievers and answer
    systems the options name (``eval.systems``); ``run`` asks every question."""

    def __init__(
        self,
        dataset: EvalDataset,
        settings: Settings,
        options: RunOptions,
        *,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.dataset = dataset
        self.settings = settings
        self.options = options
        self.progress = progress or (lambda stage, done, total: None)
        self.service = RagService(settings)
        self._variants: dict[str, RagService] = {}

    # --- set-up -------------------------------------------------------------

    def prepare(self) -> IndexSetup:
        started = time.perf_counter()
        indexer = self.service.indexer()
        try:
            report = indexer.index_documents(self.dataset.documents)
        except IndexMismatchError as exc:
            # The cache was built by another version or configuration: it is only a cache.
            log.warning("Rebuilding the evaluation index: %s", exc)
            report = indexer.index_documents(self.dataset.documents, rebuild=True)
        snapshot = self.service.snapshot()
        self.snapshot = snapshot
        self.origin_to_doc = {o: d for d, a in snapshot.documents.items() for o in a.origins}
        self.chunk_texts = [normalise_space(c.text) for c in snapshot.chunks]
        self._rows: dict[str, list[int]] = {}  # relevant rows by question id, found once
        self._on_topic: dict[str, bool] = {}  # by question id: has_on_topic_answer
        self.vectors = snapshot.vectors()
        # Each by name: the question in, its passages (best first) or its scored answer out.
        self.retrievers: dict[str, Search] = {
            name: RETRIEVER_FACTORIES[name](self) for name in self.options.retrievers
        }
        self.answerers: dict[str, Answerer] = {
            name: SYSTEM_FACTORIES[name](self) for name in self.options.systems
        }
        return IndexSetup(
            articles=report.n_documents,
            chunks=report.n_chunks,
            chunks_embedded=report.chunks_embedded,
            embed_chunks_per_s=round(report.chunks_per_second, 1) or None,
            index_seconds=round(time.perf_counter() - started, 2),
            load_problems=len(report.problems),
        )

    # --- retrieval ----------------------------------------------------------

    def service_for(self, name: str) -> RagService:
        """The product, or the product with a variant's settings (made once, same embedder)."""
        if name not in PRODUCT_VARIANTS:
            return self.service
        if name not in self._variants:
            settings = self.settings.updated(**PRODUCT_VARIANTS[name])
            self._variants[name] = RagService(settings, embedder=self.service.embedder)
        return self._variants[name]

    def _relevance(self, passages: Sequence[ScoredPassage], q: EvalQuestion) -> list[bool]:
        return [supports(p.text, q) for p in passages]

    def _relevant_rows(self, q: EvalQuestion) -> list[int]:
        """Rows of every chunk holding a gold string or the supporting sentence (one scan of
        the chunks a question, however many measures ask)."""
        if q.qid not in self._rows:
            needles = [normalise_space(a) for a in q.answers if a.strip()]
            if q.supporting:
                needles.append(normalise_space(q.supporting))
            texts = enumerate(self.chunk_texts)
            self._rows[q.qid] = [i for i, text in texts if any(n in text for n in needles)]
        return self._rows[q.qid]

    def has_on_topic_answer(self, q: EvalQuestion) -> bool:
        """Does a passage holding ``q``'s answer also speak of its topic (``on_topic``)?"""
        if q.qid not in self._on_topic:
            rows = self._relevant_rows(q)
            self._on_topic[q.qid] = any(about(*_titled(self.snapshot, r), q) for r in rows)
        return self._on_topic[q.qid]

    def as_of(self, q: EvalQuestion) -> datetime.date | None:
        return q.asked_on if self.options.dates else None

    def published_later(self, q: EvalQuestion) -> bool:
        """Is ``q``'s gold string only in articles published after it was asked?

        The benchmark counts such a question as answerable (its string is in the
        corpus), but the product, asked as of that day, is shown none of those
        articles, so no retriever of the product's can find it. The report counts
        them, so a miss of this kind is not read as a miss of search.
        """
        day = self.as_of(q)
        if not q.answerable or day is None:
            return False
        seen = as_of_filter(day)
        documents, chunks = self.snapshot.documents, self.snapshot.chunks
        return not any(seen.allows(documents[chunks[r].doc_id]) for r in self._relevant_rows(q))

    def retrieval_record(self, q: EvalQuestion) -> dict[str, Any]:
        record: dict[str, Any] = {}
        gold_docs = {self.origin_to_doc[o] for o in q.gold_origins if o in self.origin_to_doc}
        n_relevant = len(self._relevant_rows(q)) if q.answerable else 0
        for name in self.options.retrievers:
            started = time.perf_counter()
            passages = self.retrievers[name](q)
            elapsed = (time.perf_counter() - started) * 1000
            relevant = self._relevance(passages, q)
            docs = [p.doc_id for p in passages]
            entry: dict[str, Any] = {
                "ms": round(elapsed, 2),
                "top": [p.chunk_id for p in passages[:10]],
                "first_relevant_rank": next((i + 1 for i, r in enumerate(relevant) if r), None),
                "words_top_5": mean([len(p.text.split()) for p in passages[:5]]),
            }
            if q.answerable:
                topical = self.has_on_topic_answer(q)
                entry.update(_ranking_scores(passages, relevant, q, n_relevant, topical))
            if gold_docs:
                entry.update({f"recall_at_{k}": recall_at_k(docs, gold_docs, k) for k in K_VALUES})
            if name == "product" and q.standalone and q.answerable:
                # How the hand-written stand-alone version of a follow-up retrieves.
                by_hand = self.service.search(q.standalone, k=5, as_of=self.as_of(q))
                entry["standalone_answer_in_top_5"] = hit_at_k(self._relevance(by_hand, q), 5)
            record[name] = entry
        return record

    # --- answers ------------------------------------------------------------

    def oracle_passage(self, q: EvalQuestion) -> ScoredPassage | None:
        """The chunk holding the answer that the embedder finds closest to the question."""
        candidates = self._relevant_rows(q)
        gold_docs = {self.origin_to_doc[o] for o in q.gold_origins if o in self.origin_to_doc}
        if gold_docs:
            in_gold = [i for i in candidates if self.snapshot.chunks[i].doc_id in gold_docs]
            candidates = in_gold or candidates
        if not candidates:
            return None
        query = self.service.embedder.embed([q.question], kind="query")[0]
        scores = self.vectors[candidates] @ query
        row = candidates[int(np.argmax(scores))]
        chunk = self.snapshot.chunks[row]
        article = self.snapshot.documents[chunk.doc_id]
        return ScoredPassage(
            chunk, float(scores.max()), 1, article.title, article.source, article.date
        )

    def answer_record(self, q: EvalQuestion) -> dict[str, Any]:
        """Each system's scored answer to ``q``; one with nothing to answer from is left out."""
        out: dict[str, Any] = {}
        for name in self.options.systems:
            scores = self.answerers[name](q)
            if scores is not None:
                out[name] = scores
        return out

    # --- the run ------------------------------------------------------------

    def run(self) -> RunResult:
        questions = pick_questions(self.dataset.questions, self.options.limit, self.options.seed)
        started = time.perf_counter()
        setup = self.prepare()
        if self.options.systems and set(self.options.systems) - {"extractive"}:
            self.service.warm_up()
        records = []
        for i, q in enumerate(questions):
            retrieval = self.retrieval_record(q)
            answers = self.answer_record(q)
            records.append(
                {
                    "qid": q.qid,
                    "question": q.question,
                    "gold": list(q.answers),
                    "answerable": q.answerable,
                    "published_later": self.published_later(q),
                    "on_topic_answer": q.answerable and self.has_on_topic_answer(q),
                    "kind": q.kind,
                    "follow_up": bool(q.history),
                    "retrieval": retrieval,
                    "answers": answers,
                }
            )
            self.progress("questions", i + 1, len(questions))
        return RunResult(
            dataset=self.dataset.name,
            dataset_notes=self.dataset.notes,
            options=_run_settings(self.options, self.settings),
            setup=setup,
            n_questions=len(questions),
            n_answerable=sum(q.answerable for q in questions),
            n_published_later=sum(r["published_later"] for r in records),
            seconds=round(time.perf_counter() - started, 1),
            metrics=summarise(records, self.options),
            records=records,
        )


def _ranking_scores(
    passages: Sequence[ScoredPassage],
    relevant: list[bool],
    q: EvalQuestion,
    n_relevant: int,
    topical: bool,
) -> dict[str, float]:
    """How well one ranking holds an answerable ``q``'s answer; on topic too when ``topical``
    (the corpus has a passage holding the answer that is about ``q``)."""
    scores = {f"answer_in_top_{k}": hit_at_k(relevant, k) for k in K_VALUES}
    scores["mrr_at_10"] = reciprocal_rank(relevant, 10)
    scores["ndcg_at_10"] = ndcg(relevant, n_relevant, 10)
    if topical:
        pairs = zip(passages, relevant, strict=True)
        hits = [r and about(p.title, p.text, q) for p, r in pairs]
        scores.update({f"on_topic_answer_in_top_{k}": hit_at_k(hits, k) for k in K_VALUES})
    return scores


def _titled(snapshot: IndexSnapshot, row: int) -> tuple[str, str]:
    """A chunk's article title and its text."""
    chunk = snapshot.chunks[row]
    return snapshot.documents[chunk.doc_id].title, chunk.text


def _run_settings(options: RunOptions, settings: Settings) -> RunSettings:
    """The options and settings a run was made with, as results.json records them."""
    return RunSettings(
        limit=options.limit,
        seed=options.seed,
        k=settings.k,
        temperature=settings.temperature,
        retrievers=tuple(options.retrievers),
        systems=tuple(options.systems),
        dates=options.dates,
        index_dir=str(settings.index_dir),
    )


def _avg(records: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    value = mean(values)
    return None if value is None else round(value, 4)


def summarise(records: Sequence[dict[str, Any]], options: RunOptions) -> Metrics:
    answerable = [r for r in records if r["answerable"]]
    retrieval: MetricRows = {}
    for name in options.retrievers:
        entries = [r["retrieval"][name] for r in answerable]
        keys = [f"answer_in_top_{k}" for k in K_VALUES] + ["mrr_at_10", "ndcg_at_10"]
        row = {key: _avg(entries, key) for key in keys}
        # The same, over the questions a search as of the day asked can reach at all.
        reachable = [r["retrieval"][name] for r in answerable if not r.get("published_later")]
        for k in K_VALUES:
            row[f"reachable_answer_in_top_{k}"] = _avg(reachable, f"answer_in_top_{k}")
            # Over the questions with a passage on their topic, such passages only (``on_topic``).
            row[f"on_topic_answer_in_top_{k}"] = _avg(entries, f"on_topic_answer_in_top_{k}")
        row["words_top_5"] = _avg([r["retrieval"][name] for r in records], "words_top_5")
        with_docs = [r["retrieval"][name] for r in records if "recall_at_1" in r["retrieval"][name]]
        for k in K_VALUES:
            row[f"recall_at_{k}"] = _avg(with_docs, f"recall_at_{k}")
        ms = [r["retrieval"][name]["ms"] for r in records]
        row["ms_p50"], row["ms_p95"] = percentile(ms, 50), percentile(ms, 95)
        follow = [r["retrieval"][name] for r in answerable if r["follow_up"]]
        row["follow_up_answer_in_top_5"] = _avg(follow, "answer_in_top_5")
        if any("standalone_answer_in_top_5" in f for f in follow):
            row["follow_up_standalone_answer_in_top_5"] = _avg(follow, "standalone_answer_in_top_5")
        retrieval[name] = row
    answers: MetricRows = {}
    for name in options.systems:
        done = [r["answers"][name] for r in records if name in r["answers"]]
        ok = [r["answers"][name] for r in answerable if name in r["answers"]]
        if not done:
            continue
        row = {key: _avg(ok, key) for key in ("exact_match", "token_f1", "contains_gold")}
        row["n"] = len(ok)
        # Over every question: right, or answered and not right (confidently wrong).
        row["right"] = _avg(done, "right")
        row["confidently_wrong"] = _avg(done, "confidently_wrong")
        if name in ("product", "oracle"):
            cited = [s for a in done for s in a.get("supported_citations", [])]
            row["citation_precision"] = round(sum(cited) / len(cited), 4) if cited else None
            row["citation_recall"] = _avg([{"v": float(a["cites_support"])} for a in ok], "v")
            row.update(
                abstention_scores(
                    [a["abstained"] for a in done],
                    [r["answerable"] for r in records if name in r["answers"]],
                )
            )
            for key in ("first_token_ms", "total_ms", "retrieve_ms"):
                values = [a["timings"][key] for a in done if a["timings"].get(key) is not None]
                row[f"{key}_p50"] = percentile(values, 50)
                row[f"{key}_p95"] = percentile(values, 95)
            row["tokens_per_s"] = _avg(done, "tokens_per_s")
            for key in ("conflict_flagged", "states_both_sides"):
                if any(key in a for a in done):
                    row[key] = _avg(done, key)
            row["load_ms_p50"] = percentile(
                [a["timings"]["load_ms"] for a in done if a["timings"].get("load_ms")], 50
            )
            row["check_ms_p50"] = percentile(
                [a["timings"]["check_ms"] for a in done if a["timings"].get("check_ms")], 50
            )
        else:
            values = [a["total_ms"] for a in done if a.get("total_ms") is not None]
            row["total_ms_p50"], row["total_ms_p95"] = (
                percentile(values, 50),
                percentile(values, 95),
            )
        answers[name] = row
    return Metrics(retrieval, answers)


def write_run(result: RunResult, out_dir: Path) -> Path:
    """Write ``results.json`` and the report (tables and plots) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result.to_dict(), indent=1, ensure_ascii=False)
    (out_dir / "results.json").write_text(text + "\n")
    write_report(result, out_dir)
    return out_dir
