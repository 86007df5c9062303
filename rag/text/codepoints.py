"""Text that UTF-8 can hold, made once where it enters: a question, a JSONL record.

Python strings may carry lone surrogates (``\\ud800`` from a JSON escape, or the
undecodable bytes of a command-line argument, which Python keeps as
``\\udc80``-``\\udcff``). No UTF-8 file, tokenizer or HTTP response can hold them,
so each becomes U+FFFD, the replacement character, before anything reads it.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (unchanged when it has none)."""
    return _SURROGATE.sub(REPLACEMENT, text)
