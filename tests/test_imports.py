"""Each command imports only what it needs, so a cold `rag list` does not wait for PyTorch.

Every case runs the real `rag` in a fresh interpreter and reads back ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.store import IndexStore
from rag.config import load_settings
from rag.embed import make_embedder
from rag.service import RagService
from tests.fakes import FakeEmbedder
from tests.test_index import ARTICLE_A, ARTICLE_B

ROOT = Path(__file__).resolve().parents[1]
# Seconds each to import, or the size of a model: no light command may touch them.
MODEL_LIBRARIES = {
    "torch",
    "transformers",
    "sentence_transformers",
    "openvino",
    "nncf",
    "onnxruntime",
    "llama_cpp",
    "gradio",
    "ray",
}
# The vector and BM25 indexes: needed to search or rewrite the index, not to list it.
INDEX_LIBRARIES = {"faiss", "bm25s"}
# What the `rag bench` and `rag eval` commands need only when they run.
PLUGIN_INTERNALS = {"eval.datasets", "eval.metrics", "eval.hardware", "eval.harness"}

RUN = """
import json, sys
from rag.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as exit:
    code = exit.code
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


@pytest.fixture
def index_dir(tmp_path, write_articles, monkeypatch):
    """An index the default embedder would accept, written with the fake one."""
    for name in [n for n in os.environ if n.startswith("RAG_")]:
        monkeypatch.delenv(name)
    settings = load_settings({"index_dir": str(tmp_path / "idx")})
    # The real embedder's id and dimension; constructing it loads nothing. OpenVINO's, which
    # `auto` then follows whatever this machine measured fastest.
    openvino = settings.updated(embed_backend="openvino-int8")
    fake = FakeEmbedder(dimension=384, model_id=make_embedder(openvino).model_id)
    RagService(settings, embedder=fake).index_paths(
        [write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})]
    )
    return settings.index_dir


def imported(tmp_path: Path, *argv: object) -> set[str]:
    """The top-level modules a fresh `rag ARGV...` imported; it must succeed."""
    return {name.split(".")[0] for name in imported_modules(tmp_path, *argv)}


def imported_modules(tmp_path: Path, *argv: object) -> set[str]:
    """Every module a fresh `rag ARGV...` imported; it must succeed."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(out), *map(str, argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(out.read_text())
    assert result["code"] == 0, done.stderr
    return set(result["modules"])


@pytest.mark.parametrize(
    "argv", [["--help"], ["list"], ["list", "--json"], ["models"], ["models", "--json"]]
)
def test_help_list_and_models_import_no_model_or_index_library(tmp_path, index_dir, argv):
    every = imported_modules(
        tmp_path, *argv, *(["--index-dir", index_dir] if "list" in argv else [])
    )
    modules = {name.split(".")[0] for name in every}
    assert modules & (MODEL_LIBRARIES | INDEX_LIBRARIES) == set()
    # Plugins (`rag bench`, `rag eval`) register their parsers without their datasets' code.
    assert every & PLUGIN_INTERNALS == set()


@pytest.mark.parametrize("command", [["remove"], ["index", "--remove"]])
def test_remove_rewrites_the_index_without_loading_a_model(tmp_path, index_dir, command):
    (article, *_) = IndexStore(index_dir).load(vectors=False).documents.values()
    modules = imported(tmp_path, *command, article.doc_id, "--index-dir", index_dir)
    assert modules & MODEL_LIBRARIES == set()
    assert "faiss" in modules  # it did rewrite the vectors
    assert article.doc_id not in IndexStore(index_dir).load(vectors=False).documents


@pytest.mark.model
def test_search_loads_the_embedder_and_never_the_language_model(tmp_path, index_dir):
    modules = imported(tmp_path, "search", "When did the bridge reopen?", "--index-dir", index_dir)
    assert "openvino" in modules
    assert modules & {"llama_cpp", "torch", "transformers", "gradio"} == set()
