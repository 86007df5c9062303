"""Every kind of bad input the CLI meets: a clear message, a non-zero exit, no traceback.

Each case runs the real `rag` command in-process (with the fake embedder;
the cases about model files use the real llama.cpp loader) and checks:
- the exit code;
- a message that names the problem;
- no traceback;
- an index that, if it exists, still loads whole.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from index.store import IndexStore
from rag import cli
from tests.fakes import FakeGenerator, use_fake_models
from tests.test_index import ARTICLE_A, ARTICLE_B


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path], list[str]]  # writes files under tmp, returns the argv
    code: int
    message: str


def files(**named: bytes) -> Callable[[Path], Path]:
    def write(tmp: Path) -> Path:
        folder = tmp / "in"
        folder.mkdir(exist_ok=True)
        for name, data in named.items():
            (folder / name.replace("__", ".")).write_bytes(data)
        return folder

    return write


def index_of(**named: bytes) -> Callable[[Path], list[str]]:
    return lambda tmp: ["index", str(files(**named)(tmp))]


def indexed(damage: Callable[[Path], None], *argv: str) -> Callable[[Path], list[str]]:
    """A good index of two articles, damaged, then used."""

    def setup(tmp: Path) -> list[str]:
        folder = files(a__md=ARTICLE_A.encode(), b__md=ARTICLE_B.encode())(tmp)
        assert cli.main(["index", str(folder), "--index-dir", str(tmp / "idx")]) == 0
        damage(tmp / "idx")
        return list(argv)

    return setup


def generation(index_dir: Path) -> Path:
    return index_dir / json.loads((index_dir / "manifest.json").read_text())["generation"]


def edit_manifest(**changes: object) -> Callable[[Path], None]:
    def damage(index_dir: Path) -> None:
        path = index_dir / "manifest.json"
        manifest = json.loads(path.read_text())
        path.write_text(json.dumps({**manifest, **changes}))

    return damage


def truncate(name: str) -> Callable[[Path], None]:
    def damage(index_dir: Path) -> None:
        path = generation(index_dir) / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return damage


def write_model(data: bytes) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        indexed(lambda _: None)(tmp)
        (tmp / "model.gguf").write_bytes(data)
        return ["ask", "When did the bridge reopen?", "--model", str(tmp / "model.gguf")]

    return setup


BIG = 50_000_001
CASES = [
    Case("empty question", lambda tmp: ["ask", ""], 2, "question is empty"),
    Case("whitespace question", lambda tmp: ["ask", " \t\n "], 2, "question is empty"),
    Case("100 KB question", lambda tmp: ["ask", "why " * 25_000], 2, "characters long"),
    Case("empty file", index_of(a__txt=b""), 1, "empty file"),
    Case("whitespace file", index_of(a__md=b" \n\t\n"), 1, "empty file"),
    Case("binary file", index_of(a__txt=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 1, "binary"),
    Case(
        "unsupported type",
        lambda tmp: ["index", str(files(a__docx=b"PK\x03\x04")(tmp) / "a.docx")],
        1,
        "unsupported file type .docx",
    ),
    Case(
        "damaged PDF",
        lambda tmp: ["index", str(files(a__pdf=b"%PDF-1.7")(tmp) / "a.pdf")],
        1,
        "not a readable PDF",
    ),
    Case(
        "file over 50 MB",
        lambda tmp: ["index", str(files()(tmp) / "big.txt")],
        1,
        "the limit is 50,000,000",
    ),
    Case(
        "malformed JSONL lines",
        index_of(
            a__jsonl=b'{"text": "The ferry runs again."}\n{not json\n[1, 2]\n{"title": "no text"}\n'
        ),
        1,
        "a.jsonl:2: not valid JSON",
    ),
    Case("missing path", lambda tmp: ["index", str(tmp / "nowhere")], 2, "does not exist"),
    Case("nothing to index", lambda tmp: ["index"], 2, "Name files or folders"),
    Case(
        "missing model file",
        lambda tmp: [*indexed(lambda _: None)(tmp), "ask", "q?", "--model", str(tmp / "no.gguf")],
        5,
        "does not exist",
    ),
    Case("model file is not a model", write_model(b"GGUF" + b"\x00" * 64), 5, "Could not load"),
    Case("missing index", lambda tmp: ["ask", "When did the bridge reopen?"], 3, "No index at"),
    Case(
        "index is a file",
        lambda tmp: (tmp / "idx").write_text("x") and ["list"],
        3,
        "not an index folder",
    ),
    Case("truncated vectors", indexed(truncate("vectors.faiss"), "ask", "When?"), 3, "damaged"),
    Case("truncated chunks", indexed(truncate("chunks.jsonl"), "list"), 3, "inconsistent"),
    Case(
        "manifest not JSON",
        indexed(lambda d: (d / "manifest.json").write_text("{"), "list"),
        3,
        "unreadable",
    ),
    Case(
        "generation folder gone",
        indexed(lambda d: shutil.rmtree(generation(d)), "ask", "When?"),
        3,
        "damaged",
    ),
    Case(
        "another embedder",
        indexed(edit_manifest(embedder={"id": "other-model", "dimension": 64}), "ask", "When?"),
        3,
        "built with the embedder 'other-model'",
    ),
    Case("another format version", indexed(edit_manifest(format_version=99), "list"), 3, "format"),
    Case(
        "index into a file",
        lambda tmp: (
            (tmp / "idx").write_text("x") and ["index", str(files(a__md=b"# A\n\nB.")(tmp))]
        ),
        3,
        "not an index folder",
    ),
    Case("k of 0", lambda tmp: ["search", "q", "--k", "0"], 2, "k must be greater than 0"),
    Case(
        "bad date",
        lambda tmp: ["search", "q", "--since", "31/01/2024"],
        2,
        "--since must be a date",
    ),
    Case(
        "config file not TOML",
        lambda tmp: (
            (tmp / "c.toml").write_text("k = = 4") and ["list", "--config", str(tmp / "c.toml")]
        ),
        2,
        "could not be read",
    ),
]


@pytest.fixture(autouse=True)
def models(monkeypatch, tmp_path):
    """The fake embedder; the fake generator unless a case names a model file (--model)."""
    for name in ("RAG_INDEX_DIR", "RAG_K", "RAG_CONFIG", "RAG_EMBEDDER"):
        monkeypatch.delenv(name, raising=False)
    use_fake_models(monkeypatch, generator=lambda: FakeGenerator(["It reopened on Monday [1]."]))
    monkeypatch.setattr(
        "rag.config._find_config_file", lambda explicit: explicit and Path(explicit)
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_a_message_and_an_exit_code(case, tmp_path, capsys):
    if case.name == "file over 50 MB":
        (tmp_path / "in").mkdir()
        with (tmp_path / "in" / "big.txt").open("wb") as f:
            f.truncate(BIG)  # sparse: no 50 MB written to disk
    argv = case.setup(tmp_path)
    capsys.readouterr()
    code = cli.main([*argv, "--index-dir", str(tmp_path / "idx")])
    _, err = capsys.readouterr()
    assert code == case.code, err
    assert case.message in err
    assert "Traceback" not in err
    assert err.startswith("rag:") or "skipped" in err
    index_dir = tmp_path / "idx"
    if (index_dir / "manifest.json").is_file() and case.code in (1, 2):
        IndexStore(index_dir).load()  # a refused run never leaves a half-written index


def test_the_good_lines_of_a_jsonl_file_are_indexed(tmp_path, capsys):
    argv = next(c for c in CASES if c.name == "malformed JSONL lines").setup(tmp_path)
    assert cli.main([*argv, "--index-dir", str(tmp_path / "idx")]) == 1
    err = capsys.readouterr().err
    for line in (2, 3, 4):
        assert f"a.jsonl:{line}: " in err
    assert "1 new" in err
    assert len(IndexStore(tmp_path / "idx").load().documents) == 1


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("Café owners in Orléans met on Monday.".encode("latin-1"), "Café owners in Orléans"),
        ("Zürich trams ran late on Friday.".encode("utf-16"), "Zürich trams ran late"),
        (b"\xef\xbb\xbfThe BOM-marked file was read.", "The BOM-marked file was read."),
    ],
    ids=["latin-1", "utf-16 with BOM", "utf-8 with BOM"],
)
def test_text_that_is_not_utf8_is_read_not_refused(data, text, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes(data)
    code = cli.main(["index", str(tmp_path / "in"), "--index-dir", str(tmp_path / "idx")])
    assert code == 0, capsys.readouterr().err
    (article,) = IndexStore(tmp_path / "idx").load().documents.values()
    assert text in article.title + article.text


def test_an_impossible_date_is_refused_as_since_refuses_it(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    lines = [
        {"text": "The harbour ferry ran twice on the leap day.", "date": "2020-02-30"},
        {"text": "The harbour ferry ran once on the leap day.", "date": "2020-02-29"},
        {"text": "The lighthouse was painted white in spring.", "date": "2021/13/01"},
    ]
    (tmp_path / "in" / "a.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    # In an article's own dateline an impossible day is no date at all.
    (tmp_path / "in" / "b.md").write_text(
        "# Canal reopens\n\nFebruary 30, 2021 — MILLTOWN (Test Wire)\n\nThe canal reopened.\n"
    )
    index_dir = str(tmp_path / "idx")
    assert cli.main(["index", str(tmp_path / "in"), "--index-dir", index_dir]) == 1
    err = capsys.readouterr().err
    assert "a.jsonl:1: the \"date\" '2020-02-30' is not a real day" in err
    assert "a.jsonl:3: the \"date\" '2021/13/01' is not a real day" in err
    assert "Traceback" not in err
    dates = {a.title: a.date for a in IndexStore(tmp_path / "idx").load().documents.values()}
    assert sorted(d for d in dates.values() if d) == ["2020-02-29"]
    assert dates["Canal reopens"] is None
    assert cli.main(["list", "--index-dir", index_dir, "--json"]) == 0
    assert "2020-02-30" not in capsys.readouterr().out
    # The same day refused the same way as a filter.
    code = cli.main(["search", "ferry", "--since", "2020-02-30", "--index-dir", index_dir])
    assert code == 2 and "--since must be a date" in capsys.readouterr().err


def test_a_file_name_that_is_not_utf8_is_indexed_beside_the_others(tmp_path, capsys, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.md").write_text(ARTICLE_A)
    (folder / "b.md").write_text(ARTICLE_B)
    odd = os.fsdecode(os.fsencode(folder) + b"/ferry-\xff\xfe.md")  # Latin-1 bytes, as Linux allows
    Path(odd).write_text("# Ferry timetable\n\nThe ferry now leaves the quay at seven.\n")
    index_dir = str(tmp_path / "idx")
    with caplog.at_level(logging.WARNING, logger="rag.ingest.files"):
        assert cli.main(["index", str(folder), "--index-dir", index_dir]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert caplog.messages == [
        f"{folder}/ferry-\\xff\\xfe.md: the file name is not valid UTF-8; stored as written here"
    ]
    assert "3 new" in err
    documents = IndexStore(tmp_path / "idx").load().documents.values()
    assert {o for d in documents for o in d.origins} >= {f"{folder}/ferry-\\xff\\xfe.md"}
    # Indexing again changes nothing; the file can be removed by its real name.
    assert cli.main(["index", str(folder), "--index-dir", index_dir]) == 0
    assert "0 new, 3 unchanged" in capsys.readouterr().err
    assert cli.main(["remove", odd, "--index-dir", index_dir]) == 0
    assert "Ferry timetable" in capsys.readouterr().err
    assert len(IndexStore(tmp_path / "idx").load().documents) == 2


def test_undecodable_bytes_in_a_question_are_searched_not_a_traceback(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.md").write_text(ARTICLE_A)
    index_dir = ["--index-dir", str(tmp_path / "idx")]
    assert cli.main(["index", str(folder), *index_dir]) == 0
    capsys.readouterr()
    # Bytes a Latin-1 terminal sends, which Python keeps as lone surrogates in argv.
    question = os.fsdecode(b"steel cables caf\xe9 \xff")
    assert cli.main(["search", question, *index_dir]) == 0
    out, err = capsys.readouterr()
    assert "Harbor bridge reopens" in out and "Traceback" not in err
    assert cli.main(["ask", question, *index_dir]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_jsonl_record_with_a_lone_surrogate_is_indexed(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    record = '{"title": "Tide tables \\ud83d", "text": "The spring tide rose \\udead high."}'
    (tmp_path / "in" / "a.jsonl").write_text(record + "\n")
    assert cli.main(["index", str(tmp_path / "in"), "--index-dir", str(tmp_path / "idx")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    (article,) = IndexStore(tmp_path / "idx").load().documents.values()
    assert article.title == "Tide tables \ufffd"
    assert article.text == "The spring tide rose \ufffd high."


def test_a_file_of_many_bad_lines_is_summarised_after_the_first(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    good = json.dumps({"text": "The ferry left the quay at seven in the morning."})
    lines = [good] + ["{broken"] * 5000
    (tmp_path / "in" / "a.jsonl").write_text("\n".join(lines))
    argv = ["index", str(tmp_path / "in"), "--index-dir", str(tmp_path / "idx")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\nskipped ") + err.startswith("skipped ") == 20  # the first few
    assert "... and 4,980 more skipped (`rag index --json` lists every one)." in err
    assert "5,000 input(s) skipped" in err and "1 new" in err
    assert cli.main([*argv, "--json"]) == 1
    assert len(json.loads(capsys.readouterr().out)["problems"]) == 5000


def test_a_port_in_use_is_said_without_announcing_the_server_first(tmp_path, capsys):
    import socket

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.md").write_text(ARTICLE_A)
    index_dir = ["--index-dir", str(tmp_path / "idx")]
    assert cli.main(["index", str(tmp_path / "in"), *index_dir]) == 0
    capsys.readouterr()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = cli.main(["serve", "--port", str(port), *index_dir])
    out, err = capsys.readouterr()
    assert code == 2 and f"Cannot serve on 127.0.0.1:{port}" in err and "--port" in err
    assert "Serving the chat" not in out and "Traceback" not in err
