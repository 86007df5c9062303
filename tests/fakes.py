"""Small stand-ins for the models, used through the real interfaces."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence

import numpy as np

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
            for word in _WORD.findall(text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest(), 16)
                out[i, h % self._dimension] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out


class FakeGenerator:
    """Replies with canned answers in order, word by word; records the prompts."""

    def __init__(self, replies: Sequence[str] = ("The articles do not say.",)):
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

    def stream(
        self, prompt: str, *, max_tokens: int, temperature: float, stop: Sequence[str] = ()
    ) -> Iterator[str]:
        self.prompts.append(prompt)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
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
