"""Checking answers by meaning: key facts in place, a judge's yes/no, sources that disagree."""

from __future__ import annotations

import pytest

from rag.answer.support import check_support, facts_in_place, key_facts
from rag.config import Settings
from rag.errors import ModelError
from rag.service import RagService
from rag.text.conflict import find_conflicts, sentences_conflict
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.test_pipeline import ARTICLE_A, ARTICLE_B, ChatTemplateGenerator

SENTENCE = "Both offers, he said, were turned down by Supreme Leader Ali Khamenei."
QUESTION = "Who turned down Rouhani's offers to resign?"


def test_key_facts_are_the_names_and_numbers_the_question_lacks():
    assert key_facts("Supreme Leader Ali Khamenei turned them down [1].", QUESTION) == [
        "Supreme",
        "Leader",
        "Ali",
        "Khamenei",
    ]
    assert key_facts("Rouhani said it in 2020.", QUESTION) == ["2020"]
    assert key_facts("The offers were refused.", QUESTION) == []


@pytest.mark.parametrize(
    ("claim", "missing"),
    [
        ("Ali Khamenei turned them down.", []),
        ("Mohammad Javad Zarif turned them down.", ["Mohammad", "Javad", "Zarif"]),
        ("They were turned down 3 times.", ["3"]),
    ],
)
def test_a_name_or_number_from_elsewhere_fails(claim, missing):
    assert facts_in_place(claim, QUESTION, SENTENCE) == missing


def test_a_pronoun_lets_a_name_come_from_the_sentence_before():
    before = ["Rouhani spoke to reporters on Sunday."]
    claim = "Rouhani said Khamenei turned down both offers."
    assert facts_in_place(claim, "What did the president say?", SENTENCE, before) == []
    # Numbers must stand in the cited sentence itself.
    assert facts_in_place("Rouhani, 71, said so.", "Who spoke?", SENTENCE, ["Rouhani, 71"]) == [
        "71"
    ]


def test_an_abbreviation_matches_the_name_it_stands_for():
    sentence = "The letter was carried by an adviser from the United Arab Emirates."
    assert facts_in_place("An adviser from the UAE carried it.", "Who carried it?", sentence) == []


class Judge:
    judge_threshold = 0.5

    def __init__(self, p_yes: float):
        self.p_yes = p_yes
        self.asked = []

    def judge(self, messages):
        self.asked.append(messages[-1]["content"])
        return self.p_yes


def test_the_judge_decides_once_the_facts_are_in_place():
    yes, no = Judge(0.9), Judge(0.1)
    claim = "Khamenei turned down both offers."
    assert check_support(claim, QUESTION, SENTENCE, judge=yes).supported
    verdict = check_support(claim, QUESTION, SENTENCE, judge=no)
    assert not verdict.supported and verdict.p_yes == 0.1
    assert SENTENCE in no.asked[0] and claim in no.asked[0]
    # A short answer is read together with the question it answers.
    check_support("Ali Khamenei.", QUESTION, SENTENCE, judge=no)
    assert QUESTION in no.asked[1] and "Ali Khamenei." in no.asked[1]
    # A missing name fails before any model is asked.
    unasked = Judge(0.9)
    assert not check_support("Zarif turned them down.", QUESTION, SENTENCE, judge=unasked).supported
    assert unasked.asked == []


def test_sentences_that_swap_one_fact_conflict():
    assert sentences_conflict(
        "Facebook purchased WhatsApp in 2014.", "Apple purchased WhatsApp in 2014."
    ) == (("facebook",), ("apple",))
    assert sentences_conflict("The storm killed 12 people.", "The storm killed 15 people.")
    assert sentences_conflict("The storm killed 12 people.", "The storm killed 12 people.") is None
    assert sentences_conflict("Trump met Putin.", "Voters in Ohio chose a new governor.") is None


class JudgingGenerator(ChatTemplateGenerator):
    """An instruction model with a judge that says yes only to sentences holding ``truth``."""

    judge_threshold = 0.5

    def __init__(self, replies, truth: str):
        super().__init__(replies)
        self.truth = truth
        self.judged = []

    def judge(self, messages):
        content = messages[-1]["content"]
        self.judged.append(content)
        return 0.95 if self.truth in content.split("Hypothesis:")[0] else 0.05


def _service(tmp_path, write_articles, generator, articles=None):
    svc = RagService(
        Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder(), generator=generator
    )
    svc.index_paths([write_articles(articles or {"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
    return svc


def test_an_answer_the_judge_rejects_is_not_shown(tmp_path, write_articles):
    generator = JudgingGenerator(["Engineers replaced 240 steel cables [1]."], truth="nowhere")
    answer = _service(tmp_path, write_articles, generator).ask(
        "How many steel cables were replaced?"
    )
    assert generator.judged, "the judge was asked"
    assert "240 steel cables" not in answer.text
    assert answer.abstained or answer.quoted is False


def test_an_answer_the_judge_accepts_is_cited(tmp_path, write_articles):
    generator = JudgingGenerator(["Engineers replaced 240 steel cables [1]."], truth="240")
    answer = _service(tmp_path, write_articles, generator).ask(
        "How many steel cables were replaced?"
    )
    assert not answer.abstained and "240" in answer.text
    assert answer.citations and "240" in answer.citations[0].text


def _judged_service(tmp_path, write_articles, answers, judge):
    """A base model answers; a separate instruction model (``judge_model``) judges."""
    svc = RagService(
        Settings(index_dir=tmp_path / "idx", judge_model="judge.gguf"),
        embedder=FakeEmbedder(),
        generator=FakeGenerator(answers),
        judge=judge,
    )
    svc.index_paths([write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
    return svc


def test_a_separate_judge_checks_a_base_models_answer(tmp_path, write_articles):
    question = "How many steel cables were replaced?"
    rejecting = JudgingGenerator([""], truth="nowhere")
    answer = _judged_service(
        tmp_path / "no", write_articles, ["Engineers replaced 240 steel cables [1]."], rejecting
    ).ask(question)
    assert rejecting.judged, "the judge model was asked"
    assert "240 steel cables" not in answer.text

    accepting = JudgingGenerator([""], truth="240")
    answer = _judged_service(
        tmp_path / "yes", write_articles, ["Engineers replaced 240 steel cables [1]."], accepting
    ).ask(question)
    assert accepting.judged and not answer.abstained and "240" in answer.text


def test_a_judge_model_without_a_chat_template_is_refused(tmp_path, write_articles):
    svc = _judged_service(tmp_path, write_articles, ["The articles do not say."], FakeGenerator())
    with pytest.raises(ModelError, match="must be an instruction model"):
        svc.ask("How many steel cables were replaced?")


def test_a_conflicting_source_is_cited_beside_the_answer(tmp_path, write_articles):
    one = (
        "Ferry service resumes\n\nPortville, March 3, 2024\n\n"
        "The ferry line to Gull Island resumed service on Monday after a winter pause. "
        "The operator said 14 crossings a day would run through the summer."
    )
    other = (
        "Island ferry back in service\n\nHarbor Times, March 3, 2024\n\n"
        "Passengers were back on the water this week as boats returned to the island. "
        "The operator said 9 crossings a day would run through the summer."
    )
    generator = JudgingGenerator(
        ["The operator said 14 crossings a day would run [1]."], truth="14"
    )
    svc = _service(tmp_path, write_articles, generator, {"a.md": one, "b.md": other})
    answer = svc.ask("How many ferry crossings a day will the operator run?")
    assert answer.conflict and not answer.abstained
    assert "disagree" in answer.text
    cited = " ".join(c.text for c in answer.citations)
    assert "14 crossings" in cited and "9 crossings" in cited
    found = find_conflicts(answer.passages)
    assert found and {found[0].facts[0], found[0].facts[1]} == {("14",), ("9",)}


@pytest.mark.parametrize(
    ("question", "text", "gives"),
    [
        ("Who is Iran's defence minister?", "Iran's minister said the talks were off.", False),
        ("Who is Iran's defence minister?", "Defence Minister Aziz Nasirzadeh spoke.", True),
        ("When was Soleimani killed?", "Soleimani was killed near Baghdad airport.", False),
        ("When was Soleimani killed?", "A strike killed him on January 3, 2020.", True),
        ("When do the gates open?", "The gates open at 10 pm.", True),
        ("How many missiles did Iran fire?", "Iran fired missiles at US bases.", False),
        ("How many times did he offer to resign?", "He offered to resign twice.", True),
        ("What did Khamenei say about talks?", "He said talks were not wise.", True),
    ],
)
def test_an_answer_must_hold_the_kind_of_thing_asked_for(question, text, gives):
    from rag.answer.support import asked_kind, gives_kind

    assert gives_kind(text, question, asked_kind(question)) is gives


def test_a_quote_that_only_shares_the_question_names_is_not_offered(tmp_path, write_articles):
    from tests.fakes import FakeGenerator

    svc = _service(tmp_path, write_articles, FakeGenerator(["The articles do not say."]))
    # The passages name the library and its hours, but hold no count of books.
    answer = svc.ask("How many books does the central library in Laketon hold?")
    assert answer.abstained and not answer.quoted


def test_an_answer_that_only_repeats_the_question_is_not_shown(tmp_path, write_articles):
    from tests.fakes import FakeGenerator

    svc = _service(
        tmp_path, write_articles, FakeGenerator(["The harbor bridge in Portville reopened [1]."])
    )
    answer = svc.ask("Which harbor bridge in Portville reopened?")
    assert "The harbor bridge in Portville reopened [1]" not in answer.text
    assert answer.unsupported == ("The harbor bridge in Portville reopened [1].",) or (
        answer.abstained and answer.reason == "the answer only repeats the question"
    )
