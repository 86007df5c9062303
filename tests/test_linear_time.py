"""Work grows in proportion to the text, whatever its shape.

Four times the input must cost about four times the work. The chunker's work
is counted exactly (the characters it hands the tokenizer); for the others the
CPU time of n and 4n characters is compared, the best of five runs each, with
a generous bound: a linear function gives a ratio near 4, a quadratic one 16.
No wall-clock limit is asserted.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import pytest

from rag.answer.injection import mask_instructions
from rag.ingest.chunk import ChunkerSettings, chunk_article
from rag.ingest.clean import clean_document
from rag.text.sentences import split_sentences
from rag.text.words import lexical_tokens
from rag.types import Article, RawDocument

N = 40_000  # characters; 4N = 160 KB, which took seconds to chunk when it was quadratic
RATIO = 8.0


def prose(n: int) -> str:
    sentence = "The council approved 12 million dollars for the harbour on Monday. "
    return (sentence * (n // len(sentence) + 1))[:n]


def unpunctuated(n: int) -> str:
    words = "council harbour budget cranes breakwater approved monday officials "
    return (words * (n // len(words) + 1))[:n]


def folded(n: int) -> str:
    """Unpunctuated text hard-wrapped at 72 columns: every line runs on into the next."""
    text = unpunctuated(n)
    return "\n".join(text[i : i + 72] for i in range(0, n, 72))


SHAPES: dict[str, Callable[[int], str]] = {
    "punctuated prose": prose,
    "no punctuation": unpunctuated,
    "no punctuation, folded lines": folded,
    "one giant word": lambda n: "x" * n,
    "only whitespace": lambda n: (" \t\n" * n)[:n],
    "only digits": lambda n: ("1234567890" * n)[:n],
    "a run of dots": lambda n: "Start " + "." * n + "end",
    "dots and spaces": lambda n: ". " * (n // 2),
    "line breaks": lambda n: "a\n" * (n // 2),
}


def cpu_seconds(work: Callable[[], object]) -> float:
    gc.disable()  # as timeit does: a collection landing in one run is not the function's cost
    try:
        started = time.process_time()
        work()
        return max(time.process_time() - started, 1e-4)  # below the clock's resolution
    finally:
        gc.enable()


def ratio(step: Callable[[str], object], shape: Callable[[int], str]) -> float:
    """CPU time of 4N characters over that of N, the best of five runs each.

    The runs alternate, so a busy neighbour on a shared machine slows both sizes alike.
    """
    small, large = shape(N), shape(4 * N)
    times_small, times_large = [], []
    for _ in range(5):
        times_small.append(cpu_seconds(lambda: step(small)))
        times_large.append(cpu_seconds(lambda: step(large)))
    return min(times_large) / min(times_small)


def clean(text: str) -> object:
    return clean_document(RawDocument(text, origin="x.txt"))


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize(
    "step",
    [split_sentences, clean, lexical_tokens, mask_instructions],
    ids=["split_sentences", "clean_document", "lexical_tokens", "mask_instructions"],
)
def test_cpu_time_grows_linearly(step, shape):
    got = ratio(step, shape)
    assert got < RATIO, f"4x the text took {got:.1f}x the CPU time"


class CountingTokenizer:
    """Word pieces as words (+2 special tokens); records how many characters it read."""

    def __init__(self) -> None:
        self.characters = 0

    def __call__(self, texts):
        self.characters += sum(len(t) for t in texts)
        return [len(t.split()) + 2 for t in texts]


def tokenized_characters(text: str) -> int:
    tokenizer = CountingTokenizer()
    article = Article(doc_id=Article.make_id(text), title="t", text=text)
    chunk_article(article, tokenizer, settings=ChunkerSettings(256, 200, 1))
    return tokenizer.characters


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_chunking_reads_each_character_a_bounded_number_of_times(shape):
    small, large = tokenized_characters(shape(N)), tokenized_characters(shape(4 * N))
    assert large <= RATIO * max(small, 1), f"{small} -> {large} characters tokenised"
    assert large <= 40 * 4 * N  # and a small multiple of the text itself


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_chunking_cpu_time_grows_linearly(shape):
    def chunk(text: str) -> object:
        article = Article(doc_id=Article.make_id(text), title="t", text=text)
        return chunk_article(article, CountingTokenizer(), settings=ChunkerSettings(256, 200, 1))

    got = ratio(chunk, shape)
    assert got < RATIO, f"4x the text took {got:.1f}x the CPU time"
