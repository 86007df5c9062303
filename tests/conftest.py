from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# The product never contacts a model hub; neither do its tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "articles"
SEEDS = ROOT.parent / "shared" / "seeds"


@pytest.fixture
def write_articles(tmp_path: Path):
    """Write {name: text} files into a fresh folder and return it."""

    def write(files: dict[str, str], folder: str = "articles") -> Path:
        root = tmp_path / folder
        root.mkdir(exist_ok=True)
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root

    return write


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cli_with_fake_models(monkeypatch):
    """`rag` commands run for real, their service finding the fake embedder and generator
    where it finds the real ones (``tests.fakes.use_fake_models``)."""
    from tests.fakes import use_fake_models

    for name in ("RAG_INDEX_DIR", "RAG_K", "RAG_CONFIG", "RAG_EMBEDDER"):
        monkeypatch.delenv(name, raising=False)
    use_fake_models(monkeypatch)


@pytest.fixture
def service(tmp_path, write_articles):
    """The two test articles indexed, behind fake models (a module may define its own)."""
    from rag.config import Settings
    from rag.service import RagService
    from tests.fakes import FakeEmbedder, FakeGenerator
    from tests.test_index import ARTICLE_A, ARTICLE_B

    svc = RagService(
        Settings(index_dir=tmp_path / "idx"),
        embedder=FakeEmbedder(),
        generator=FakeGenerator(["Engineers replaced 240 steel cables [1]."]),
    )
    svc.index_paths([write_articles({"a.md": ARTICLE_A, "b.md": ARTICLE_B})])
    return svc
