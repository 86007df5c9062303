"""Indexing and the on-disk index: idempotence, replacement, removal, atomicity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from index.records import FORMAT_VERSION
from index.store import IndexStore
from rag.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    InputError,
    StorageError,
)
from rag.ingest.chunk import ChunkerSettings
from rag.ingest.indexer import Indexer
from rag.types import chunk_context
from tests.fakes import FakeEmbedder

ARTICLE_A = """# Harbor bridge reopens after repairs

March 3, 2024 — PORTVILLE (Test Wire)

The harbor bridge in Portville reopened on Monday after eight months of repairs.
Engineers replaced 240 steel cables and resurfaced the deck.

The city council said the project cost 31 million dollars.
"""

ARTICLE_B = """# Library extends opening hours

April 9, 2024 — LAKETON (Test Wire)

The central library in Laketon will stay open until 10 pm on weekdays.
Mayor Dana Ruiz said more students had asked for quiet study space.
"""


def make_indexer(index_dir: Path, embedder: FakeEmbedder | None = None) -> Indexer:
    return Indexer(IndexStore(index_dir), embedder or FakeEmbedder(), ChunkerSettings())


def test_index_then_reindex_embeds_nothing_new(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    embedder = FakeEmbedder()
    indexer = make_indexer(tmp_path / "idx", embedder)
    first = indexer.index_paths([folder])
    assert (first.added, first.unchanged) == (2, 0)
    assert first.chunks_embedded == first.n_chunks > 0
    embedded_before = len(embedder.embedded)

    second = indexer.index_paths([folder])
    assert (second.added, second.unchanged, second.chunks_embedded) == (0, 2, 0)
    assert len(embedder.embedded) == embedded_before
    assert second.n_chunks == first.n_chunks


def test_identical_articles_are_indexed_once(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A, "copy/a-again.md": ARTICLE_A})
    report = make_indexer(tmp_path / "idx").index_paths([folder])
    snapshot = IndexStore(tmp_path / "idx").load()
    assert report.n_documents == 1
    (article,) = snapshot.documents.values()
    assert len(article.origins) == 2


def test_changed_file_replaces_its_old_chunks(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    indexer = make_indexer(tmp_path / "idx")
    indexer.index_paths([folder])
    (folder / "a.md").write_text(ARTICLE_A.replace("eight months", "nine months"))
    report = indexer.index_paths([folder])
    assert (report.added, report.replaced, report.unchanged) == (1, 1, 1)
    snapshot = IndexStore(tmp_path / "idx").load()
    texts = " ".join(a.text for a in snapshot.documents.values())
    assert "nine months" in texts and "eight months" not in texts
    assert {c.doc_id for c in snapshot.chunks} == set(snapshot.documents)


def test_chunks_are_slices_of_their_article_and_vectors_embed_them_with_the_title(
    tmp_path, write_articles
):
    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    embedder = FakeEmbedder()
    make_indexer(tmp_path / "idx", embedder).index_paths([folder])
    snapshot = IndexStore(tmp_path / "idx").load()
    vectors = snapshot.vectors()
    for row, chunk in enumerate(snapshot.chunks):
        article = snapshot.documents[chunk.doc_id]
        assert article.text[chunk.start : chunk.end] == chunk.text
        indexed = chunk_context(article, chunk)
        assert indexed.endswith(chunk.text) and article.title.split()[0] in indexed
        np.testing.assert_allclose(vectors[row], embedder.embed([indexed])[0], atol=1e-6)


def test_remove_by_exact_id_and_by_path(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})
    indexer = make_indexer(tmp_path / "idx")
    indexer.index_paths([folder])
    snapshot = IndexStore(tmp_path / "idx").load()
    a_id = next(d for d, a in snapshot.documents.items() if "bridge" in a.title.lower())
    # A prefix is not the id: the message gives the whole id, and nothing is removed.
    with pytest.raises(InputError, match=f"give the whole id '{a_id}'"):
        indexer.remove([a_id[:8]])
    removed = indexer.remove([a_id])
    assert [a.doc_id for a in removed] == [a_id]
    removed = indexer.remove([str(folder / "b.md")])
    assert len(removed) == 1
    snapshot = IndexStore(tmp_path / "idx").load()
    assert snapshot.documents == {} and snapshot.chunks == []
    with pytest.raises(InputError, match="No indexed article matches"):
        indexer.remove(["zzzzzzzz"])


def test_missing_index_says_what_to_run(tmp_path):
    with pytest.raises(IndexNotFoundError, match="rag index"):
        IndexStore(tmp_path / "nowhere").load()


def test_index_from_another_embedder_is_refused(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A})
    make_indexer(tmp_path / "idx").index_paths([folder])
    other = FakeEmbedder(model_id="another-model")
    with pytest.raises(IndexMismatchError, match="another-model"):
        make_indexer(tmp_path / "idx", other).index_paths([folder])
    with pytest.raises(IndexMismatchError, match="--embedder fake-embedder"):
        IndexStore(tmp_path / "idx").load(embedder_id="another-model")
    # --rebuild starts over with the new embedder.
    report = make_indexer(tmp_path / "idx", other).index_paths([folder], rebuild=True)
    assert report.added == 1
    assert IndexStore(tmp_path / "idx").read_manifest().embedder_id == "another-model"


def test_other_format_version_is_refused(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A})
    make_indexer(tmp_path / "idx").index_paths([folder])
    manifest_path = tmp_path / "idx" / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["format_version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        IndexStore(tmp_path / "idx").load()


def test_truncated_files_are_reported_as_damage(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A})
    make_indexer(tmp_path / "idx").index_paths([folder])
    generation = IndexStore(tmp_path / "idx").read_manifest().generation
    vectors = tmp_path / "idx" / generation / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:40])
    with pytest.raises(IndexCorruptError, match="rebuild"):
        IndexStore(tmp_path / "idx").load()


def test_failed_write_leaves_previous_generation_loadable(tmp_path, write_articles, monkeypatch):
    folder = write_articles({"a.md": ARTICLE_A})
    indexer = make_indexer(tmp_path / "idx")
    indexer.index_paths([folder])
    before = IndexStore(tmp_path / "idx").load()

    import faiss

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", explode)
    (folder / "b.md").write_text(ARTICLE_B)
    with pytest.raises(StorageError, match=r"disk full.*The index is unchanged"):
        indexer.index_paths([folder])
    after = IndexStore(tmp_path / "idx").load()
    assert after.documents == before.documents
    assert not [p for p in os.listdir(tmp_path / "idx") if p.startswith(".gen-")]


def test_old_generations_are_cleaned_up(tmp_path, write_articles):
    folder = write_articles({"a.md": ARTICLE_A})
    indexer = make_indexer(tmp_path / "idx")
    indexer.index_paths([folder])
    for i in range(4):
        (folder / f"extra{i}.md").write_text(ARTICLE_B.replace("10 pm", f"{i} pm"))
        indexer.index_paths([folder])
    generations = sorted(p for p in os.listdir(tmp_path / "idx") if p.startswith("gen-"))
    assert len(generations) == 2  # the current one and the one before it
    assert IndexStore(tmp_path / "idx").read_manifest().generation == generations[-1]


def test_no_paths_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        make_indexer(tmp_path / "idx").index_paths([])


def test_index_files_follow_the_umask(tmp_path, write_articles):
    import stat

    folder = write_articles({"a.md": ARTICLE_A})
    old = os.umask(0o022)
    try:
        make_indexer(tmp_path / "idx").index_paths([folder])
    finally:
        os.umask(old)
    generation = next((tmp_path / "idx").glob("gen-*"))
    assert stat.S_IMODE((tmp_path / "idx" / "manifest.json").stat().st_mode) == 0o644
    assert stat.S_IMODE(generation.stat().st_mode) == 0o755


def test_an_edited_article_embeds_only_its_changed_passages(tmp_path, write_articles):
    paragraphs = [
        f"Paragraph {i}: the harbor board discussed item {i} of the agenda at length, "
        f"hearing from residents about berth {i} and the ferry timetable."
        for i in range(12)
    ]
    folder = write_articles({"a.md": "# Harbor board meets\n\n" + "\n\n".join(paragraphs)})
    embedder = FakeEmbedder(max_tokens=60)
    indexer = make_indexer(tmp_path / "idx", embedder)
    first = indexer.index_paths([folder])
    assert first.n_chunks >= 4
    before = IndexStore(tmp_path / "idx").load()
    # Append a paragraph: the article is new (its hash changed), its old passages are not.
    (folder / "a.md").write_text(
        "# Harbor board meets\n\n" + "\n\n".join([*paragraphs, "The board adjourned at nine."])
    )
    embedded_before = len(embedder.embedded)
    second = indexer.index_paths([folder])
    assert (second.added, second.replaced) == (1, 1)
    assert 1 <= second.chunks_embedded < second.n_chunks
    assert len(embedder.embedded) - embedded_before == second.chunks_embedded
    after = IndexStore(tmp_path / "idx").load()
    # A reused vector is the stored one, row for row.
    old_rows = {c.text: i for i, c in enumerate(before.chunks)}
    for row, chunk in enumerate(after.chunks):
        if chunk.text in old_rows and chunk.start == before.chunks[old_rows[chunk.text]].start:
            assert np.array_equal(
                after.stored_vectors([row]), before.stored_vectors([old_rows[chunk.text]])
            )


class BatchRecorder(FakeEmbedder):
    """Records how many passages each call to ``embed`` was given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def embed(self, texts, *, kind="passage"):
        if kind == "passage":
            self.batches.append(len(texts))
        return super().embed(texts, kind=kind)


def test_passages_are_embedded_embed_batch_size_at_a_time(tmp_path):
    from rag.config import Settings
    from rag.service import RagService
    from tests.towns import write_towns

    embedder = BatchRecorder()
    service = RagService(
        Settings(index_dir=tmp_path / "idx", embed_batch_size=3), embedder=embedder
    )
    done: list[int] = []
    report = service.index_paths(
        [write_towns(tmp_path / "towns", 10, 1)], progress=lambda n, total: done.append(n)
    )
    total = report.chunks_embedded
    assert total > 6
    assert embedder.batches == [3] * (total // 3) + ([total % 3] if total % 3 else [])
    assert done == [min(n, total) for n in range(3, total + 3, 3)]


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size must be greater than 0, got 0"):
        Indexer(IndexStore("unused"), FakeEmbedder(), ChunkerSettings(), batch_size=0)


def test_passages_of_similar_length_are_embedded_together_and_come_back_in_order():
    from rag.embed.base import embed_in_batches

    embedder = BatchRecorder()
    calls: list[list[str]] = []

    def embed(texts):
        calls.append(texts)
        return embedder.embed(texts)

    texts = ["a long passage of seven words here", "short", "a middling one", "tiny", "mid size"]
    vectors = embed_in_batches(embed, texts, batch_size=2, dimension=embedder.dimension)
    assert calls == [["tiny", "short"], ["mid size", "a middling one"], [texts[0]]]
    assert np.array_equal(vectors, embedder.embed(texts))
