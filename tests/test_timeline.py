"""Timelines: dates read against the article's day, one line per event, disagreements kept,
and the CLI and API that serve them (fake models through the real interfaces)."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import httpx
import pytest

from rag.cli import main
from rag.config import Settings
from rag.errors import InputError
from rag.service import RagService
from rag.timeline import NO_EVENTS, build_timeline, format_timeline, timeline_to_dict
from rag.timeline.dates import find_dates, parse_day, period_start, stated_date
from rag.timeline.route import TimelineRequest, timeline_request
from rag.types import Chunk, ScoredPassage
from tests.conftest import SAMPLES
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.test_api import KEY, Server

FRIDAY = datetime.date(2024, 5, 10)

# Three reports of one dock strike, written for these tests: a wire story, a copy of it
# in another paper the next day, and a third paper giving another raise.
WIRE = """# Porto Lindo dockworkers end strike

May 10, 2024 — PORTO LINDO (Test Wire)

The dockworkers' union in Porto Lindo ended its strike on Wednesday for a 4 percent raise.

The strike began in March 2024, when pay talks between the union and the port broke down.

A vote on the new contract is scheduled for next Tuesday.
"""
COPY = (
    WIRE.replace(
        "May 10, 2024 — PORTO LINDO (Test Wire)", "May 11, 2024 — PORTO LINDO (Coast Daily)"
    )
    + "\nThe Coast Daily carried this wire story a day later.\n"
)
OTHER = """# Porto Lindo port strike is over

May 10, 2024 — PORTO LINDO (Harbour Post)

The dockworkers' union in Porto Lindo ended its strike on Wednesday for a 6 percent raise.

Ships had queued outside the harbour for three weeks.
"""
UNRELATED = """# Library extends opening hours

April 9, 2024 — LAKETON (Test Wire)

The Laketon public library will open until 9 p.m. on weekdays from next month.
"""


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "value"),
    [
        ("The union ended its strike on Wednesday.", "2024-05-08"),
        ("The mayor spoke on Friday.", "2024-05-10"),  # the article's own day
        ("The talks broke down yesterday.", "2024-05-09"),
        ("The talks broke down on March 12.", "2024-03-12"),
        ("Talks resumed on 3 May 2023.", "2023-05-03"),
        ("The union was founded in 2019.", "2019"),
        ("The strike began in March 2024 and a picket opened on 8 March.", "2024-03-08"),
        ("In January, the port raised its fees.", "2024-01"),
        ("Prices rose last month.", "2024-04"),
    ],
)
def test_a_sentence_date_is_read_against_the_article_day(sentence, value):
    assert stated_date(sentence, FRIDAY).value == value


def test_a_month_day_still_to_come_this_year_is_last_year():
    january = datetime.date(2025, 1, 5)
    assert stated_date("The port closed on December 30.", january).value == "2024-12-30"


def test_plans_and_dates_after_the_article_are_not_events():
    for sentence in (
        "A vote is scheduled for next Tuesday.",
        "The vote is set for Friday.",
        "The contract runs out in 2026.",
    ):
        assert stated_date(sentence, FRIDAY) is None, sentence
        assert all(d.future for d in find_dates(sentence, FRIDAY))


def test_the_event_day_is_the_latest_and_not_one_it_follows_or_names():
    thursday = datetime.date(2023, 1, 5)
    said = "The game suspended Jan. 2 will not be replayed, the league announced Thursday."
    assert stated_date(said, thursday).value == "2023-01-05"
    assert stated_date("The talks have stalled since Tuesday.", thursday) is None
    assert stated_date("In his first words since the Monday night game, he wept.", thursday) is None
    assert stated_date("He asked about Monday night's game.", thursday) is None
    assert stated_date("The team will play on Sunday.", thursday) is None
    assert stated_date("Iran will not talk, the minister said on Tuesday.", thursday).value == (
        "2023-01-03"
    )


def test_a_bare_weekday_six_days_back_is_left_undated():
    # A page dated Friday (first version) telling Saturday's event (a later update).
    assert stated_date("The balloon was shot down on Saturday.", FRIDAY) is None
    assert stated_date("The balloon was shot down last Saturday.", FRIDAY).value == "2024-05-04"


def test_no_date_is_guessed_where_the_sentence_gives_none():
    assert stated_date("The talks collapsed in September of that year.", FRIDAY) is None
    assert stated_date("Ships may 5 times have waited.", FRIDAY) is None
    assert stated_date("The union said talks went well.", FRIDAY) is None


def test_article_days_and_periods_parse():
    assert parse_day("2023/01/05") == datetime.date(2023, 1, 5)
    assert parse_day("2024-05-10T08:00:00Z") == FRIDAY
    assert parse_day("last spring") is None
    assert period_start("since January", FRIDAY) == "2024-01-01"
    assert period_start("2019", FRIDAY) == "2019-01-01"
    assert period_start("since March 3, 2023", FRIDAY) == "2023-03-03"
    assert period_start("since he took office", FRIDAY) is None


# --- chat routing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "request_"),
    [
        ("Timeline of the Porto Lindo strike", TimelineRequest("the Porto Lindo strike")),
        ("Give me a chronology of the port dispute.", TimelineRequest("the port dispute")),
        (
            "What has happened between Iran and the United States since January?",
            TimelineRequest("Iran and the United States", "2024-01-01"),
        ),
        ("How did the TikTok ban unfold?", TimelineRequest("the TikTok ban")),
        (
            "What has the union said about pay since March 2024?",
            TimelineRequest("What has the union said about pay", "2024-03-01"),
        ),
    ],
)
def test_chronology_questions_ask_for_a_timeline(question, request_):
    assert timeline_request(question, FRIDAY) == request_


@pytest.mark.parametrize(
    "question",
    [
        "What raise did the dockworkers get?",
        "Who has led the union since he took office?",
        "Why did the strike happen?",
    ],
)
def test_other_questions_are_answered_as_before(question):
    assert timeline_request(question, FRIDAY) is None


# --- merging -------------------------------------------------------------------------


def passage(text: str, doc_id: str, date: str, title: str = "Dock strike", rank: int = 1):
    chunk = Chunk(f"c-{doc_id}", doc_id, text, 0, len(text), len(text.split()))
    return ScoredPassage(chunk, 1.0 / rank, rank, title, source=doc_id, date=date)


ENDED = "The dockworkers' union ended its strike on Wednesday after a {} percent raise was agreed."


def test_copies_of_one_sentence_become_one_line_citing_each_article():
    passages = [
        passage(ENDED.format(4), "wire", "2024-05-10"),
        passage(ENDED.format(4), "copy", "2024-05-11", rank=2),
    ]
    [line] = build_timeline("dockworkers strike", passages).events
    assert line.date == "2024-05-08" and line.date_basis == "stated"
    assert [c.passage.doc_id for c in line.citations] == ["wire", "copy"]
    assert line.statement == ENDED.format(4) and line.quoted and not line.disagrees


def test_different_claims_about_one_event_are_both_kept_and_marked():
    passages = [
        passage(ENDED.format(4), "wire", "2024-05-10"),
        passage(ENDED.format(6), "post", "2024-05-10", rank=2),
    ]
    first, second = build_timeline("dockworkers strike", passages).events
    assert {first.statement, second.statement} == {ENDED.format(4), ENDED.format(6)}
    assert first.disagrees == (2,) and second.disagrees == (1,)


def test_lines_are_oldest_first_and_an_undated_opening_takes_the_article_day():
    text = (
        "Dockworkers walked off the job at the port of Porto Lindo.\n"
        "The strike followed talks that collapsed in March 2024 over pay."
    )
    lines = build_timeline("dockworkers strike port", [passage(text, "a", "2024-05-10")]).events
    assert [(e.date, e.date_basis) for e in lines] == [
        ("2024-03", "stated"),
        ("2024-05-10", "article"),
    ]


def test_events_outside_the_asked_days_are_left_out():
    text = "The strike began in March 2024 over pay.\n" + ENDED.format(4)
    passages = [passage(text, "a", "2024-05-10")]
    lines = build_timeline("dockworkers strike", passages, since="2024-04-01").events
    assert [e.date for e in lines] == ["2024-05-08"]
    lines = build_timeline("dockworkers strike", passages, until="2024-04-30").events
    assert [e.date for e in lines] == ["2024-03"]


def test_a_long_sentence_is_quoted_up_to_its_event_clause():
    long = (
        "The union ended its strike on Wednesday after the port agreed to a raise of four "
        "percent for all workers in the harbour, which the union had asked for since the "
        "spring and which the port had refused twice before the mayor stepped in."
    )
    [line] = build_timeline("union strike", [passage(long, "a", "2024-05-10")]).events
    assert line.statement.endswith(" …")
    assert long.startswith(line.statement.removesuffix(" …"))
    assert "which" not in line.statement


# --- rewriting (off unless asked) ----------------------------------------------------------

QUOTE = "The Porto Lindo union ended its strike on Wednesday after a 4 percent raise was agreed."


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ("Porto Lindo union ended strike after 4 percent raise", True),
        ("Porto Lindo union ended strike after 6 percent raise", False),  # another number
        ("Porto Lindo union ended strike after raise", False),  # a number lost
        ("Porto Lindo union and Mayor Reyes ended strike after 4 percent raise", False),  # added
        ("Porto Lindo union ended strike on Monday after 4 percent raise", False),  # another day
        ("Porto Lindo union rejected strike after 4 percent raise", False),  # a new verb
    ],
)
def test_a_rewrite_is_kept_only_when_it_keeps_the_facts(reply, kept):
    from rag.timeline.rewrite import rewrite_event

    [line] = build_timeline("union strike", [passage(QUOTE, "a", "2024-05-10")]).events
    rewritten = rewrite_event(FakeGenerator([reply]), line)
    assert (rewritten.statement == reply and not rewritten.quoted) is kept
    if not kept:
        assert rewritten == line


def test_the_service_rewrites_only_when_asked(tmp_path, write_articles):
    reply = "Porto Lindo dockworkers ended strike for 4 percent raise"
    generator = FakeGenerator([reply])
    service = RagService(
        Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder(), generator=generator
    )
    service.index_paths([write_articles({"wire.md": WIRE})])
    quoted = service.timeline("Porto Lindo dockworkers strike")
    assert all(e.quoted for e in quoted.events) and not generator.prompts
    rewritten = service.timeline("Porto Lindo dockworkers strike", rewrite=True)
    assert generator.prompts and reply in [e.statement for e in rewritten.events]


# --- the service, CLI and API ----------------------------------------------------------


@pytest.fixture
def strike_service(tmp_path, write_articles) -> RagService:
    service = RagService(
        Settings(index_dir=tmp_path / "idx"), embedder=FakeEmbedder(), generator=FakeGenerator()
    )
    folder = write_articles(
        {"wire.md": WIRE, "copy.md": COPY, "other.md": OTHER, "library.md": UNRELATED}
    )
    service.index_paths([folder])
    return service


def test_a_story_told_by_three_papers(strike_service):
    timeline = strike_service.timeline("Porto Lindo dockworkers strike")
    dates = [e.date for e in timeline.events]
    assert dates == sorted(dates) and "2024-03" in dates
    ended = [e for e in timeline.events if e.date == "2024-05-08"]
    assert len(ended) == 2  # the 4 percent line (two papers) and the 6 percent line
    four = next(e for e in ended if "4 percent" in e.statement)
    assert sorted(c.passage.source for c in four.citations) == ["Coast Daily", "Test Wire"]
    assert all(e.disagrees for e in ended)
    # Each citation is the sentence at its offsets in its article.
    for event in timeline.events:
        for c in event.citations:
            assert strike_service.article(c.passage.doc_id).text[c.start : c.end] == c.text
    assert not any("vote" in e.statement for e in timeline.events)  # a plan, not an event


def test_a_topic_the_articles_do_not_cover_has_no_events(strike_service):
    timeline = strike_service.timeline("volcano eruption in Iceland")
    assert timeline.events == ()
    assert NO_EVENTS in format_timeline(timeline)
    assert timeline_to_dict(timeline)["message"].startswith(NO_EVENTS)


def test_bad_days_are_refused_with_the_flag_named(strike_service):
    with pytest.raises(InputError, match="--since"):
        strike_service.timeline("dock strike", since="May 2024")
    with pytest.raises(InputError, match="after --until"):
        strike_service.timeline("dock strike", since="2024-05-01", until="2024-04-01")


def test_rag_timeline_prints_lines_and_json(cli_with_fake_models, tmp_path, write_articles, capsys):
    folder = write_articles({"wire.md": WIRE, "other.md": OTHER})
    index = ["--index-dir", str(tmp_path / "cli-idx")]
    assert main(["index", str(folder), *index]) == 0
    capsys.readouterr()
    assert main(["timeline", "Porto Lindo dockworkers strike", *index]) == 0
    text = capsys.readouterr().out
    assert "2024-05-08" in text and "The sources disagree" in text
    assert main(["timeline", "Porto Lindo dockworkers strike", "--json", *index]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["events"][0]["citations"][0]["text"]
    assert main(["timeline", "dock strike", "--since", "yesterday", *index]) == 2
    assert "--since must be a date" in capsys.readouterr().err


def test_the_api_serves_timelines_behind_the_key(strike_service):
    server = Server(strike_service, api_key=KEY)
    try:
        url = f"{server.url}/api/timeline"
        headers = {"Authorization": f"Bearer {KEY}"}
        reply = httpx.post(url, json={"topic": "Porto Lindo dockworkers strike"}, headers=headers)
        assert reply.status_code == 200
        body = reply.json()
        assert body["events"] and body["events"][0]["date"] == "2024-03"
        assert httpx.post(url, json={"topic": "dock strike"}).status_code == 401
        bad = httpx.post(url, json={"topic": "dock strike", "since": "soon"}, headers=headers)
        assert bad.status_code == 400 and "since" in bad.json()["error"]["message"]
        extra = httpx.post(url, json={"topic": "x", "limit": 5}, headers=headers)
        assert extra.status_code == 400 and "limit" in extra.json()["error"]["message"]
        empty = httpx.post(url, json={"topic": "volcano in Iceland"}, headers=headers).json()
        assert empty["events"] == [] and empty["message"].startswith(NO_EVENTS)
    finally:
        server.close()


# --- the real embedder on the sample articles ------------------------------------------


@pytest.fixture(scope="module")
def samples_index(tmp_path_factory):
    index = tmp_path_factory.mktemp("timeline") / "index"
    subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", str(SAMPLES), "--index-dir", str(index)],
        check=True,
        capture_output=True,
    )
    return index


def rag_timeline_json(index, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "timeline", *args, "--json", "--index-dir", str(index)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


@pytest.mark.model
def test_the_sample_story_with_the_real_embedder(samples_index):
    data = rag_timeline_json(samples_index, "Iran talks with the United States")
    lines = {(e["date"], e["date_basis"]): e for e in data["events"]}
    dates = [e["date"] for e in data["events"]]
    assert dates == sorted(dates)
    # Days the sentences state, resolved against their articles' days.
    assert "Soleimani" in lines[("2020-01-03", "stated")]["statement"]
    assert "Rouhani" in lines[("2020-02-16", "stated")]["statement"]  # "on Sunday", Feb 17
    assert "Khamenei" in lines[("2025-02-07", "stated")]["statement"]  # "on Friday", Feb 8
    assert "anniversary" in lines[("2025-02-10", "article")]["statement"]
    # No line is dated after every article it cites, and each quotes its first source.
    for e in data["events"]:
        assert any(e["date"] <= c["date"][: len(e["date"])] for c in e["citations"])
        assert e["statement"].removesuffix(" …") in e["citations"][0]["text"]
    # The 2018 withdrawal, told by three articles in their own words, is one line.
    [withdrawal] = [e for e in data["events"] if e["date"] == "2018"]
    assert len(withdrawal["citations"]) >= 2


@pytest.mark.model
def test_a_story_the_samples_do_not_tell_has_no_events_with_the_real_embedder(samples_index):
    data = rag_timeline_json(samples_index, "Super Bowl halftime show")
    assert data["events"] == [] and data["message"].startswith(NO_EVENTS)
