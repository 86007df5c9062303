"""Sentence-aware, overlapping chunks that keep their character spans.

Sentences are packed until a chunk reaches its target size in the embedder's
own tokens, and consecutive chunks share a sentence so a fact that straddles
a boundary is still found whole. Nothing is cut off: a sentence longer than
the embedder reads is split at word boundaries into pieces that fit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from rag.errors import ConfigError
from rag.text.sentences import split_sentences
from rag.types import Article, Chunk

CountTokens = Callable[[Sequence[str]], list[int]]

# Where an over-long sentence may be cut: between words, and inside a "word" longer
# than any real one (a URL, a run of digits), which the embedder could not read whole.
_PIECE = re.compile(r"\S{1,100}")


@dataclass(frozen=True)
class ChunkerSettings:
    max_tokens: int = 256
    target_tokens: int = 200
    overlap_sentences: int = 1

    def __post_init__(self) -> None:
        if self.max_tokens <= 0:
            raise ConfigError(f"max_tokens must be greater than 0, got {self.max_tokens}")
        if not 0 < self.target_tokens <= self.max_tokens:
            raise ConfigError(
                f"target_tokens must be between 1 and max_tokens ({self.max_tokens}), "
                f"got {self.target_tokens}"
            )
        if self.overlap_sentences < 0:
            raise ConfigError(f"overlap_sentences must be 0 or more, got {self.overlap_sentences}")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _split_long(
    text: str, span: tuple[int, int], count_tokens: CountTokens, max_tokens: int
) -> list[tuple[int, int]]:
    """Split one over-long sentence at word boundaries into pieces within ``max_tokens``.

    Every word is at least one token, so a piece never holds more than
    ``max_tokens`` words: the search for each piece's end looks no further, and
    the whole split costs time linear in the sentence (searching up to the end
    of the sentence for every piece made unpunctuated text quadratic). The
    search starts from the length of the piece before, which in running text
    is nearly always right: two tokenizer calls confirm it.
    """
    words = [(m.start(), m.end()) for m in _PIECE.finditer(text, span[0], span[1])]

    def fits(first: int, end: int) -> bool:
        return count_tokens([text[words[first][0] : words[end - 1][1]]])[0] <= max_tokens

    pieces: list[tuple[int, int]] = []
    i, guess = 0, 1
    while i < len(words):
        lo, hi = i + 1, min(len(words), i + max_tokens)  # the answer lies in [lo, hi]
        probe = min(max(lo, i + guess), hi)
        if fits(i, probe):
            lo = probe
            if probe < hi and not fits(i, probe + 1):
                hi = probe
        else:
            hi = probe - 1
        while lo < hi:  # halve the rest
            mid = (lo + hi + 1) // 2
            if fits(i, mid):
                lo = mid
            else:
                hi = mid - 1
        pieces.append((words[i][0], words[lo - 1][1]))
        guess = lo - i
        i = lo
    return pieces


def chunk_article(
    article: Article,
    count_tokens: CountTokens,
    *,
    settings: ChunkerSettings,
    reserve_tokens: int = 0,
) -> list[Chunk]:
    """Pack the article's sentences into overlapping chunks within the token limits.

    ``reserve_tokens`` are kept free in every chunk for the context indexed with it.
    """
    if reserve_tokens:
        limit = max(settings.max_tokens - reserve_tokens, settings.max_tokens // 2)
        settings = ChunkerSettings(
            max_tokens=limit,
            target_tokens=min(settings.target_tokens, limit),
            overlap_sentences=settings.overlap_sentences,
        )
    text = article.text
    sentences: list[tuple[int, int]] = []
    spans = split_sentences(text)
    sizes = count_tokens([text[s:e] for s, e in spans]) if spans else []
    for span, size in zip(spans, sizes, strict=True):
        if size > settings.max_tokens:
            sentences.extend(_split_long(text, span, count_tokens, settings.max_tokens))
        else:
            sentences.append(span)
    if not sentences:
        return []
    sizes = count_tokens([text[s:e] for s, e in sentences])

    def grow(first: int) -> int:
        """One past the last sentence of the chunk that starts at sentence ``first``."""
        last, total = first + 1, sizes[first]
        while last < len(sentences) and total + sizes[last] <= settings.target_tokens:
            total += sizes[last]
            last += 1
        # Sentence counts ignore the joins; measure the real chunk and back off if needed.
        while last - first > 1 and _count(text, sentences, first, last, count_tokens) > (
            settings.max_tokens
        ):
            last -= 1
        return last

    groups: list[tuple[int, int]] = []  # [first, last) sentence indices
    first = done = 0
    while done < len(sentences):
        last = grow(first)
        if last <= done:  # the overlap left no room for a new sentence: drop it
            first = done
            last = grow(first)
        groups.append((first, last))
        done = last
        first = max(last - settings.overlap_sentences, first + 1)
    chunks = []
    for first, last in groups:
        start, end = sentences[first][0], sentences[last - 1][1]
        body = text[start:end]
        chunks.append(
            Chunk(
                chunk_id=Chunk.make_id(article.doc_id, start, end, body),
                doc_id=article.doc_id,
                text=body,
                start=start,
                end=end,
                n_tokens=_count(text, sentences, first, last, count_tokens),
            )
        )
    return chunks


def chunk_under_title(
    article: Article, count_tokens: CountTokens, settings: ChunkerSettings
) -> list[Chunk]:
    """``chunk_article`` with room left in every chunk for the title, which is indexed with it.

    The title (plus a line break, see ``chunk_context``) goes before each chunk's
    text when it is embedded, so each chunk leaves that many tokens free.
    """
    title = " ".join(article.title.split())
    reserve = count_tokens([title])[0] if title else 0
    return chunk_article(article, count_tokens, settings=settings, reserve_tokens=reserve)


def _count(
    text: str, sentences: list[tuple[int, int]], first: int, last: int, count: CountTokens
) -> int:
    return count([text[sentences[first][0] : sentences[last - 1][1]]])[0]
