"""Sentence splitting and chunking: spans are exact, limits hold, nothing is lost."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.errors import ConfigError
from rag.ingest.chunk import ChunkerSettings, chunk_article
from rag.text.sentences import split_sentences
from rag.types import Article


def words(texts):
    return [len(t.split()) for t in texts]


def sentences(text):
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("Donald J. Trump spoke. He left.", ["Donald J. Trump spoke.", "He left."]),
        ("It rose 3.5 percent. Then fell.", ["It rose 3.5 percent.", "Then fell."]),
        (
            "The U.S. Treasury acted on Jan. 5. Oil fell.",
            ["The U.S. Treasury acted on Jan. 5.", "Oil fell."],
        ),
        (
            '"Never," he said. "Not now!" She left.',
            ['"Never," he said.', '"Not now!"', "She left."],
        ),
        ("Why? Because.", ["Why?", "Because."]),
        ("Headline\nTEHRAN – Body text here", ["Headline", "TEHRAN – Body text here"]),
        ("ends with lower. case continues", ["ends with lower. case continues"]),
    ],
)
def test_split_sentences(text, expected):
    assert sentences(text) == expected


def article(text: str) -> Article:
    return Article(doc_id=Article.make_id(text), title="t", text=text)


def test_chunks_overlap_by_one_sentence_and_are_slices():
    text = " ".join(f"Sentence number {i} is here." for i in range(30))
    chunks = chunk_article(article(text), words, settings=ChunkerSettings(50, 20, 1))
    assert len(chunks) > 3
    for before, after in pairwise(chunks):
        assert after.start < before.end  # they share the last sentence
        assert text[after.start : before.end].endswith("is here.")
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.n_tokens <= 50


def test_long_sentence_is_split_not_cut():
    text = "word " * 500 + "end."
    chunks = chunk_article(article(text.strip()), words, settings=ChunkerSettings(64, 32, 1))
    assert all(c.n_tokens <= 64 for c in chunks)
    covered = "".join(c.text for c in chunks).replace(" ", "")
    assert covered.count("word") >= 500 and covered.endswith("end.")


def test_join_cost_is_measured_not_assumed():
    # A counter where joining costs more than the parts: every space is a token.
    def inflating(texts):
        return [len(t) // 3 for t in texts]

    text = " ".join(f"Short sentence {i}." for i in range(60))
    chunks = chunk_article(article(text), inflating, settings=ChunkerSettings(40, 30, 1))
    assert all(inflating([c.text])[0] <= 40 for c in chunks)


def test_chunk_ids_are_stable_and_distinct():
    text = "One fact. Another fact. A third fact."
    first = chunk_article(article(text), words, settings=ChunkerSettings(3, 3, 0))
    again = chunk_article(article(text), words, settings=ChunkerSettings(3, 3, 0))
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == len(first) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 0}, "max_tokens must be greater than 0, got 0"),
        ({"max_tokens": 10, "target_tokens": 20}, "target_tokens must be between 1 and"),
        ({"overlap_sentences": -1}, "overlap_sentences must be 0 or more"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ChunkerSettings(**kwargs)


def _non_space_positions(text: str) -> set[int]:
    return {i for i, ch in enumerate(text) if not ch.isspace()}


@given(st.text(max_size=2000))
def test_sentence_spans_cover_every_character_once(text):
    spans = split_sentences(text)
    covered: list[int] = []
    last_end = 0
    for start, end in spans:
        assert last_end <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace()
        covered.extend(range(start, end))
        last_end = end
    assert _non_space_positions(text) <= set(covered)


@settings(max_examples=60, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=1500),
    st.integers(min_value=3, max_value=40),
    st.integers(min_value=0, max_value=3),
)
def test_chunks_respect_limits_and_cover_text(text, max_tokens, overlap):
    settings_ = ChunkerSettings(max_tokens, max(1, max_tokens // 2), overlap)
    chunks = chunk_article(article(text), words, settings=settings_)
    covered: set[int] = set()
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert words([c.text])[0] <= max_tokens
        covered.update(range(c.start, c.end))
    assert _non_space_positions(text) <= covered
