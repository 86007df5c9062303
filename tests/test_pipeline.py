"""The question-answering service with fake models: retrieval, prompting, citations."""

from __future__ import annotations

import threading
from typing import ClassVar

import pytest

from rag.config import Settings
from rag.errors import IndexNotFoundError, InputError
from rag.search.query import needs_context, search_query_for
from rag.service import RagService
from rag.types import AnswerEvent, SearchFilter, TokenEvent, Turn
from tests.fakes import FakeEmbedder, FakeGenerator, FakeJudge, register_generator
from tests.test_index import ARTICLE_A, ARTICLE_B


@pytest.fixture
def service(tmp_path, write_articles):
    def make(replies=("The articles do not say.",)):
        svc = RagService(
            Settings(index_dir=tmp_path / "idx"),
            embedder=FakeEmbedder(),
            generator=FakeGenerator(replies),
        )
        svc.index_paths([write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
        return svc

    return make


def test_answer_streams_then_gives_checked_citations(service):
    svc = service(["Engineers replaced 240 steel cables [2]."])
    events = list(svc.ask_stream("How many steel cables were replaced on the harbor bridge?"))
    tokens = [e.text for e in events if isinstance(e, TokenEvent)]
    assert len(tokens) > 3
    answer = events[-1].answer
    assert isinstance(events[-1], AnswerEvent)
    assert not answer.abstained
    assert answer.passages[0].title == "Harbor bridge reopens after repairs"
    (citation,) = answer.citations
    article = svc.article(citation.passage.doc_id)
    assert article.text[citation.start : citation.end] == citation.text
    assert "240 steel cables" in citation.text
    # The model cited [2]; the passage that supports it is the top one.
    assert answer.text == f"Engineers replaced 240 steel cables [{citation.marker}]."
    assert answer.timings.first_token_ms is not None
    assert answer.timings.total_ms >= answer.timings.retrieve_ms


def test_prompt_carries_the_retrieved_passages(service):
    svc = service(["The library stays open until 10 pm."])
    svc.ask("When does the Laketon library close?")
    prompt = svc.generator.prompts[-1]
    assert "Laketon" in prompt and "When does the Laketon library close?" in prompt


def test_passage_words_bounds_what_the_model_reads(tmp_path, write_articles):
    def prompt_words(passage_words):
        svc = RagService(
            Settings(
                index_dir=tmp_path / f"idx{passage_words}",
                passage_words=passage_words,
                reader="passages",
            ),
            embedder=FakeEmbedder(),
            generator=FakeGenerator(["The articles do not say."]),
        )
        svc.index_paths([write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
        svc.ask("How many steel cables were replaced on the harbor bridge?", k=1)
        return len(svc.generator.prompts[-1].split())

    assert prompt_words(12) < prompt_words(90)


def test_abstention_keeps_the_closest_passages(service):
    svc = service(["The articles do not say."])
    answer = svc.ask("Who won the football match?")
    assert answer.abstained and answer.citations == ()
    assert answer.text == "The articles do not say."
    assert len(answer.passages) > 0


def test_follow_up_retrieves_with_the_conversation(service):
    svc = service()
    history = [Turn("What happened to the harbor bridge in Portville?", "It reopened [1].")]
    answer = svc.ask("How much did it cost?", history=history)
    assert "harbor bridge" in answer.search_query
    assert answer.passages[0].title.startswith("Harbor bridge")


@pytest.mark.parametrize("question", ["", "   \n ", "x" * 100_000])
def test_bad_questions_are_input_errors(service, question):
    with pytest.raises(InputError):
        service().ask(question)


def test_new_articles_are_seen_without_restart(service, write_articles):
    svc = service()
    assert len(svc.documents()) == 2
    svc.index_paths(
        [write_articles({"c.md": "# Third story\n\nA third story about ferries."}, folder="more")]
    )
    assert len(svc.documents()) == 3


def test_missing_index(tmp_path):
    svc = RagService(Settings(index_dir=tmp_path / "none"), embedder=FakeEmbedder())
    with pytest.raises(IndexNotFoundError):
        svc.search("anything")


def test_a_looping_model_is_cut_off(service):
    # (A "When" question would now refuse this dateless answer; see test_support.)
    svc = service(["The bridge reopened [1]. " * 30])
    answer = svc.ask("What happened to the harbor bridge?")
    assert answer.text.count("The bridge reopened") == 1
    # Generation stopped at the first repeat instead of running to max_tokens.
    tokens = [
        e
        for e in svc.ask_stream("What happened to the harbor bridge?")
        if isinstance(e, TokenEvent)
    ]
    assert len(tokens) < 12


class OneAtATime(FakeJudge):
    """An instruction model that, like llama.cpp's, serves one call at a time: writing holds
    its lock until the stream ends, and judging waits for it (here at most 5 s)."""

    def __init__(self, reply: str) -> None:
        super().__init__(["bridge"])
        self.replies = [reply]
        self.lock = threading.Lock()

    def stream_chat(self, messages, *, max_tokens, temperature, stop=()):
        with self.lock:
            yield from self.stream(
                messages[-1]["content"], max_tokens=max_tokens, temperature=temperature
            )

    def judge(self, messages):
        if not self.lock.acquire(timeout=5):
            raise AssertionError("the judge waited for a stream that was never closed")
        self.lock.release()
        return super().judge(messages)


def test_a_stream_cut_off_for_looping_frees_the_model_for_its_own_judge(tmp_path, write_articles):
    model = OneAtATime("The harbor bridge reopened on Monday [1]. " * 30)
    svc = RagService(Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder(), generator=model)
    svc.index_paths([write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
    answer = svc.ask("What happened to the harbor bridge?")
    assert model.judged  # the answer was judged, after the loop was cut off
    assert answer.text.count("reopened on Monday") == 1


def test_repeats_itself():
    from rag.answer.loops import repeats_itself

    assert repeats_itself("It rained. It rained.")
    assert not repeats_itself("It rained. It")
    assert not repeats_itself("It rained. Then it snowed.")


class ChatTemplateGenerator(FakeGenerator):
    """A model with a chat template is prompted with messages, not a completion prompt."""

    def __init__(self, replies):
        super().__init__(replies)
        self.messages = []

    @property
    def has_chat_template(self) -> bool:
        return True

    def stream(self, prompt, **kwargs):  # pragma: no cover - must not be called
        raise AssertionError("a chat model gets messages")

    def stream_chat(self, messages, *, max_tokens, temperature, stop=()):
        self.messages.append(messages)
        yield from super().stream("", max_tokens=max_tokens, temperature=temperature)


def test_models_with_a_chat_template_get_messages(tmp_path, write_articles):
    generator = ChatTemplateGenerator(["Engineers replaced 240 steel cables [1]."])
    svc = RagService(
        Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder(), generator=generator
    )
    svc.index_paths([write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
    answer = svc.ask("How many steel cables were replaced?")
    system, user = generator.messages[-1]
    assert system["role"] == "system" and "[1]" in system["content"]
    assert user["content"].endswith("Question: How many steel cables were replaced?")
    assert "[1] Harbor bridge reopens after repairs" in user["content"]
    assert answer.citations and not answer.abstained


def test_an_answer_no_passage_supports_becomes_an_abstention(service):
    svc = service(["The bridge was painted purple by volunteers [1]."])
    answer = svc.ask("What colour did volunteers paint the bridge?")
    assert answer.abstained and answer.text == "The articles do not say."
    assert answer.reason == "no passage supports the model's answer"
    assert answer.unsupported == ("The bridge was painted purple by volunteers.",)
    assert answer.passages  # the closest passages are still shown


def test_an_unchecked_answer_gives_way_to_the_closest_sentence_quoted(service):
    svc = service(["The bridge was painted purple by volunteers [1]."])
    answer = svc.ask("When did the harbor bridge in Portville reopen?")
    assert not answer.abstained and answer.quoted
    (citation,) = answer.citations
    assert (
        citation.text
        == "The harbor bridge in Portville reopened on Monday after eight months of repairs."
    )
    assert answer.text == f"The articles say: \u201c{citation.text}\u201d [{citation.marker}]"
    article = svc.article(citation.passage.doc_id)
    assert article.text[citation.start : citation.end] == citation.text
    assert answer.unsupported == ("The bridge was painted purple by volunteers.",)


def test_a_supported_answer_to_another_question_is_not_passed_off(service):
    # "10 pm" is in a passage, but that passage is about a library, not a stadium.
    svc = service(["10 pm [1]."])
    answer = svc.ask("When does the Portville stadium open its gates for the final?")
    assert answer.abstained
    assert answer.reason == "the passages that support the answer are about something else"


def test_an_answer_citing_a_sentence_that_states_something_else_is_not_passed_off(service):
    # The passage is about the cables, but the sentence cited says what the works cost:
    # "31 million" is true and cited, and no answer to how many cables were replaced.
    svc = service(["31 million [1]."])
    answer = svc.ask("How many steel cables did engineers replace on the Portville bridge?")
    assert answer.quoted and answer.unsupported == ("31 million [1].",)
    (citation,) = answer.citations
    assert citation.text == "Engineers replaced 240 steel cables and resurfaced the deck."


def test_a_cited_answer_on_another_topic_than_the_one_asked_about_is_not_passed_off(service):
    # True and cited, but about the deck, while the question asks about the cost.
    svc = service(["Engineers resurfaced the deck [1]."])
    answer = svc.ask("What did the city council say about the cost?")
    assert answer.quoted and answer.unsupported == ("Engineers resurfaced the deck [1].",)
    (citation,) = answer.citations  # the sentence about the cost, quoted instead
    assert citation.text == "The city council said the project cost 31 million dollars."
    # The same answer stands when the question asks about what it says.
    svc = service(["Engineers resurfaced the deck of the harbor bridge [1]."])
    answer = svc.ask("What did the engineers do about the deck of the bridge?")
    assert not answer.abstained and not answer.quoted and answer.citations


def test_filters_reach_retrieval(service):
    svc = service(["The library stays open until 10 pm [1]."])
    answer = svc.ask("When does the library close?", where=SearchFilter(date_to="2024-03-31"))
    assert {p.title for p in answer.passages} == {"Harbor bridge reopens after repairs"}


def test_stand_alone_questions_are_searched_as_they_are():
    history = [Turn("How old was Rouhani at his news conference?", "71")]
    assert search_query_for("Who won the 2022 World Cup?", history) == (
        "Who won the 2022 World Cup?"
    )
    assert not needs_context("Who won the 2022 World Cup?")
    rewritten = search_query_for("What did he say about resigning?", history)
    assert rewritten.startswith("What did he say about resigning?")
    assert "Rouhani" in rewritten and "conference" in rewritten
    assert needs_context("And why?")


class LoadingEmbedder(FakeEmbedder):
    """The fake embedder with a load step that takes time, recording where it ran."""

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__()
        self.seconds = seconds
        self.loaded_in: list[str] = []

    def warm_up(self) -> None:
        import threading
        import time

        self.loaded_in.append(threading.current_thread().name)
        time.sleep(self.seconds)


class LoadingGenerator(FakeGenerator):
    """A language model built by the service, loaded by ``warm_up``, as llama.cpp's is."""

    loaded_in: ClassVar[list[str]] = []
    error: ClassVar[Exception | None] = None

    def __init__(self, model=None, **options) -> None:
        super().__init__(["Engineers replaced 240 steel cables [1]."])

    def warm_up(self) -> None:
        import threading

        if LoadingGenerator.error is not None:
            raise LoadingGenerator.error
        LoadingGenerator.loaded_in.append(threading.current_thread().name)


@pytest.fixture
def loading_service(tmp_path, write_articles, monkeypatch):
    """A service that loads its models the way the product does, with stand-ins for them."""
    register_generator(monkeypatch, "loading", LoadingGenerator)
    monkeypatch.setattr(LoadingGenerator, "loaded_in", [])
    monkeypatch.setattr(LoadingGenerator, "error", None)
    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    RagService(Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder()).index_paths([folder])

    def make(seconds: float = 0.0) -> tuple[RagService, LoadingEmbedder]:
        embedder = LoadingEmbedder(seconds)
        settings = Settings(index_dir=tmp_path / "idx", model="loading")
        return RagService(settings, embedder=embedder), embedder

    return make


def test_the_two_models_load_together(loading_service):
    svc, embedder = loading_service()
    svc.warm_up()
    # The language model in a thread of its own while the embedder loads in the caller's.
    assert LoadingGenerator.loaded_in == ["rag-load-model"]
    assert embedder.loaded_in == ["MainThread"]
    svc.warm_up()
    assert len(LoadingGenerator.loaded_in) == len(embedder.loaded_in) == 1


def test_a_model_that_fails_to_load_raises_in_the_caller(loading_service):
    from rag.errors import ModelError

    svc, _ = loading_service()
    LoadingGenerator.error = ModelError("Could not load broken.gguf as a GGUF model.")
    with pytest.raises(ModelError, match=r"broken\.gguf"):
        svc.warm_up()
    with pytest.raises(ModelError, match=r"broken\.gguf"):
        svc.ask("How many steel cables were replaced?")


def test_loading_is_timed_apart_from_retrieval(loading_service):
    svc, _ = loading_service(seconds=0.3)
    first = svc.ask("How many steel cables were replaced?").timings
    assert first.load_ms >= 300
    # Retrieving from two fake articles takes milliseconds; the 300 ms load is not in it.
    assert first.retrieve_ms < first.load_ms
    again = svc.ask("How many steel cables were replaced?").timings
    assert again.load_ms == 0
    # An index changed on disk is read again, and that reading counts as loading too.
    (library,) = [i.article for i in svc.documents() if "Library" in i.article.title]
    svc.remove([library.doc_id])
    assert svc.ask("How many steel cables were replaced?").timings.load_ms > 0


def test_search_never_loads_the_language_model(loading_service):
    svc, _ = loading_service()
    assert svc.search("How many steel cables were replaced?")
    assert LoadingGenerator.loaded_in == []
    assert svc.documents() and LoadingGenerator.loaded_in == []
