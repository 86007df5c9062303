"""`rag serve`'s app in this process, over two test articles, behind a slow fake model.

The browser tests of the chat's timing (a question sent mid-answer, Stop, New
conversation mid-answer) need an answer that takes long enough to act on and a
model whose closing they can see: ``SlowGenerator`` writes one word at a time,
at ``delay`` seconds a word, and notes when its stream is closed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from rag.config import Settings
from rag.service import RagService
from tests.conftest import free_port
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.test_index import ARTICLE_A, ARTICLE_B
from ui.server import ServeOptions, build_server

ABSTAIN = "The articles do not say."


class SlowGenerator(FakeGenerator):
    """Replies by the question's words (``replies``: a word of the question -> reply)."""

    def __init__(self, replies: Mapping[str, str], delay: float = 0.05) -> None:
        super().__init__([ABSTAIN])
        self.by_word = dict(replies)
        self.delay = delay
        self.streams = 0  # streams started
        self.closed = 0  # streams closed, whether finished or stopped
        self._lock = threading.Lock()

    def reply_for(self, prompt: str) -> str:
        question = prompt.rsplit("Question:", 1)[-1].lower()
        return next((r for w, r in self.by_word.items() if w.lower() in question), ABSTAIN)

    def stream(
        self, prompt: str, *, max_tokens: int, temperature: float, stop: Sequence[str] = ()
    ) -> Iterator[str]:
        self.prompts.append(prompt)
        with self._lock:
            self.streams += 1
        try:
            for i, word in enumerate(self.reply_for(prompt).split(" ")):
                time.sleep(self.delay)
                yield word if i == 0 else " " + word
        finally:
            with self._lock:
                self.closed += 1


class ChatSite:
    """The server (API and chat) run by uvicorn in a thread on a free loopback port."""

    def __init__(self, folder: Path, model: SlowGenerator) -> None:
        import uvicorn

        articles = folder / "articles"
        articles.mkdir(parents=True)
        (articles / "a.md").write_text(ARTICLE_A, encoding="utf-8")
        (articles / "b.md").write_text(ARTICLE_B, encoding="utf-8")
        self.model = model
        self.service = RagService(
            Settings(index_dir=folder / "index"), embedder=FakeEmbedder(), generator=model
        )
        self.service.index_paths([articles])
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        app = build_server(self.service, ServeOptions(port=port))
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 60 s")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
