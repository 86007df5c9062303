"""Small stand-ins for the models, used through the real interfaces."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.answer.generators import GENERATORS
from rag.embed import EMBEDDERS
from rag.packs import PackPart, split_parts
from rag.types import Embedder, Generator

_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Hashes lower-cased words into a bag-of-words vector: similar words, similar vectors."""

    def __init__(self, dimension: int = 64, max_tokens: int = 256, model_id: str = "fake-embedder"):
        self._dimension = dimension
        self._max_tokens = max_tokens
        self._model_id = model_id
        self.embedded: list[str] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]

    def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        if kind == "passage":
            self.embedded.extend(texts)
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            text.encode("utf-8")  # as a real tokenizer: a lone surrogate cannot be read
            for word in _WORD.findall(text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[i, h % self._dimension] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out


class FakeGenerator:
    """Replies with canned answers in order, word by word (raises one that is an exception);
    records the prompts."""

    def __init__(self, replies: Sequence[str | Exception] = ("The articles do not say.",)):
        self.replies = list(replies)
        self.prompts: list[str] = []

    @property
    def model_id(self) -> str:
        return "fake-generator"

    @property
    def context_size(self) -> int:
        return 2048

    @property
    def has_chat_template(self) -> bool:
        return False

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def count_prompt(self, prompt: str | Sequence[dict[str, str]]) -> int:
        if isinstance(prompt, str):
            return self.count_tokens(prompt)
        return sum(self.count_tokens(m["content"]) for m in prompt)

    def stream(
        self, prompt: str, *, max_tokens: int, temperature: float, stop: Sequence[str] = ()
    ) -> Iterator[str]:
        prompt.encode("utf-8")  # as llama.cpp's tokenizer: a lone surrogate cannot be read
        self.prompts.append(prompt)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        for i, word in enumerate(reply.split(" ")):
            yield word if i == 0 else " " + word

    def stream_chat(self, messages, *, max_tokens, temperature, stop=()):  # pragma: no cover
        raise AssertionError("FakeGenerator has no chat template")


class FakeJudge(FakeGenerator):
    """An instruction model whose yes/no judgement is whether the passage names a word."""

    judge_threshold = 0.5

    def __init__(self, yes_words: Sequence[str]):
        super().__init__()
        self.yes_words = [w.lower() for w in yes_words]
        self.judged: list[list[dict[str, str]]] = []

    @property
    def has_chat_template(self) -> bool:
        return True

    def judge(self, messages: Sequence[dict[str, str]]) -> float:
        self.judged.append(list(messages))
        passage = messages[-1]["content"].split("Passage", 1)[-1].lower()
        return 0.9 if any(w in passage for w in self.yes_words) else 0.1


class FakeWriter(FakeGenerator):
    """An instruction model: its chat replies are the canned replies; records the messages."""

    def __init__(self, replies: Sequence[str | Exception]):
        super().__init__(replies)
        self.chats: list[list[dict[str, str]]] = []

    @property
    def has_chat_template(self) -> bool:
        return True

    def stream_chat(self, messages, *, max_tokens, temperature, stop=()):
        self.chats.append(list(messages))
        prompt = messages[-1]["content"]
        return self.stream(prompt, max_tokens=max_tokens, temperature=temperature, stop=stop)


# The model name the fake generator is registered as (its ``model_id``).
FAKE_MODEL = "fake-generator"
# The embedding backend the fake embedder stands in for: ``embed_backend`` takes only the
# real backends' names.
FAKE_BACKEND = "torch"


def register_generator(
    monkeypatch: pytest.MonkeyPatch, name: str, make: Callable[[], Generator]
) -> None:
    """``make()``'s model answers to the model name ``name`` for one test: registered where
    the service finds llama.cpp's (``rag.answer.generators``), gone after the test."""
    monkeypatch.setitem(GENERATORS, name, lambda _name, _settings: make())


def use_fake_models(
    monkeypatch: pytest.MonkeyPatch,
    *,
    generator: Callable[[], Generator] | None = FakeGenerator,
    embedder: Callable[[], Embedder] = FakeEmbedder,
) -> None:
    """Every service built from the settings in this test, as the `rag` commands build
    theirs, gets its models from the registries: ``embedder()`` as the embedding backend
    and, unless ``generator`` is None, ``generator()`` as the language model. The
    environment names them, so a --model flag still names a real model."""
    monkeypatch.setitem(EMBEDDERS, FAKE_BACKEND, lambda _settings: embedder())
    monkeypatch.setenv("RAG_EMBED_BACKEND", FAKE_BACKEND)
    if generator is not None:
        register_generator(monkeypatch, FAKE_MODEL, generator)
        monkeypatch.setenv("RAG_MODEL", FAKE_MODEL)


def install_fake_distribution(
    site: Path, name: str, version: str, files: Mapping[str, bytes]
) -> None:
    """A distribution as pip leaves it in ``site``: a dist-info folder beside its files.

    Put ``site`` on ``sys.path`` and ``importlib.metadata`` finds it like any other.
    """
    module = name.replace("-", "_")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = []
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        record.append(f"{rel},,")
    (info / "RECORD").write_text("\n".join(record) + "\n")


def install_split_file(
    site: Path, pieces: Sequence[bytes], *, dist: str, version: str, path: str
) -> tuple[PackPart, ...]:
    """Install each piece in its own fake distribution (``dist`` and ``path`` numbered as
    ``rag.packs.split_parts`` numbers them), beside a module that fails loudly if imported."""
    parts = split_parts(dist, version, len(pieces), path)
    for part, piece in zip(parts, pieces, strict=True):
        module = part.file.split("/", 1)[0]
        files = {part.file: piece, f"{module}/__init__.py": b"raise SystemExit"}
        install_fake_distribution(site, part.distribution, version, files)
    return parts
