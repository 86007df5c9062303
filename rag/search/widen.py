"""Match small, read large: a matched chunk handed on with its neighbours.

The sentence that matches a quiz question ("returned for the first time in
400 years") and the one that holds its answer ("beavers") are often in
neighbouring chunks of one article. Search still ranks the small chunks,
whose vectors and BM25 scores stay sharp; each hit is then widened to the
``neighbours`` chunks on either side, and a later hit already inside a
window adds no second copy of it. The window keeps exact character offsets
in the article, so citations still point at the right place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from rag.types import Chunk, ScoredPassage

if TYPE_CHECKING:
    from index.store import IndexSnapshot


def widen_passages(
    snapshot: IndexSnapshot, passages: Sequence[ScoredPassage], k: int, *, neighbours: int
) -> list[ScoredPassage]:
    """The first ``k`` windows of ``passages``: each hit with ``neighbours`` chunks each side.

    Windows of one article never overlap: a hit inside an earlier window is
    skipped, and a new window stops short of the windows already taken.
    """
    if neighbours < 0:
        raise ValueError(f"neighbours must be 0 or more, got {neighbours}")
    taken: dict[str, list[tuple[int, int]]] = {}  # doc id -> (first, last) positions
    out: list[ScoredPassage] = []
    for p in passages:
        rows = snapshot.article_rows(p.doc_id)
        row = snapshot.chunk_row(p.chunk_id)
        if row is None or row not in rows:
            continue
        at = rows.index(row)
        windows = taken.setdefault(p.doc_id, [])
        if any(first <= at <= last for first, last in windows):
            continue
        first, last = max(0, at - neighbours), min(len(rows) - 1, at + neighbours)
        for a, b in windows:  # stop short of a neighbouring window
            if b < at:
                first = max(first, b + 1)
            elif a > at:
                last = min(last, a - 1)
        windows.append((first, last))
        out.append(replace(p, chunk=_span(snapshot, rows[first : last + 1]), rank=len(out) + 1))
        if len(out) == k:
            break
    return out


def _span(snapshot: IndexSnapshot, rows: Sequence[int]) -> Chunk:
    chunks = [snapshot.chunks[r] for r in rows]
    if len(chunks) == 1:
        return chunks[0]
    doc_id, start, end = chunks[0].doc_id, chunks[0].start, max(c.end for c in chunks)
    text = snapshot.documents[doc_id].text[start:end]
    # Neighbouring chunks share a sentence; the sum of their tokens is an upper bound.
    n_tokens = sum(c.n_tokens for c in chunks)
    return Chunk(Chunk.make_id(doc_id, start, end, text), doc_id, text, start, end, n_tokens)
