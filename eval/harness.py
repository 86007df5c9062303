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
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from eval import PRODUCT_VARIANTS, RETRIEVERS, SYSTEMS
from eval.baselines import closed_book_answer, extractive_answer
from eval.datasets import EvalDataset, EvalQuestion, normalise_space
from eval.metrics import (
    abstention_scores,
    contains_answer,
    exact_match,
    hit_at_k,
    mean,
    ndcg,
    percentile,
    recall_at_k,
    reciprocal_rank,
    right_by_choice,
    token_f1,
)
from eval.report import write_report
from eval.results import K_VALUES, IndexSetup, MetricRows, Metrics, RunResult, RunSettings
from rag.answer.cite import is_abstention
from rag.config import Settings
from rag.errors import IndexMismatchError
from rag.search.dated import as_of_filter
from rag.search.query import search_query_for
from rag.search.retrieve import DenseRetriever, HybridRetriever, LexicalRetriever
from rag.serialize import answer_to_dict, passage_to_dict
from rag.service import RagService
from rag.types import Answer, ScoredPassage

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


def _supports(text: str, q: EvalQuestion) -> bool:
    """Does a passage support an answer to ``q``: gold string or supporting sentence?"""
    if q.supporting and normalise_space(q.supporting) in normalise_space(text):
        return True
    return any(normalise_space(a) in normalise_space(text) for a in q.answers if a.strip())


class Evaluation:
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
        self.vectors = snapshot.vectors()
        embedder = self.service.embedder
        plain = {
            "bm25": LexicalRetriever(snapshot),
            "dense": DenseRetriever(embedder, snapshot),
            "rrf": HybridRetriever(embedder, snapshot, collapse=False),
        }
        # Each retriever by name: the question in, its passages (best first) out.
        self.retrievers: dict[str, Search] = {
            name: partial(_plain_search, retriever) for name, retriever in plain.items()
        }
        self.retrievers["product"] = self._product_search
        for variant in PRODUCT_VARIANTS:  # measured only when asked for by name
            self.retrievers[variant] = partial(self._product_search, variant=variant)
        return IndexSetup(
            articles=report.n_documents,
            chunks=report.n_chunks,
            chunks_embedded=report.chunks_embedded,
            embed_chunks_per_s=round(report.chunks_per_second, 1) or None,
            index_seconds=round(time.perf_counter() - started, 2),
            load_problems=len(report.problems),
        )

    # --- retrieval ----------------------------------------------------------

    def _service_for(self, name: str) -> RagService:
        """The product, or the product with a variant's settings (made once, same embedder)."""
        if name not in PRODUCT_VARIANTS:
            return self.service
        if name not in self._variants:
            settings = self.settings.updated(**PRODUCT_VARIANTS[name])
            self._variants[name] = RagService(settings, embedder=self.service.embedder)
        return self._variants[name]

    def _relevance(self, passages: Sequence[ScoredPassage], q: EvalQuestion) -> list[bool]:
        return [_supports(p.text, q) for p in passages]

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

    def _as_of(self, q: EvalQuestion) -> datetime.date | None:
        return q.asked_on if self.options.dates else None

    def published_later(self, q: EvalQuestion) -> bool:
        """Is ``q``'s gold string only in articles published after it was asked?

        The benchmark counts such a question as answerable (its string is in the
        corpus), but the product, asked as of that day, is shown none of those
        articles, so no retriever of the product's can find it. The report counts
        them, so a miss of this kind is not read as a miss of search.
        """
        day = self._as_of(q)
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
                entry.update({f"answer_in_top_{k}": hit_at_k(relevant, k) for k in K_VALUES})
                entry["mrr_at_10"] = reciprocal_rank(relevant, 10)
                entry["ndcg_at_10"] = ndcg(relevant, n_relevant, 10)
            if gold_docs:
                entry.update({f"recall_at_{k}": recall_at_k(docs, gold_docs, k) for k in K_VALUES})
            if name == "product" and q.standalone and q.answerable:
                # How the hand-written stand-alone version of a follow-up retrieves.
                by_hand = self.service.search(q.standalone, k=5, as_of=self._as_of(q))
                entry["standalone_answer_in_top_5"] = hit_at_k(self._relevance(by_hand, q), 5)
            record[name] = entry
        return record

    def _product_search(self, q: EvalQuestion, variant: str = "product") -> list[ScoredPassage]:
        """The product's search (or a variant's): the follow-up rewritten, as of the day
        it was asked."""
        query = search_query_for(q.question, q.history)
        service = self._service_for(variant)
        return service.search(query, k=max(K_VALUES), as_of=self._as_of(q))

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
        answerers: dict[str, Callable[[], dict[str, Any] | None]] = {
            "product": lambda: self._product_answer(q),
            "oracle": lambda: self._oracle_answer(q),
            "closed_book": lambda: self._closed_book_answer(q),
            "extractive": lambda: self._extractive_answer(q),
        }
        out: dict[str, Any] = {}
        for name in self.options.systems:
            scores = answerers[name]()
            if scores is not None:
                out[name] = scores
        return out

    def _product_answer(self, q: EvalQuestion) -> dict[str, Any]:
        answer = self.service.ask(q.question, history=q.history, as_of=self._as_of(q))
        return self._scored(answer, q)

    def _oracle_answer(self, q: EvalQuestion) -> dict[str, Any] | None:
        gold = self.oracle_passage(q) if q.answerable else None
        if gold is None:
            return None
        answer = self.service.ask(q.question, history=q.history, passages=[gold])
        return self._scored(answer, q)

    def _closed_book_answer(self, q: EvalQuestion) -> dict[str, Any]:
        started = time.perf_counter()
        text = closed_book_answer(
            self.service.generator, q.question, max_tokens=self.settings.max_tokens
        )
        return self._text_scores(text, q, (time.perf_counter() - started) * 1000)

    def _extractive_answer(self, q: EvalQuestion) -> dict[str, Any]:
        passages = self.service.search(
            search_query_for(q.question, q.history),
            k=self.settings.k,
            as_of=self._as_of(q),
        )
        return self._text_scores(extractive_answer(q.question, passages), q, None)

    def _text_scores(
        self, text: str, q: EvalQuestion, total_ms: float | None, abstained: bool | None = None
    ) -> dict[str, Any]:
        scores: dict[str, Any] = {"answer": text, "total_ms": total_ms}
        if q.answerable:
            scores["exact_match"] = exact_match(text, q.answers)
            scores["token_f1"] = token_f1(text, q.answers)
            scores["contains_gold"] = float(contains_answer(text, q.answers))
        scores.update(judged(text, q, is_abstention(text) if abstained is None else abstained))
        return scores

    def _scored(self, answer: Answer, q: EvalQuestion) -> dict[str, Any]:
        record = self._text_scores(answer.text, q, answer.timings.total_ms, answer.abstained)
        record.update(answer_to_dict(answer))
        record["answer"] = answer.text
        record["supported_citations"] = [_supports(c.passage.text, q) for c in answer.citations]
        record["cites_support"] = any(record["supported_citations"])
        if q.sides is not None:
            held = [contains_answer(answer.text, side) for side in q.sides]
            record["states_both_sides"] = float(all(held))
            record["conflict_flagged"] = float(answer.conflict)
        generated = self.service.generator.count_tokens(answer.text) if answer.text else 0
        t = answer.timings
        gen_ms = t.total_ms - (t.first_token_ms or t.total_ms)
        record["tokens"] = generated
        record["tokens_per_s"] = generated / (gen_ms / 1000) if gen_ms > 0 and generated else None
        record["passages"] = [passage_to_dict(p) for p in answer.passages[:5]]
        return record

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
            options=RunSettings(
                limit=self.options.limit,
                seed=self.options.seed,
                k=self.settings.k,
                temperature=self.settings.temperature,
                retrievers=tuple(self.options.retrievers),
                systems=tuple(self.options.systems),
                dates=self.options.dates,
                index_dir=str(self.settings.index_dir),
            ),
            setup=setup,
            n_questions=len(questions),
            n_answerable=sum(q.answerable for q in questions),
            n_published_later=sum(r["published_later"] for r in records),
            seconds=round(time.perf_counter() - started, 1),
            metrics=summarise(records, self.options),
            records=records,
        )


def judged(text: str, q: EvalQuestion, abstained: bool) -> dict[str, float]:
    """Right (by choice where the dataset gives choices, else by holding a gold string)
    and confidently wrong (answered, and not right), for any question."""
    if abstained or not q.answers:
        right = False
    elif q.choices:
        right = right_by_choice(text, q.answers[0], q.choices)
    else:
        right = contains_answer(text, q.answers)
    return {"right": float(right), "confidently_wrong": float(not abstained and not right)}


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


Search = Callable[[EvalQuestion], list[ScoredPassage]]


def _plain_search(retriever: Any, q: EvalQuestion) -> list[ScoredPassage]:
    """A retriever as it stands: the question as typed, no dates, no follow-up rewrite."""
    return retriever.search(q.question, max(K_VALUES))
