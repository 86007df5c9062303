"""The vector index: flat while small, IVF with a tuned probe count when large."""

from __future__ import annotations

import numpy as np

from index.store import IndexStore
from index.vectors import VectorIndexInfo, build_vector_index, recall_at
from rag.ingest.chunk import ChunkerSettings
from rag.ingest.indexer import Indexer
from tests.fakes import FakeEmbedder
from tests.towns import write_towns


def clustered(n: int, dimension: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 centres, like topics in a news archive (``seed``: which ones)."""
    centres = np.random.default_rng(0).normal(size=(50, dimension))
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, 50, n)] + 0.6 * rng.normal(size=(n, dimension))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_small_collections_get_an_exact_flat_index():
    index, info = build_vector_index(clustered(500), flat_limit=1000)
    assert info == VectorIndexInfo("flat", 500)
    assert index.ntotal == 500


def test_large_collections_get_ivf_tuned_to_the_recall_target():
    import faiss

    vectors = clustered(6000)
    index, info = build_vector_index(vectors, flat_limit=1000)
    assert info.kind == "ivf" and info.lists == int(4 * 6000**0.5)
    assert info.recall_at_10 >= 0.97 and index.nprobe == info.nprobe < info.lists
    # Fresh queries on the same topics, not stored vectors: recall holds against brute force.
    queries = clustered(200, seed=1)
    _, exact = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    _, found = index.search(queries, 10)
    assert recall_at(found, exact) >= 0.95
    assert np.allclose(index.reconstruct(17), vectors[17])


def test_an_ivf_index_on_disk_searches_filters_exactly_and_reuses_vectors(tmp_path):
    folder = write_towns(tmp_path / "towns", 150)
    store = IndexStore(tmp_path / "idx", flat_limit=100)
    embedder = FakeEmbedder()
    Indexer(store, embedder, ChunkerSettings()).index_paths([folder])
    snapshot = store.load()
    info = VectorIndexInfo.load(store.path / snapshot.manifest.generation)
    assert info.kind == "ivf" and info.vectors == snapshot.size
    query = embedder.embed(["Portville council bridge"], kind="query")[0]
    # A filter down to three rows scans every list, so it finds exactly those rows.
    allowed = np.zeros(snapshot.size, dtype=bool)
    allowed[[3, 40, 99]] = True
    assert sorted(r for r, _ in snapshot.search(query, 10, allowed=allowed)) == [3, 40, 99]
    assert len(snapshot.search(query, 10)) == 10
    # Adding an article keeps the stored vectors of the others.
    (folder / "extra.md").write_text("# Ferry\n\nThe ferry to Glenmore runs again on Friday.\n")
    report = Indexer(store, embedder, ChunkerSettings()).index_paths([folder])
    assert report.chunks_embedded == 1
    after = store.load()
    row = after.chunk_row(snapshot.chunks[5].chunk_id)
    assert np.allclose(after.stored_vectors([row]), snapshot.stored_vectors([5]))
