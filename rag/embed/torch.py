"""The ``torch`` backend: sentence-transformers embeddings, loaded from a local folder only.

The model comes from an embedder pack (``rag.embed.packs``; all-MiniLM-L6-v2 by
default), so nothing is downloaded. Any other sentence-transformers folder (or a
model already in the local Hugging Face cache) works through ``--embedder``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.embed.base import count_word_pieces, progress_enabled
from rag.embed.packs import embedder_id, resolve_embedder
from rag.errors import ModelError, NotWarmedUpError
from rag.optional import optional_import

log = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    """An ``Embedder`` backed by sentence-transformers; call ``warm_up()`` first."""

    def __init__(
        self, model: str | os.PathLike[str] | None = None, *, batch_size: int = 32
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be greater than 0, got {batch_size}")
        self._spec = None if model is None else str(model)
        self._batch_size = batch_size
        self._model: Any = None

    @property
    def model_id(self) -> str:
        """A stable name for the manifest: a pack's hub name, else the folder name."""
        return embedder_id(self._spec)

    def warm_up(self) -> None:
        if self._model is not None:
            return
        # local_files_only: never reach for a model hub (the CLI also sets offline mode).
        folder = resolve_embedder(self._spec)
        location = str(folder) if folder is not None else str(self._spec)
        with optional_import(
            ModelError,
            "sentence-transformers is not installed. Run `pip install sentence-transformers`.",
        ):
            from sentence_transformers import SentenceTransformer
        log.info("Loading embedder %s", location)
        _quiet_transformers()
        try:
            self._model = SentenceTransformer(location, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many kinds; all mean "cannot load"
            raise ModelError(
                f"Could not load the embedding model {location!r}: {exc}. "
                "Pass --embedder with a sentence-transformers folder on this machine."
            ) from exc

    def _require(self) -> Any:
        if self._model is None:
            raise NotWarmedUpError("The embedder is not loaded; call warm_up() first.")
        return self._model

    @property
    def dimension(self) -> int:
        model = self._require()
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self._require().max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens included, without truncation."""
        return count_word_pieces(self._require().tokenizer, texts)

    def embed(self, texts: Sequence[str], *, kind: str = "passage") -> np.ndarray:
        model = self._require()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _quiet_transformers() -> None:
    """transformers draws its own loading bar; ours follow the log level instead."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    if not progress_enabled():
        hf_logging.disable_progress_bar()
    # Counting tokens of over-long sentences is deliberate (the chunker splits them);
    # the library's "longer than the maximum" warning would only alarm users.
    hf_logging.set_verbosity_error()
