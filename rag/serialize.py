"""Plain-JSON views of answers, passages, articles and index reports.

``rag ... --json``, evaluation runs and the HTTP API all print these, so the
three give the same JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.types import Answer, Citation, ScoredPassage, page_at

if TYPE_CHECKING:
    from rag.ingest.indexer import IndexReport
    from rag.types import DocumentInfo


def passage_to_dict(p: ScoredPassage, *, explain: bool = False) -> dict[str, Any]:
    """A passage as JSON; ``explain`` adds why it ranks where it does (``"explain"``:
    null for a passage no hybrid search ranked). Its final score is ``"score"``."""
    out = {
        "chunk_id": p.chunk_id,
        "doc_id": p.doc_id,
        "title": p.title,
        "source": p.source,
        "date": p.date,
        "text": p.text,
        "start": p.chunk.start,
        "end": p.chunk.end,
        "url": p.url,
        "page": page_at(p.pages, p.chunk.start),
        "score": round(p.score, 6),
        "rank": p.rank,
        "similarity": None if p.similarity is None else round(p.similarity, 4),
    }
    if explain:
        out["explain"] = reasons_to_dict(p)
    return out


def reasons_to_dict(p: ScoredPassage) -> dict[str, Any] | None:
    r = p.reasons
    if r is None:
        return None
    return {
        "bm25_rank": r.bm25_rank,
        "dense_rank": r.dense_rank,
        "fused_score": round(r.fused, 6),
        "date_bonus": round(r.date_bonus, 6),
        "rare_terms": list(r.rare_terms),
    }


def citation_to_dict(c: Citation) -> dict[str, Any]:
    return {
        "marker": c.marker,
        "doc_id": c.passage.doc_id,
        "chunk_id": c.passage.chunk_id,
        "title": c.passage.title,
        "source": c.passage.source,
        "date": c.passage.date,
        "text": c.text,
        "start": c.start,
        "end": c.end,
        "url": c.passage.url,
        "page": page_at(c.passage.pages, c.start),
    }


def answer_to_dict(a: Answer) -> dict[str, Any]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "question": a.question,
        "answer": a.text,
        "abstained": a.abstained,
        "citations": [citation_to_dict(c) for c in a.citations],
        "passages": [passage_to_dict(p) for p in a.passages],
        "unsupported": list(a.unsupported),
        "abstain_reason": a.reason,
        "quoted": a.quoted,
        "conflict": a.conflict,
        "search_query": a.search_query,
        "written_query": a.written_query,
        "timings": {
            "load_ms": ms(a.timings.load_ms),
            "retrieve_ms": ms(a.timings.retrieve_ms),
            "first_token_ms": ms(a.timings.first_token_ms),
            "total_ms": ms(a.timings.total_ms),
            "check_ms": ms(a.timings.check_ms),
            "rewrite_ms": ms(a.timings.rewrite_ms),
            "generated_tokens": a.timings.generated_tokens,
            "prompt_tokens": a.timings.prompt_tokens,
        },
    }


def document_to_dict(i: DocumentInfo) -> dict[str, Any]:
    """One article as `rag list --json` shows it."""
    return {
        "doc_id": i.article.doc_id,
        "title": i.article.title,
        "source": i.article.source,
        "date": i.article.date,
        "chunks": i.n_chunks,
        "origins": list(i.article.origins),
    }


def report_to_dict(r: IndexReport) -> dict[str, Any]:
    """What `rag index --json` prints."""
    return {
        "added": r.added,
        "unchanged": r.unchanged,
        "replaced": r.replaced,
        "chunks_embedded": r.chunks_embedded,
        "documents": r.n_documents,
        "chunks": r.n_chunks,
        "seconds": round(r.seconds, 3),
        "embed_seconds": round(r.embed_seconds, 3),
        "chunks_per_second": round(r.chunks_per_second, 1),
        "problems": [{"origin": p.origin, "message": p.message} for p in r.problems],
    }
