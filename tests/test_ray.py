"""Ingestion on Ray: a local Ray instance builds the same index a local run builds."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.store import IndexStore
from rag.embed.choose import MIN_COSINE
from rag.errors import DistributedError
from rag.ingest.distributed import _root_cause, list_inputs

pytest.importorskip("ray")

RAG = Path(sys.executable).parent / "rag"
SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "articles"


@pytest.fixture
def env(tmp_path):
    (tmp_path / "empty.toml").write_text("")
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RAG_CONFIG": str(tmp_path / "empty.toml"),
        # Each test starts its own local instance; never join one found on the machine.
        "RAY_ADDRESS": "",
    }


def rag(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RAG, *map(str, args)], env=env, capture_output=True, text=True, timeout=600
    )


def contents(index_dir: Path) -> tuple[list[str], list[str], list[tuple[str, ...]], np.ndarray]:
    snapshot = IndexStore(index_dir).load()
    return (
        list(snapshot.documents),
        [c.chunk_id for c in snapshot.chunks],
        [a.origins for a in snapshot.documents.values()],
        snapshot.vectors(),
    )


@pytest.mark.model
def test_a_ray_run_builds_the_index_a_local_run_builds_and_reuses_it(tmp_path, env):
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLES, corpus)
    (corpus / "notes.jsonl").write_text(
        '{"title": "Harbour notes", "text": "The Glenmore ferry returned to service on '
        'Monday after repairs to its ramp. Crews tested the ramp twice."}\n'
        "this line is not JSON\n"
        # The same story under another title: the first copy is the one indexed.
        '{"title": "Ferry back", "text": "The Glenmore ferry returned to service on '
        'Monday after repairs to its ramp. Crews tested the ramp twice."}\n',
        encoding="utf-8",
    )
    (corpus / "broken.txt").write_bytes(b"\x00\x01\x02 binary")
    local, on_ray = tmp_path / "local", tmp_path / "ray"

    done = rag("index", corpus, "--index-dir", local, env=env)
    assert done.returncode == 1, done.stderr  # the two bad inputs are skipped
    done = rag("index", corpus, "--index-dir", on_ray, "--ray", "--ray-actors", 2, env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "broken.txt: looks like a binary file" in done.stderr
    assert "notes.jsonl:2: not valid JSON" in done.stderr
    assert "11 new" in done.stderr and "2 input(s) skipped" in done.stderr

    docs, chunk_ids, origins, vectors = contents(on_ray)
    docs_l, chunk_ids_l, origins_l, vectors_l = contents(local)
    assert docs == docs_l and chunk_ids == chunk_ids_l and origins == origins_l
    assert len(chunk_ids) > len(docs) == 11
    # The int8 embedders quantise a passage a little differently in another batch: ONNX
    # Runtime's dynamic int8, picked by `auto` on an AVX2-only EPYC, moved components by up
    # to 0.011. Each passage must still be the same vector by the measure `auto` holds every
    # backend to against PyTorch's.
    cosines = np.sum(vectors * vectors_l, axis=1)
    assert np.min(cosines) >= MIN_COSINE, np.min(cosines)
    ray_manifest, local_manifest = (
        IndexStore(on_ray).read_manifest(),
        IndexStore(local).read_manifest(),
    )
    assert ray_manifest.embedder_id == local_manifest.embedder_id
    assert ray_manifest.chunker == local_manifest.chunker
    assert not list(on_ray.glob(".shards-*")), "the shards are removed once merged"

    # Unchanged articles are not embedded again; an edited one is replaced.
    edited = sorted(corpus.glob("*.md"))[0]
    text = edited.read_text(encoding="utf-8")
    added = "The president repeated the point at a meeting on Tuesday, aides said.\n\n"
    cut = text.rindex("\n\n") + 2  # before the closing "Source:" line
    edited.write_text(text[:cut] + added + text[cut:], encoding="utf-8")
    (corpus / "broken.txt").unlink()
    (corpus / "notes.jsonl").write_text(
        '{"title": "Harbour notes", "text": "The Glenmore ferry returned to service on '
        'Monday after repairs to its ramp. Crews tested the ramp twice."}\n',
        encoding="utf-8",
    )
    done = rag("index", corpus, "--index-dir", on_ray, "--ray", "--json", env=env)
    assert done.returncode == 0, done.stderr
    import json

    report = json.loads(done.stdout)
    assert (report["added"], report["unchanged"], report["replaced"]) == (1, 10, 1)
    # Only the edited article's passages with new text are embedded.
    assert 0 < report["chunks_embedded"] <= 3
    assert rag("index", corpus, "--index-dir", local, env=env).returncode == 0
    assert contents(on_ray)[1] == contents(local)[1]


def test_shards_written_elsewhere_are_kept(tmp_path, env):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        "Ferry back in service\n\nThe Glenmore ferry returned to service on Monday.\n"
    )
    shards = tmp_path / "shards"
    done = rag(
        "index", corpus, "--index-dir", tmp_path / "idx", "--ray", "--shard-dir", shards, env=env
    )
    assert done.returncode == 0, done.stderr
    assert list(shards.glob("*.parquet")), "a shard folder the user named is left in place"
    assert len(IndexStore(tmp_path / "idx").load().chunks) == 1


def test_bad_ray_options_get_a_message(tmp_path, env):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Ferry\n\nThe ferry returned to service on Monday.\n")
    done = rag(
        "index", corpus, "--index-dir", tmp_path / "idx", "--ray", "--ray-actors", 0, env=env
    )
    assert done.returncode == 2
    assert "--ray-actors must be greater than 0" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])
def test_a_cluster_address_where_nothing_listens_fails_at_once(tmp_path, env, address):
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Ferry\n\nThe ferry returned to service on Monday.\n")
    address = address.format(port=port)
    done = rag("index", corpus, "--index-dir", tmp_path / "idx", "--ray", address, env=env)
    assert done.returncode == 6, done.stderr
    assert f"Nothing answers at {address!r}" in done.stderr
    assert "ray start --head" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_without_ray_installed_the_message_says_what_to_install(monkeypatch):
    from rag.ingest import distributed as ray_ingest

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(DistributedError, match=r"pip install 'newsrag\[distributed\]'"):
        ray_ingest._ray()


def test_a_worker_error_is_reported_by_its_last_line():
    wrapped = RuntimeError("ray::MapWorker.submit() (pid=1)\n  File x\nValueError: bad shard")
    outer = RuntimeError("execution failed")
    outer.__cause__ = wrapped
    assert _root_cause(outer) == "ValueError: bad shard"


def test_inputs_are_listed_in_order_with_unsupported_named_files_reported(tmp_path):
    (tmp_path / "b.md").write_text("x")
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "c.docx").write_text("x")
    files, problems = list_inputs([tmp_path, tmp_path / "c.docx"])
    assert [Path(f).name for f in files] == ["a.txt", "b.md"]
    assert len(problems) == 1 and "unsupported file type .docx" in problems[0].message
