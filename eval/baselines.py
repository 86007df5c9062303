"""Reference answerers the product is compared with, over the same chunks.

Closed-book (the model with no passages) and extractive (the top passage's
sentence that shares the most words with the question). The reference
retrievers are the product's own halves (``rag.search.retrieve``): BM25 alone, dense
alone, and their plain fusion without duplicate collapse.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.text.sentences import split_sentences
from rag.text.words import content_words
from rag.types import Generator, ScoredPassage


def extractive_answer(question: str, passages: Sequence[ScoredPassage]) -> str:
    """The sentence of the top passage that shares the most content words with the question."""
    if not passages:
        return ""
    text = passages[0].text
    words = content_words(question)
    best, best_score = "", -1
    for start, end in split_sentences(text):
        score = len(words & content_words(text[start:end]))
        if score > best_score:
            best, best_score = text[start:end], score
    return best


CLOSED_BOOK_PROMPT = "Answer the question in one short sentence.\nQuestion: {question}\nAnswer:"


def closed_book_answer(generator: Generator, question: str, *, max_tokens: int) -> str:
    pieces = generator.stream(
        CLOSED_BOOK_PROMPT.format(question=question),
        max_tokens=max_tokens,
        temperature=0.0,
        stop=("\nQuestion:", "\n\n"),
    )
    return "".join(pieces).strip()
