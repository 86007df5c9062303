"""What every embedding backend shares: word-piece counts and progress.

The model folders (the packs, the default among them) are ``rag.embed.packs``.
The backends import this module, never each other's modules (the int8 backends
share ``rag.embed.exported``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def count_word_pieces(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Word pieces per text, special tokens included, without truncation."""
    encoded = tokenizer(list(texts), add_special_tokens=True, truncation=False)
    return [len(ids) for ids in encoded["input_ids"]]


def progress_enabled() -> bool:
    """Progress bars only for a person watching a terminal."""
    return sys.stderr.isatty() and log.getEffectiveLevel() <= logging.WARNING
