"""PDF articles: text by page, page numbers in citations, scans skipped with the reason."""

from __future__ import annotations

import json

import pytest

from rag import cli
from rag.ingest.clean import clean_document, normalise_text
from rag.ingest.pdf import locate_pages, read_pdf
from rag.types import page_at
from tests.fakes import FakeGenerator, use_fake_models
from tests.pdfs import make_pdf
from tests.site import Site

PAGES = [
    [
        "Harbour plan approved",
        "The city council approved the harbour plan on Monday after a long debate.",
        "The plan will cost 12 million euros over four years.",
    ],
    [
        "The mayor said dredging of the old basin starts in May.",
        "Fishing crews asked for a temporary quay during the works.",
    ],
    [
        "The ferry terminal will reopen to passengers in March 2027.",
        "Tickets will go on sale in the autumn before the opening.",
    ],
]


@pytest.fixture
def fake_cli(monkeypatch):
    generator = FakeGenerator(["The ferry terminal will reopen to passengers in March 2027 [1]."])
    for name in ("RAG_INDEX_DIR", "RAG_CONFIG", "RAG_EMBEDDER", "RAG_K"):
        monkeypatch.delenv(name, raising=False)
    use_fake_models(monkeypatch, generator=lambda: generator)
    monkeypatch.setenv("RAG_FETCH_DELAY", "0")


def test_pages_are_kept_through_cleaning():
    doc, problem = read_pdf(make_pdf(PAGES, title="Harbour plan"), "plan.pdf")
    assert problem is None and doc.title == "Harbour plan" and len(doc.page_starts) == 3
    article = clean_document(doc)
    for number, lines in enumerate(PAGES, start=1):
        assert article.page_at(article.text.index(lines[-1])) == number
        assert article.page_at(article.text.index(lines[0])) == number


def test_a_page_whose_text_was_dropped_starts_where_the_next_one_does():
    raw = "Intro line one.\n\nPhoto credit: Agency\n\nLast page text here."
    starts = (0, raw.index("Photo"), raw.index("Last"))
    cleaned = "Intro line one.\n\nLast page text here."
    pages = locate_pages(raw, starts, cleaned, normalise_text)
    assert pages == (0, cleaned.index("Last"), cleaned.index("Last"))
    assert page_at(pages, 3) == 1 and page_at(pages, cleaned.index("text")) == 3
    assert page_at((), 10) is None


def test_ask_json_citations_carry_the_page(tmp_path, capsys, fake_cli):
    (tmp_path / "plan.pdf").write_bytes(make_pdf(PAGES))
    idx = ["--index-dir", str(tmp_path / "idx")]
    assert cli.main(["index", str(tmp_path / "plan.pdf"), *idx]) == 0
    capsys.readouterr()
    assert cli.main(["ask", "When will the ferry terminal reopen?", "--json", *idx]) == 0
    data = json.loads(capsys.readouterr().out)
    (citation,) = data["citations"]
    assert "March 2027" in citation["text"] and citation["page"] == 3
    assert all("page" in p for p in data["passages"])


def test_a_scanned_pdf_is_skipped_with_the_reason(tmp_path, capsys, fake_cli):
    (tmp_path / "scan.pdf").write_bytes(make_pdf([[], []]))
    assert cli.main(["index", str(tmp_path / "scan.pdf"), "--index-dir", str(tmp_path / "i")]) == 1
    err = capsys.readouterr().err
    assert "scan.pdf: the PDF has no text layer on any of its 2 page(s) (a scan?)" in err


def test_a_pdf_link_is_read_as_a_pdf(tmp_path, capsys, fake_cli):
    site = Site()
    try:
        url = site.put("/docs/plan.pdf", make_pdf(PAGES, title="Harbour plan"), "application/pdf")
        idx = ["--index-dir", str(tmp_path / "idx"), "--allow-private-urls"]
        assert cli.main(["index", url, *idx]) == 0
        capsys.readouterr()
        assert cli.main(["ask", "When will the ferry terminal reopen?", "--json", *idx]) == 0
        (citation,) = json.loads(capsys.readouterr().out)["citations"]
        assert citation["url"] == url and citation["page"] == 3
    finally:
        site.close()
