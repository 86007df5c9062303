"""What a generation stores, as JSON: the manifest, the articles and the chunks.

A chunk is stored as its article's character span, never its text, so the two
cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.disk import read_jsonl
from rag.types import Article, Chunk

# 2: a BM25 index beside the vectors; chunks embedded with their article's title.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
# The name of a generation's folder; the only names a manifest may point at.
GENERATION = re.compile(r"gen-\d{6}")


@dataclass(frozen=True)
class Manifest:
    format_version: int
    embedder_id: str
    dimension: int
    chunker: dict[str, Any]
    generation: str
    n_documents: int
    n_chunks: int
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "embedder": {"id": self.embedder_id, "dimension": self.dimension},
            "chunker": self.chunker,
            "generation": self.generation,
            "n_documents": self.n_documents,
            "n_chunks": self.n_chunks,
            "updated_at": self.updated_at,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Manifest:
        return Manifest(
            format_version=int(data["format_version"]),
            embedder_id=str(data["embedder"]["id"]),
            dimension=int(data["embedder"]["dimension"]),
            chunker=dict(data["chunker"]),
            generation=str(data["generation"]),
            n_documents=int(data["n_documents"]),
            n_chunks=int(data["n_chunks"]),
            updated_at=float(data["updated_at"]),
        )


def article_to_json(a: Article) -> dict[str, Any]:
    """An article as stored in ``documents.jsonl`` (and in Ray's shards)."""
    return {
        "doc_id": a.doc_id,
        "title": a.title,
        "date": a.date,
        "source": a.source,
        "url": a.url,
        "origins": list(a.origins),
        "text": a.text,
        **({"pages": list(a.pages)} if a.pages else {}),
    }


def chunk_to_json(c: Chunk) -> dict[str, Any]:
    # The text is the article's slice; storing spans keeps the two from drifting apart.
    return {
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "start": c.start,
        "end": c.end,
        "n_tokens": c.n_tokens,
    }


def article_from_json(data: dict[str, Any]) -> Article:
    return Article(
        doc_id=data["doc_id"],
        title=data["title"],
        text=data["text"],
        date=data.get("date"),
        source=data.get("source"),
        url=data.get("url"),
        origins=tuple(data.get("origins", ())),
        pages=tuple(int(p) for p in data.get("pages", ())),
    )


def read_documents(path: Path) -> Iterable[Article]:
    for data in read_jsonl(path):
        yield article_from_json(data)


def read_chunks(path: Path, documents: dict[str, Article]) -> Iterable[Chunk]:
    for data in read_jsonl(path):
        article = documents[data["doc_id"]]
        start, end = int(data["start"]), int(data["end"])
        yield Chunk(
            chunk_id=data["chunk_id"],
            doc_id=article.doc_id,
            text=article.text[start:end],
            start=start,
            end=end,
            n_tokens=int(data["n_tokens"]),
        )
