"""Embedders: one file per backend and a registry of them by name.

``base`` holds what all backends share, ``exported`` the int8 backends' common
base (export once, batch by length, pool); ``torch``, ``onnx`` and ``openvino``
are the backends. ``EMBEDDERS`` maps each ``embed_backend`` name to a factory
that imports its backend only when called, so naming one loads nothing.
Imports ``rag.config``, ``rag.errors``, ``rag.types`` and ``rag.text``; never
the other rooms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.types import Embedder

EmbedderFactory = Callable[["Settings"], "Embedder"]


def _torch(settings: Settings) -> Embedder:
    from rag.embed.torch import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.embedder, batch_size=settings.embed_batch_size)


def _onnx_int8(settings: Settings) -> Embedder:
    from rag.embed.onnx import OnnxEmbedder

    return OnnxEmbedder(
        settings.embedder, batch_size=settings.embed_batch_size, threads=settings.threads
    )


def _openvino_int8(settings: Settings) -> Embedder:
    from rag.embed.openvino import OpenVinoEmbedder

    return OpenVinoEmbedder(
        settings.embedder, batch_size=settings.embed_batch_size, threads=settings.threads
    )


# The backends by the name ``embed_backend`` takes (rag.config.EMBED_BACKENDS lists them).
EMBEDDERS: dict[str, EmbedderFactory] = {
    "torch": _torch,
    "onnx-int8": _onnx_int8,
    "openvino-int8": _openvino_int8,
}


def make_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings`` ask for, not loaded yet (call ``warm_up()``)."""
    return EMBEDDERS[settings.embed_backend](settings)
