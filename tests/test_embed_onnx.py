"""The ONNX int8 embedder against the PyTorch one it is exported from."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embed import SentenceTransformerEmbedder
from rag.embed_onnx import OnnxEmbedder

pytestmark = pytest.mark.model

SENTENCES = [
    "Iran's foreign minister said talks with Washington were not possible under pressure.",
    "The council approved a harbour budget of 12 million dollars on Monday.",
    "Short.",
    "A much longer passage about a ferry that returned to service after eleven weeks in dry "
    "dock, with a new propeller, a repainted hull and a timetable for the summer season.",
]


@pytest.fixture(scope="module")
def embedders(tmp_path_factory):
    onnx = OnnxEmbedder(cache=tmp_path_factory.mktemp("onnx"))
    onnx.warm_up()  # exports and quantises the packaged model into the temporary cache
    torch = SentenceTransformerEmbedder()
    torch.warm_up()
    return onnx, torch


def test_int8_vectors_point_where_the_full_model_points(embedders):
    onnx, torch = embedders
    assert onnx.model_id == "sentence-transformers/all-MiniLM-L6-v2+onnx-int8"
    assert onnx.dimension == torch.dimension == 384 and onnx.max_tokens == torch.max_tokens
    a, b = onnx.embed(SENTENCES), torch.embed(SENTENCES)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert (np.sum(a * b, axis=1) > 0.97).all()
    # The ranking a question gives is the same.
    question = "What did the council approve?"
    assert np.argmax(a @ onnx.embed([question])[0]) == np.argmax(b @ torch.embed([question])[0])
    assert onnx.count_tokens(SENTENCES) == torch.count_tokens(SENTENCES)


def test_order_of_texts_does_not_change_their_vectors(embedders):
    onnx, _ = embedders
    forward = onnx.embed(SENTENCES)
    backward = onnx.embed(SENTENCES[::-1])[::-1]
    assert np.allclose(forward, backward, atol=1e-5)


def test_the_export_is_cached(embedders, tmp_path_factory):
    onnx, _ = embedders
    again = OnnxEmbedder(cache=onnx._cache)
    again.warm_up()  # loads the cached file; a second export would be slow
    assert np.allclose(again.embed(SENTENCES[:1]), onnx.embed(SENTENCES[:1]))
