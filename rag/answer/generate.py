"""Local text generation with llama.cpp (llama-cpp-python).

The model is a pack from ``rag.answer.packs`` (by name; the default when none is
given) or any GGUF file. One that carries a chat template is prompted through
it, and can also judge yes/no questions (``judge``), read from the
probabilities of its first answer token.
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

import numpy as np

from rag.answer.packs import ModelPack, find_pack, resolve_model
from rag.answer.support import JUDGE_THRESHOLD
from rag.config import machine_cores
from rag.errors import ConfigError, ModelError, NotWarmedUpError
from rag.optional import optional_import

log = logging.getLogger(__name__)


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
        self._model = None if model_path is None else str(model_path).strip() or None
        self._path = _model_file(self._model)
        self._context_size = context_size
        # All cores for reading the prompt and for writing. One fewer for writing, to leave
        # a core to an upload being embedded, was measured slower with indexing running
        # beside it (15.9 against 19.0 tokens/s; README "Choosing a model").
        self._threads = threads or machine_cores()
        self._seed = seed
        self._llm: Any = None
        self._formatter: Any = None
        self._pack: ModelPack | None = None
        self._single_tokens: dict[tuple[str, ...], list[int]] = {}
        # One llama.cpp context serves one request at a time.
        self._busy = threading.Lock()

    @property
    def model_id(self) -> str:
        if self._path is not None:
            return self._path.name
        pack = find_pack(self._model or "") if self._model else None
        return pack.name if pack else "default"

    @property
    def context_size(self) -> int:
        return self._context_size

    def warm_up(self) -> None:
        if self._llm is not None:
            return
        if self._path is None:
            self._path, self._pack = resolve_model(self._model)
        with optional_import(
            ModelError, "llama-cpp-python is not installed. Run `pip install llama-cpp-python`."
        ):
            from llama_cpp import Llama
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

    def count_prompt(self, prompt: str | Sequence[dict[str, str]]) -> int:
        """The tokens the model reads for ``prompt``: a completion prompt, or chat messages
        in its chat template, tokenised as ``stream`` and ``stream_chat`` have llama.cpp do."""
        text = prompt if isinstance(prompt, str) else self._chat_prompt(prompt)
        return len(self._require().tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def stream(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str]:
        return self._stream(prompt, max_tokens=max_tokens, temperature=temperature, stop=stop)

    def stream_chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> Iterator[str]:
        return self._stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)

    def _stream(
        self,
        prompt: str | Sequence[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
    ) -> Iterator[str]:
        """The text pieces of a completion of ``prompt``, or of a chat reply to messages."""
        llm = self._require()
        chat = not isinstance(prompt, str)
        options = {"max_tokens": max_tokens, "temperature": temperature, "stop": list(stop)}
        with self._busy:
            if chat:
                parts = llm.create_chat_completion(messages=list(prompt), stream=True, **options)
            else:
                parts = llm.create_completion(prompt, stream=True, **options)
            for part in parts:
                choice = part["choices"][0]
                text = choice["delta"].get("content") if chat else choice["text"]
                if text:
                    yield text

    @property
    def judge_threshold(self) -> float:
        if self._pack is not None and self._pack.judge_threshold is not None:
            return self._pack.judge_threshold
        return JUDGE_THRESHOLD

    def judge(self, messages: Sequence[dict[str, str]]) -> float:
        """P(yes) / (P(yes) + P(no)) for the model's first reply token to ``messages``.

        One forward pass over the prompt, no sampling: the answer to "Does this
        sentence state that ...?" read from the token probabilities, so a
        caller can pick its own threshold.
        """
        llm = self._require()
        prompt = self._chat_prompt(messages)
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        with self._busy:
            _read_prompt(llm, tokens)
            # Without logits_all, llama.cpp keeps the logits of the batch's last token only.
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
            logits = logits.astype(np.float64)
        yes = self._token_ids(("yes", "Yes", " yes", " Yes", "YES"))
        no = self._token_ids(("no", "No", " no", " No", "NO"))
        top = logits.max()
        p_yes = float(np.exp(logits[yes] - top).sum())
        p_no = float(np.exp(logits[no] - top).sum())
        return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else 0.5

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        """The mean log-probability per token of each continuation of ``prompt``.

        How multiple choice is scored: the prompt is read once (its cached prefix
        kept, as ``judge`` does), then each continuation's tokens are read in one
        batch with the logits of every position kept, so a candidate costs only its
        own few tokens. Continuations are taken as written (give the leading space).
        """
        llm = self._require()
        prefix = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        with self._busy:
            return _score_continuations(llm, prefix, continuations)

    def _token_ids(self, words: Sequence[str]) -> list[int]:
        cached = self._single_tokens.get(words)
        if cached is None:
            llm = self._require()
            ids = set()
            for word in words:
                tokens = llm.tokenize(word.encode("utf-8"), add_bos=False, special=False)
                if len(tokens) == 1:
                    ids.add(tokens[0])
            cached = self._single_tokens[words] = sorted(ids)
        return cached

    def _chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        """The messages rendered with the model's own chat template, ready for its reply."""
        if self._formatter is None:
            self._formatter = _chat_formatter(self._require(), self.model_id)
        return self._formatter(messages=list(messages)).prompt


def _model_file(model: str | None) -> Path | None:
    """The GGUF file ``model`` names; None for a pack name, or for none (the default pack)."""
    if model is None or find_pack(model) is not None:
        return None
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelError(
            f"Model file {path} does not exist. Pass --model PATH.gguf with an "
            "existing file, a model pack name (`rag models` lists them), or leave it "
            "unset for the default pack."
        )
    return path


def _chat_formatter(llm: Any, model_id: str) -> Any:
    """What renders messages with the model's own chat template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelError(f"{model_id} has no chat template, so it cannot judge.")
    vocab = llm._model
    return Jinja2ChatFormatter(
        template=template,
        eos_token=vocab.token_get_text(vocab.token_eos()),
        bos_token=vocab.token_get_text(vocab.token_bos()),
    )


def _score_continuations(
    llm: Any, prefix: Sequence[int], continuations: Sequence[str]
) -> list[float]:
    """Each continuation's mean log-probability per token after the tokens ``prefix``
    (see ``LlamaCppGenerator.score_continuations``); the caller holds the model."""
    scores: list[float] = []
    _read_prompt(llm, prefix)
    first = _log_softmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)))
    n_past = llm.n_tokens
    for text in continuations:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if not tokens:
            scores.append(float("-inf"))
            continue
        total = float(first[tokens[0]])
        if len(tokens) > 1:
            llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
            llm._batch.set_batch(batch=tokens[:-1], n_past=n_past, logits_all=True)
            llm._ctx.decode(llm._batch)
            for i, token in enumerate(tokens[1:]):
                row = np.ctypeslib.as_array(llm._ctx.get_logits_ith(i), shape=(llm.n_vocab(),))
                total += float(_log_softmax(row)[token])
        scores.append(total / len(tokens))
    # What the cache holds beyond the prompt is a candidate's: forget it, and the prompt's
    # last token too, so a later completion of this same prompt reads it again instead of
    # sampling from a candidate's logits.
    llm._ctx.kv_cache_seq_rm(-1, n_past - 1, -1)
    llm.n_tokens = n_past - 1
    return scores


def _read_prompt(llm: Any, tokens: Sequence[int]) -> None:
    """Evaluate ``tokens``, keeping the part of the cache that already holds their prefix
    (a judge's system message, a prompt scored before), so only the rest is read."""
    cached = llm.input_ids[: llm.n_tokens].tolist()
    same = 0
    for a, b in zip(cached, tokens, strict=False):
        if a != b:
            break
        same += 1
    llm.n_tokens = min(same, len(tokens) - 1)
    llm.eval(tokens[llm.n_tokens :])


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max()
    return shifted - np.log(np.exp(shifted).sum())
