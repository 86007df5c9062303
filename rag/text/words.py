"""Words: the one word pattern, the stop words, and the terms BM25 and the checks match on.

Shared by search (BM25 tokens, near-duplicates), answering (citation checks,
prompts) and the index (BM25 persistence). Imports nothing of the project's.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# A word: letters and digits, no underscores.
WORD = re.compile(r"[^\W_]+", re.UNICODE)
# A word that may carry one apostrophe ("Iran's", "don’t"), as claims and quotes are read.
WORD_WITH_APOSTROPHE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)


# Function words and news reporting verbs: they match everywhere and decide nothing.
STOPWORDS = frozenset(
    """a an and are as at be been but by did do does for from had has have he her his i
    in into is it its of on or said says say she so than that the their them then there
    these they this to was we were what when where which who whom why will with would
    you your not no yes also after before about over under up out if can could should
    our us my me him how any all more most other some such only own same too very just
    may might must shall being""".split()
)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return STOPWORDS | frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def lexical_tokens(text: str) -> list[str]:
    """The terms BM25 matches on: stemmed, lower-case words that are not stop words."""
    stop = _stopwords()
    words = [w for w in (m.group(0).lower() for m in WORD.finditer(text)) if w not in stop]
    return _stemmer().stemWords(words) if words else []


def content_words(text: str) -> set[str]:
    """The lower-case words of ``text`` that are not stop words."""
    return {
        w
        for w in (m.group(0).lower() for m in WORD_WITH_APOSTROPHE.finditer(text))
        if w not in STOPWORDS
    }
