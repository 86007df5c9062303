"""Time indexing and answering on this machine.

    python -m eval.latency --corpus samples/articles --questions samples/example_questions.txt

Indexes the corpus into a fresh temporary index (so every chunk is embedded),
then asks each question once with the configured models and prints the
medians, as text or ``--json``. Models are loaded before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rag.config import load_settings
from rag.service import RagService


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def measure(corpus: list[str], questions: list[str], *, repeat_index: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="newsrag-latency-") as tmp:
        settings = load_settings({"index_dir": tmp})
        service = RagService(settings)
        load_started = time.perf_counter()
        service.warm_up()
        load_s = time.perf_counter() - load_started

        index_runs = []
        for _ in range(repeat_index):
            started = time.perf_counter()
            report = service.index_paths(corpus, rebuild=True)
            index_runs.append((time.perf_counter() - started, report))
        index_s, report = min(index_runs, key=lambda r: r[0])
        started = time.perf_counter()
        again = service.index_paths(corpus)
        reindex_s = time.perf_counter() - started

        service.ask(questions[0])  # one untimed question warms caches
        answers = [service.ask(q) for q in questions]
    t = [a.timings for a in answers]
    return {
        "corpus": corpus,
        "articles": report.n_documents,
        "chunks": report.n_chunks,
        "model_load_s": round(load_s, 2),
        "index_s": round(index_s, 2),
        "embed_chunks_per_s": round(report.chunks_per_second, 1),
        "reindex_unchanged_s": round(reindex_s, 2),
        "reindex_embedded": again.chunks_embedded,
        "questions": len(questions),
        "retrieve_ms_median": _median([x.retrieve_ms for x in t]),
        "first_token_ms_median": _median([x.first_token_ms for x in t if x.first_token_ms]),
        "total_ms_median": _median([x.total_ms for x in t]),
        "abstained": sum(a.abstained for a in answers),
        "answers": [{"question": a.question, "answer": a.text} for a in answers],
    }


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", required=True, help="files or folders")
    parser.add_argument("--questions", required=True, help="file with one question a line")
    parser.add_argument("--repeat-index", type=int, default=1, help="index runs; best is kept")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    lines = Path(args.questions).read_text(encoding="utf-8").splitlines()
    questions = [q.strip() for q in lines if q.strip() and not q.startswith("#")]
    if not questions:
        print("latency: the questions file has no questions", file=sys.stderr)
        return 2
    result = measure(args.corpus, questions, repeat_index=args.repeat_index)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key != "answers":
                print(f"{key:>24}: {value}")
        for a in result["answers"]:
            print(f"- {a['question']}\n    {a['answer']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
