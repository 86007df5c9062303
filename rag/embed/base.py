"""What every embedding backend shares: word-piece counts, batching and progress.

The model folders (the packs, the default among them) are ``rag.embed.packs``.
The backends import this module, never each other's modules (the int8 backends
share ``rag.embed.exported``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Called with (texts embedded so far, texts in all) after each batch.
Progress = Callable[[int, int], None]


def count_word_pieces(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Word pieces per text, special tokens included, without truncation."""
    encoded = tokenizer(list(texts), add_special_tokens=True, truncation=False)
    return [len(ids) for ids in encoded["input_ids"]]


def progress_enabled() -> bool:
    """Progress bars only for a person watching a terminal."""
    return sys.stderr.isatty() and log.getEffectiveLevel() <= logging.WARNING


def embed_in_batches(
    embed: Callable[[list[str]], np.ndarray],
    texts: Sequence[str],
    *,
    batch_size: int,
    dimension: int,
    progress: Progress | None = None,
    bar: str | None = None,
) -> np.ndarray:
    """``embed`` over ``texts`` ``batch_size`` at a time; one row a text, in order.

    Texts of similar length go together, shortest first: a batch is padded to its
    longest text, so mixing a headline with a long passage wastes the headline's
    padding. ``progress`` hears after each batch; ``bar`` names a progress bar,
    drawn only for a person watching (``progress_enabled``).
    """
    if not texts:
        return np.zeros((0, dimension), dtype=np.float32)
    drawn = None
    if bar is not None and progress_enabled():
        from tqdm import tqdm

        drawn = tqdm(total=len(texts), unit="chunk", desc=bar)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: np.ndarray | None = None
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            vectors = embed([texts[i] for i in rows])
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
            done = min(start + batch_size, len(texts))
            if drawn is not None:
                drawn.update(done - drawn.n)
            if progress is not None:
                progress(done, len(texts))
    finally:
        if drawn is not None:
            drawn.close()
    assert out is not None
    return out
