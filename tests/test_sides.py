"""Sources that disagree: which other sentence is the other side, and which is not."""

from __future__ import annotations

from rag.answer.sides import with_other_side
from rag.types import Answer, Chunk, Citation, ScoredPassage


def passage(doc: str, text: str, rank: int) -> ScoredPassage:
    chunk = Chunk(f"{doc}-c{rank}", doc, text, 0, len(text), len(text.split()))
    return ScoredPassage(chunk, 1.0 / rank, rank, title=f"Article {doc}")


def answered(text: str, cited: ScoredPassage, sentence: str, question: str) -> Answer:
    start = cited.text.index(sentence)
    citation = Citation(1, cited, sentence, start, start + len(sentence))
    return Answer(question, text, abstained=False, citations=(citation,))


ROWING = "Who won the Lakeside rowing regatta in 2025?"
WON_SENTENCE = "The Lakeside rowing regatta in 2025 was won by the Harbor Club crew."
WON = WON_SENTENCE + " Its eight crossed the line two lengths clear."
ANSWER = "The Harbor Club crew won [1]."


def test_a_near_copy_of_the_cited_sentence_with_another_name_is_the_other_side():
    mine = passage("a", WON, 1)
    theirs = passage("b", "The Lakeside rowing regatta in 2025 was won by the Millbrook crew.", 2)
    sided = with_other_side(answered(ANSWER, mine, WON_SENTENCE, ROWING), ROWING, [mine, theirs])
    assert sided.conflict and sided.citations[-1].passage is theirs
    assert sided.text == (
        f"{ANSWER} The sources disagree: another article says \u201cThe Lakeside rowing "
        "regatta in 2025 was won by the Millbrook crew.\u201d [2]."
    )


def test_two_near_copies_elsewhere_that_differ_at_the_answer_are_the_other_side():
    """The cited sentence has no copy; two other articles copy each other, one altered."""
    mine = passage("a", WON, 1)
    true_copy = passage("b", "Harbor Club took the title at the regatta on the lake.", 2)
    altered = passage("c", "Millbrook took the title at the regatta on the lake.", 3)
    answer = answered(ANSWER, mine, WON_SENTENCE, ROWING)
    sided = with_other_side(answer, ROWING, [mine, true_copy, altered])
    assert sided.conflict and sided.citations[-1].passage is altered
    assert sided.citations[-1].text == "Millbrook took the title at the regatta on the lake."


def test_two_copies_that_differ_elsewhere_than_the_answer_are_left_alone():
    mine = passage("a", WON, 1)
    one = passage("b", "Harbor Club took the title before 3,000 people on the lake.", 2)
    other = passage("c", "Harbor Club took the title before 5,000 people on the lake.", 3)
    answer = answered(ANSWER, mine, WON_SENTENCE, ROWING)
    assert with_other_side(answer, ROWING, [mine, one, other]) is answer


def test_a_sentence_in_words_of_its_own_is_not_called_the_other_side():
    """Another winner in other words is not found: words alone picked the wrong sentences
    too often (another award, another film) to tell a reader that sources disagree."""
    mine = passage("a", WON, 1)
    theirs = passage("b", "Millbrook's eight finished first at Lakeside, its coach told us.", 2)
    answer = answered(ANSWER, mine, WON_SENTENCE, ROWING)
    assert with_other_side(answer, ROWING, [mine, theirs]) is answer


def test_another_passage_of_the_cited_article_is_never_the_other_side():
    mine = passage("a", WON, 1)
    same_article = passage(
        "a", "The Lakeside rowing regatta in 2025 was won by the Millbrook crew.", 2
    )
    answer = answered(ANSWER, mine, WON_SENTENCE, ROWING)
    assert with_other_side(answer, ROWING, [mine, same_article]) is answer
