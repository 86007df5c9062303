"""Time words in questions become date windows counted from the asking day."""

from __future__ import annotations

import datetime

import pytest

from rag.config import Settings
from rag.search.dated import search_as_of
from rag.search.dates import mentioned_window, recent_window, within
from rag.service import RagService
from rag.types import SearchFilter
from tests.fakes import FakeEmbedder, FakeGenerator

DAY = datetime.date(2023, 1, 12)


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("Which team did he play for this week?", "2023-01-04", "2023-01-13"),
        ("What happened yesterday in Lima?", "2023-01-10", "2023-01-12"),
        ("Who resigned today?", "2023-01-11", "2023-01-13"),
        ("What did the court rule last month?", "2022-11-11", "2023-01-13"),
        ("What happened this year?", "2023-01-01", "2023-01-13"),
    ],
)
def test_time_words_name_a_window(question, since, until):
    assert mentioned_window(question, DAY) == SearchFilter(since, until)


def test_questions_without_time_words_have_no_window():
    assert mentioned_window("Who won the 2022 World Cup?", DAY) is None
    assert mentioned_window("What is a weekday?", DAY) is None


def test_within_keeps_the_tighter_bounds_and_the_sources():
    user = SearchFilter("2023-01-08", None, ("herald",))
    both = within(user, SearchFilter("2023-01-04", "2023-01-13"))
    assert both == SearchFilter("2023-01-08", "2023-01-13", ("herald",))
    assert within(None, SearchFilter("2023-01-04")) == SearchFilter("2023-01-04")


class RecordingRetriever:
    """A ``Retriever`` that finds nothing and records how it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int, SearchFilter | None, SearchFilter | None, str]] = []

    def search(self, query, k, *, where=None, preferred=None, written_query=""):
        self.asked.append((query, k, where, preferred, written_query))
        return []


def test_the_dated_search_asks_for_the_days_before_the_question():
    retriever = RecordingRetriever()
    today = datetime.date.today()
    written = "The minister resigned."
    search_as_of(retriever, "Who resigned today?", 4, as_of=DAY, written_query=written)
    herald = SearchFilter(sources=("herald",))
    search_as_of(retriever, "Who resigned?", 2, where=herald, as_of=DAY)
    search_as_of(retriever, "Who resigned?", 2, where=herald)
    assert retriever.asked == [
        (
            "Who resigned today?",
            4,
            SearchFilter(date_to="2023-01-13"),  # nothing published after the day asked
            SearchFilter("2023-01-11", "2023-01-13"),  # the day its time words name
            written,
        ),
        ("Who resigned?", 2, SearchFilter(None, "2023-01-13", ("herald",)), recent_window(DAY), ""),
        ("Who resigned?", 2, herald, recent_window(today), ""),
    ]


def _story(title: str, day: str, text: str) -> str:
    return f"# {title}\n\n{day} (Test Wire)\n\n{text}\n"


@pytest.fixture
def service(tmp_path, write_articles):
    folder = write_articles(
        {
            "old.md": _story("Storm hits coast", "January 2, 2023", "A storm hit the coast."),
            "new.md": _story("Second storm hits coast", "January 11, 2023", "A storm hit again."),
            "later.md": _story("Third storm hits coast", "February 20, 2023", "Another storm."),
        }
    )
    svc = RagService(
        Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder(), generator=FakeGenerator()
    )
    svc.index_paths([folder])
    return svc


def test_as_of_leaves_out_later_articles_and_puts_this_weeks_first(service):
    hits = service.search("Where did a storm hit this week?", k=3, as_of=DAY)
    assert hits[0].title == "Second storm hits coast"
    assert "Third storm hits coast" not in {p.title for p in hits}
    assert [p.rank for p in hits] == list(range(1, len(hits) + 1))
    everything = service.search("Where did a storm hit?", k=3)
    assert len(everything) == 3


def test_without_time_words_the_days_before_asking_come_first(service):
    day = datetime.date(2023, 1, 16)
    assert recent_window(day) == SearchFilter("2023-01-06", "2023-01-17")
    hits = service.search("Which coast did a storm hit?", k=3, as_of=day)
    assert [p.title for p in hits] == ["Second storm hits coast", "Storm hits coast"]


def test_the_users_own_dates_win_over_time_words(service):
    hits = service.search(
        "Where did a storm hit this week?", k=3, where=SearchFilter(date_from="2023-02-01")
    )
    assert [p.title for p in hits] == ["Third storm hits coast"]
