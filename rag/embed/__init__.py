"""Embedders: one file per backend and a registry of them by name.

``base`` holds what all backends share, ``exported`` the int8 backends' common
base (export once, batch by length, pool); ``torch``, ``onnx`` and ``openvino``
are the backends. ``EMBEDDERS`` maps each ``embed_backend`` name to a factory
that imports its backend only when called, so naming one loads nothing;
``auto`` is the one measured fastest on this machine (``rag.embed.choose``).
Imports ``rag.config``, ``rag.errors``, ``rag.types`` and ``rag.text``; never
the other rooms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.embed.choose import BackendChoice
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


def _openvino_fp32(settings: Settings) -> Embedder:
    from rag.embed.openvino import OpenVinoFp32Embedder

    return OpenVinoFp32Embedder(
        settings.embedder, batch_size=settings.embed_batch_size, threads=settings.threads
    )


# The backends by the name ``embed_backend`` takes (rag.config.EmbedBackend lists them,
# with "auto"). Torch first: the measurement compares the others with its vectors.
EMBEDDERS: dict[str, EmbedderFactory] = {
    "torch": _torch,
    "openvino-int8": _openvino_int8,
    "openvino-fp32": _openvino_fp32,
    "onnx-int8": _onnx_int8,
}


def make_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings`` ask for, not loaded yet (call ``warm_up()``).

    ``auto`` is resolved here: the backend remembered for this machine, or, the
    first time, the one a measurement of every installed backend picks.
    """
    return EMBEDDERS[measured_backend(settings)](settings)


def measured_backend(settings: Settings) -> str:
    """``settings.embed_backend``, or for ``auto`` the backend chosen on this machine."""
    if settings.embed_backend != "auto":
        return settings.embed_backend
    return backend_choice(settings).backend


def backend_choice(
    settings: Settings, *, measure: bool = True, again: bool = False
) -> BackendChoice | None:
    """The ``auto`` choice for this machine and embedder; None if not made and not ``measure``
    (``again``: measured anew, whatever was remembered)."""
    from rag.embed.choose import choose_backend, embedder_name, remembered

    name = embedder_name(settings.embedder)
    if not measure:
        return remembered(name)
    candidates = {
        backend: (lambda make=make: make(settings))
        for backend, make in EMBEDDERS.items()
        if backend != "onnx-int8" or _installed("onnxruntime")
    }
    return choose_backend(name, candidates, again=again)


def auto_backend(settings: Settings, recorded: str | None, *, measure: bool = True) -> str | None:
    """The backend in force: the one set, else (``auto``) the one the index was built with
    (``recorded``, its embedder id) when it is the same embedder, else the one measured
    fastest on this machine (measured now, once, if ``measure``; None when it is not and
    nothing is remembered)."""
    if settings.embed_backend != "auto":
        return settings.embed_backend
    if recorded is not None:
        from rag.embed.packs import embedder_id

        name = recorded.partition("+")[0]
        if name == embedder_id(settings.embedder) and backend_of(recorded) in EMBEDDERS:
            return backend_of(recorded)
    choice = backend_choice(settings, measure=measure)
    return None if choice is None else choice.backend


def backend_of(model_id: str) -> str:
    """The backend an embedder id names: the int8 and fp32 backends' ids end in +BACKEND."""
    _, plus, backend = model_id.partition("+")
    return backend if plus else "torch"


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
