"""Removal takes an exact target, says what it removed, and a folder only when asked.

The command-line cases run the real `rag` command in-process with the fake
embedder; the web chat's two steps are driven through its handlers.
"""

from __future__ import annotations

import gradio as gr
import pytest

from index.store import IndexStore
from rag import cli
from tests.fakes import FakeEmbedder
from tests.test_index import ARTICLE_A, ARTICLE_B

ARTICLE_C = "# Ferry service resumes\n\nThe island ferry resumed service on Friday after a storm."


# The real CLI, with the fake models behind its service (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cli_with_fake_models")


@pytest.fixture
def indexed(tmp_path, write_articles, capsys):
    """An index of three articles: two in news/, one in news/ferries/."""
    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B, "ferries/c.md": ARTICLE_C})
    index_dir = tmp_path / "idx"
    assert cli.main(["index", str(folder), "--index-dir", str(index_dir)]) == 0
    capsys.readouterr()
    return folder, index_dir


def titles(index_dir) -> set[str]:
    return {a.title for a in IndexStore(index_dir).load().documents.values()}


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argument", ["", "   ", "\t\n"])
@pytest.mark.parametrize("command", [["remove"], ["index", "--remove"]])
def test_an_empty_argument_is_an_error_and_removes_nothing(indexed, capsys, command, argument):
    _, index_dir = indexed
    code, err = run(capsys, *command, argument, "--index-dir", str(index_dir))
    assert code == 2
    assert "empty argument" in err and err.startswith("rag: error:") and "Traceback" not in err
    assert len(titles(index_dir)) == 3


def test_a_folder_needs_recursive_and_then_lists_what_went(indexed, capsys):
    folder, index_dir = indexed
    code, err = run(capsys, "remove", str(folder), "--index-dir", str(index_dir))
    assert code == 2
    assert "folder holding 3 indexed article(s); nothing was removed" in err
    assert "--recursive" in err
    assert len(titles(index_dir)) == 3

    code, err = run(
        capsys, "remove", str(folder / "ferries"), "--recursive", "--index-dir", str(index_dir)
    )
    assert code == 0
    assert "Removed 1 article(s):" in err and "Ferry service resumes" in err
    assert titles(index_dir) == {
        "Harbor bridge reopens after repairs",
        "Library extends opening hours",
    }


def test_a_file_path_and_a_whole_id_remove_one_article_each(indexed, capsys):
    folder, index_dir = indexed
    code, err = run(capsys, "index", "--remove", folder / "a.md", "--index-dir", index_dir)
    assert code == 0 and "Removed 1 article(s):" in err and "Harbor bridge" in err
    library = next(
        a for a in IndexStore(index_dir).load().documents.values() if "Library" in a.title
    )
    code, err = run(capsys, "remove", library.doc_id[:6], "--index-dir", str(index_dir))
    assert code == 2 and f"give the whole id '{library.doc_id}'" in err
    code, err = run(capsys, "remove", library.doc_id, "--index-dir", str(index_dir))
    assert code == 0 and library.doc_id in err
    assert titles(index_dir) == {"Ferry service resumes"}


def test_a_path_that_only_starts_like_an_indexed_file_matches_nothing(indexed, capsys):
    folder, index_dir = indexed
    code, err = run(capsys, "remove", str(folder / "a"), "--index-dir", str(index_dir))
    assert code == 2 and "No indexed article matches" in err
    assert len(titles(index_dir)) == 3


def test_rebuild_says_what_it_dropped(indexed, capsys, write_articles):
    _, index_dir = indexed
    other = write_articles({"c.md": ARTICLE_C}, folder="other")
    code, err = run(capsys, "index", "--rebuild", str(other), "--index-dir", str(index_dir))
    assert code == 0 and "the 3 article(s) indexed before were dropped" in err


# --- the web chat -------------------------------------------------------------------


@pytest.fixture
def service(indexed):
    from rag.config import Settings
    from rag.service import RagService

    _, index_dir = indexed
    return RagService(Settings(index_dir=index_dir), embedder=FakeEmbedder())


def test_removing_loads_no_model_and_keeps_the_rest_searchable(indexed):
    from rag.config import Settings
    from rag.service import RagService

    class Unloadable(FakeEmbedder):
        def warm_up(self) -> None:
            raise AssertionError("removing must not load the embedder")

    folder, index_dir = indexed
    before = IndexStore(index_dir).read_manifest()
    removed = RagService(Settings(index_dir=index_dir), embedder=Unloadable()).remove(
        [str(folder / "a.md")]
    )
    assert [a.title for a in removed] == ["Harbor bridge reopens after repairs"]
    after = IndexStore(index_dir).read_manifest()
    assert (after.embedder_id, after.dimension, after.chunker) == (
        before.embedder_id,
        before.dimension,
        before.chunker,
    )
    service = RagService(Settings(index_dir=index_dir), embedder=FakeEmbedder())
    (top, *_) = service.search("When does the Laketon library close?")
    assert top.title == "Library extends opening hours"
    assert service.snapshot().size == after.n_chunks


def test_the_web_chat_refuses_a_folder_or_a_path_in_the_remove_box(service, indexed):
    from ui.articles import removal_request

    folder, index_dir = indexed
    for text in (str(folder), "./", "~/news", "../news", "."):
        with pytest.raises(gr.Error, match=r"not an article id|No indexed article"):
            removal_request(service, text)
    with pytest.raises(gr.Error, match="Pick the articles"):
        removal_request(service, "   ")
    assert len(titles(index_dir)) == 3


def test_the_web_chat_removes_the_confirmed_rows_only(service, indexed):
    from ui.articles import list_articles, pick_rows, picked_ids, removal_request, remove_articles

    _, index_dir = indexed
    rows = {a.title: a.doc_id for a in IndexStore(index_dir).load().documents.values()}
    table = pick_rows(list_articles(service))
    assert picked_ids(table) == ""  # nothing is ticked to begin with
    for row in table:
        row[0] = row[1] == "Ferry service resumes"  # the person ticks one box
    picked = picked_ids(table)
    assert picked == rows["Ferry service resumes"]
    confirmation, ids = removal_request(service, picked)
    assert ids == [rows["Ferry service resumes"]]
    assert "Remove 1 article(s)" in confirmation and "Ferry service resumes" in confirmation
    assert "Library" not in confirmation
    status, table = remove_articles(service, ids)
    assert "Removed 1 article(s):" in status and "Ferry service resumes" in status
    assert {r[0] for r in table} == {
        "Harbor bridge reopens after repairs",
        "Library extends opening hours",
    }
    with pytest.raises(gr.Error, match="press Remove first"):
        remove_articles(service, [])


def test_an_empty_path_to_index_is_an_error_not_the_current_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "private.md").write_text("# Private notes\n\nNot for the index.")
    code, err = run(capsys, "index", "", "--index-dir", tmp_path / "idx")
    assert code == 2 and "An empty path was given" in err
    assert not (tmp_path / "idx").exists()
