"""Syndicated copies: the same wire story under another headline, with another ending.

Exact copies share a content hash and are stored once anyway. A near-copy is
recognised by its word shingles: the share of word 5-grams the two texts have
in common (Jaccard) at or above ``COPY_JACCARD``. The threshold was measured on
team-written pairs (``python -m tests.test_syndication``): nine copies (another
last paragraph, the last paragraph dropped, an editor's line added, trimmed to
half, a sentence cut) scored 0.61 to 0.99; five pairs that are not copies (the
same subject, a follow-up quoting the story, two market reports from one
template with other figures) scored 0.00 to 0.11. 0.4 sits between, with room
on both sides.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from rag.types import Article

SHINGLE_WORDS = 5
COPY_JACCARD = 0.4
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def shingles(text: str, n: int = SHINGLE_WORDS) -> frozenset[int]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return frozenset({hash(" ".join(words))}) if words else frozenset()
    return frozenset(hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def similarity(text_a: str, text_b: str) -> float:
    return jaccard(shingles(text_a), shingles(text_b))


# Articles added since the last merge are looked up in a dict; past this many they are
# merged into the sorted arrays, which cost 12 bytes a shingle instead of about 200.
MERGE_EVERY = 256


@dataclass
class CopyFinder:
    """Finds, among known articles, one that tells the same story as a new one.

    Every indexed article is known, so its memory is what a refresh of a large index
    holds: each article's shingles live as (shingle, article number) pairs in two
    numpy arrays sorted by shingle, about 3.6 KB for a 300-word article, where a dict
    of Python sets took about 76 KB (a 5,000-item refresh peaked 400 MB higher).
    """

    threshold: float = COPY_JACCARD
    _articles: list[Article] = field(default_factory=list)
    _numbers: dict[str, int] = field(default_factory=dict)  # doc id -> article number
    _sizes: list[int] = field(default_factory=list)  # shingles per article
    _grams: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _owners: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    _recent: dict[int, list[int]] = field(default_factory=dict)  # not merged yet
    _recent_articles: int = 0

    def add(self, article: Article) -> None:
        if article.doc_id in self._numbers:
            return
        number = len(self._articles)
        grams = shingles(article.text)
        self._articles.append(article)
        self._numbers[article.doc_id] = number
        self._sizes.append(len(grams))
        for gram in grams:
            self._recent.setdefault(gram, []).append(number)
        self._recent_articles += 1
        if self._recent_articles >= MERGE_EVERY:
            self._merge()

    def add_all(self, articles: Iterable[Article]) -> None:
        for article in articles:
            self.add(article)

    def _merge(self) -> None:
        """Move the recent articles' shingles into the sorted arrays."""
        if not self._recent:
            return
        pairs = [(g, n) for g, numbers in self._recent.items() for n in numbers]
        grams = np.concatenate([self._grams, np.fromiter((g for g, _ in pairs), np.int64)])
        owners = np.concatenate([self._owners, np.fromiter((n for _, n in pairs), np.int32)])
        order = np.argsort(grams, kind="stable")
        self._grams, self._owners = grams[order], owners[order]
        self._recent = {}
        self._recent_articles = 0

    def _shared(self, grams: frozenset[int]) -> Counter[int]:
        """How many of ``grams`` each known article holds, by article number."""
        shared: Counter[int] = Counter(chain.from_iterable(self._recent.get(g, ()) for g in grams))
        if self._grams.size and grams:
            query = np.fromiter(grams, np.int64, len(grams))
            lefts = np.searchsorted(self._grams, query, side="left")
            counts = np.searchsorted(self._grams, query, side="right") - lefts
            held = counts > 0
            lefts, counts = lefts[held], counts[held]
            if counts.size:
                # The positions lefts[i] .. lefts[i] + counts[i] - 1, all at once.
                ends = np.cumsum(counts)
                positions = np.arange(ends[-1]) + np.repeat(lefts - (ends - counts), counts)
                numbers, hits = np.unique(self._owners[positions], return_counts=True)
                shared.update(dict(zip(numbers.tolist(), hits.tolist(), strict=True)))
        return shared

    def copy_of(self, article: Article, *, ignore_origins: Sequence[str] = ()) -> Article | None:
        """The known article ``article`` is a near-copy of, or None.

        Articles holding one of ``ignore_origins`` are skipped: an edited item
        is a new version of its own old text, not a copy of it.
        """
        grams = shingles(article.text)
        best: tuple[float, int] | None = None
        for number, count in self._shared(grams).items():
            other = self._articles[number]
            if other.doc_id == article.doc_id or set(other.origins) & set(ignore_origins):
                continue
            score = count / (len(grams) + self._sizes[number] - count)
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, number)
        return self._articles[best[1]] if best else None
