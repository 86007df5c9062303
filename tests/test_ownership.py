"""newsrag writes only into an index it made (or an empty folder) and deletes only what it made.

The cases run the real `rag` command in-process with the fake embedder.
"""

from __future__ import annotations

import json

import gradio as gr
import pytest

from index.store import IndexStore
from rag import cli
from tests.fakes import FakeEmbedder
from tests.test_index import ARTICLE_A, ARTICLE_B

# The real CLI, with the fake models behind its service (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cli_with_fake_models")


def users_folder(root):
    """A folder of someone's things, one of them named like an index generation."""
    root.mkdir()
    (root / "gen-photos").mkdir()
    (root / "gen-photos" / "beach.jpg").write_bytes(b"\xff\xd8 a photo")
    (root / "gen-000001").mkdir()
    (root / "gen-000001" / "notes.txt").write_text("mine")
    (root / "todo.txt").write_text("buy milk")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("extra", [[], ["--rebuild"]])
def test_a_folder_that_is_not_an_index_is_refused_and_left_alone(
    tmp_path, write_articles, capsys, extra
):
    folder = write_articles({"a.md": ARTICLE_A})
    mine = tmp_path / "mine"
    before = users_folder(mine)
    code = cli.main(["index", str(folder), *extra, "--index-dir", str(mine)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{mine} is not a newsrag index" in err and "'gen-000001' and 2 more" in err
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*")) == before
    assert (mine / "gen-photos" / "beach.jpg").read_bytes() == b"\xff\xd8 a photo"


def test_someone_elses_manifest_json_does_not_make_a_folder_an_index(
    tmp_path, write_articles, capsys
):
    folder = write_articles({"a.md": ARTICLE_A})
    web = tmp_path / "site"
    web.mkdir()
    (web / "manifest.json").write_text(json.dumps({"name": "My app", "icons": []}))
    assert cli.main(["index", str(folder), "--index-dir", str(web)]) == 2
    assert "holds 'manifest.json'" in capsys.readouterr().err
    assert json.loads((web / "manifest.json").read_text())["name"] == "My app"


def test_inside_an_index_only_its_own_generations_are_deleted(tmp_path, write_articles, capsys):
    folder = write_articles({"a.md": ARTICLE_A})
    index_dir = tmp_path / "idx"
    assert cli.main(["index", str(folder), "--index-dir", str(index_dir)]) == 0
    # Someone puts their things into the index folder, one named like a generation.
    (index_dir / "gen-photos").mkdir()
    (index_dir / "gen-photos" / "beach.jpg").write_bytes(b"photo")
    (index_dir / "gen-000000").mkdir()
    (index_dir / "gen-000000" / "notes.txt").write_text("mine")
    for i in range(4):  # each run writes a generation and clears old ones
        (folder / f"b{i}.md").write_text(ARTICLE_B.replace("10 pm", f"{i} pm"))
        assert cli.main(["index", str(folder), "--index-dir", str(index_dir)]) == 0
    assert (index_dir / "gen-photos" / "beach.jpg").read_bytes() == b"photo"
    assert (index_dir / "gen-000000" / "notes.txt").read_text() == "mine"
    ours = sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-0"))
    assert len(ours) == 3  # the user's gen-000000, the current and the previous generation
    assert len(IndexStore(index_dir).load().documents) == 5


def test_an_empty_folder_or_a_new_one_becomes_an_index(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A})
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        assert cli.main(["index", str(folder), "--index-dir", str(target)]) == 0
        assert (target / "manifest.json").is_file()


def test_a_damaged_index_can_still_be_rebuilt(tmp_path, write_articles, capsys):
    folder = write_articles({"a.md": ARTICLE_A})
    index_dir = tmp_path / "idx"
    assert cli.main(["index", str(folder), "--index-dir", str(index_dir)]) == 0
    (index_dir / "manifest.json").write_text("{")
    assert cli.main(["index", "--rebuild", str(folder), "--index-dir", str(index_dir)]) == 0
    assert len(IndexStore(index_dir).load().documents) == 1


def test_an_upload_into_a_folder_that_is_not_an_index_is_refused(tmp_path):
    from rag.config import Settings
    from rag.service import RagService
    from ui.articles import upload_articles

    mine = tmp_path / "mine"
    before = users_folder(mine)
    service = RagService(Settings(index_dir=mine), embedder=FakeEmbedder())
    upload = tmp_path / "a.md"
    upload.write_text(ARTICLE_A)
    with pytest.raises(gr.Error, match="is not a newsrag index"):
        upload_articles(service, [str(upload)], lambda *a, **k: None)
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*")) == before
