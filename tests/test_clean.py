"""Cleaning: metadata from news layout, site furniture removed, real paragraphs kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag.ingest.clean import clean_document, normalise_text, parse_date, unwrap_lines
from rag.ingest.files import load_documents
from rag.types import RawDocument
from tests.conftest import SAMPLES, SEEDS


def clean(text: str, **meta):
    return clean_document(RawDocument(text=text, origin="/x.txt", **meta))


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("February 17, 2020", "2020-02-17"),
        ("Feb. 17, 2020", "2020-02-17"),
        ("17 February 2020", "2020-02-17"),
        ("Wednesday 12 March 2025", "2025-03-12"),
        ("2020-02-17", "2020-02-17"),
        ("2023/01/06", "2023-01-06"),
        ("on the 3rd", None),
        ("February 31st, 99999", None),
    ],
)
def test_parse_date(text, iso):
    assert parse_date(text) == iso


def test_headline_dateline_and_source_line():
    article = clean(
        "# Bridge reopens\n\nMarch 3, 2024 — PORTVILLE (Test Wire)\n\n"
        "The bridge reopened on Monday.\n\nIt cost 31 million dollars.\n\n"
        "Source: Test Wire"
    )
    assert article.title == "Bridge reopens"
    assert article.date == "2024-03-03"
    assert article.source == "Test Wire"
    assert article.text == "The bridge reopened on Monday.\n\nIt cost 31 million dollars."


def test_explicit_metadata_wins_and_repeated_title_is_dropped():
    article = clean(
        "Given title\nGiven title\nBody sentence one. Body two.",
        title="Given title",
        date="2023/01/06",
        source="Feed",
    )
    assert (article.title, article.date, article.source) == ("Given title", "2023-01-06", "Feed")
    assert article.text == "Body sentence one. Body two."


def test_long_first_paragraph_is_body_and_title_is_its_first_sentence():
    body = (
        "TEHRAN – The president said on Tuesday that talks would only happen on equal terms, "
        "and he repeated that the country would not negotiate under threats. More followed."
    )
    article = clean(body)
    assert article.text.startswith("TEHRAN –")
    assert article.title.endswith("…") and len(article.title) <= 101


def test_furniture_is_removed_but_paragraphs_stay():
    article = clean(
        "Title line\n\nA photo of the minister. Photo credit: Agency\n\n"
        "First real paragraph about the talks.\n\nSign up for our newsletter\n\n"
        "Advertisement\n\nSecond real paragraph, about sanctions.\n\n"
        "Follow us on social media\n\nThird paragraph mentions the subscription fee increase."
    )
    assert "Photo credit" not in article.text
    assert "newsletter" not in article.text and "Advertisement" not in article.text
    assert "Follow us" not in article.text
    assert "First real paragraph" in article.text
    assert "Third paragraph mentions the subscription fee increase." in article.text


def test_about_block_at_the_end_goes_with_the_outlet_line():
    body = "\n\n".join(f"Paragraph {i} of the story with some words." for i in range(8))
    article = clean(
        f"Title\n\n{body}\n\nSome Outlet\n\nAbout Some Site\n\nSome Site is a platform."
    )
    assert article.text.endswith("Paragraph 7 of the story with some words.")
    assert article.source == "Some Outlet"


def test_about_in_the_body_is_kept():
    article = clean("Title\n\nAbout 300 people attended.\n\n" + "More text here. " * 40)
    assert article.text.startswith("About 300 people attended.")


def test_nothing_left_gives_none():
    assert clean("Source: Someone") is None


def test_normalise_text():
    assert normalise_text("a\u00a0b\r\nc  \n\n\n\nd\u200b") == "a b\nc\n\nd"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared seeds not present")
def test_real_seed_articles():
    docs, problems = load_documents([SEEDS])
    assert problems == []
    by_name = {d.origin.rsplit("/", 1)[1][:3]: clean_document(d) for d in docs}
    rouhani = by_name["000"]
    assert rouhani.date == "2020-02-17"
    assert "offered to resign twice" in rouhani.text
    assert "About Track Persia" not in rouhani.text and "Platform run by" not in rouhani.text
    assert "(Reuters)" not in rouhani.text
    aljazeera = by_name["004"]
    assert (
        aljazeera.title
        == "Iran rules out direct talks with US while Trump exerts ‘maximum pressure’"
    )
    assert aljazeera.text.count("Iran rules out direct talks") == 0
    assert aljazeera.source == "Aljazeera"
    assert "234Radio" not in aljazeera.text
    tehran = by_name["003"]
    assert tehran.text.startswith("TEHRAN")
    assert len(tehran.title) <= 101
    assert "Photo credit" not in by_name["002"].text


def test_sample_corpus_metadata():
    docs, problems = load_documents([SAMPLES])
    articles = [clean_document(d) for d in docs]
    assert len(articles) >= 8 and problems == []
    for a in articles:
        assert a.date and a.date[:2] == "20"
        assert a.source.startswith("Newsrag Sample Desk")
        assert not a.text.startswith("#") and "Source:" not in a.text


@given(st.text(max_size=3000))
def test_cleaning_never_crashes_and_is_deterministic(text):
    raw = RawDocument(text=text, origin="/h.txt")
    first, second = clean_document(raw), clean_document(raw)
    assert first == second
    if first is not None:
        assert first.title.strip() and first.text.strip()
        assert first.doc_id == first.make_id(first.text)


def test_hard_wrapped_paragraphs_are_joined_but_structure_stays():
    text = (
        "The ferry between Glenmore island and the mainland\n"
        "returned to service on Tuesday after eleven weeks in dry dock. The\n"
        "harbour office said the vessel received a new propeller.\n"
        "Officials listed three changes:\n"
        "- a new propeller\n"
        "- a repainted hull\n"
        "Short label\n"
        "Next line stays apart."
    )
    assert unwrap_lines(text).split("\n") == [
        "The ferry between Glenmore island and the mainland returned to service on Tuesday "
        "after eleven weeks in dry dock. The harbour office said the vessel received a new "
        "propeller.",
        "Officials listed three changes:",
        "- a new propeller",
        "- a repainted hull",
        "Short label",
        "Next line stays apart.",
    ]


def test_a_wrapped_sentence_is_one_sentence_of_the_cleaned_article():
    raw = RawDocument(
        "# Ferry returns\n\nThe harbour office said on Tuesday afternoon that the vessel, the\n"
        "Saint Brendan, received a new propeller and a repainted hull.\n",
        origin="ferry.md",
    )
    article = clean_document(raw)
    assert article.title == "Ferry returns"
    assert article.text == (
        "The harbour office said on Tuesday afternoon that the vessel, the Saint Brendan, received "
        "a new propeller and a repainted hull."
    )


def test_a_one_line_article_is_its_own_title_and_text():
    article = clean_document(RawDocument("Café owners in Orléans met on Monday.", origin="a.txt"))
    assert article.title == article.text == "Café owners in Orléans met on Monday."
    assert clean_document(RawDocument("February 17, 2020", origin="b.txt")) is None
