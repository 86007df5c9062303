"""Every example question the README and the chat offer is answered right by the real default
model, with a citation to the sentence that says it (slow: loads the real models)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, SAMPLES

# Each example question, and words of which the right answer holds at least one.
EXPECTED = {
    "What did Rouhani say about resigning?": ("step down", "quit", "leaving office", "resign"),
    "Who delivered Trump's letter to Khamenei?": ("Gargash",),
    "What did Araghchi say about talks with the United States?": (
        "negotiat",
        "pressure",
        "sanctions",
    ),
    "When was Qassem Soleimani killed?": ("January 3",),
    "What did Khamenei say about nuclear weapons?": (
        "choice",
        "not building",
        "no power",
        "rejected the idea that american pressure",
    ),
    "Why does Pezeshkian refuse to negotiate with Trump?": (
        "coerc",
        "orders",
        "sanctions",
        "hostile",
        "pressure",
    ),
}


def test_the_expectations_cover_every_example_question():
    listed = (ROOT / "samples" / "example_questions.txt").read_text().split("\n")
    assert sorted(q for q in listed if q.strip()) == sorted(EXPECTED)


@pytest.fixture(scope="module")
def sample_service(tmp_path_factory):
    from rag.config import Settings
    from rag.service import RagService

    service = RagService(Settings(index_dir=tmp_path_factory.mktemp("examples") / "idx"))
    service.index_paths([SAMPLES])
    return service


@pytest.mark.model
@pytest.mark.parametrize("question", sorted(EXPECTED))
def test_each_example_question_is_answered_right_and_cited(sample_service, question):
    answer = sample_service.ask(question)
    assert not answer.abstained, answer.reason
    wanted = EXPECTED[question]
    text = answer.text.lower()
    assert any(w.lower() in text for w in wanted), answer.text
    cited = " ".join(c.text for c in answer.citations).lower()
    assert any(w.lower() in cited for w in wanted), answer.citations
