"""The int8 embedders (ONNX Runtime, OpenVINO) against the PyTorch one they are exported from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.embed.onnx import OnnxEmbedder
from rag.embed.openvino import OpenVinoEmbedder
from rag.embed.torch import SentenceTransformerEmbedder
from rag.errors import ModelError

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[1]

SENTENCES = [
    "Iran's foreign minister said talks with Washington were not possible under pressure.",
    "The council approved a harbour budget of 12 million dollars on Monday.",
    "Short.",
    "A much longer passage about a ferry that returned to service after eleven weeks in dry "
    "dock, with a new propeller, a repainted hull and a timetable for the summer season.",
]


@pytest.fixture(scope="module")
def torch_embedder():
    torch = SentenceTransformerEmbedder()
    torch.warm_up()
    return torch


@pytest.fixture(scope="module", params=[OnnxEmbedder, OpenVinoEmbedder])
def embedders(request, tmp_path_factory, torch_embedder):
    onnx = request.param(cache=tmp_path_factory.mktemp(request.param.runtime))
    onnx.warm_up()  # exports and quantises the packaged model into the temporary cache
    return onnx, torch_embedder


def test_int8_vectors_point_where_the_full_model_points(embedders):
    onnx, torch = embedders
    assert onnx.model_id == f"sentence-transformers/all-MiniLM-L6-v2+{onnx.suffix}"
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
    again = type(onnx)(cache=onnx._cache)
    again.warm_up()  # loads the cached file; a second export would be slow
    assert np.allclose(again.embed(SENTENCES[:1]), onnx.embed(SENTENCES[:1]))
    assert [p.name for p in onnx._cache.rglob("*.partial*")] == []


def test_word_pieces_are_those_of_the_transformers_tokenizer():
    """The embedders read tokenizer.json without transformers (which imports PyTorch)."""
    from transformers import AutoTokenizer

    from rag.embed.base import count_word_pieces
    from rag.embed.exported import FolderTokenizer
    from rag.embed.packs import resolve_embedder

    folder = resolve_embedder(None)
    texts = [*SENTENCES, "", "Café naïve résumé: 東京 ＡＢＣ", "word " * 400, "tab\tand\nnewline"]
    ours = FolderTokenizer(folder, 256)
    theirs = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    expected = theirs(texts, padding=True, truncation=True, max_length=256, return_tensors="np")
    got = ours.batch(texts)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert np.array_equal(got[name], expected[name]), name
    assert got["input_ids"].shape == (len(texts), 256)  # cut at 256, not the file's 128
    assert ours.count(texts) == count_word_pieces(theirs, texts)


def test_openvino_without_its_calibration_texts_says_what_to_do(tmp_path, monkeypatch):
    import rag.embed.openvino as module

    monkeypatch.setattr(module, "SAMPLES", tmp_path / "nowhere")
    with pytest.raises(ModelError, match="calibrates on the sample articles"):
        OpenVinoEmbedder(cache=tmp_path / "cache").warm_up()


def test_loading_leaves_no_usage_records(embedders, tmp_path):
    onnx, _ = embedders
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NNCF_CI")}
    env["HOME"] = str(tmp_path)
    kind = type(onnx)
    script = (
        f"import sys; from pathlib import Path; from {kind.__module__} import {kind.__name__}; "
        f"e = {kind.__name__}(cache=Path(sys.argv[1])); e.warm_up(); print(e.dimension)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(onnx._cache)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.strip() == "384", done.stderr
    # OpenVINO and NNCF write a client id to ~/intel unless told not to.
    assert not (tmp_path / "intel").exists()


def test_another_model_of_the_same_size_in_the_same_folder_is_exported_anew(tmp_path):
    """The export's cache folder follows the weights, not only the folder's name."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(b"a" * 64)
    embedder = OpenVinoEmbedder(str(folder), cache=tmp_path / "cache")
    first = embedder._export_target(folder)
    assert first == embedder._export_target(folder)  # the same files: the same export
    weights.write_bytes(b"b" * 64)  # a fine-tuned copy, byte for byte as large
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = embedder._export_target(folder)
    assert second != first and second.name.startswith("my-model-")


def test_a_packs_export_is_named_by_its_pinned_bytes(tmp_path):
    """The same name on every machine, so an export copied to a Ray node is found there."""
    from rag.embed.packs import EMBEDDER_PACKS, resolve_embedder

    embedder = OpenVinoEmbedder(cache=tmp_path)
    target = embedder._export_target(resolve_embedder(None))
    pinned = EMBEDDER_PACKS["all-minilm-l6-v2"].content_id
    assert target == tmp_path / f"model-{pinned[:12]}"
    by_name = OpenVinoEmbedder("all-minilm-l6-v2", cache=tmp_path)
    assert by_name._export_target(resolve_embedder(None)) == target
