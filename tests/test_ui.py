"""The web app's handlers and rendering, driven with fake models through the real service."""

from __future__ import annotations

import gradio as gr
import pytest

from rag.config import Settings
from rag.pipeline import RagService
from rag.types import Answer, Chunk, Citation, ScoredPassage
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.test_index import ARTICLE_A, ARTICLE_B
from ui.app import (
    build_app,
    chat_turn,
    launch,
    remove_article,
    source_names,
    upload_articles,
)
from ui.render import render_sources

PAYLOAD = 'Hostile <script>alert(1)</script> text <img src=x onerror="alert(2)"> here.'


@pytest.fixture
def service(tmp_path, write_articles):
    svc = RagService(
        Settings(index_dir=tmp_path / "idx"),
        embedder=FakeEmbedder(),
        generator=FakeGenerator(["Engineers replaced 240 steel cables [1]."]),
    )
    svc.index_paths([write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
    return svc


def answer_with(text: str, cited: str | None) -> Answer:
    chunk = Chunk("c1", "d1", text, 100, 100 + len(text), 10)
    passage = ScoredPassage(chunk, 0.5, 1, "A <b>title</b>", "Wire & Co", "2024-01-01")
    citations = ()
    if cited is not None:
        start = text.index(cited)
        citations = (Citation(1, passage, cited, 100 + start, 100 + start + len(cited)),)
    return Answer("q", "An answer [1].", False, citations, (passage,))


def test_sources_escape_markup_and_highlight_the_cited_span():
    html = render_sources(answer_with(PAYLOAD, "text"))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<mark>text</mark>" in html
    assert "A &lt;b&gt;title&lt;/b&gt;" in html and "Wire &amp; Co" in html


def test_abstained_answer_shows_the_notice_and_closest_passages():
    answer = answer_with("Some passage.", None)
    abstained = Answer("q", "The articles do not say.", True, (), answer.passages)
    html = render_sources(abstained)
    assert "don't answer this" in html and "Closest passages" in html


def test_chat_streams_then_shows_the_checked_answer(service):
    updates = list(chat_turn(service, "How many steel cables were replaced?", [], [], 3, 0.0))
    assert len(updates) > 3
    messages, turns, sources, box = updates[-1]
    assert messages[0] == {"role": "user", "content": "How many steel cables were replaced?"}
    assert messages[1]["content"] == "Engineers replaced 240 steel cables [1]."
    # Under the answer, a collapsible message with the cited passage.
    assert messages[2]["metadata"]["title"] == "Sources (1)"
    assert "<mark>Engineers replaced 240 steel cables" in messages[2]["content"]
    assert turns[-1].question == "How many steel cables were replaced?"
    assert "<mark>Engineers replaced 240 steel cables and resurfaced the deck.</mark>" in sources
    assert box == ""


def test_chat_escapes_the_question_and_rejects_empty_ones(service):
    updates = list(chat_turn(service, "<img src=x onerror=alert(1)> cables?", [], [], 3, 0.0))
    assert updates[-1][0][0]["content"].startswith("&lt;img")
    with pytest.raises(gr.Error):
        list(chat_turn(service, "   ", [], [], 3, 0.0))


def test_chat_filters_by_date_and_source(service):
    updates = list(
        chat_turn(service, "What changed in town?", [], [], 3, 0.0, "2024-04-01", "", [])
    )
    sources_html = updates[-1][2]
    assert "Library extends opening hours" in sources_html
    assert "Harbor bridge" not in sources_html
    with pytest.raises(gr.Error, match="must be a date"):
        list(chat_turn(service, "What changed?", [], [], 3, 0.0, "April 1st", "", []))
    assert source_names(service) == ["Test Wire"]


def test_upload_indexes_files_and_remove_takes_them_out(service, tmp_path):
    new = tmp_path / "upload" / "ferry.md"
    new.parent.mkdir()
    new.write_text("# Ferry service resumes\n\nThe island ferry resumed service on Friday.")
    bad = tmp_path / "upload" / "empty.txt"
    bad.write_text("")
    status, rows = upload_articles(service, [str(new), str(bad)], lambda *a, **k: None)
    assert "Added 1 article(s)" in status and "skipped empty.txt" in status
    ferry = next(r for r in rows if r[0] == "Ferry service resumes")
    status, rows = remove_article(service, ferry[4])
    assert "Removed: Ferry service resumes" in status
    assert all(r[0] != "Ferry service resumes" for r in rows)


def test_app_builds(service):
    app = build_app(service, examples=["What happened to the bridge?"])
    assert isinstance(app, gr.Blocks)


def test_public_address_needs_a_password(service):
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="RAG_PASSWORD"):
        launch(service, host="0.0.0.0")
