"""Reading files: formats, encodings, and problems reported without stopping the run."""

from __future__ import annotations

import json

import pytest

from rag.errors import InputError
from rag.ingest.files import load_documents
from rag.ingest.filetypes import (
    FILE_TYPES,
    HTML_SUFFIXES,
    JSONL_SUFFIXES,
    PDF_SUFFIXES,
    SUPPORTED_SUFFIXES,
    TEXT_SUFFIXES,
)

HTML = """<html><head><title>Harbor bridge reopens</title>
<style>body {color: red}</style><script>var tracking = "SECRET_SCRIPT";</script></head>
<body><nav><a href="/">Home</a> | <a href="/world">World NAVLINK</a></nav>
<article><h1>Harbor bridge reopens</h1>
<p>The harbor bridge in Portville reopened on Monday after eight months of repairs, the city
council said in a statement released in the morning.</p>
<p>Engineers replaced 240 steel cables and resurfaced the deck, which had been closed to traffic
since the storm last spring damaged its supports.</p>
<p>The project cost 31 million dollars, slightly more than planned, according to the council.</p>
</article><footer>Copyright FOOTERTEXT 2024. All rights reserved.</footer></body></html>"""


def test_folders_are_walked_in_order_and_unsupported_files_skipped(write_articles):
    folder = write_articles(
        {
            "b.txt": "Second",
            "a.md": "First",
            "sub/c.txt": "Third",
            "img.png": "x",
            ".hidden.txt": "h",
        }
    )
    docs, problems = load_documents([folder])
    assert [d.text for d in docs] == ["First", "Second", "Third"]
    assert problems == []


def test_explicit_unsupported_file_is_a_problem(write_articles):
    folder = write_articles({"notes.docx": "x"})
    docs, problems = load_documents([folder / "notes.docx"])
    assert docs == [] and "unsupported file type .docx" in problems[0].message


def test_missing_path_stops_with_its_name(tmp_path):
    with pytest.raises(InputError, match=r"nowhere\.txt does not exist"):
        load_documents([tmp_path / "nowhere.txt"])


def test_html_main_text_without_scripts_navigation_or_footer(write_articles):
    folder = write_articles({"page.html": HTML})
    (doc,), problems = load_documents([folder])
    assert problems == []
    assert "240 steel cables" in doc.text and "31 million dollars" in doc.text
    for junk in ("SECRET_SCRIPT", "NAVLINK", "FOOTERTEXT", "color: red"):
        assert junk not in doc.text
    assert doc.title == "Harbor bridge reopens"


def test_jsonl_good_lines_load_and_bad_lines_name_their_numbers(write_articles):
    lines = [
        json.dumps({"text": "Body one.", "title": "One", "date": "2023/01/06", "id": "x1"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"title": "no text"}),
        "",
        json.dumps({"text": "Body two.", "source": "Wire", "url": "http://example.org/2"}),
    ]
    folder = write_articles({"feed.jsonl": "\n".join(lines)})
    docs, problems = load_documents([folder])
    assert [d.text for d in docs] == ["Body one.", "Body two."]
    assert docs[0].origin.endswith("feed.jsonl#id=x1") and docs[0].title == "One"
    assert docs[1].origin.endswith("feed.jsonl#6") and docs[1].source == "Wire"
    assert [p.origin.rsplit(":", 1)[1] for p in problems] == ["2", "3", "4"]
    assert "not valid JSON" in problems[0].message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café in Zürich".encode("latin-1"), "Café in Zürich"),
        ("Café in Zürich".encode("utf-16"), "Café in Zürich"),
        (b"\xef\xbb\xbfWith BOM", "With BOM"),
        ("Smart “quotes”".encode("cp1252"), "Smart “quotes”"),
    ],
)
def test_encodings(tmp_path, data, expected):
    path = tmp_path / "a.txt"
    path.write_bytes(data)
    (doc,), problems = load_documents([path])
    assert doc.text == expected and problems == []


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty file"), (b"  \n\t ", "empty file"), (b"\x89PNG\x00\x00\x01", "binary")],
)
def test_unreadable_files_are_problems(tmp_path, data, message):
    path = tmp_path / "a.txt"
    path.write_bytes(data)
    docs, problems = load_documents([path])
    assert docs == [] and message in problems[0].message


def test_size_limit(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    docs, problems = load_documents([path], max_bytes=100)
    assert docs == [] and "limit is 100" in problems[0].message


def test_the_file_types_help_names_are_read_and_name_every_kind():
    named = {suffix.strip() for suffix in FILE_TYPES.split(",")}
    assert named <= SUPPORTED_SUFFIXES
    for kind in (TEXT_SUFFIXES, HTML_SUFFIXES, JSONL_SUFFIXES, PDF_SUFFIXES):
        assert kind & named, kind
