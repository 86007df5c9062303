"""Citation checking: markers are verified against the passages, spans are exact."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rag.answer.cite import ABSTAIN_TEXT, closest_quote, is_abstention, relevance, verify_citations
from rag.types import Chunk, ScoredPassage

ARTICLE_1 = (
    "Intro sentence about the city. The harbor bridge reopened on Monday after eight months "
    "of repairs. Engineers replaced 240 steel cables."
)
ARTICLE_2 = "The library will stay open until 10 pm. Mayor Dana Ruiz announced the change."


def passage(article: str, start: int, rank: int, doc: str) -> ScoredPassage:
    text = article[start:]
    chunk = Chunk(f"c{rank}", doc, text, start, len(article), len(text.split()))
    return ScoredPassage(chunk=chunk, score=1.0 / rank, rank=rank, title=f"Title {doc}")


P1 = passage(ARTICLE_1, 31, 1, "d1")  # starts at "The harbor bridge..."
P2 = passage(ARTICLE_2, 0, 2, "d2")


def test_correct_marker_kept_with_exact_span():
    checked = verify_citations("The bridge reopened after eight months of repairs [1].", [P1, P2])
    (citation,) = checked.citations
    assert citation.marker == 1
    assert ARTICLE_1[citation.start : citation.end] == citation.text
    assert citation.text.startswith("The harbor bridge reopened")
    assert checked.text == "The bridge reopened after eight months of repairs [1]."
    assert checked.unsupported == ()


def test_wrong_marker_is_moved_to_the_supporting_passage():
    checked = verify_citations("Mayor Dana Ruiz announced the change [1].", [P1, P2])
    assert [c.marker for c in checked.citations] == [2]
    assert checked.text.endswith("[2].")
    assert ARTICLE_2[checked.citations[0].start : checked.citations[0].end].startswith("Mayor")


def test_missing_marker_is_added_and_unsupported_sentence_reported():
    checked = verify_citations(
        "Engineers replaced 240 steel cables. Aliens built the moon.", [P1, P2]
    )
    assert [c.marker for c in checked.citations] == [1]
    assert checked.text.startswith("Engineers replaced 240 steel cables [1].")
    assert checked.unsupported == ("Aliens built the moon.",)


def test_out_of_range_markers_are_ignored():
    checked = verify_citations("The library will stay open until 10 pm [7].", [P1, P2])
    assert [c.marker for c in checked.citations] == [2]
    assert "[7]" not in checked.text


def test_abstentions_are_recognised():
    assert is_abstention(ABSTAIN_TEXT)
    assert is_abstention("The passages don't mention it [1].")
    assert is_abstention("  ")
    assert not is_abstention("The bridge reopened on Monday [1].")


@given(st.text(max_size=300))
def test_any_answer_gives_spans_inside_the_cited_passage(answer):
    checked = verify_citations(answer, [P1, P2])
    for c in checked.citations:
        p = c.passage
        assert p.chunk.start <= c.start < c.end <= p.chunk.end
        article = ARTICLE_1 if p.doc_id == "d1" else ARTICLE_2
        assert article[c.start : c.end] == c.text


def test_repeated_sentences_are_said_once():
    checked = verify_citations(
        "Engineers replaced 240 steel cables [1]. Engineers replaced 240 steel cables [1].",
        [P1, P2],
    )
    assert checked.text == "Engineers replaced 240 steel cables [1]."
    assert len(checked.citations) == 1


def test_unsupported_sentences_are_left_out_of_the_text():
    checked = verify_citations("Aliens built the moon. Engineers replaced 240 cables.", [P1, P2])
    assert "Aliens" not in checked.text
    assert checked.unsupported == ("Aliens built the moon.",)


def test_a_short_answer_must_occur_whole_and_is_cited_where_it_answers():
    story = "Dana Ruiz was elected in 2019. Dana Ruiz, 52, opened the library on Friday."
    p = passage(story, 0, 1, "d3")
    checked = verify_citations("52", [p], "How old was Dana Ruiz when she opened the library?")
    assert checked.text == "52 [1]"
    assert checked.citations[0].text.startswith("Dana Ruiz, 52")
    wrong = verify_citations("61", [p], "How old was Dana Ruiz?")
    assert wrong.citations == () and wrong.unsupported == ("61",)


def test_a_half_right_short_answer_is_cut_to_the_passage_words():
    checked = verify_citations("On Monday, 2021.", [P1, P2], "When did the bridge reopen?")
    assert checked.text == "Monday [1]"
    (citation,) = checked.citations
    assert ARTICLE_1[citation.start : citation.end] == citation.text
    assert "reopened on Monday" in citation.text


def test_relevance_is_the_share_of_question_terms_in_the_passage():
    assert relevance("When did the harbor bridge reopen?", P1) == 1.0
    assert relevance("When did the harbor bridge reopen?", P2) == 0.0
    assert relevance("the of", P1) == 0.0


def test_closest_quote_needs_half_the_question_terms():
    quote = closest_quote("When did the harbor bridge reopen?", [P2, P1])
    assert quote is not None and quote.marker == 2
    assert quote.text.startswith("The harbor bridge reopened on Monday")
    assert ARTICLE_1[quote.start : quote.end] == quote.text
    assert closest_quote("Who painted the stadium purple?", [P1, P2]) is None


def test_a_cited_fragment_is_read_with_its_passage():
    from rag.answer.check import cited_text
    from rag.types import Citation

    table = "Assassin's Creed (film). Director: Justin Kurzel ; Screenwriters."
    cell = passage(table, 0, 1, "d3")
    start = table.index("Justin")
    fragment = Citation(1, cell, "Justin Kurzel ; Screenwriters.", start, len(table))
    sentence = Citation(1, P1, "Engineers replaced 240 steel cables.", 0, 10)
    assert cited_text([fragment]) == f"Title d3 {table}"
    assert cited_text([sentence]) == "Title d1 Engineers replaced 240 steel cables."
