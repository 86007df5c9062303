"""Faults of the disk and of the inputs: one line each, a documented exit code, nothing hangs.

Disk full, a read-only folder and permission denied are injected at the
file-write layer (the tests run as root, where chmod stops nothing). FIFOs,
sockets, devices and symlink loops are real; the run that meets a FIFO is a
subprocess with a timeout, so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from index.store import IndexStore
from rag import cli
from rag.ingest.files import load_documents, parse_html
from tests.conftest import ROOT
from tests.test_index import ARTICLE_A, ARTICLE_B

STORAGE_EXIT = 7


# The real CLI, with the fake models behind its service (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cli_with_fake_models")


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rag: error:"), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def index_of_one(tmp_path, write_articles, capsys):
    folder = write_articles({"a.md": ARTICLE_A})
    index_dir = tmp_path / "idx"
    assert cli.main(["index", str(folder), "--index-dir", str(index_dir)]) == 0
    capsys.readouterr()
    (folder / "b.md").write_text(ARTICLE_B)
    return folder, index_dir, IndexStore(index_dir).load().documents


def unchanged(index_dir: Path, documents) -> bool:
    names = [p.name for p in index_dir.iterdir()]
    return IndexStore(index_dir).load().documents == documents and not any(
        n.startswith(".gen-") for n in names
    )


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
        (OSError(errno.EACCES, "Permission denied"), "permission denied"),
    ],
    ids=["disk full", "read-only", "permission denied"],
)
def test_a_write_that_fails_says_why_and_leaves_the_index(
    index_of_one, capsys, monkeypatch, error, message
):
    folder, index_dir, documents = index_of_one

    def fail(path, rows):
        raise error

    monkeypatch.setattr("index.writer.write_jsonl", fail)
    code, err = run(capsys, "index", folder, "--index-dir", index_dir)
    assert code == STORAGE_EXIT
    line = one_line(err)
    assert message in line and "The index is unchanged" in line
    assert unchanged(index_dir, documents)


def test_faiss_reporting_a_write_error_is_a_full_disk(index_of_one, capsys, monkeypatch):
    import faiss

    folder, index_dir, documents = index_of_one

    def fail(index, path):
        raise RuntimeError("Error in faiss::FileIOWriter::operator(): write error")

    monkeypatch.setattr(faiss, "write_index", fail)
    code, err = run(capsys, "remove", str(folder / "a.md"), "--index-dir", index_dir)
    assert code == STORAGE_EXIT and "the disk is full" in one_line(err)
    assert unchanged(index_dir, documents)


def test_a_manifest_that_cannot_be_replaced_leaves_the_old_one(index_of_one, capsys, monkeypatch):
    folder, index_dir, documents = index_of_one

    def fail(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("index.writer.atomic_write_text", fail)
    generations = sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-"))
    code, err = run(capsys, "index", folder, "--index-dir", index_dir)
    assert code == STORAGE_EXIT and "the disk is full" in one_line(err)
    assert unchanged(index_dir, documents)
    assert sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-")) == generations


def test_a_lock_that_cannot_be_taken_on_a_read_only_folder(index_of_one, capsys, monkeypatch):
    from filelock import FileLock

    folder, index_dir, documents = index_of_one

    def fail(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(FileLock, "acquire", fail)
    code, err = run(capsys, "index", folder, "--index-dir", index_dir)
    assert code == STORAGE_EXIT and "read-only file system" in one_line(err)
    assert unchanged(index_dir, documents)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_really_read_only_folder(index_of_one, capsys):
    folder, index_dir, _ = index_of_one
    index_dir.chmod(0o555)
    try:
        code, err = run(capsys, "index", folder, "--index-dir", index_dir)
    finally:
        index_dir.chmod(0o755)
    assert code == STORAGE_EXIT and "The index is unchanged" in one_line(err)


# --- odd inputs --------------------------------------------------------------------------

INDEX_WITH_FAKES = textwrap.dedent(
    """
    import sys
    import pytest
    from rag import cli
    from tests.fakes import use_fake_models

    use_fake_models(pytest.MonkeyPatch())  # registered for the life of this process
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def rag_subprocess(*argv, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own (fake embedder), killed if it hangs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.run(
        [sys.executable, "-c", INDEX_WITH_FAKES, *map(str, argv)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_fifo_among_the_articles_is_skipped_without_hanging(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    os.mkfifo(folder / "pipe.txt")
    os.mkfifo(folder / "pipe")  # no article suffix: reported all the same
    result = rag_subprocess("index", folder, "--index-dir", tmp_path / "idx")
    assert result.returncode == 1, result.stderr
    assert "pipe.txt: is a named pipe (FIFO), not a file of text; skipped" in result.stderr
    assert f"{folder / 'pipe'}: is a named pipe" in result.stderr
    assert "2 new" in result.stderr and "Traceback" not in result.stderr
    # Named on its own, too.
    result = rag_subprocess("index", folder / "pipe.txt", "--index-dir", tmp_path / "idx")
    assert result.returncode == 1 and "named pipe" in result.stderr


def test_a_socket_and_a_device_are_skipped(tmp_path, write_articles, capsys):
    folder = write_articles({"a.md": ARTICLE_A})
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "s.txt"))
    try:
        code, err = run(capsys, "index", folder, "/dev/null", "--index-dir", tmp_path / "idx")
    finally:
        server.close()
    assert code == 1
    assert "s.txt: is a socket" in err and "/dev/null: is a character device" in err
    assert "1 new" in err and "Traceback" not in err


def test_symlink_loops_are_reported_and_the_rest_is_indexed(tmp_path, write_articles, capsys):
    folder = write_articles({"a.md": ARTICLE_A})
    (folder / "loop.md").symlink_to(folder / "loop.md")
    (folder / "up").symlink_to(folder)  # a link to a folder above: not followed
    (folder / "ping.txt").symlink_to(folder / "pong.txt")
    (folder / "pong.txt").symlink_to(folder / "ping.txt")
    code, err = run(capsys, "index", folder, "--index-dir", tmp_path / "idx")
    assert code == 1
    assert "loop.md: cannot be read: it is a symbolic link loop" in err
    assert "ping.txt: cannot be read: it is a symbolic link loop" in err
    assert "1 new" in err and "Traceback" not in err
    code, err = run(capsys, "index", folder / "loop.md", "--index-dir", tmp_path / "idx")
    assert code == 2 and "points to itself" in one_line(err)


def test_a_file_that_vanishes_mid_run_is_one_problem(tmp_path, write_articles, monkeypatch):
    import rag.ingest.files

    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    real_iter_files = rag.ingest.files.iter_files

    def vanishing(paths, problems=None):
        for path, explicit in real_iter_files(paths, problems):
            if path.name == "b.md":
                path.unlink()  # gone between listing the folder and reading it
            yield path, explicit

    monkeypatch.setattr(rag.ingest.files, "iter_files", vanishing)
    documents, problems = load_documents([folder])
    assert len(documents) == 1
    assert [(Path(p.origin).name, p.message) for p in problems] == [
        ("b.md", "cannot be read: it vanished, or is a link to nothing")
    ]


def test_deep_html_keeps_all_its_text(caplog):
    depth = 3000
    html = (
        "<html><head><title>Deep</title><script>var x = 1;</script></head><body>"
        "<p>Top paragraph of the story.</p>"
        + "<div>" * depth
        + "<p>Text deep inside the nesting.</p>"
        + "</div>" * depth
        + "<p>Closing paragraph after it.</p></body></html>"
    )
    with caplog.at_level(logging.WARNING, logger="rag.ingest.files"):
        document = parse_html(html, "deep.html")
    assert document is not None
    for text in ("Top paragraph", "Text deep inside", "Closing paragraph"):
        assert text in document.text
    assert "var x" not in document.text
    assert "nested over 2048 elements deep" in caplog.text


def test_html_nested_300_deep_loses_nothing():
    html = "<p>Top.</p>" + "<div>" * 300 + "<p>Deep.</p>" + "</div>" * 300 + "<p>Closing.</p>"
    document = parse_html(f"<html><body>{html}</body></html>", "x.html")
    assert document is not None and all(t in document.text for t in ("Top.", "Deep.", "Closing."))


@pytest.mark.parametrize("name", ["../decoy", "/tmp/decoy", "gen-000001/../../decoy", "gen-1"])
def test_a_manifest_naming_a_generation_outside_the_index_is_refused(index_of_one, capsys, name):
    _folder, index_dir, _documents = index_of_one
    # A complete copy of the index beside it, which a crafted manifest points at.
    [generation] = [p for p in index_dir.iterdir() if p.name.startswith("gen-")]
    decoy = index_dir.parent / "decoy"
    decoy.mkdir()
    for f in generation.iterdir():
        if f.is_file():
            (decoy / f.name).write_bytes(f.read_bytes())
    manifest = index_dir / "manifest.json"
    data = json.loads(manifest.read_text())
    data["generation"] = name
    manifest.write_text(json.dumps(data))
    code, err = run(capsys, "list", "--index-dir", index_dir)
    assert code == 3
    line = one_line(err)
    assert repr(name) in line and "gen-NNNNNN" in line and "rag index --rebuild" in line


def test_damaged_index_files_are_named_without_library_internals(index_of_one, capsys):
    _folder, index_dir, _documents = index_of_one
    [generation] = [p for p in index_dir.iterdir() if p.name.startswith("gen-")]
    vectors = generation / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:40])
    code, err = run(capsys, "search", "bridge", "--index-dir", index_dir)
    line = one_line(err)
    assert code == 3 and "vectors.faiss is not a vector index FAISS can read" in line
    assert "faiss::" not in line and ".cpp" not in line and "rag index --rebuild" in line


def test_a_bad_line_in_chunks_jsonl_names_the_file_and_line(index_of_one, capsys):
    _folder, index_dir, _documents = index_of_one
    [generation] = [p for p in index_dir.iterdir() if p.name.startswith("gen-")]
    chunks = generation / "chunks.jsonl"
    chunks.write_text(chunks.read_text() + "{not json\n")
    code, err = run(capsys, "list", "--index-dir", index_dir)
    line = one_line(err)
    assert code == 3 and "chunks.jsonl line 2 is not valid JSON" in line
