"""The data that crosses module boundaries.

Every value here is a frozen dataclass so it can be hashed, compared in tests
and never mutated behind a caller's back. Behaviour lives elsewhere; the
small ``Protocol`` classes at the bottom are what the service depends on, so
tests pass fakes and the product passes the real thing. At the bottom layer with
``rag.errors`` and ``rag.text``: every module may import it, and it imports none.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # only in annotations: `rag --help` and `rag list` need no numpy from here
    import numpy as np


def content_hash(*parts: str, length: int = 16) -> str:
    """A short, stable hex id for the given strings (sha256, NUL-separated)."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


@dataclass(frozen=True)
class RawDocument:
    """What a loader read from disk, before cleaning.

    ``origin`` says where it came from (a path, or ``path#line`` for JSONL)
    so a changed file can replace what it indexed before.
    """

    text: str
    origin: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    external_id: str | None = None
    # Where each page starts in ``text`` (PDFs): cleaning maps them onto the article.
    page_starts: tuple[int, ...] = ()


@dataclass(frozen=True)
class LoadProblem:
    """A file or line that could not be read; the rest of the run goes on."""

    origin: str
    message: str


@dataclass(frozen=True)
class Article:
    """A cleaned article. ``text`` is what offsets in citations refer to."""

    doc_id: str
    title: str
    text: str
    date: str | None = None
    source: str | None = None
    url: str | None = None
    origins: tuple[str, ...] = ()
    # Offsets in ``text`` where pages 1, 2, ... start (PDFs); empty for other articles.
    pages: tuple[int, ...] = ()

    @staticmethod
    def make_id(text: str) -> str:
        """Articles are identified by their cleaned text, so a copy is indexed once."""
        return content_hash("article", text)

    def page_at(self, offset: int) -> int | None:
        return page_at(self.pages, offset)


def page_at(pages: Sequence[int], offset: int) -> int | None:
    """The 1-based page holding character ``offset``, given where pages start; None if no pages."""
    if not pages:
        return None
    return max(1, bisect.bisect_right(pages, offset))


@dataclass(frozen=True)
class DocumentInfo:
    """An indexed article and how many chunks it has (what `rag list` and the UI show)."""

    article: Article
    n_chunks: int


@dataclass(frozen=True)
class Chunk:
    """A passage of an article with its character span in ``Article.text``."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    n_tokens: int

    @staticmethod
    def make_id(doc_id: str, start: int, end: int, text: str) -> str:
        return content_hash("chunk", doc_id, str(start), str(end), text)


@dataclass(frozen=True)
class RankReasons:
    """Why a passage of the hybrid search ranks where it does (``rag search --explain``).

    ``fused`` is its reciprocal-rank fusion score, ``date_bonus`` what its date
    added to it, and ``rare_terms`` the question's rare terms it holds: a passage
    holding more of them comes before one holding fewer, whatever the scores.
    """

    bm25_rank: int | None
    dense_rank: int | None
    fused: float
    date_bonus: float = 0.0
    rare_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoredPassage:
    """A retrieved chunk with the article facts a reader needs to judge it."""

    chunk: Chunk
    score: float
    rank: int
    title: str
    source: str | None = None
    date: str | None = None
    # Cosine similarity of query and chunk, whatever ranked it: what "how close" means.
    similarity: float | None = None
    url: str | None = None
    # The article's page starts (PDFs), so a citation's offset gives its page.
    pages: tuple[int, ...] = ()
    # How the hybrid search ranked it (None from the one-sided retrievers).
    reasons: RankReasons | None = None

    @property
    def chunk_id(self) -> str:
        return self.chunk.chunk_id

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def text(self) -> str:
        return self.chunk.text


@dataclass(frozen=True)
class SearchFilter:
    """Which articles a search may return: a date range (ISO days, inclusive) and sources.

    Articles without a date are left out when a date bound is set; a source
    matches when the given name occurs in the article's source, ignoring case.
    """

    date_from: str | None = None
    date_to: str | None = None
    sources: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.date_from or self.date_to or self.sources)

    def covers(self, date: str | None) -> bool:
        """Is the day of ``date`` within the date range (always, when none is set)?"""
        if not (self.date_from or self.date_to):
            return True
        day = (date or "")[:10]
        if not day:
            return False
        return (self.date_from or day) <= day <= (self.date_to or day)

    def allows(self, article: Article) -> bool:
        if not self.covers(article.date):
            return False
        if self.sources:
            source = (article.source or "").lower()
            if not any(s.lower() in source for s in self.sources if s.strip()):
                return False
        return True


@dataclass(frozen=True)
class Citation:
    """One cited span: ``start``/``end`` are offsets in the cleaned article."""

    marker: int
    passage: ScoredPassage
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Timings:
    """Milliseconds per step. Loading models is apart: the others start once they are loaded."""

    retrieve_ms: float = 0.0
    first_token_ms: float | None = None
    total_ms: float = 0.0
    generated_tokens: int = 0  # pieces the model streamed (one token each with llama.cpp)
    load_ms: float = 0.0  # loading the models and reading the index, when this call did
    check_ms: float = 0.0  # checking the answer against the passages (the judge's passes)
    rewrite_ms: float = 0.0  # of retrieve_ms, the query writer writing its sentence (HyDE)
    prompt_tokens: int = 0  # tokens of the prompt the model read (0: it was not asked)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[ScoredPassage, ...] = ()
    timings: Timings = field(default_factory=Timings)
    search_query: str | None = None
    # The sentence the query writer wrote and the search used beside ``search_query`` (HyDE).
    written_query: str | None = None
    # Sentences the model wrote that no passage supports; they are not in ``text``.
    unsupported: tuple[str, ...] = ()
    # Why the answer abstained, when it did.
    reason: str | None = None
    # The model's answer could not be checked; ``text`` quotes the closest sentence instead.
    quoted: bool = False
    # Passages of different articles state different facts in the same statement; the
    # answer cites both sides.
    conflict: bool = False


@dataclass(frozen=True)
class TokenEvent:
    """A piece of the answer as the model writes it."""

    text: str


@dataclass(frozen=True)
class AnswerEvent:
    """The finished answer, with its citations checked."""

    answer: Answer


@dataclass(frozen=True)
class Turn:
    """One exchange of a conversation, kept to rewrite follow-up questions."""

    question: str
    answer: str

    @classmethod
    def of(cls, answer: Answer) -> Turn:
        """The turn a follow-up is given: the question and what the checked answer states.

        A quoted fallback gives only the sentence it quotes, and an abstention
        nothing: a model shown "The articles say: ..." or "The articles do not
        say." as its earlier answer copies that wording instead of answering.
        Drafts and the chat's notes never reach here; only ``answer.text`` does.
        """
        if answer.abstained:
            return cls(answer.question, "")
        if answer.quoted and answer.citations:
            return cls(answer.question, answer.citations[0].text)
        return cls(answer.question, answer.text)


# --- behaviour ---------------------------------------------------------------


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length vectors."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads before it silently truncates."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        """Return float32 array of shape (len(texts), dimension), L2-normalised."""
        ...


@runtime_checkable
class Retriever(Protocol):
    """Finds the passages most likely to answer a query, best first.

    Passages of articles from the ``preferred`` dates rank higher; ``written_query``,
    a sentence a model wrote for the query, is searched beside it.
    """

    def search(
        self,
        query: str,
        k: int,
        *,
        where: SearchFilter | None = None,
        preferred: SearchFilter | None = None,
        written_query: str = "",
    ) -> list[ScoredPassage]: ...


@runtime_checkable
class Generator(Protocol):
    """A language model that continues a prompt, token by token."""

    @property
    def model_id(self) -> str: ...

    @property
    def context_size(self) -> int: ...

    @property
    def has_chat_template(self) -> bool: ...

    def count_tokens(self, text: str) -> int: ...

    def count_prompt(self, prompt: str | Sequence[dict[str, str]]) -> int:
        """The tokens the model reads for a completion prompt or for chat messages."""
        ...

    def stream(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str]: ...

    def stream_chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str]: ...


def chunk_context(article: Article, chunk: Chunk) -> str:
    """What is indexed for a chunk: its article's title, then the chunk itself.

    A passage deep in an article rarely repeats who or what it is about; the
    title says it, for the embedder and for BM25 alike.
    """
    title = " ".join(article.title.split())
    if not title or (chunk.start == 0 and chunk.text.startswith(article.title)):
        return chunk.text
    return f"{title}\n{chunk.text}"
