"""How fast newsrag is on this machine, from a thousand passages to a million.

    rag bench                                  # or: python -m eval.bench
    rag bench --sizes 1000 10000 100000 1000000 --questions 200 --out eval/runs/bench

Corpus. Real passages come from the RealTimeQA articles in ``../shared/benchmarks``:
the first articles (in the dataset's order) are indexed until about 1,000 and
then about 10,000 passages are in the index, with the configured embedder,
which gives the indexing throughput. Larger corpora are the 10,000 real
vectors replicated and perturbed: copy j of a vector is that vector plus
Gaussian noise of norm ``--noise`` (0.3 by default: cosine about 0.96 to the
original), renormalised, like the same wire story rewritten by another outlet.
Their passages are not embedded again (that would take hours here), so the
large sizes measure the vector index, not indexing.

Search. Each size is searched with the RealTimeQA questions (embedded once)
by two indexes: exact flat search ("before") and the index newsrag builds for
that size ("auto": flat below 50,000 vectors, IVF above). Reported per index:
build time, p50/p95 latency per question, recall@10 against exact search,
the vectors' storage size (computed from their number). For the real sizes,
the whole retrieval step the product runs (BM25 and vectors, fused) is timed
too.

Model. Time to first token, generation tokens/s and answer latency with the
configured model and k, over questions on the 10,000-passage index; then the
same question asked again as a follow-up, to show what the model's cached
prompt prefix saves. Start-up: time to load the models and to load the index.

Writes ``bench.json`` and ``bench.md`` (a Markdown table) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.commands import script_main, subcommand

if TYPE_CHECKING:  # imported where used: every `rag` command registers this one without them
    import numpy as np

    from rag.types import RawDocument

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTION = "Measure indexing, search and answer speed at growing corpus sizes."
log = logging.getLogger(__name__)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentiles(values_ms: Sequence[float]) -> dict[str, float | None]:
    """Median and 95th percentile, to 0.01 ms."""
    from eval.metrics import percentile

    if not values_ms:
        return {"p50_ms": None, "p95_ms": None}
    return {
        "p50_ms": round(percentile(values_ms, 50), 2),
        "p95_ms": round(percentile(values_ms, 95), 2),
    }


def perturbed_copies(base: np.ndarray, total: int, noise: float, seed: int = 0) -> np.ndarray:
    """``total`` unit vectors: ``base`` first, then noisy copies of it, renormalised."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.empty((total, base.shape[1]), dtype=np.float32)
    out[: len(base)] = base
    for start in range(len(base), total, len(base)):
        end = min(total, start + len(base))
        block = base[: end - start] + (
            rng.normal(size=(end - start, base.shape[1])) * noise / np.sqrt(base.shape[1])
        ).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:end] = block
    return out


def time_searches(index: Any, queries: np.ndarray, k: int = 10) -> tuple[list[float], np.ndarray]:
    """Per-question latencies (ms), one question at a time, and the rows found."""
    import numpy as np

    found = np.empty((len(queries), k), dtype=np.int64)
    times = []
    for i, q in enumerate(queries):
        started = time.perf_counter()
        _, rows = index.search(q.reshape(1, -1), k)
        times.append((time.perf_counter() - started) * 1000)
        found[i] = rows[0]
    return times, found


def bench_vectors(vectors: np.ndarray, queries: np.ndarray, *, real: bool) -> dict[str, Any]:
    """Exact flat search against the automatically chosen index, at one size."""
    import faiss

    from eval.metrics import rss_mb
    from index.vectors import build_vector_index, read_vector_index, recall_at

    n, dimension = vectors.shape
    row: dict[str, Any] = {"vectors": n, "real": real}
    _, exact = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    started = time.perf_counter()
    flat = faiss.IndexFlatIP(dimension)
    flat.add(vectors)
    row["flat"] = {
        "build_s": round(time.perf_counter() - started, 2),
        **percentiles(time_searches(flat, queries)[0]),
        "recall_at_10": 1.0,
        # Computed, not measured: n·d·4 bytes of float32 vectors.
        "storage_mb": round(n * dimension * 4 / 2**20, 1),
    }
    del flat
    started = time.perf_counter()
    index, info = build_vector_index(vectors)
    build_s = time.perf_counter() - started
    times, found = time_searches(index, queries)
    row["auto"] = {
        "kind": info.kind if info.kind == "flat" else f"ivf{info.lists},nprobe={info.nprobe}",
        "build_s": round(build_s, 2),
        **percentiles(times),
        "recall_at_10": round(recall_at(found, exact), 4),
        # Computed: the vectors, plus IVF's 8-byte row map per vector.
        "storage_mb": round((n * dimension * 4 + n * 8 * (info.kind == "ivf")) / 2**20, 1),
    }
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as tmp:
        path = Path(tmp) / "vectors.faiss"
        faiss.write_index(index, str(path))
        del index
        started = time.perf_counter()
        loaded = read_vector_index(path)
        row["auto"]["load_mmap_ms"] = round((time.perf_counter() - started) * 1000, 1)
        del loaded
    row["rss_mb"] = rss_mb() or 0.0
    return row


def articles_for(documents: Sequence[RawDocument], chunks_wanted: int, per_doc: float) -> int:
    return max(1, min(len(documents), round(chunks_wanted / per_doc)))


def bench_indexing(service_factory, documents: Sequence[RawDocument], wanted: int, tmp: Path):
    """Index the first articles until about ``wanted`` passages; time it."""
    from rag.service import RagService

    per_doc = 15.0  # RealTimeQA articles give about 15 passages each; corrected below
    count = articles_for(documents, wanted, per_doc)
    service: RagService = service_factory(tmp / f"index-{wanted}")
    indexer = service.indexer()
    started = time.perf_counter()
    report = indexer.index_documents(documents[:count])
    seconds = time.perf_counter() - started
    return service, {
        "articles": report.n_documents,
        "chunks": report.n_chunks,
        "seconds": round(seconds, 1),
        "articles_per_s": round(report.n_documents / seconds, 2),
        "chunks_per_s": round(report.n_chunks / seconds, 1),
        "embed_chunks_per_s": round(report.chunks_per_second, 1),
        "words_per_chunk": round(
            statistics.mean(len(c.text.split()) for c in service.snapshot().chunks), 1
        ),
    }


def passages_of(documents: Sequence[RawDocument], words: int, count: int) -> list[str]:
    """``count`` passages of exactly ``words`` words, cut from the articles in order."""
    out: list[str] = []
    for doc in documents:
        tokens = doc.text.split()
        for start in range(0, len(tokens) - words + 1, words):
            out.append(" ".join(tokens[start : start + words]))
            if len(out) == count:
                return out
    return out


def bench_embedding(settings, passages: Sequence[str]) -> dict[str, Any]:
    """Passages per second of every backend on the same passages, interleaved, best of two
    rounds (``rag.embed.choose.measure_backends``, what ``auto`` measures), each against
    the CPU's float32 peak (``eval.hardware``)."""
    from eval.hardware import (
        FMA_UNITS,
        cpu_peak,
        dense_parameters,
        flops_per_passage,
        share_of_peak,
    )
    from rag.config import machine_cores
    from rag.embed import EMBEDDERS, make_embedder
    from rag.embed.choose import measure_backends
    from rag.embed.exported import FolderTokenizer
    from rag.embed.packs import resolve_embedder

    candidates = {
        name: (lambda name=name: make_embedder(settings.updated(embed_backend=name)))
        for name in EMBEDDERS
    }
    folder = resolve_embedder(settings.embedder) or Path(str(settings.embedder))
    max_tokens = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
    tokens = float(FolderTokenizer(folder, max_tokens).batch(passages)["attention_mask"].sum())
    tokens /= max(1, len(passages))
    parameters = dense_parameters(folder)
    peak = cpu_peak(settings.threads or machine_cores())
    flops = flops_per_passage(parameters, tokens) if parameters else None
    rows: dict[str, Any] = {}
    for result in measure_backends(candidates, passages):
        if result.error is not None:
            rows[result.backend] = {"error": result.error}
            continue
        row = {
            "passages": len(passages),
            "load_s": result.load_s,
            "passages_per_s": result.passages_per_s,
            "cosine_to_torch": result.cosine_to_torch,
        }
        if flops and peak:
            row["gflops"] = round(result.passages_per_s * flops / 1e9, 1)
            row["share_of_peak"] = round(share_of_peak(result.passages_per_s, flops, peak), 3)
        rows[result.backend] = row
    return {
        "backends": rows,
        "tokens_per_passage": round(tokens, 1),
        "dense_parameters": parameters,
        "gflop_per_passage": round(flops / 1e9, 2) if flops else None,
        "peak_gflops": round(peak.gflops, 1) if peak else None,
        "peak": None
        if peak is None
        else f"{peak.cores} cores × {peak.ghz} GHz × "
        f"{peak.lanes} lanes × {2 if peak.fma else 1} (FMA) × {FMA_UNITS} units",
    }


def embedding_choice(settings) -> dict[str, Any]:
    """What ``embed_backend = "auto"`` picked on this machine (measuring now if never)."""
    from rag.embed import backend_choice

    choice = backend_choice(settings.updated(embed_backend="auto"))
    return {"backend": choice.backend, "machine": choice.machine, "summary": choice.summary()}


def bench_retrieval(service, questions: Sequence[str]) -> dict[str, Any]:
    times = []
    for q in questions:
        started = time.perf_counter()
        service.search(q, k=service.settings.k)
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def bench_answers(service, questions: Sequence[str]) -> dict[str, Any]:
    from rag.types import Turn

    first, total, rates, follow_first = [], [], [], []
    for q in questions:
        answer = service.ask(q)
        t = answer.timings
        if t.first_token_ms is not None:
            first.append(t.first_token_ms)
            if t.generated_tokens > 1 and t.total_ms > t.first_token_ms:
                rates.append((t.generated_tokens - 1) / ((t.total_ms - t.first_token_ms) / 1000))
        total.append(t.total_ms)
        again = service.ask(q, history=[Turn(q, answer.text)])
        if again.timings.first_token_ms is not None:
            follow_first.append(again.timings.first_token_ms)
    return {
        "questions": len(questions),
        "first_token": percentiles(first),
        "answer": percentiles(total),
        "tokens_per_s_median": round(statistics.median(rates), 1) if rates else None,
        "follow_up_first_token": percentiles(follow_first),
    }


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from rag.config import load_settings
    from rag.service import RagService

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from eval.datasets import load_dataset

    dataset = load_dataset("realtimeqa")
    documents = list(dataset.documents)
    questions = [q.question for q in dataset.questions][: args.questions]
    settings = load_settings({})
    report: dict[str, Any] = {"settings": {"k": settings.k, "embedder": settings.embedder}}
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        first = RagService(settings.updated(index_dir=tmp / "warm"))
        first.warm_up()
        report["startup"] = {"models_load_s": round(time.perf_counter() - started, 2)}
        report["embedding"] = bench_embedding(
            settings, passages_of(documents, 130, args.embed_passages)
        )
        report["embedding_choice"] = embedding_choice(settings)
        embedder, generator = first.embedder, first.generator

        def service_for(index_dir: Path) -> RagService:
            return RagService(
                settings.updated(index_dir=index_dir), embedder=embedder, generator=generator
            )

        real_sizes = [s for s in args.sizes if s <= args.real_limit]
        indexing, services = {}, {}
        for size in real_sizes:
            services[size], indexing[size] = bench_indexing(service_for, documents, size, tmp)
            log.info("indexed %s", indexing[size])
        report["indexing"] = indexing
        largest = services[max(real_sizes)]
        started = time.perf_counter()
        service_for(largest.settings.index_dir).snapshot()
        report["startup"]["index_load_s"] = round(time.perf_counter() - started, 3)
        query_vectors = embedder.embed(questions, kind="query").astype(np.float32)
        base = largest.snapshot().stored_vectors(list(range(largest.snapshot().size)))
        search = []
        for size in args.sizes:
            if size in services:
                vectors = (
                    services[size]
                    .snapshot()
                    .stored_vectors(list(range(services[size].snapshot().size)))
                )
                row = bench_vectors(vectors, query_vectors, real=True)
                row["retrieval"] = bench_retrieval(services[size], questions[:50])
            else:
                vectors = perturbed_copies(base, size, args.noise)
                row = bench_vectors(vectors, query_vectors, real=False)
            del vectors
            log.info("searched %s", row)
            search.append(row)
        report["search"] = search
        report["answers"] = bench_answers(largest, questions[: args.answer_questions])
    report["peak_rss_mb"] = peak_rss_mb()
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out / "bench.md").write_text(table)
    print(table)
    return 0


def markdown(r: dict[str, Any]) -> str:
    e = r["embedding"]
    lines = ["### Embedding 130-word passages", ""]
    lines.append(
        f"{e['tokens_per_passage']} tokens a passage, {e['gflop_per_passage']} GFLOP "
        f"({e['dense_parameters']:,} dense weights × tokens × 2); float32 peak "
        f"{e['peak_gflops']} GFLOP/s ({e['peak']}). Auto picks "
        f"**{r['embedding_choice']['backend']}** here ({r['embedding_choice']['summary']})."
    )
    lines += ["", "| backend | passages/s | GFLOP/s | share of peak | load s | cosine to torch |"]
    lines.append("|---|---|---|---|---|---|")
    for name, row in e["backends"].items():
        if "error" in row:
            lines.append(f"| {name} | failed: {row['error']} | | | | |")
            continue
        cos = "–" if row["cosine_to_torch"] is None or name == "torch" else row["cosine_to_torch"]
        share = f"{row['share_of_peak']:.1%}" if "share_of_peak" in row else "–"
        lines.append(
            f"| {name} | {row['passages_per_s']} | {row.get('gflops', '–')} | {share} "
            f"| {row['load_s']} | {cos} |"
        )
    lines += ["", "### Indexing (real RealTimeQA passages)", ""]
    lines.append("| passages | articles | words/passage | seconds | articles/s | passages/s |")
    lines.append("|---|---|---|---|---|---|")
    for row in r["indexing"].values():
        lines.append(
            f"| {row['chunks']:,} | {row['articles']:,} | {row['words_per_chunk']} "
            f"| {row['seconds']} | {row['articles_per_s']} | {row['chunks_per_s']} |"
        )
    lines += ["", "### Search (one question at a time, k=10)", ""]
    lines.append(
        "| vectors | corpus | index | build s | p50 ms | p95 ms | recall@10 "
        "| storage MB (computed) | full retrieval p50 / p95 ms |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for row in r["search"]:
        corpus = "real" if row["real"] else "replicated"
        retrieval = row.get("retrieval")
        full = f"{retrieval['p50_ms']} / {retrieval['p95_ms']}" if retrieval else "–"
        for name in ("flat", "auto"):
            x = row[name]
            kind = "flat (exact)" if name == "flat" else x["kind"]
            lines.append(
                f"| {row['vectors']:,} | {corpus} | {kind} | {x['build_s']} | {x['p50_ms']} "
                f"| {x['p95_ms']} | {x['recall_at_10']} | {x['storage_mb']} "
                f"| {full if name == 'auto' else ''} |"
            )
    a = r["answers"]
    lines += [
        "",
        "### Answers and start-up",
        "",
        f"- {a['questions']} questions: first token p50 {a['first_token']['p50_ms']} ms, "
        f"p95 {a['first_token']['p95_ms']} ms; answer p50 {a['answer']['p50_ms']} ms, "
        f"p95 {a['answer']['p95_ms']} ms; generation {a['tokens_per_s_median']} tokens/s.",
        f"- The same questions as follow-ups: first token p50 "
        f"{a['follow_up_first_token']['p50_ms']} ms.",
        f"- Models loaded in {r['startup']['models_load_s']} s; the largest real index "
        f"loaded in {r['startup']['index_load_s']} s. Peak memory {r['peak_rss_mb']} MB.",
    ]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--real-limit",
        type=int,
        default=10_000,
        help="sizes up to this are real indexed passages; larger ones are replicated",
    )
    parser.add_argument("--noise", type=float, default=0.3, help="norm of the perturbation")
    parser.add_argument("--questions", type=int, default=200, help="search questions")
    parser.add_argument("--answer-questions", type=int, default=20)
    parser.add_argument(
        "--embed-passages", type=int, default=1000, help="130-word passages per backend"
    )
    parser.add_argument("--out", default=str(ROOT / "eval" / "runs" / "bench"))
    parser.add_argument("-v", "--verbose", action="store_true")


register = subcommand("bench", DESCRIPTION, add_arguments, run)


def main(argv: list[str] | None = None) -> int:
    return script_main("python -m eval.bench", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
