"""The `rag` command end to end with fake models: exit codes, messages, JSON shape."""

from __future__ import annotations

import json

import pytest

from rag import cli
from tests.fakes import FakeGenerator, use_fake_models
from tests.test_index import ARTICLE_A, ARTICLE_B


@pytest.fixture(autouse=True)
def fake_models(monkeypatch):
    """Run the real CLI with the fake models, registered where it finds the real ones."""
    generator = FakeGenerator(["The harbor bridge reopened on Monday [1]."])
    for name in ("RAG_INDEX_DIR", "RAG_K", "RAG_CONFIG", "RAG_EMBEDDER"):
        monkeypatch.delenv(name, raising=False)
    use_fake_models(monkeypatch, generator=lambda: generator)


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_list_ask_search(tmp_path, write_articles, capsys):
    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    idx = str(tmp_path / "idx")
    code, _, err = run(capsys, "index", str(folder), "--index-dir", idx)
    assert code == 0 and "2 new" in err

    code, _, err = run(capsys, "index", str(folder), "--index-dir", idx)
    assert code == 0 and "0 new, 2 unchanged" in err and "0 chunks embedded" in err

    code, out, _ = run(capsys, "list", "--index-dir", idx, "--json")
    listed = json.loads(out)
    assert {d["title"] for d in listed} == {
        "Harbor bridge reopens after repairs",
        "Library extends opening hours",
    }
    assert all(d["chunks"] >= 1 and d["date"] for d in listed)

    code, out, _ = run(
        capsys, "ask", "When did the harbor bridge reopen?", "--index-dir", idx, "--json"
    )
    data = json.loads(out)
    assert set(data) >= {"question", "answer", "abstained", "citations", "passages", "timings"}
    assert data["abstained"] is False
    citation = data["citations"][0]
    assert set(citation) >= {
        "marker",
        "doc_id",
        "chunk_id",
        "title",
        "source",
        "date",
        "text",
        "start",
        "end",
    }
    assert "reopened on Monday" in citation["text"]
    assert set(data["timings"]) == {
        "load_ms",
        "retrieve_ms",
        "first_token_ms",
        "total_ms",
        "check_ms",
        "rewrite_ms",
        "generated_tokens",
        "prompt_tokens",
    }

    code, out, _ = run(
        capsys,
        "search",
        "central library Laketon weekdays",
        "--k",
        "1",
        "--index-dir",
        idx,
        "--json",
    )
    (hit,) = json.loads(out)
    assert hit["title"] == "Library extends opening hours" and hit["rank"] == 1

    code, out, _ = run(capsys, "ask", "When did the harbor bridge reopen?", "--index-dir", idx)
    assert "Sources:" in out and "[1] Harbor bridge reopens after repairs" in out


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["index", "/no/such/folder"], 2, "does not exist"),
        (["ask", "anything"], 3, "No index at"),
        (["ask", "   "], 2, "question is empty"),
        (["search", "anything", "--k", "0"], 2, "k must be greater than 0"),
        (["remove", "abcdef"], 3, "No index at"),
        (["search", "anything", "--since", "2024-02-30"], 2, "--since must be a date"),
        (["ask", "anything", "--as-of", "yesterday"], 2, "--as-of must be a date"),
        (["search", "x y", "--since", "2024-05-01", "--until", "2024-04-01"], 2, "is after"),
    ],
)
def test_errors_are_one_line_and_non_zero(tmp_path, capsys, argv, code, message):
    got, _out, err = run(capsys, *argv, "--index-dir", str(tmp_path / "idx"))
    assert got == code
    assert message in err
    assert "Traceback" not in err and err.startswith("rag: error:")


def test_a_setting_that_takes_names_offers_them_as_choices(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["list", "--embed-backend", "fastest"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'fastest'" in err and "'openvino-int8'" in err


def test_index_reports_bad_files_and_keeps_going(tmp_path, write_articles, capsys):
    folder = write_articles({"a.md": ARTICLE_A, "empty.txt": "   \n"})
    code, _, err = run(capsys, "index", str(folder), "--index-dir", str(tmp_path / "idx"))
    assert code == 1  # the good file is indexed; the exit code says one was skipped
    assert "empty.txt" in err and "1 new" in err and "1 input(s) skipped" in err


def test_chat_keeps_the_conversation_and_survives_bad_input(
    tmp_path, write_articles, capsys, monkeypatch
):
    import io

    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    idx = str(tmp_path / "idx")
    assert cli.main(["index", str(folder), "--index-dir", idx]) == 0
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("When did the harbor bridge reopen?\n" + "x" * 5000 + "\n/quit\n")
    )
    code, out, err = run(capsys, "chat", "--index-dir", idx)
    assert code == 0
    assert "The harbor bridge reopened on Monday [1]." in out
    assert "characters long" in err  # the over-long question, reported without leaving


def test_filters_on_the_command_line(tmp_path, write_articles, capsys):
    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    idx = str(tmp_path / "idx")
    assert run(capsys, "index", str(folder), "--index-dir", idx)[0] == 0
    code, out, _ = run(
        capsys, "search", "bridge library", "--until", "2024-03-31", "--index-dir", idx, "--json"
    )
    assert code == 0 and {h["date"] for h in json.loads(out)} == {"2024-03-03"}
    code, out, _ = run(
        capsys, "search", "bridge library", "--source", "nobody", "--index-dir", idx, "--json"
    )
    assert code == 0 and json.loads(out) == []
    code, out, _ = run(
        capsys, "search", "bridge library", "--as-of", "2024-04-01", "--index-dir", idx, "--json"
    )
    assert code == 0 and {h["date"] for h in json.loads(out)} == {"2024-03-03"}
